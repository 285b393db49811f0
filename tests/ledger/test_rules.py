"""The rule table as data, and each rule as a pure function: given a situation of plain values, the rule that
decides it and what it changes. No world and no store."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

import pytest

from syncledger.ledger import effects as fx
from syncledger.ledger import rules
from syncledger.ledger.rules import (
    RULES,
    FilterEntry,
    GoingOnline,
    OfflineOperation,
    OfflineReplay,
    OutlookEdit,
    OutlookRemoval,
    QueuedCrmChange,
    Tracking,
    Untracking,
)
from tests.ledger.situations import DELETED_APPOINTMENT, DELETED_CONTACT
from tests.shared import spec

NOON = datetime.fromisoformat("2026-03-02T12:00:00+00:00")


def _table_ids(text: str) -> set[str]:
    """The rule IDs in the first column of a spec page's tables."""
    return set(re.findall(r"^\| ([A-Z][A-Z-]+[A-Z]) \|", text, flags=re.M)) - {"ID"}


def test_every_rule_of_the_spec_is_in_the_table_with_its_timing() -> None:
    text = spec("RULES.md")
    spec_ids = _table_ids(text)
    assert spec_ids <= set(RULES), f"missing from the rule table: {sorted(spec_ids - set(RULES))}"
    assert len(spec_ids) == 31
    immediate = _table_ids(text.split("### Queued", 1)[0])  # "### Immediate (on append)" comes first
    assert len(immediate) == 9
    for rule_id in spec_ids:
        assert RULES[rule_id].timing == ("immediate" if rule_id in immediate else "queued"), rule_id


def test_every_server_side_rule_of_the_spec_is_its_own_row_and_every_unchanged_one_is_shared() -> None:
    text = spec("RULES-SSS.md")
    own = {r for r in rules.SERVER_SIDE.rules if r not in rules.OUTLOOK_CLIENT.rules}
    assert _table_ids(text) == own
    unchanged = re.findall(r"^Unchanged in step \d: (.+?)(?:\. Not used|\.$)", text, flags=re.M | re.S)
    shared = set(re.findall(r"\b[A-Z]+(?:-[A-Z]+)+\b", " ".join(unchanged)))
    assert len(unchanged) == 2 and {"APPT-DEL-OUTLOOK-OWNER", "CRM-EDIT-PULL", "FILTER-CREATE"} <= shared
    for rule_id in shared:
        assert rules.SERVER_SIDE.rules[rule_id] is rules.OUTLOOK_CLIENT.rules[rule_id], rule_id


def test_every_rule_has_a_condition_an_effect_a_confidence_and_a_source_or_is_a_decision() -> None:
    for rule in RULES.values():
        assert rule.when and rule.then
        assert rule.confidence in ("stated", "stated (3rd party)", "inferred", "decision", "observed")
        assert rule.sources or rule.confidence in ("decision", "observed"), rule.id
        assert all(s in rules.SOURCES for s in rule.sources)
        assert rule.timing in ("immediate", "queued", "observed")
        assert (rule.timing == "observed") == (rule.confidence == "observed"), rule.id
        assert rule.about in ("both", "item", "user", "none")


# ------------------------------------------------------------------------------------------ immediate

TRACKING = Tracking(user="alice", item="t1", record="t1", type="task", completed=True, fields={"s": "x"})


def test_track_item_creates_the_record_as_the_item_is_and_links_it() -> None:
    rule, effects, reason = rules.decide(replace(TRACKING, in_filter=True))
    assert rule.id == "TRACK-ITEM" and reason is None
    assert effects == (
        fx.CreateRecord(record="t1", type="task", owner="alice", state="completed", fields={"s": "x"}),
        fx.LinkItem(user="alice", item="t1", record="t1", origin="tracked", in_filter=True),
    )


def test_track_email_creates_a_crm_email_outside_the_filter() -> None:
    rule, effects, _ = rules.decide(replace(TRACKING, item="m1", record="m1#2", type="email", completed=False))
    assert rule.id == "TRACK-EMAIL"
    assert effects == (
        fx.CreateRecord(record="m1#2", type="email", owner="alice", fields={"s": "x"}),
        fx.LinkItem(user="alice", item="m1", record="m1#2", origin="tracked", in_filter=False),
    )


EDIT = OutlookEdit(kind="update", user="alice", item="a1", record="a1", record_exists=True, fields={"s": "y"})


