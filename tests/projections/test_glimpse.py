"""A state document of a past point made from the nearest checkpoint's rows and only the records and items the
events since it touched (`projections.glimpse`) must be, byte for byte, the one written from the whole world
folded from the start: at every point of long walks (records, items and links made, changed, deleted, shared,
assigned; users added, queues filled and emptied), for the whole organisation and for each user, whole and in
pages of links; on SQLite and on PostgreSQL."""

from __future__ import annotations

import functools
import importlib
from pathlib import Path

import orjson
import pytest

from syncledger.projections.document import state_document
from syncledger.projections.glimpse import glimpse_document
from syncledger.projections.reader import open_reader
from syncledger.tools import scenarios
from tests import randomwalk
from tests.conftest import Locations
from tests.reference import world_at

EVERY = 23  # events between checkpoints: a full one, then deltas onto it (`projector.DELTAS`)


def _json(document: dict[str, object]) -> bytes:
    return orjson.dumps(document)


@pytest.mark.parametrize("mixed", [False, True], ids=["outlook-client", "mixed-methods"])
@pytest.mark.parametrize("seed", [3, 11])
def test_a_glimpse_writes_the_document_the_whole_world_writes(stored: Locations, mixed: bool, seed: int) -> None:
    reader = open_reader(stored.new(), checkpoint_every=EVERY)
    try:
        for action in randomwalk.actions(seed, 300, mixed):
            reader.ledger.append([action])
        store, last = reader.ledger.store, reader.last_position()
        first, fewer = min(reader.projector.models.checkpoints()), 0
        for position in range(first, last):
            glimpse = reader.projector.glimpse_at(position)
            assert glimpse is not None, position  # a checkpoint is there: the glimpse is made, not the fold
            whole = world_at(store, position)
            fewer += len(glimpse.world.records) < len(whole.records)
            for user in (None, *whole.users):
                for after, limit in ((0, 1_000), (0, 2), (position // 3, 3)):
                    expected = state_document(whole, user, after, limit)
                    assert _json(glimpse_document(glimpse, user, after, limit)) == _json(expected), (position, user)
            # as `state` asks for it: the links left as `Link`s, written by the printer
            assert _json(reader.state_at(position, None, 0, 5, True)) == _json(
                state_document(whole, None, 0, 5, True)
            ), position
        assert fewer > (last - first) // 2  # most glimpses made objects of fewer records than the present holds
    finally:
        reader.close()


SCENARIOS = sorted((Path(__file__).parent.parent / "scenarios").glob("*.yaml"))


def test_every_scenario_s_past_states_are_glimpsed_as_the_whole_world_writes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scenario files hold what the random walk does not: baselines, aliases, discrepancies, server-side
    users and the organisation's option. Each is run into a ledger that writes a checkpoint every 3 events, and
    every past state of it is glimpsed."""
    scenario_run = importlib.import_module("syncledger.tools.scenarios.run")  # the module, not the function
    monkeypatch.setattr(scenario_run, "open_reader", functools.partial(open_reader, checkpoint_every=3))
    glimpsed = 0
    for n, path in enumerate(SCENARIOS):
        location = str(tmp_path / f"{n}.db")
        with scenarios.run(scenarios.load(str(path)), location) as outcome:
            assert outcome.failures == [], path.name
        reader = open_reader(location, checkpoint_every=3)
        try:
            store = reader.ledger.store
            for position in range(1, reader.last_position()):
                whole = world_at(store, position)
                glimpsed += (glimpse := reader.projector.glimpse_at(position)) is not None
                for user in (None, *whole.users):
                    expected = _json(state_document(whole, user, 0, 4))
                    assert _json(reader.state_at(position, user, 0, 4)) == expected, (path.name, position, user)
                    if glimpse is not None:
                        assert _json(glimpse_document(glimpse, user, 0, 4)) == expected, (path.name, position)
        finally:
            reader.close()
    assert glimpsed > len(SCENARIOS) * 3
