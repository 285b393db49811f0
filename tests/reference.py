"""The reference the read side is tested against: the state as of a point by a fresh fold of the events from
the first one (the product's time travel goes through checkpoints, `projections.reader.Reader.world_at`)."""

from __future__ import annotations

from datetime import datetime

from syncledger.ledger.evolve import evolve
from syncledger.ledger.store import EventStore
from syncledger.ledger.world import World


def world_at(store: EventStore, position: int | None = None) -> World:
    """The world after the event at `position` (every event when None)."""
    world = World()
    for pos, event in store.read(upto=position):
        evolve(world, event, pos)
    return world


def world_at_time(store: EventStore, at: datetime) -> World:
    """The world after every event that happened at or before `at`."""
    world = World()
    for pos, event in store.read():
        if event.at is not None and event.at > at:
            break
        evolve(world, event, pos)
    return world
