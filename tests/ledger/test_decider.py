"""The decider layer, one test per rule: given these events, when this action, then these decisions. Pure: the
events are folded into a world in memory (no store), and the action is decided against it without changing it
(`engine.decide`), which must equal what recording it does (`engine.handle`)."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given as drawn
from hypothesis import settings
from hypothesis import strategies as st

from syncledger.ledger import effects as fx
from syncledger.ledger import vocabulary as v
from syncledger.ledger.engine import decide, handle
from syncledger.ledger.rules import RULES
from syncledger.ledger.world import World
from tests.strategies import histories

T0 = datetime.fromisoformat("2026-03-02T09:00:00+00:00")
LATER, EARLIER = T0 + timedelta(days=1), T0 - timedelta(hours=1)
Do = dict[str, Any]


def alice(do: str, **fields: Any) -> Do:
    return {"do": do, "user": "alice", **fields}


def crm(do: str, record: str, **fields: Any) -> Do:
    return {"do": do, "actor": "bob", "record": record, **fields}


def unlink(item: str, record: str | None = None) -> fx.UnlinkItem:
    return fx.UnlinkItem(user="alice", item=item, record=record or item)


def gone(item: str) -> tuple[fx.Effect, ...]:
    return (fx.DeleteItem(user="alice", item=item), unlink(item))


SSS = alice("option", name="sync_method", value="server_side")
MY_CONTACT = [crm("crm.create", "c1", type="contact", owner="alice", fields={"n": "1"}), alice("sync")]
MY_TASK = [crm("crm.create", "t1", type="task", owner="alice"), alice("sync")]
TRACKED_EMAIL = [alice("outlook.create", item="m1", type="email"), alice("outlook.track", item="m1")]
TRACKED_TASK = [alice("outlook.create", item="t1", type="task", fields={"s": "1"}), alice("outlook.track", item="t1")]


def my_appointment(start: datetime) -> list[Do]:
    return [crm("crm.create", "a1", type="appointment", owner="alice", start=start.isoformat()), alice("sync")]


# rule -> (given, when, then: each decision as (rule, effects))
CASES: dict[str, tuple[list[Do], Do, list[tuple[str, tuple[fx.Effect, ...]]]]] = {
    "TRACK-EMAIL": (
        [alice("outlook.create", item="m1", type="email", fields={"subject": "Hi"})],
        alice("outlook.track", item="m1"),
        [
            (
                "TRACK-EMAIL",
                (
                    fx.CreateRecord(record="m1", type="email", owner="alice", fields={"subject": "Hi"}),
                    fx.LinkItem(user="alice", item="m1", record="m1", origin="tracked", in_filter=False),
                ),
            )
        ],
    ),
    "TRACK-ITEM": (
        [alice("outlook.create", item="t1", type="task", fields={"s": "1"})],
        alice("outlook.track", item="t1", record="r7"),
        [
            (
                "TRACK-ITEM",
                (
                    fx.CreateRecord(record="r7", type="task", owner="alice", fields={"s": "1"}),
                    fx.LinkItem(user="alice", item="t1", record="r7", origin="tracked", in_filter=True),
                ),
            )
        ],
    ),
    "SET-REGARDING": (
        [crm("crm.create", "c1", type="contact"), alice("outlook.create", item="m1", type="email")],
        alice("outlook.set_regarding", item="m1", regarding="c1"),
        [
            (
                "TRACK-EMAIL",
                (
                    fx.CreateRecord(record="m1", type="email", owner="alice"),
                    fx.LinkItem(user="alice", item="m1", record="m1", origin="tracked", in_filter=False),
                ),
            ),
            ("SET-REGARDING", (fx.ChangeRecord(record="m1", regarding="c1"),)),
        ],
    ),
    "OUTLOOK-EDIT-PUSH": (
        TRACKED_TASK,
        alice("outlook.update", item="t1", fields={"s": "2"}),
        [("OUTLOOK-EDIT-PUSH", (fx.ChangeRecord(record="t1", fields={"s": "2"}),))],
    ),
    "EDIT-ORPHAN": (
        [*TRACKED_TASK, crm("crm.delete", "t1")],
        alice("outlook.complete", item="t1"),
        [("EDIT-ORPHAN", ())],
    ),
    "UNTRACK-LINK": (TRACKED_EMAIL, alice("outlook.untrack", item="m1"), [("UNTRACK-LINK", (unlink("m1"),))]),
    "OFFLINE-QUEUE": (
        [alice("outlook.create", item="t1", type="task"), alice("offline")],
        alice("outlook.track", item="t1"),
        [("OFFLINE-QUEUE", ())],
    ),
    "OFFLINE-CONFLICT": (
        [
            alice("outlook.create", item="t1", type="task"),
            alice("offline"),
            alice("outlook.track", item="t1"),
            alice("outlook.delete", item="t1"),
        ],
        alice("online"),
        [
            ("OFFLINE-CONFLICT", (fx.SettleOperation(user="alice", cause=5),)),
            ("GO-ONLINE-SYNC", (fx.ClearPending(user="alice"),)),
        ],
    ),
    "GO-ONLINE-SYNC": ([alice("offline")], alice("online"), [("GO-ONLINE-SYNC", (fx.ClearPending(user="alice"),))]),
    "FILTER-CREATE": (
        [crm("crm.create", "c1", type="contact", owner="alice", fields={"n": "1"})],
        alice("sync"),
        [
            (
                "FILTER-CREATE",
                (
                    fx.CreateItem(user="alice", item="c1", type="contact", fields={"n": "1"}),
                    fx.LinkItem(user="alice", item="c1", record="c1", origin="synced", in_filter=True),
                ),
            )
        ],
    ),
    "FILTER-SKIP-DELETED": ([*MY_CONTACT, alice("outlook.delete", item="c1"), alice("sync")], alice("sync"), []),
    "CRM-EDIT-PULL": (
        [*MY_CONTACT, crm("crm.update", "c1", fields={"n": "2"})],
        alice("sync"),
        [
            (
                "CRM-EDIT-PULL",
                (
                    fx.ReplaceItem(user="alice", item="c1", fields={"n": "2"}),
                    fx.NoteFilter(user="alice", item="c1", in_filter=True),
                ),
            )
        ],
    ),
    "CONTACT-DEL-CRM-NONOWNER": (
        [
            alice("option", name="sync_filter", value="owned_and_shared"),
            crm("crm.create", "c1", type="contact"),
            crm("crm.share", "c1", **{"with": "alice"}),
            alice("sync"),
            crm("crm.delete", "c1"),
        ],
        alice("sync"),
        [("CONTACT-DEL-CRM-NONOWNER", gone("c1"))],
    ),
    "CONTACT-DEL-CRM-OWNER": (
        [*MY_CONTACT, crm("crm.delete", "c1")],
        alice("sync"),
        [("CONTACT-DEL-CRM-OWNER", (unlink("c1"),))],
    ),
    "APPT-DEL-CRM-FUTURE": (
        [*my_appointment(LATER), crm("crm.delete", "a1")],
        alice("sync"),
        [("APPT-DEL-CRM-FUTURE", gone("a1"))],
    ),
    "APPT-DEL-CRM-PAST": (
        [*my_appointment(EARLIER), crm("crm.delete", "a1")],
        alice("sync"),
        [("APPT-DEL-CRM-PAST", (unlink("a1"),))],
    ),
    "TASK-DEL-CRM-OPEN": ([*MY_TASK, crm("crm.delete", "t1")], alice("sync"), [("TASK-DEL-CRM-OPEN", gone("t1"))]),
    "TASK-DEL-CRM-DONE": (
        [*MY_TASK, crm("crm.delete", "t1"), alice("outlook.complete", item="t1")],
        alice("sync"),
        [("TASK-DEL-CRM-DONE", (unlink("t1"),))],
    ),
    "EMAIL-DEL-CRM": (
        [*TRACKED_EMAIL, crm("crm.delete", "m1")],
        alice("sync"),
        [("EMAIL-DEL-CRM", (unlink("m1"),))],
    ),
    "FILTER-LEAVE-SYNCED": (
        [*MY_CONTACT, crm("crm.assign", "c1", to="bob")],
        alice("sync"),
        [("FILTER-LEAVE-SYNCED", gone("c1"))],
    ),
    "FILTER-LEAVE-TRACKED": (
        [*TRACKED_TASK, crm("crm.assign", "t1", to="bob")],
        alice("sync"),
        [
            (
                "FILTER-LEAVE-TRACKED",
                (
                    fx.ReplaceItem(user="alice", item="t1", fields={"s": "1"}),
                    fx.NoteFilter(user="alice", item="t1", in_filter=False),
                ),
            )
        ],
    ),
    "DELETED-BOTH-SIDES": (
        [*MY_CONTACT, alice("outlook.delete", item="c1"), crm("crm.delete", "c1")],
        alice("sync"),
        [("DELETED-BOTH-SIDES", (unlink("c1"),))],
    ),
    "EMAIL-DEL-OUTLOOK": (
        [*TRACKED_EMAIL, alice("outlook.delete", item="m1")],
        alice("sync"),
        [("EMAIL-DEL-OUTLOOK", (unlink("m1"),))],
    ),
    "EMAIL-UNTRACK-KEEP": (
        [*TRACKED_EMAIL, alice("outlook.untrack", item="m1")],
        alice("sync"),
        [("EMAIL-UNTRACK-KEEP", ())],
    ),
    "EMAIL-UNTRACK-DELETE": (
        [*TRACKED_EMAIL, alice("outlook.untrack", item="m1", delete_in_crm=True)],
        alice("sync"),
        [("EMAIL-UNTRACK-DELETE", (fx.DeleteRecord(record="m1"),))],
    ),
    "CONTACT-DEL-OUTLOOK": (
        [*MY_CONTACT, alice("outlook.delete", item="c1")],
        alice("sync"),
        [("CONTACT-DEL-OUTLOOK", (unlink("c1"),))],
    ),
    "APPT-DEL-OUTLOOK-OWNER": (
        [*my_appointment(LATER), alice("outlook.delete", item="a1")],
        alice("sync"),
        [("APPT-DEL-OUTLOOK-OWNER", (fx.DeleteRecord(record="a1"), unlink("a1")))],
    ),
    "APPT-DEL-OUTLOOK-KEEP": (
        [*my_appointment(EARLIER), alice("outlook.delete", item="a1")],
        alice("sync"),
        [("APPT-DEL-OUTLOOK-KEEP", (unlink("a1"),))],
    ),
    "TASK-DEL-OUTLOOK-OPEN": (
        [*MY_TASK, alice("outlook.delete", item="t1")],
        alice("sync"),
        [("TASK-DEL-OUTLOOK-OPEN", (fx.DeleteRecord(record="t1"), unlink("t1")))],
    ),
    "TASK-DEL-OUTLOOK-DONE": (
        [*MY_TASK, crm("crm.complete", "t1"), alice("sync"), alice("outlook.delete", item="t1")],
        alice("sync"),
        [("TASK-DEL-OUTLOOK-DONE", (unlink("t1"),))],
    ),
    "UNTRACK-ITEM": (
        [
            alice("outlook.create", item="c1", type="contact"),
            alice("outlook.track", item="c1"),
            alice("outlook.untrack", item="c1", delete_in_crm=True),
        ],
        alice("sync"),
        [("UNTRACK-ITEM", (fx.DeleteRecord(record="c1"),))],
    ),
    # server-side synchronization (RULES-SSS.md): alice's method is server_side from the first event on
    "SSS-EXCHANGE-EDIT-PUSH": (
        [
            SSS,
            *TRACKED_TASK,
            alice("outlook.update", item="t1", fields={"s": "2", "p": "x"}),
            alice("outlook.update", item="t1", fields={"s": "3"}),
            alice("outlook.complete", item="t1"),
        ],
        alice("sync"),
        [
            (
                "SSS-EXCHANGE-EDIT-PUSH",
                (fx.ChangeRecord(record="t1", fields={"s": "3", "p": "x"}, state="completed"),),
            )
        ],
    ),
    "SSS-EXCHANGE-EDIT-CLOSED": (
        [
            SSS,
            *my_appointment(LATER),
            crm("crm.complete", "a1"),
            alice("sync"),
            alice("outlook.update", item="a1", fields={"s": "2"}),
        ],
        alice("sync"),
        [("SSS-EXCHANGE-EDIT-CLOSED", ())],
    ),
    "SSS-EXCHANGE-EDIT-ORPHAN": (
        [SSS, *MY_TASK, crm("crm.delete", "t1"), alice("outlook.complete", item="t1")],
        alice("sync"),
        [("SSS-EXCHANGE-EDIT-ORPHAN", ()), ("TASK-DEL-CRM-DONE", (unlink("t1"),))],
    ),
    "SSS-CONTACT-DEL-EXCHANGE-OWNER": (
        [SSS, *MY_CONTACT, alice("outlook.delete", item="c1")],
        alice("sync"),
        [("SSS-CONTACT-DEL-EXCHANGE-OWNER", (fx.DeleteRecord(record="c1"), unlink("c1")))],
    ),
    "SSS-CONTACT-DEL-EXCHANGE-KEEP": (
        [
            SSS,
            alice("option", name="sync_filter", value="owned_and_shared"),
            crm("crm.create", "c1", type="contact"),
            crm("crm.share", "c1", **{"with": "alice"}),
            alice("sync"),
            alice("outlook.delete", item="c1"),
        ],
        alice("sync"),
        [("SSS-CONTACT-DEL-EXCHANGE-KEEP", (unlink("c1"),))],
    ),
    "SSS-TASK-DEL-EXCHANGE": (
        [SSS, *MY_TASK, crm("crm.cancel", "t1"), alice("sync"), alice("outlook.delete", item="t1")],
        alice("sync"),
        [("SSS-TASK-DEL-EXCHANGE", (fx.DeleteRecord(record="t1"), unlink("t1")))],
    ),
    "SSS-APPT-DEL-CRM-ORGANIZER": (
        [SSS, *my_appointment(LATER), crm("crm.delete", "a1")],
        alice("sync"),
        [("SSS-APPT-DEL-CRM-ORGANIZER", gone("a1"))],
    ),
    "SSS-APPT-DEL-CRM-KEEP": (
        [
            SSS,
            alice("option", name="sync_filter", value="owned_and_shared"),
            crm("crm.create", "a1", type="appointment", start=LATER.isoformat()),
            crm("crm.share", "a1", **{"with": "alice"}),
            alice("sync"),
            crm("crm.delete", "a1"),
        ],
        alice("sync"),
        [("SSS-APPT-DEL-CRM-KEEP", (unlink("a1"),))],
    ),
    "SSS-FILTER-LEAVE": (
        [SSS, *TRACKED_TASK, crm("crm.assign", "t1", to="bob")],
        alice("sync"),
        [("SSS-FILTER-LEAVE", gone("t1"))],
    ),
    "SSS-FILTER-LEAVE-UNLINK": (
        [
            SSS,
            {"do": "org.option", "actor": "bob", "name": "distinct_logical_deletes", "value": True},
            *MY_CONTACT,
            crm("crm.deactivate", "c1"),
        ],
        alice("sync"),
        [("SSS-FILTER-LEAVE-UNLINK", (unlink("c1"),))],
    ),
}


def given(events: list[Do]) -> World:
    """The world the events make, from the two users on: folded in memory, no store."""
    world = World()
    for minute, raw in enumerate([{"do": "user.add", "user": "alice"}, {"do": "user.add", "user": "bob"}, *events]):
        handle(world, v.ACTION_ADAPTER.validate_python({**raw, "at": T0 + timedelta(minutes=minute)}))
    return world


def test_every_rule_has_a_given_when_then() -> None:
    assert set(CASES) == set(RULES)


@pytest.mark.parametrize("rule", list(CASES))
def test_given_events_when_an_action_then_these_decisions(rule: str) -> None:
    events, when, then = CASES[rule]
    world = given(events)
    action = v.ACTION_ADAPTER.validate_python({**when, "at": world.at + timedelta(minutes=1)})  # type: ignore[operator]
    before = copy.deepcopy(world)
    decided = decide(world, action)
    assert world == before, "deciding changes nothing"
    assert decided[0] == (world.position + 1, action.model_copy(update={"id": f"auto-{world.position + 1}"}))
    assert [(d.rule, d.effects) for _, d in decided if isinstance(d, v.Decided)] == then
    assert all(d.cause < p and d.rule in RULES for p, d in decided if isinstance(d, v.Decided))
    assert handle(world, action) == decided, "recording it records what deciding said"


@settings(max_examples=40, deadline=None)
@drawn(history=histories(max_actions=80), late=st.sampled_from((0, 1, 600)))
def test_deciding_a_sync_changes_nothing_and_records_what_recording_does(history: list[v.Action], late: int) -> None:
    """The dry run of `preview`, for every user of any history: decided against a draft, equal to the real thing."""
    world = World()
    for action in history:
        handle(world, action)
    assert world.at is not None
    for name, user in world.users.items():
        raw = {"do": "sync" if user.online else "online", "user": name, "at": world.at + timedelta(minutes=late)}
        action = v.ACTION_ADAPTER.validate_python(raw)
        before = copy.deepcopy(world)
        decided = decide(world, action)
        assert world == before and world.users[name].pending == before.users[name].pending
        assert decided == handle(copy.deepcopy(world), action)
