"""DESIGN.md's invariants as properties over random valid multi-user histories, drawn action by action
(`tests.strategies`) so that a failing history shrinks to a short one."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import ActionRefusedError, Ledger
from syncledger.ledger.checks import RefusedError, check
from syncledger.ledger.evolve import evolve
from syncledger.ledger.store import EventStore
from syncledger.ledger.world import World
from syncledger.projections.document import state_document
from tests import randomwalk
from tests.conftest import Locations
from tests.reference import world_at, world_at_time
from tests.strategies import histories

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _ledger(history: list[v.Action], location: str | None = None) -> Ledger:
    ledger = Ledger(EventStore(location))
    for action in history:
        ledger.append([action])
    return ledger


@SETTINGS
@given(history=histories(max_actions=150))
def test_rebuilding_from_the_events_gives_exactly_the_incremental_state(
    history: list[v.Action], locations: Locations
) -> None:
    """Invariant 2, on every back end."""
    ledger = _ledger(history, locations.new())
    rebuilt = world_at(ledger.store)
    assert rebuilt == ledger.world
    assert state_document(rebuilt) == state_document(ledger.world)


@SETTINGS
@given(history=histories(max_actions=60))
def test_the_state_at_every_position_equals_a_fresh_fold_of_the_first_n_events(
    history: list[v.Action], locations: Locations
) -> None:
    """Invariant 3, for every N, on every back end."""
    ledger = _ledger(history, locations.new())
    folded = World()
    for position, event in ledger.store.read():
        evolve(folded, event, position)
        assert state_document(world_at(ledger.store, position)) == state_document(folded), position


@SETTINGS
@given(history=histories(max_actions=80))
def test_the_state_at_a_time_includes_exactly_the_events_up_to_it(history: list[v.Action]) -> None:
    ledger = _ledger(history)
    events = list(ledger.store.read())
    _, middle = events[len(events) // 2]
    last_at_or_before = max(p for p, e in events if e.at <= middle.at)
    assert world_at_time(ledger.store, middle.at) == world_at(ledger.store, last_at_or_before)


@SETTINGS
@given(history=histories(max_actions=80), bad=st.integers(min_value=0, max_value=10_000))
def test_a_refused_input_appends_nothing(
    history: list[v.Action], bad: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Invariant 6: a batch with one refused action leaves the store and the state as they were."""
    location = str(tmp_path_factory.mktemp("refused") / "ledger.db")
    ledger = _ledger(history, location)
    before_position, before_world = ledger.store.last_position(), state_document(ledger.world)
    refused = _refused_action(ledger.world, bad)
    valid = v.ACTION_ADAPTER.validate_python({"do": "user.add", "user": f"newcomer{bad}", "at": refused.at})
    with pytest.raises(ActionRefusedError):
        ledger.append([valid, refused])
    assert ledger.store.last_position() == before_position
    assert state_document(ledger.world) == before_world
    if location is not None:
        assert state_document(Ledger(EventStore(location)).world) == before_world


def _refused_action(world: World, n: int) -> v.Action:
    """A well-formed action the current state refuses (an unknown record, or a time that goes backwards)."""
    at = world.at
    assert at is not None
    candidates = [
        {"do": "crm.delete", "actor": "alice", "record": f"missing{n}"},
        {"do": "outlook.update", "user": "bob", "item": f"missing{n}"},
        {"do": "crm.create", "actor": "carol", "record": f"r{n}", "type": "contact", "owner": "nobody"},
        {"do": "user.add", "user": "alice"},
    ]
    action = v.ACTION_ADAPTER.validate_python({**candidates[n % len(candidates)], "at": at})
    with pytest.raises(RefusedError):
        check(world, action)
    return action  # type: ignore[no-any-return]


@pytest.mark.parametrize("mixed", [False, True], ids=["outlook-client", "mixed-methods"])
def test_decisions_always_come_after_their_cause_and_name_a_known_rule(tmp_path: Path, mixed: bool) -> None:
    from syncledger.ledger.rules import RULES

    ledger = Ledger(EventStore(str(tmp_path / "l.db")))
    for action in randomwalk.actions(seed=5, count=400, mixed=mixed):  # one long walk: hundreds of decisions
        ledger.append([action])
    seen = 0
    for position, event in ledger.store.read():
        if isinstance(event, v.Decided):
            assert 0 < event.cause < position and event.rule in RULES
            seen += 1
    assert seen > 50


@SETTINGS
@given(history=histories(max_actions=120))
def test_every_decision_is_taken_by_the_rules_of_its_users_method_at_that_moment(history: list[v.Action]) -> None:
    """Organisations mixing both methods: each decision names the method of the user it decides for, as that
    user had it when it was taken, and a rule of that method's table."""
    from syncledger.ledger.rules import rule_set

    ledger = _ledger(history)
    world = World()
    for position, event in ledger.store.read():
        if isinstance(event, v.Decided):
            user = event.actor.removeprefix("sync:") if event.actor.startswith("sync:") else event.actor
            assert event.method == world.users[user].sync_method, (position, event)
            assert event.rule in rule_set(event.decided_by).rules, (position, event.rule)
        evolve(world, event, position)
