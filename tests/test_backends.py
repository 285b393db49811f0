"""One ledger, many back ends: every scenario gives the same state document in memory, on SQLite and on
PostgreSQL (invariant 8), and several writers at once lose nothing (invariant 7)."""

from __future__ import annotations

import multiprocessing
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger
from syncledger.ledger.evolve import evolve
from syncledger.ledger.store import EventStore
from syncledger.ledger.world import World
from syncledger.projections.document import state_document
from syncledger.tools import scenarios
from tests.conftest import Locations

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.yaml"))


@pytest.fixture(scope="module")
def documents_in_memory() -> dict[str, dict[str, object]]:
    return {p.name: state_document(scenarios.run(scenarios.load(str(p))).ledger.world) for p in SCENARIOS}


def test_every_scenario_gives_the_same_state_on_every_back_end(
    stored: Locations, documents_in_memory: dict[str, dict[str, object]]
) -> None:
    for path in SCENARIOS:
        # each ledger's connections closed here, not whenever the garbage collector gets to them: on
        # PostgreSQL a few dozen scenarios' pools came within 15 of the server's 100 connections
        with scenarios.run(scenarios.load(str(path)), stored.new()) as outcome:
            assert outcome.failures == [], path.name
            assert state_document(outcome.ledger.world) == documents_in_memory[path.name], path.name


def test_a_scenario_outcome_closes_the_stored_ledger_it_opened(stored: Locations) -> None:
    """The runner opens the ledger at the db and hands out only its outcome: closing that closes the ledger's
    connections (the events' and the read models'), or a caller running many files holds them all at once."""
    with scenarios.run(scenarios.load(str(SCENARIOS[0])), stored.new()) as outcome:
        assert outcome.ledger.store.last_position() > 0
    for read in (outcome.ledger.store.last_position, lambda: outcome.ledger.observer.models.tracking("world")):
        with pytest.raises(Exception) as refused:
            read()
        assert "closed" in f"{type(refused.value).__name__} {refused.value}".lower()


WRITERS, ACTIONS_EACH = 4, 30


def _writer(location: str, name: str, seed: int) -> None:
    """One writer: creates and deletes only its own records and items; edits, shares and syncs shared ones.
    Actions carry no time: the ledger stamps them (now, or its last time if later)."""
    rng = random.Random(seed)
    ledger = Ledger(EventStore(location))
    own_records: list[str] = []
    own_items: list[str] = []
    now = lambda: datetime.now(UTC)  # noqa: E731
    for n in range(ACTIONS_EACH):
        choice = rng.choice(["create", "create", "item", "edit", "share-edit", "sync", "delete", "delete-item"])
        if choice == "delete" and own_records:
            raw = {"do": "crm.delete", "actor": name, "record": own_records.pop(0)}
        elif choice == "delete-item" and own_items:
            raw = {"do": "outlook.delete", "user": name, "item": own_items.pop(0)}
        elif choice == "item":
            own_items.append(f"{name}-i{n}")
            raw = {"do": "outlook.create", "user": name, "item": own_items[-1], "type": "task"}
        elif choice == "edit":
            raw = {"do": "crm.update", "actor": name, "record": "shared", "fields": {name: str(n)}}
        elif choice == "share-edit":
            raw = {"do": "crm.update", "actor": name, "record": "shared-task", "fields": {"by": name}}
        elif choice == "sync":
            raw = {"do": "sync", "user": name}
        else:
            own_records.append(f"{name}-r{n}")
            raw = {
                "do": "crm.create",
                "actor": name,
                "record": own_records[-1],
                "type": "contact",
                "fields": {"n": str(n)},
                "id": f"{name}-{n}-create",
            }
        raw.setdefault("id", f"{name}-{n}")
        ledger.append([v.ACTION_ADAPTER.validate_python(raw)], clock=now)


def test_several_writers_at_once_lose_nothing_and_duplicate_nothing(stored: Locations) -> None:
    location = stored.new()
    assert location is not None
    names = [f"w{n}" for n in range(WRITERS)]
    start = datetime.now(UTC)
    setup = [{"do": "user.add", "user": n, "sync_filter": "owned_and_shared"} for n in names]
    setup += [
        {"do": "crm.create", "actor": "w0", "record": "shared", "type": "contact"},
        {"do": "crm.create", "actor": "w0", "record": "shared-task", "type": "task"},
        *({"do": "crm.share", "actor": "w0", "record": "shared", "with": n} for n in names[1:]),
    ]
    Ledger(EventStore(location)).append([v.ACTION_ADAPTER.validate_python({**raw, "at": start}) for raw in setup])
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_writer, args=(location, n, i)) for i, n in enumerate(names)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=240)
    assert [p.exitcode for p in processes] == [0] * WRITERS

    events = list(EventStore(location).read())
    positions = [p for p, _ in events]
    assert positions == list(range(1, len(events) + 1))  # no duplicates, no gaps
    ids = [e.id for _, e in events if isinstance(e, v.Action)]
    assert len(ids) == len(set(ids))
    for name in names:
        assert sum(1 for i in ids if i.startswith(f"{name}-")) == ACTIONS_EACH, name
    times = [e.at for _, e in events]
    assert times == sorted(times)  # stamped after catching up: time never goes backwards
    for position, event in events:
        if isinstance(event, v.Decided):
            assert 0 < event.cause < position
    rebuilt = World()
    for position, event in events:
        evolve(rebuilt, event, position)
    assert rebuilt == Ledger(EventStore(location)).world
