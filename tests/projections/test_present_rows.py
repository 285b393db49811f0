"""A full checkpoint is made from the present's rows kept from one checkpoint to the next (`codec.PresentRows`),
brought up to date by what the fold noted as changed: it must be, byte for byte, the one made from the world's
objects, at every checkpoint of a long walk (records, items and links made, changed, deleted and made again)."""

from __future__ import annotations

import pytest

from syncledger.ledger.application import Ledger
from syncledger.ledger.evolve import evolve
from syncledger.ledger.world import World, forget_changes
from syncledger.projections.codec import PresentRows, present_json
from tests import randomwalk


@pytest.mark.parametrize("mixed", [False, True], ids=["outlook-client", "mixed-methods"])
@pytest.mark.parametrize("every", [1, 7, 40])
def test_a_full_checkpoint_from_kept_rows_is_the_one_from_the_world(mixed: bool, every: int) -> None:
    ledger = Ledger()
    for action in randomwalk.actions(5, 400, mixed):
        ledger.append([action])
    world, rows, base, checked = World(), None, None, 0
    for position, event in ledger.store.read():
        evolve(world, event, position)
        if position % every:
            continue
        if rows is None:
            rows = PresentRows(world)
        full = present_json(world, None, rows)
        assert full == present_json(world), position  # from the world's objects, as `verify` makes it
        fresh = PresentRows(world)
        assert rows.records == fresh.records, position
        assert _mine(rows.items) == _mine(fresh.items) and _mine(rows.links) == _mine(fresh.links), position
        if base is not None:  # a delta made with the rows is the one made without them
            assert present_json(world, base, rows) == present_json(world, base), position
        forget_changes(world)
        base, checked = position, checked + 1
    assert checked >= 400 // every


def _mine(by_user: dict[str, dict[str, tuple[object, ...]]]) -> dict[str, dict[str, tuple[object, ...]]]:
    return {user: found for user, found in by_user.items() if found}  # a user with none may be left out