def test_outlook_edit_push_sends_only_the_edited_fields_and_start() -> None:
    rule, effects, _ = rules.decide(replace(EDIT, start=NOON))
    assert rule.id == "OUTLOOK-EDIT-PUSH"
    assert effects == (fx.ChangeRecord(record="a1", fields={"s": "y"}, start=NOON),)


def test_outlook_edit_push_of_a_completion_completes_the_record() -> None:
    rule, effects, _ = rules.decide(replace(EDIT, kind="complete", fields={}))
    assert (rule.id, effects) == ("OUTLOOK-EDIT-PUSH", (fx.ChangeRecord(record="a1", state="completed"),))


def test_set_regarding_sets_the_regarding_of_the_crm_email() -> None:
    rule, effects, _ = rules.decide(replace(EDIT, kind="set_regarding", fields={}, regarding="c1"))
    assert (rule.id, effects) == ("SET-REGARDING", (fx.ChangeRecord(record="a1", regarding="c1"),))


@pytest.mark.parametrize("kind", ["update", "complete", "set_regarding"])
def test_edit_orphan_changes_nothing_and_says_why(kind: str) -> None:
    rule, effects, reason = rules.decide(replace(EDIT, kind=kind, record_exists=False))
    assert (rule.id, effects, reason) == ("EDIT-ORPHAN", (), "CRM record 'a1' no longer exists")


@pytest.mark.parametrize(
    ("delete_in_crm", "is_email", "option", "designated"),
    [(None, True, True, True), (None, True, False, False), (None, False, True, False), (False, True, True, False)]
    + [(True, False, False, True)],
)
def test_untrack_link_ends_the_link_and_fixes_the_designation(
    delete_in_crm: bool | None, is_email: bool, option: bool, designated: bool
) -> None:
    untracking = Untracking("alice", "m1", "m1", delete_in_crm, is_email, option)
    rule, effects, _ = rules.decide(untracking)
    assert (rule.id, effects) == ("UNTRACK-LINK", (fx.UnlinkItem(user="alice", item="m1", record="m1"),))
    assert rules.designation(untracking) is designated


def test_offline_queue_records_the_operation_and_changes_nothing_yet() -> None:
    rule, effects, _ = rules.decide(OfflineOperation(user="alice", item="t1"))
    assert (rule.id, effects, rule.about) == ("OFFLINE-QUEUE", (), "item")


REPLAY = OfflineReplay(
    user="alice",
    item="t1",
    kind="update",
    item_exists=True,
    queued_record="t1",
    linked_record="t1",
    queued_record_exists=True,
    queued_record_used=True,
)


@pytest.mark.parametrize(
    ("replay", "reason"),
    [
        (replace(REPLAY, item_exists=False), "item 't1' was deleted before alice went online"),
        (replace(REPLAY, linked_record=None), "the link of 't1' to 't1' ended before alice went online"),
        (replace(REPLAY, linked_record="t1#2"), "'t1' is now linked to 't1#2', not 't1'"),
        (replace(REPLAY, queued_record_exists=False), "CRM record 't1' was deleted before alice went online"),
        (
            replace(REPLAY, kind="set_regarding", regarding="c1", regarding_exists=False),
            "the Regarding record 'c1' was deleted before alice went online",
        ),
        (replace(REPLAY, kind="track", linked_record="r9"), "item 't1' is already linked to 'r9'"),
        (replace(REPLAY, kind="track", linked_record=None), "record id 't1' was used in CRM meanwhile"),
    ],
)
def test_offline_conflict_drops_a_replay_that_can_no_longer_be_applied(replay: OfflineReplay, reason: str) -> None:
    rule, effects, why = rules.decide(replay)
    assert (rule.id, effects, why) == ("OFFLINE-CONFLICT", (), reason)


@pytest.mark.parametrize(
    "replay",
    [REPLAY, replace(REPLAY, kind="track", linked_record=None, queued_record_used=False)]
    + [replace(REPLAY, kind="track", linked_record=None, queued_record=None)],
)
def test_a_replay_that_can_still_be_applied_matches_no_rule(replay: OfflineReplay) -> None:
    assert rules.OUTLOOK_CLIENT.match(replay) is None  # the engine applies it as the operation itself


