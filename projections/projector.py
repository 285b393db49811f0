"""The projector keeps the read models (checkpoints, item index, action ids) complete up to a tracking
position: it pulls what the log holds beyond it, in large pages, from the nearest checkpoint. It also watches
the write side's own appends, so a writer does not fold its events twice."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from ledger import vocabulary as v
from ledger.evolve import evolve
from ledger.store import EventStore, Recorded
from ledger.world import World

from .codec import decode_world, encode_world
from .index import refs_of
from .readmodels import IndexRow, ReadModels

CHECKPOINT_EVERY = 5_000  # time travel replays at most this many events (plus one action's consequences)
PAGE = 20_000

Progress = Callable[[int, int], None]  # (done, total)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for one page: a page's events, and what folding them makes, hold no
    reference cycles, and with the collector on they are scanned again and again while the page lasts."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Projector:
    def __init__(self, store: EventStore, models: ReadModels, every: int = CHECKPOINT_EVERY) -> None:
        self.store, self.models, self.every = store, models, every
        self._index: list[IndexRow] = []
        self._actions: list[tuple[str, int]] = []
        self._checkpoints: list[tuple[int, bytes]] = []
        self._last_checkpoint = 0
        self._seen = 0
        self._first = 1  # the first position noted since the last flush

    # ------------------------------------------------------------------------------- the state at a point

    def world_at(self, position: int) -> World:
        """The state after the event at `position`: the nearest checkpoint, then at most one interval."""
        found = self.models.checkpoint_at_or_before(position)
        world = decode_world(self.store.mapper.decipher(found[1])) if found else World()
        for pos, event in self.store.read(after=world.position, upto=position):
            evolve(world, event, pos)
        return world

    # ------------------------------------------------------------------------------- keeping up

    def catch_up(self, progress: Progress | None = None) -> World:
        """Bring the read models up to the end of the log; the current world."""
        tracked = self.models.tracking()
        world = self.world_at(tracked)
        last = self.store.last_position()
        self._last_checkpoint = (self.models.checkpoint_at_or_before(tracked) or (0, b""))[0]
        self._seen = tracked
        while world.position < last:
            with _collector_paused():
                page = list(self.store.read(after=world.position, upto=min(last, world.position + PAGE)))
                if not page:
                    break
                self._first = page[0][0]
                for position, event in page:
                    evolve(world, event, position)
                    self._note(position, event)
                    if position - self._last_checkpoint >= self.every and self._ends_action(position, page):
                        self._checkpoint(world)
                self.flush()
            if progress is not None:
                progress(world.position, last)
        return world

    @staticmethod
    def _ends_action(position: int, page: Sequence[Recorded]) -> bool:
        """True unless the next event (in this page) is a decision of the same action: checkpoints fall between
        actions, like the write side's."""
        index = position - page[0][0] + 1
        return index >= len(page) or isinstance(page[index][1], v.Action)

    def observe(self, recorded: Sequence[Recorded], world: World) -> None:
        """The write side staged one action's events; `world` is the state after them."""
        if not self._index and not self._actions and recorded:
            self._first = recorded[0][0]
        for position, event in recorded:
            self._note(position, event)
        if recorded and recorded[-1][0] - self._last_checkpoint >= self.every:
            self._checkpoint(world)

    def flush(self) -> None:
        """Write what was noted, with the new tracking position, in one read-model transaction; if other
        writers' events came in between, leave them all to `catch_up` (the tracking position never skips)."""
        if self._index and self.models.tracking() == self._first - 1:
            self.models.write(self._seen, self._index, self._actions, self._checkpoints)
        self.discard()

    def discard(self) -> None:
        """Forget what was noted but not written (a refused batch)."""
        self._index, self._actions, self._checkpoints = [], [], []

    def _note(self, position: int, event: v.Action | v.Decided) -> None:
        rule = event.rule if isinstance(event, v.Decided) else None
        self._index.extend((ref, position, rule) for ref in refs_of(event))
        if isinstance(event, v.Action) and event.id is not None:
            self._actions.append((event.id, position))
        self._seen = position

    def _checkpoint(self, world: World) -> None:
        self._checkpoints.append((world.position, self.store.mapper.encipher(encode_world(world))))
        self._last_checkpoint = world.position
