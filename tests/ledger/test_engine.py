"""The engine, given-when-then: given these actions, when this one, then these events (pure, in memory)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import ActionRefusedError, Ledger
from syncledger.ledger.engine import handle
from syncledger.ledger.world import World, fresh_id

T0 = datetime.fromisoformat("2026-03-02T09:00:00+00:00")


def act(minute: int, **raw: object) -> v.Action:
    return v.ACTION_ADAPTER.validate_python({**raw, "at": T0 + timedelta(minutes=minute)})  # type: ignore[no-any-return]


def given(*actions: v.Action) -> Ledger:
    ledger = Ledger()
    ledger.append([act(0, do="user.add", user="alice"), act(0, do="user.add", user="bob"), *actions])
    return ledger


def test_tracking_appends_the_action_then_its_decision_in_the_same_batch() -> None:
    ledger = given(act(1, do="outlook.create", user="alice", item="m1", type="email", fields={"subject": "Hi"}))
    recorded = ledger.append([act(2, do="outlook.track", user="alice", item="m1")])
    assert [e.do for _, e in recorded] == ["outlook.track", "decision"]
    (p1, track), (p2, decision) = recorded
    assert isinstance(decision, v.Decided)
    assert (decision.rule, decision.cause, p2) == ("TRACK-EMAIL", p1, p1 + 1)
    assert ledger.world.records["m1"].fields == {"subject": "Hi"}


def test_a_crm_deletion_queues_for_linked_users_and_the_sync_decides_after_its_cause() -> None:
    ledger = given(
        act(1, do="crm.create", actor="bob", record="c1", type="contact", owner="alice"),
        act(2, do="sync", user="alice"),
    )
    ((delete_at, _),) = ledger.append([act(3, do="crm.delete", actor="bob", record="c1")])
    assert [(p.operation, p.cause) for p in ledger.world.users["alice"].pending] == [("crm.delete", delete_at)]
    recorded = ledger.append([act(4, do="sync", user="alice")])
    decisions = [e for _, e in recorded if isinstance(e, v.Decided)]
    assert [(d.rule, d.cause) for d in decisions] == [("CONTACT-DEL-CRM-OWNER", delete_at)]
    assert all(d.cause < p for p, d in recorded if isinstance(d, v.Decided))
    assert ledger.world.users["alice"].pending == []


def test_several_queued_changes_of_one_record_give_one_decision_citing_the_latest() -> None:
    ledger = given(
        act(1, do="crm.create", actor="bob", record="c1", type="contact", owner="alice"),
        act(2, do="sync", user="alice"),
    )
    first = ledger.append([act(3, do="crm.update", actor="bob", record="c1", fields={"phone": "1"})])[0][0]
    last = ledger.append([act(4, do="crm.update", actor="bob", record="c1", fields={"phone": "2"})])[0][0]
    assert first < last
    decisions = [e for _, e in ledger.append([act(5, do="sync", user="alice")]) if isinstance(e, v.Decided)]
    assert [(d.rule, d.cause) for d in decisions] == [("CRM-EDIT-PULL", last)]
    assert ledger.world.users["alice"].items["c1"].fields == {"phone": "2"}


def test_a_refused_action_in_a_batch_appends_nothing_and_names_its_index() -> None:
    ledger = given()
    before = ledger.world.position
    with pytest.raises(ActionRefusedError) as refused:
        ledger.append(
            [
                act(1, do="crm.create", actor="bob", record="c1", type="contact"),
                act(2, do="crm.delete", actor="bob", record="nope"),
            ]
        )
    assert refused.value.index == 1 and "unknown record 'nope'" in refused.value.problem
    assert ledger.store.last_position() == before and "c1" not in ledger.world.records


def test_handle_needs_a_time_and_does_not_touch_the_world_when_refused() -> None:
    world = World()
    with pytest.raises(ValueError, match="no time"):
        handle(world, v.SyncRequested(do="sync", user="alice"))
    with pytest.raises(ValueError, match="unknown user 'alice'"):
        handle(world, act(0, do="sync", user="alice"))
    assert world == World()


def test_ids_are_never_reused_within_a_store() -> None:
    assert fresh_id("m1", set().__contains__) == "m1"
    assert fresh_id("m1", {"m1", "m1#2"}.__contains__) == "m1#3"
