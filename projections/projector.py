"""The projector keeps the read models (checkpoints of the present, the archived past, the item index) complete up
to a tracking position: it pulls what the log holds beyond it, in large pages, from the nearest checkpoint. It
also watches the write side's own appends, so a writer does not fold its events twice."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ledger import vocabulary as v
from ledger.evolve import evolve
from ledger.past import Past
from ledger.store import EventStore, Recorded
from ledger.world import World

from .codec import decode_world, encode_world
from .index import refs_of
from .readmodels import IndexRow, ReadModels

CHECKPOINT_EVERY = 5_000  # time travel replays at most this many events (plus one action's consequences)
PAGE = 20_000

Progress = Callable[[int, int], None]  # (done, total)


class Projector:
    def __init__(self, store: EventStore, models: ReadModels, every: int = CHECKPOINT_EVERY) -> None:
        self.store, self.models, self.every = store, models, every
        self._index: list[IndexRow] = []
        self._checkpoints: list[tuple[int, bytes]] = []
        self._world: World | None = None  # the world the noted events were folded into (its past is archived)
        self._last_checkpoint = 0
        self._seen = 0
        self._first = 1  # the first position noted since the last flush

    # ------------------------------------------------------------------------------- the state at a point

    def world_at(self, position: int) -> World:
        """The state after the event at `position`: the nearest checkpoint, then at most one interval."""
        found = self.models.checkpoint_at_or_before(position)
        if found:
            world = decode_world(self.store.mapper.decipher(found[1]), self.models)
        else:
            world = World(past=Past(self.models))
        for pos, event in self.store.read(after=world.position, upto=position):
            evolve(world, event, pos)
        return world

    # ------------------------------------------------------------------------------- keeping up

    def catch_up(self, progress: Progress | None = None) -> World:
        """Bring the read models up to the end of the log; the current world. Events are folded as they are
        read, never held a page at a time: what was just decoded is still in the CPU's cache when it is folded."""
        tracked = self.models.tracking()
        world = self._world = self.world_at(tracked)
        last = self.store.last_position()
        self._last_checkpoint = (self.models.checkpoint_at_or_before(tracked) or (0, b""))[0]
        self._seen = tracked
        world.past.settle(world.position)  # the archive holds the past up to the read models' tracking position
        for position, event in self.store.read(after=tracked, upto=last):
            if isinstance(event, v.Action):  # between two actions: where checkpoints and flushes fall
                self._between_actions(world, last, progress)
            evolve(world, event, position)
            self._note(position, event)
        self._between_actions(world, last, progress, at_end=True)
        return world

    def _between_actions(self, world: World, last: int, progress: Progress | None, at_end: bool = False) -> None:
        if world.position - self._last_checkpoint >= self.every:
            self._checkpoint(world)
        if self._index and (at_end or world.position - self._first + 1 >= PAGE):
            if self.flush():
                world.past.settle(world.position)  # keeps a long rebuild's memory flat
            if progress is not None:
                progress(world.position, last)

    def observe(self, recorded: Sequence[Recorded], world: World) -> None:
        """The write side staged one action's events; `world` is the state after them."""
        self._world = world
        for position, event in recorded:
            self._note(position, event)
        if recorded and recorded[-1][0] - self._last_checkpoint >= self.every:
            self._checkpoint(world)

    def flush(self) -> bool:
        """Write what was noted, with the new tracking position, in one read-model transaction; if other
        writers' events came in between, leave them all to `catch_up` (the tracking position never skips).
        Whether it wrote."""
        tracked = self._first - 1
        written = bool(self._index) and self._world is not None and self.models.tracking() == tracked
        if written:
            assert self._world is not None
            self.models.write(self._seen, self._index, self._checkpoints, self._world.past.after(tracked))
        self.discard()
        return written

    def discard(self) -> None:
        """Forget what was noted but not written (a refused batch)."""
        self._index, self._checkpoints = [], []

    def _note(self, position: int, event: v.Action | v.Decided) -> None:
        if not self._index:
            self._first = position  # the first position noted since the last flush
        rule = event.rule if isinstance(event, v.Decided) else None
        self._index.extend((ref, position, rule) for ref in refs_of(event))
        self._seen = position

    def _checkpoint(self, world: World) -> None:
        self._checkpoints.append((world.position, self.store.mapper.encipher(encode_world(world))))
        self._last_checkpoint = world.position
