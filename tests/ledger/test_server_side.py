"""The engine for server_side users (RULES-SSS.md, "Precise rules"), decision by decision: folded in memory with
the engine itself, no store. Each test states the events, then what the cycle records."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from syncledger.ledger import effects as fx
from syncledger.ledger import vocabulary as v
from syncledger.ledger.engine import handle
from syncledger.ledger.world import World, skips_deleted

T0 = datetime.fromisoformat("2026-03-02T09:00:00+00:00")


class Org:
    """A world that takes actions one minute apart and remembers what each recorded."""

    def __init__(self, **users: dict[str, Any]) -> None:
        self.world = World()
        self.minute = 0
        for name, options in users.items():
            self.do("user.add", user=name, **options)

    def do(self, do: str, **fields: Any) -> list[tuple[int, v.Action | v.Decided]]:
        action = v.ACTION_ADAPTER.validate_python({"do": do, **fields, "at": T0 + timedelta(minutes=self.minute)})
        self.minute += 1
        return handle(self.world, action)


def decisions(recorded: list[tuple[int, v.Action | v.Decided]]) -> list[v.Decided]:
    return [event for _, event in recorded if isinstance(event, v.Decided)]


SSS = {"sync_method": "server_side"}


def test_several_edits_and_a_completion_queue_one_each_and_give_one_decision_caused_by_the_latest() -> None:
    org = Org(alice=SSS, bob={})
    org.do("crm.create", actor="bob", record="t1", type="task", owner="alice", fields={"a": 1, "b": 1})
    org.do("sync", user="alice")
    org.do("outlook.update", user="alice", item="t1", fields={"a": 2})
    org.do("outlook.complete", user="alice", item="t1")
    last = org.do("outlook.update", user="alice", item="t1", fields={"a": 3, "c": 3})
    assert len(org.world.users["alice"].pending) == 3
    assert org.world.records["t1"].fields == {"a": 1, "b": 1}  # nothing reached CRM before the cycle
    decided = decisions(org.do("sync", user="alice"))
    assert [(d.rule, d.cause, d.method) for d in decided] == [("SSS-EXCHANGE-EDIT-PUSH", last[0][0], "server_side")]
    assert decided[0].effects == (fx.ChangeRecord(record="t1", fields={"a": 3, "c": 3}, state="completed"),)
    assert org.world.records["t1"].fields == {"a": 3, "b": 1, "c": 3} and org.world.records["t1"].state == "completed"


def test_an_edit_whose_link_ended_before_the_cycle_is_dropped_without_a_decision() -> None:
    org = Org(alice=SSS)
    org.do("outlook.create", user="alice", item="o1", type="contact", fields={"p": "1"})
    org.do("outlook.track", user="alice", item="o1")
    org.do("outlook.update", user="alice", item="o1", fields={"p": "2"})
    org.do("outlook.untrack", user="alice", item="o1")
    assert [d.rule for d in decisions(org.do("sync", user="alice"))] == ["UNTRACK-ITEM"]
    assert org.world.records["o1"].fields == {"p": "1"}


def test_an_edit_of_an_unlinked_item_queues_nothing() -> None:
    org = Org(alice=SSS)
    org.do("outlook.create", user="alice", item="o1", type="contact")
    assert org.do("outlook.update", user="alice", item="o1", fields={"p": "2"})[0][1].queued == ()


def test_the_push_lifts_the_skip_of_others_but_not_the_pushers_own() -> None:
    org = Org(alice={**SSS, "sync_filter": "owned_and_shared"}, bob={"sync_filter": "owned_and_shared"}, carol={})
    org.do("crm.create", actor="carol", record="c1", type="contact")
    org.do("crm.share", actor="carol", record="c1", **{"with": "alice"})
    org.do("crm.share", actor="carol", record="c1", **{"with": "bob"})
    org.do("sync", user="alice")
    org.do("sync", user="bob")
    org.do("outlook.delete", user="bob", item="c1")
    org.do("sync", user="bob")
    org.do("outlook.update", user="alice", item="c1", fields={"p": "2"})
    org.do("outlook.delete", user="alice", item="c1")
    decided = decisions(org.do("sync", user="alice"))
    assert [d.rule for d in decided] == ["SSS-EXCHANGE-EDIT-PUSH", "SSS-CONTACT-DEL-EXCHANGE-KEEP"]
    assert [q.user for q in decided[0].queued] == ["carol", "bob"]  # the owner (in her filter) and bob, not alice
    record, users = org.world.records["c1"], org.world.users
    assert skips_deleted(users["alice"], record) and not skips_deleted(users["bob"], record)
    assert decisions(org.do("sync", user="alice")) == []


def test_a_change_of_method_and_the_org_option_record_nothing_queue_nothing_and_lift_no_skip() -> None:
    org = Org(alice={"sync_filter": "owned_and_shared"}, bob={})
    org.do("crm.create", actor="bob", record="c1", type="contact")
    org.do("crm.share", actor="bob", record="c1", **{"with": "alice"})
    org.do("sync", user="alice")
    org.do("sync", user="bob")
    org.do("outlook.delete", user="alice", item="c1")
    org.do("sync", user="alice")
    before = org.world.records["c1"].changed
    for action in (
        org.do("option", user="alice", name="sync_method", value="server_side"),
        org.do("org.option", actor="bob", name="distinct_logical_deletes", value=True),
    ):
        assert len(action) == 1 and action[0][1].queued == ()
    assert org.world.records["c1"].changed == before and skips_deleted(
        org.world.users["alice"], org.world.records["c1"]
    )
    assert org.world.users["alice"].sync_method == "server_side" and org.world.distinct_logical_deletes
    assert decisions(org.do("sync", user="alice")) == []  # FILTER-SKIP-DELETED carried over


def test_the_org_option_is_read_at_the_cycle_not_when_the_record_left() -> None:
    org = Org(alice=SSS, bob={})
    org.do("crm.create", actor="bob", record="c1", type="contact", owner="alice")
    org.do("sync", user="alice")
    org.do("crm.assign", actor="bob", record="c1", to="bob")
    org.do("org.option", actor="bob", name="distinct_logical_deletes", value=True)
    assert [d.rule for d in decisions(org.do("sync", user="alice"))] == ["SSS-FILTER-LEAVE-UNLINK"]
    assert "c1" in org.world.users["alice"].items


def test_outlook_client_decisions_name_their_method() -> None:
    org = Org(alice={}, bob=SSS)
    org.do("crm.create", actor="bob", record="c1", type="contact", owner="alice")
    org.do("crm.create", actor="bob", record="c2", type="contact", owner="bob")
    assert [(d.rule, d.decided_by) for d in decisions(org.do("sync", user="alice"))] == [
        ("FILTER-CREATE", "outlook_client")
    ]
    assert [(d.rule, d.decided_by) for d in decisions(org.do("sync", user="bob"))] == [("FILTER-CREATE", "server_side")]
