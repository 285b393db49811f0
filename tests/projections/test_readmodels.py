"""Checkpoints and the stored item index are only faster ways to the same answers: through a checkpoint equals
a fold from zero, a lookup through the index equals a scan, on every back end and with other writers around."""

from __future__ import annotations

import gc

from ledger import vocabulary as v
from ledger.application import Ledger
from ledger.store import EventStore
from projections.document import state_document
from projections.index import ItemIndex
from projections.reader import open_reader
from tests.conftest import Locations
from tests.reference import world_at
from tools import randomwalk

EVERY = 37  # small, so that a short ledger has many checkpoints


def _filled(location: str | None, count: int = 300, seed: int = 21):
    reader = open_reader(location, for_writing=True, checkpoint_every=EVERY)
    for action in randomwalk.actions(seed, count):
        reader.ledger.append([action])
    return reader


def test_the_state_through_a_checkpoint_equals_a_fold_from_zero(locations: Locations) -> None:
    reader = _filled(locations.new())
    store = reader.ledger.store
    checkpoints = reader.projector.models.checkpoints()
    assert len(checkpoints) > 5
    assert all(
        b - a < EVERY + 60 for a, b in zip([0, *checkpoints], checkpoints, strict=False)
    )  # an action may overrun
    for position in range(0, store.last_position() + 1, 7):
        assert reader.world_at(position) == world_at(store, position), position
        assert state_document(reader.world_at(position)) == state_document(world_at(store, position))


def test_a_lookup_through_the_index_equals_a_scan(locations: Locations) -> None:
    reader = _filled(locations.new())
    scan = ItemIndex()
    scan.add(reader.ledger.store.read())
    assert set(reader.index.touched) == set(scan.touched)
    for ref in scan.touched:
        assert reader.index.touched[ref] == scan.touched[ref], ref
        assert reader.index.last_decision(ref) == scan.last_decision(ref), ref


def test_read_models_rebuilt_from_scratch_equal_those_kept_incrementally(locations: Locations) -> None:
    location = locations.new()
    reader = _filled(location)
    models = reader.projector.models
    kept = (models.tracking(), models.checkpoints(), {r: models.touched(r) for r in models.refs()}, models.action_ids())
    models.reset()
    reader.projector.catch_up()
    rebuilt = (
        models.tracking(),
        models.checkpoints(),
        {r: models.touched(r) for r in models.refs()},
        models.action_ids(),
    )
    assert rebuilt[0] == kept[0] and rebuilt[2] == kept[2] and rebuilt[3] == kept[3]
    assert len(rebuilt[1]) == len(kept[1])  # the same spacing, whether folded while writing or afterwards


def test_another_writers_events_reach_the_read_models_at_the_next_catch_up(locations: Locations) -> None:
    location = locations.new()
    if location is None:
        return  # one in-memory store has one writer
    reader = _filled(location, count=60)
    other = Ledger(EventStore(location))  # appends without read models, like an old client or a crash
    at = other.world.at
    for n in range(5):
        other.append(
            [
                v.ACTION_ADAPTER.validate_python(raw | {"at": at})
                for raw in (
                    {"do": "user.add", "user": f"late{n}"},
                    {"do": "crm.create", "actor": f"late{n}", "record": f"late-r{n}", "type": "task"},
                    {"do": "sync", "user": f"late{n}"},
                )
            ]
        )
    assert reader.projector.models.tracking() < other.world.position
    fresh = open_reader(location)
    assert fresh.projector.models.tracking() == other.world.position
    assert fresh.world == other.world
    scan = ItemIndex()
    scan.add(EventStore(location).read())
    assert {r: fresh.index.touched[r] for r in scan.touched} == scan.touched


def test_catching_up_leaves_the_garbage_collector_as_it_found_it(tmp_path) -> None:
    """The projector pauses the cyclic collector for each page; it must come back on, and stay off if it was."""
    location = str(tmp_path / "ledger.db")
    _filled(location, 30)
    for enabled in (True, False):
        (gc.enable if enabled else gc.disable)()
        try:
            reader = open_reader(location)
            reader.projector.models.reset()
            assert reader.projector.catch_up().position > 30
            assert gc.isenabled() is enabled
        finally:
            gc.enable()
