"""What a decision records about itself (issue 14): the facts its rule read, the sync it belongs to, and every
queued change merged into it. Checked against the state the engine decided from (folded event by event beside
the ledger), so a fact that drifted from its situation fails here; and the rows' facts against their
situations."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from syncledger.ledger import rules
from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger
from syncledger.ledger.evolve import evolve
from syncledger.ledger.rules import MailboxEdit, Untracking
from syncledger.ledger.rules.table import iso
from syncledger.ledger.world import Pending, World, in_filter, known_record
from tests import randomwalk
from tests.ledger.situations import DELETED_APPOINTMENT, DELETED_CONTACT

# ------------------------------------------------------------------------------------------ rows


def test_a_crm_deletion_records_the_owner_and_the_start_it_was_deleted_with() -> None:
    contact = DELETED_CONTACT
    verdict = rules.decide(contact)
    assert verdict.rule.id == "CONTACT-DEL-CRM-NONOWNER"
    assert verdict.facts == {
        "record_exists": False,
        "family": "contact",
        "owner_at_deletion": "bob",
        "owned_at_deletion": False,
    }
    start = datetime(2026, 3, 10, 10, tzinfo=UTC)
    appointment = replace(contact, family="appointment", start=start, started_after_sync=True)
    verdict = rules.decide(appointment)
    assert verdict.rule.id == "APPT-DEL-CRM-FUTURE"
    assert verdict.facts == {
        "record_exists": False,
        "family": "appointment",
        "start_at_deletion": "2026-03-10T10:00:00Z",
        "sync_at": "2026-03-02T11:15:00Z",
        "starts_after_sync": True,
    }
    task = rules.decide(replace(contact, family="task", copy_completed=True))
    assert (task.rule.id, task.facts and task.facts["copy_completed"]) == ("TASK-DEL-CRM-DONE", True)


def test_an_untrack_records_the_option_it_read_and_the_designation() -> None:
    untrack = Untracking(user="alice", item="m1", record="m1", delete_in_crm=None, is_email=True, email_option=True)
    verdict = rules.decide(untrack)
    assert verdict.rule.id == "UNTRACK-LINK"
    assert verdict.facts == {
        "delete_in_crm": None,
        "is_email": True,
        "delete_untracked_email_in_crm": True,
        "designated": True,
    }
    asked = rules.decide(replace(untrack, delete_in_crm=False)).facts
    assert asked == {"delete_in_crm": False, "is_email": True, "designated": False}  # the option was not read


def test_an_outlook_removal_records_what_it_read_at_the_sync() -> None:
    removal = replace(DELETED_APPOINTMENT, user_owns=False, owner="bob")
    verdict = rules.decide(removal)
    assert verdict.rule.id == "APPT-DEL-OUTLOOK-KEEP"
    assert verdict.facts is not None and verdict.facts["owner"] == "bob" and verdict.facts["user_owns"] is False
    assert verdict.facts["start"] == "2026-03-05T10:00:00Z" and verdict.facts["sync_at"] == "2026-03-02T11:15:00Z"


def test_server_side_rows_record_what_they_read() -> None:
    start = datetime(2026, 3, 10, 10, tzinfo=UTC)
    deleted = replace(DELETED_CONTACT, family="appointment", item="a1", record="a1", start=start)
    deleted = replace(deleted, started_after_sync=True)
    verdict = rules.decide(deleted, rules.SERVER_SIDE)
    assert verdict.rule.id == "SSS-APPT-DEL-CRM-KEEP"  # not the organizer, though it starts after the cycle
    assert verdict.facts is not None and verdict.facts["owner_at_deletion"] == "bob"
    assert (verdict.facts["start_at_deletion"], verdict.facts["starts_after_sync"]) == ("2026-03-10T10:00:00Z", True)
    left = replace(deleted, family="contact", record_exists=True, distinct_logical_deletes=True)
    verdict = rules.decide(left, rules.SERVER_SIDE)
    assert verdict.rule.id == "SSS-FILTER-LEAVE-UNLINK" and verdict.facts is not None
    assert verdict.facts["distinct_logical_deletes"] is True and verdict.facts["in_filter_before"] is True
    edit = MailboxEdit(
        user="alice",
        item="a1",
        record="a1",
        record_exists=True,
        family="appointment",
        record_state="canceled",
        fields={"subject": "x"},
    )
    verdict = rules.decide(edit, rules.SERVER_SIDE)
    assert verdict.rule.id == "SSS-EXCHANGE-EDIT-CLOSED"
    assert verdict.facts == {"record_exists": True, "family": "appointment", "record_state": "canceled"}
    verdict = rules.decide(replace(edit, record_state="active", fields={"b": 1, "a": 2}), rules.SERVER_SIDE)
    assert verdict.rule.id == "SSS-EXCHANGE-EDIT-PUSH" and verdict.facts is not None
    assert (verdict.facts["edited_fields"], verdict.facts["completes"]) == ("a, b", False)


def test_a_verdict_still_unpacks_as_rule_effects_reason() -> None:
    verdict = rules.decide(rules.GoingOnline(user="alice"))
    rule, effects, reason = verdict
    assert (rule.id, reason, verdict.facts) == ("GO-ONLINE-SYNC", None, None) and verdict[:2] == (rule, effects)


# ------------------------------------------------------------------------------------------ the engine


def _check(world: World, position: int, d: v.Decided, syncs: dict[int, str], queued: list[Pending]) -> None:
    """The decision's facts, sync and causes against `world`, the state it was decided from, and `queued`, what
    the user had pending when the sync began (the sync clears it)."""
    facts = d.facts or {}
    user_name = next((r[8:].partition("/")[0] for r in d.about if r.startswith("outlook:")), "")
    item = next((r[8:].partition("/")[2] for r in d.about if r.startswith("outlook:")), "")
    record_id = next((r[4:] for r in d.about if r.startswith("crm:")), None)
    known = known_record(world, record_id) if record_id else None
    user = world.users.get(user_name)
    if "owner_at_deletion" in facts:
        assert known is not None and record_id not in world.records and facts["owner_at_deletion"] == known.owner
    if "start_at_deletion" in facts:
        assert known is not None and facts["start_at_deletion"] == iso(known.start)
    if "owner" in facts:
        assert known is not None and facts["owner"] == known.owner, (position, d.rule)
    if "state" in facts or "record_state" in facts:
        assert known is not None and facts.get("state", facts.get("record_state")) == known.state
    if "in_filter_now" in facts:
        assert user is not None and facts["in_filter_now"] == in_filter(world.records.get(record_id or ""), user)
        link = user.links_by_item[item]
        assert facts["in_filter_before"] == link.in_filter and facts["origin"] == link.origin
    if "sync_filter" in facts:
        assert user is not None and facts["sync_filter"] == user.sync_filter
    if "copy_completed" in facts:
        assert user is not None and facts["copy_completed"] == user.items[item].completed
    if "sync_at" in facts:
        assert facts["sync_at"] == iso(d.at)
    if "record_exists" in facts:
        assert facts["record_exists"] == (record_id in world.records), (position, d.rule)
    if "user_owns" in facts:
        assert known is not None and facts["user_owns"] == (known.owner == user_name)
    if "owned_at_deletion" in facts:
        assert known is not None and facts["owned_at_deletion"] == (known.owner == user_name)
    if "distinct_logical_deletes" in facts:  # the organisation option at the cycle
        assert facts["distinct_logical_deletes"] == world.distinct_logical_deletes
    if "edited_fields" in facts:  # the union of the queued mailbox edits of the link, merged into one push
        edits = [op for op in queued if op.item == item and op.record == record_id and op.replay is not None]
        edited = {name for op in edits if isinstance(op.replay, v.OutlookItemEdited) for name in op.replay.fields}
        assert facts["edited_fields"] == ", ".join(sorted(edited)), (position, d.rule)
        completes = any(not isinstance(op.replay, v.OutlookItemEdited) for op in edits)
        assert facts["completes"] == completes and [op.cause for op in edits][-1] == d.cause
    if d.sync is not None:  # the sync or going online of the decision's user, earlier in the same batch
        assert syncs.get(d.sync) == d.actor.removeprefix("sync:"), (position, d.sync)
    if d.actor.startswith("sync:"):
        assert d.sync is not None
    if d.causes is not None:
        assert len(d.causes) > 1 and list(d.causes) == sorted(set(d.causes)) and d.causes[-1] == d.cause
        assert user is not None and world.position < position
    if d.rule in rules.RULES and rules.RULES[d.rule].facts is not rules.RULES["OFFLINE-QUEUE"].facts:
        assert d.facts is not None, d.rule  # every row with facts recorded them


@pytest.mark.parametrize(("seed", "mixed"), [*((n, False) for n in range(8)), *((n, True) for n in range(4))])
def test_recorded_facts_equal_the_state_the_engine_decided_from(seed: int, mixed: bool) -> None:
    ledger = Ledger()
    world = World()
    syncs: dict[int, str] = {}  # position -> user, of syncs and going online
    decided = 0
    server_side: set[str] = set()  # the SSS rows that decided, each of which recorded its facts
    queued: dict[str, list[Pending]] = {}  # user -> what was pending when their latest sync began
    for action in randomwalk.actions(seed, 300, mixed=mixed):  # mixed: both synchronisation methods
        for position, event in ledger.append([action]):
            if isinstance(event, (v.SyncRequested, v.WentOnline)):
                syncs[position] = event.user
                queued[event.user] = list(world.users[event.user].pending)
            if isinstance(event, v.Decided):
                user = event.actor.removeprefix("sync:")
                _check(world, position, event, syncs, queued.get(user, []))
                decided += 1
                if event.rule.startswith("SSS-"):
                    assert event.facts and event.decided_by == "server_side", (position, event.rule)
                    server_side.add(event.rule)
            evolve(world, event, position)
    assert decided > 50
    assert bool(server_side) == mixed, server_side  # the mixed walks do reach the SSS rows
    # and the store gives back what was recorded, whatever changed since
    stored = [e for _, e in ledger.store.read() if isinstance(e, v.Decided)]
    assert any(e.facts for e in stored) and any(e.sync for e in stored)


def test_merged_causes_are_every_queued_change_of_the_record() -> None:
    ledger = Ledger()
    at = datetime(2026, 3, 2, 9, tzinfo=UTC)
    lines = [
        {"do": "user.add", "user": "alice"},
        {"do": "user.add", "user": "bob"},
        {"do": "crm.create", "actor": "bob", "record": "c1", "type": "contact", "owner": "alice"},  # @3
        {"do": "sync", "user": "alice"},  # @4, FILTER-CREATE @5
        {"do": "crm.update", "actor": "bob", "record": "c1", "fields": {"phone": "1"}},  # @6
        {"do": "crm.assign", "actor": "bob", "record": "c1", "to": "bob"},  # @7
        {"do": "crm.update", "actor": "bob", "record": "c1", "fields": {"phone": "2"}},  # @8: alice still linked
        {"do": "sync", "user": "alice"},  # @9, FILTER-LEAVE-SYNCED @10
    ]
    for n, line in enumerate(lines):
        ledger.append([v.ACTION_ADAPTER.validate_python({**line, "at": at.replace(minute=n)})])
    events = dict(ledger.store.read())
    leave = events[10]
    assert isinstance(leave, v.Decided) and leave.rule == "FILTER-LEAVE-SYNCED"
    assert (leave.cause, leave.causes, leave.sync) == (8, (6, 7, 8), 9)
    create = events[5]
    assert isinstance(create, v.Decided) and (create.cause, create.causes, create.sync) == (3, None, 4)