def test_go_online_sync_takes_every_pending_operation() -> None:
    rule, effects, _ = rules.decide(GoingOnline(user="alice"))
    assert (rule.id, effects, rule.about) == ("GO-ONLINE-SYNC", (fx.ClearPending(user="alice"),), "user")


# ------------------------------------------------------------------------------------------ step 1

DELETION = DELETED_APPOINTMENT
UNLINK = fx.UnlinkItem(user="alice", item="a1", record="a1")
DELETE = fx.DeleteRecord(record="a1")


@pytest.mark.parametrize(
    ("removal", "rule", "effects"),
    [
        (DELETION, "APPT-DEL-OUTLOOK-OWNER", (DELETE, UNLINK)),
        (replace(DELETION, user_owns=False), "APPT-DEL-OUTLOOK-KEEP", (UNLINK,)),
        (replace(DELETION, starts_after_sync=False), "APPT-DEL-OUTLOOK-KEEP", (UNLINK,)),
        (replace(DELETION, record_state="completed"), "APPT-DEL-OUTLOOK-KEEP", (UNLINK,)),
        (replace(DELETION, record_exists=False), "DELETED-BOTH-SIDES", (UNLINK,)),
        (replace(DELETION, family="task"), "TASK-DEL-OUTLOOK-OPEN", (DELETE, UNLINK)),
        (replace(DELETION, family="task", record_state="canceled"), "TASK-DEL-OUTLOOK-DONE", (UNLINK,)),
        (replace(DELETION, family="contact"), "CONTACT-DEL-OUTLOOK", (UNLINK,)),
        (replace(DELETION, family="email"), "EMAIL-DEL-OUTLOOK", (UNLINK,)),
        (replace(DELETION, untrack=True, family="email"), "EMAIL-UNTRACK-KEEP", ()),
        (replace(DELETION, untrack=True, family="email", designated=True), "EMAIL-UNTRACK-DELETE", (DELETE,)),
        (
            replace(DELETION, untrack=True, record_exists=False, family="email", designated=True),
            "EMAIL-UNTRACK-DELETE",
            (),
        ),
        (replace(DELETION, untrack=True, family="contact", designated=True), "UNTRACK-ITEM", (DELETE,)),
        (replace(DELETION, untrack=True, family="contact", designated=False), "UNTRACK-ITEM", ()),
        (replace(DELETION, untrack=True, family="task", designated=True, user_owns=False), "UNTRACK-ITEM", ()),
    ],
)
def test_an_outlook_removal_is_decided_by_the_first_rule_that_applies(
    removal: OutlookRemoval, rule: str, effects: tuple[fx.Effect, ...]
) -> None:
    assert rules.decide(removal)[:2] == (RULES[rule], effects)


# ------------------------------------------------------------------------------------------ step 2

LIVE = replace(DELETED_CONTACT, record_exists=True, in_filter_now=True)
GONE = (fx.DeleteItem(user="alice", item="c1"), fx.UnlinkItem(user="alice", item="c1", record="c1"))
KEPT = (fx.UnlinkItem(user="alice", item="c1", record="c1"),)


def _pulled(in_filter: bool) -> tuple[fx.Effect, ...]:
    return (
        fx.ReplaceItem(user="alice", item="c1", fields={"name": "Ann"}),
        fx.NoteFilter(user="alice", item="c1", in_filter=in_filter),
    )


@pytest.mark.parametrize(
    ("change", "rule", "effects"),
    [
        (DELETED_CONTACT, "CONTACT-DEL-CRM-NONOWNER", GONE),
        (replace(DELETED_CONTACT, owned_at_deletion=True), "CONTACT-DEL-CRM-OWNER", KEPT),
        (replace(DELETED_CONTACT, family="appointment", started_after_sync=True), "APPT-DEL-CRM-FUTURE", GONE),
        (replace(DELETED_CONTACT, family="appointment"), "APPT-DEL-CRM-PAST", KEPT),
        (replace(DELETED_CONTACT, family="task"), "TASK-DEL-CRM-OPEN", GONE),
        (replace(DELETED_CONTACT, family="task", copy_completed=True), "TASK-DEL-CRM-DONE", KEPT),
        (replace(DELETED_CONTACT, family="email", owned_at_deletion=True), "EMAIL-DEL-CRM", KEPT),
        (LIVE, "CRM-EDIT-PULL", _pulled(True)),
        (replace(LIVE, in_filter_now=False), "FILTER-LEAVE-SYNCED", GONE),
        (replace(LIVE, in_filter_now=False, origin="tracked"), "FILTER-LEAVE-TRACKED", _pulled(False)),
        (replace(LIVE, in_filter_now=False, in_filter_before=False, origin="tracked"), "CRM-EDIT-PULL", _pulled(False)),
    ],
)
def test_a_crm_change_is_decided_by_the_first_rule_that_applies(
    change: QueuedCrmChange, rule: str, effects: tuple[fx.Effect, ...]
) -> None:
    assert rules.decide(change)[:2] == (RULES[rule], effects)


