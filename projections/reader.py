"""The read side as one object: the current world, the item index, events by position, and the world as of any
point. Commands read through it, so how each is served (a scan today, checkpoints and a stored index for large
ledgers) stays behind one interface."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from ledger import vocabulary as v
from ledger.application import Ledger
from ledger.store import Recorded
from ledger.world import World

from .index import ItemIndex
from .timetravel import world_at, world_at_time


class Reader:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._index: ItemIndex | None = None

    @property
    def world(self) -> World:
        """The state after the last event."""
        return self.ledger.world

    @property
    def index(self) -> ItemIndex:
        """Which events touched each item, and which decisions are about it."""
        if self._index is None:
            self._index = ItemIndex()
            self._index.add(self.ledger.events())
        return self._index

    def event(self, position: int) -> v.Action | v.Decided | None:
        found = self.ledger.store.read_one(position)
        return found[1] if found else None

    def events(self, positions: Iterable[int]) -> list[Recorded]:
        """The events at the given positions, in order."""
        wanted = sorted(set(positions))
        if not wanted:
            return []
        found = self.ledger.events(after=wanted[0] - 1, upto=wanted[-1])
        keep = set(wanted)
        return [(p, e) for p, e in found if p in keep]

    def world_at(self, position: int) -> World:
        """The state after the event at `position`."""
        if position >= self.ledger.world.position:
            return self.ledger.world
        return world_at(self.ledger.store, position)

    def world_at_time(self, at: datetime) -> World:
        """The state after every event that happened at or before `at`."""
        return world_at_time(self.ledger.store, at)

    def position_at_time(self, at: datetime) -> int:
        """The last position whose event happened at or before `at` (0 if none)."""
        last = 0
        for position, event in self.ledger.events():
            if event.at > at:  # type: ignore[operator]
                break
            last = position
        return last
