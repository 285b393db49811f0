"""A sync reconciles the user's filter from the unlinked records the fold keeps (`World.unlinked_of`,
`note_unlinked`), not from a walk of every record they own: at every sync of random walks (every kind of action,
both synchronisation methods, preview's drafts and worlds decoded from checkpoints among them), the kept set gives
exactly the walk's records in the walk's order."""

from __future__ import annotations

from typing import Any

import pytest

from syncledger.ledger import engine
from syncledger.ledger.application import Ledger
from syncledger.ledger.world import User, World, unlinked_of
from syncledger.projections.reader import open_reader
from tests import randomwalk


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every sync's reconciliation compared with the walk; the number of records each found."""
    kept, found = engine._unlinked_in_filter, []

    def both(world: World, user: User) -> list[Any]:
        walked = engine._unlinked_by_walk(world, user)
        assert [r.id for r in kept(world, user)] == [r.id for r in walked], user.name
        found.append(len(walked))
        return walked

    monkeypatch.setattr(engine, "_unlinked_in_filter", both)
    return found


@pytest.mark.parametrize("mixed", [False, True])
@pytest.mark.parametrize("seed", range(12))
def test_the_kept_unlinked_records_equal_a_walk_at_every_sync(compared: list[int], seed: int, mixed: bool) -> None:
    ledger = Ledger()
    for action in randomwalk.actions(seed, 300, mixed=mixed):
        if action.do == "sync":  # decided against a draft first (preview): its copy of the set changes, not the world's
            before = {u.name: set(u.unlinked or ()) for u in ledger.world.users.values()}
            engine.decide(ledger.world, action)
            assert before == {u.name: set(u.unlinked or ()) for u in ledger.world.users.values()}
        ledger.append([action])
    assert len(compared) > 20 and any(compared), "syncs that found records to bring into the filter"


def test_a_world_decoded_from_a_checkpoint_walks_once_then_keeps_the_set(compared: list[int], tmp_path: Any) -> None:
    location = str(tmp_path / "ledger.db")
    reader = open_reader(location, checkpoint_every=25)
    walk = list(randomwalk.actions(5, 240))
    for action in walk[:160]:
        reader.ledger.append([action])
    reader.close()
    reader = open_reader(location, checkpoint_every=25)  # the world comes from a checkpoint: nothing computed
    assert all(user.unlinked is None for user in reader.ledger.world.users.values())
    for action in walk[160:]:
        reader.ledger.append([action])
    users = reader.ledger.world.users.values()
    assert any(user.unlinked is not None for user in users), "a sync computed it"
    for user in users:
        if user.unlinked is not None:  # still true of the world after the fold kept it
            kept = set(user.unlinked)
            user.unlinked = None
            assert unlinked_of(reader.ledger.world, user) == kept, user.name
    reader.close()