# ------------------------------------------------------------------------------------------ step 3

ENTRY = FilterEntry(user="bob", record="t1", item="t1#2", type="task", skipped=False, start=None, completed=True)


def test_filter_create_makes_a_linked_copy_under_the_id_it_is_given() -> None:
    rule, effects, _ = rules.decide(ENTRY)
    assert rule.id == "FILTER-CREATE"
    assert effects == (
        fx.CreateItem(user="bob", item="t1#2", type="task", completed=True),
        fx.LinkItem(user="bob", item="t1#2", record="t1", origin="synced", in_filter=True),
    )


def test_filter_skip_deleted_creates_nothing_and_records_no_decision() -> None:
    rule, effects, _ = rules.decide(replace(ENTRY, skipped=True))
    assert (rule.id, effects, rule.about) == ("FILTER-SKIP-DELETED", (), "none")


# ------------------------------------------------------------------------------------------ the table


@pytest.mark.parametrize("crm_type", ["task", "phonecall", "letter", "fax"])
def test_task_like_activities_follow_the_task_rules(crm_type: str) -> None:
    assert rules.family(crm_type) == "task"


def test_every_rule_answers_one_kind_of_situation_and_the_table_keeps_its_printed_order() -> None:
    client = [r.id for r in rules.OUTLOOK_CLIENT.rules.values()]
    own = [r for r in rules.SERVER_SIDE.rules if r not in rules.OUTLOOK_CLIENT.rules]
    assert list(RULES) == client + own + ["BASELINE"]  # the client's, the server side's own, the observed
    assert client[:2] == ["TRACK-EMAIL", "TRACK-ITEM"] and client[-1] == "UNTRACK-ITEM"
    assert own and all(r.startswith("SSS-") for r in own)
    kinds = {r.situation for r in rules.OUTLOOK_CLIENT.rules.values()}
    assert kinds == {Tracking, OutlookEdit, Untracking, OfflineOperation, OfflineReplay, GoingOnline}.union(
        {OutlookRemoval, QueuedCrmChange, FilterEntry}
    )
    assert {r.situation for r in rules.OBSERVED.rules.values()} == {rules.Baselining}
    assert {r.situation for r in RULES.values()} == kinds | {rules.MailboxEdit, rules.Baselining}


def test_a_rule_both_methods_follow_is_one_row_and_each_sss_row_is_the_server_sides_alone() -> None:
    for rule_id, rule in rules.SERVER_SIDE.rules.items():
        if rule_id.startswith("SSS-"):
            assert rules.methods_of(rule_id) == ["server_side"], rule_id
            assert rule.sources or rule.confidence == "decision", rule_id
        else:
            assert rules.OUTLOOK_CLIENT.rules[rule_id] is rule
            assert rules.methods_of(rule_id) == ["outlook_client", "server_side"]
    not_used = {"OUTLOOK-EDIT-PUSH", "OFFLINE-QUEUE", "OFFLINE-CONFLICT", "GO-ONLINE-SYNC", "CONTACT-DEL-OUTLOOK"}
    not_used |= {"TASK-DEL-OUTLOOK-OPEN", "TASK-DEL-OUTLOOK-DONE", "APPT-DEL-CRM-FUTURE", "APPT-DEL-CRM-PAST"}
    not_used |= {"FILTER-LEAVE-SYNCED", "FILTER-LEAVE-TRACKED"}
    assert not_used == set(rules.OUTLOOK_CLIENT.rules) - set(rules.SERVER_SIDE.rules)


def test_a_situation_no_row_answers_is_an_error_not_a_silent_default() -> None:
    with pytest.raises(LookupError, match="no outlook_client rule applies"):
        rules.decide(object())
