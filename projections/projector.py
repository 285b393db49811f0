"""The projector keeps both projections of the log complete, each up to its own tracking position: the world's
(a checkpoint of the present every few thousand events, and the archived past) and the item index's
(`projections.index`). Catching up pulls what the log holds beyond them; far behind, the index is caught up in a
second process while this one folds the world, so that a rebuild uses two cores. It also watches the write
side's own appends, so that a writer does not fold its events twice."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import DoesNotApply, fold_stored
from syncledger.ledger.location import from_storage, is_damage
from syncledger.ledger.past import Past, PastRows
from syncledger.ledger.seal import GENESIS
from syncledger.ledger.store import EventStore, StoreError
from syncledger.ledger.vocabulary import Recorded
from syncledger.ledger.world import World, forget_changes

from .codec import (
    Only,
    PresentRows,
    compressed,
    decode_checkpoint,
    linked_items,
    present_json,
    stored_present,
    world_of,
)
from .glimpse import Glimpse, touched
from .index import IndexProjection, refs_in
from .indextree import leaf_of
from .readmodels import INDEX, WORLD, ForgedCheckpoint, IndexRow, ReadModels
from .sealing import warn

CHECKPOINT_EVERY = 5_000  # time travel replays at most this many events (plus one action's consequences)
DELTAS = 3  # checkpoints written as deltas onto the one before, after each full one: time travel decodes at most
# one full checkpoint and this many deltas; a delta costs about half of a full one to write (4 and 9 ms at 10^6)
FLUSH_EVERY = 100_000  # events per read-model transaction while catching up
PACKING = 2  # checkpoints waiting to be compressed at most (each holds the whole present as JSON)
PARALLEL_FROM = 100_000  # events behind from which the index is caught up in a second process (~0.5 s to start)

Progress = Callable[[int, int], None]  # (done, total)

# what the second process runs: a fresh interpreter, so that nothing of this one (its main module, its open
# connections) is carried over; it opens the ledger itself, and ends with this one, killed or not
# (`projections.index.end_with`)
_INDEX_ELSEWHERE = (
    "import sys; from syncledger.projections.index import catch_up_index; "
    "catch_up_index(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))"
)


class Projector:
    def __init__(
        self,
        store: EventStore,
        models: ReadModels,
        every: int = CHECKPOINT_EVERY,
        parallel_from: int = PARALLEL_FROM,
    ) -> None:
        self.store, self.models, self.every, self.parallel_from = store, models, every, parallel_from
        self.index = IndexProjection(store, models)
        models.rebuild_past = self._past_from_events
        models.rebuild_index = self._index_from_events
        self._checkpoints: list[tuple[int, Future[bytes]]] = []
        # one thread, beside the fold: compresses and encrypts checkpoints, and, while catching up, writes the
        # world's rows (sqlite3 and zlib let go of Python's lock while they work, so it runs on the second core)
        self._writing = ThreadPoolExecutor(1, "syncledger-writes")
        self._writes: list[tuple[int, Future[bool]]] = []  # submitted while catching up: (position, written?)
        self._index_writes: list[Future[bool]] = []  # the item index's, when it rides along a catch-up
        self._world: World | None = None  # the world the noted events were folded into (its past is archived)
        self._last_checkpoint = 0
        self._base: int | None = None  # the last checkpoint noted here, for the next one to be a delta onto
        self._deltas = 0  # noted since the last full one
        self._rows: PresentRows | None = None  # the present's data at `_base`, for the next full one (`PresentRows`)
        self._rows_of: World | None = None  # the world they are of
        self._first: int | None = None  # the first position folded since the world's rows were last written

    # ------------------------------------------------------------------------------- the state at a point

    def world_at(self, position: int) -> World:
        """The state after the event at `position`: the nearest checkpoint, then at most one interval. A
        checkpoint that does not match its seal or cannot be read or folded onto (changed behind the ledger's
        back: `verify` says where) is not used; the state is then folded from the start."""
        found, read = self._checkpoints_before(position)
        if found is not None:
            try:
                # ForgedCheckpoint, CheckpointUnreadable (ValueErrors), CheckpointMissingError (a LookupError)
                world = decode_checkpoint(found, read, self.models)
            except (ValueError, LookupError) as e:
                forged = isinstance(e, ForgedCheckpoint)
                warn(str(e) if forged else f"the checkpoint at {found} cannot be used ({e})")
            else:
                try:
                    for pos, event in self.store.read(after=world.position, upto=position):
                        fold_stored(world, event, pos)
                    return world
                except DoesNotApply as e:  # a checkpoint's world the events after it do not apply to (a user,
                    # a record or an item they name is not in it): one changed with SQL and sealed again
                    warn(
                        f"the checkpoint at {found} cannot be used (the events after it do not apply: {e.__cause__!r})"
                    )
        world = World(past=Past(self.models))
        for pos, event in self.store.read(after=0, upto=position):
            fold_stored(world, event, pos)
        return world

    def glimpse_at(self, position: int, also: Only | None = None) -> Glimpse | None:
        """The state after the event at `position` as its state document needs it (`projections.glimpse`): the
        nearest checkpoint's rows, and the world of only the records and items the events since it touch, folded.
        With `also`, it holds those records and items too, and every item linked to one of those records (a
        comparison of them compares their links). None where there is no checkpoint before, or one that cannot be
        used: `world_at` then says why (the fold from the start costs the same either way)."""
        found, read = self._checkpoints_before(position)
        if found is None:
            return None
        try:
            present = stored_present(found, read)
            events = list(self.store.read(after=found, upto=position))
            only = touched(event for _, event in events)
            if also is not None:
                only = only | also | linked_items(present, also.records)
            world = world_of(present, self.models, only)
            for pos, event in events:
                fold_stored(world, event, pos)
        except (ValueError, LookupError, DoesNotApply):
            return None
        return Glimpse(world, present, only)

    def _checkpoints_before(self, position: int) -> tuple[int | None, Callable[[int], bytes | None]]:
        """The nearest checkpoint at or before `position` (None if there is none), and how to read it and those
        it may be a delta onto (deciphered, their seals checked)."""
        # the nearest checkpoint and those it may be a delta onto, in one read, with their events' seals in another
        chain = {p: (state, seal) for p, state, seal in self.models.checkpoint_rows_before(position, DELTAS + 1)}
        seals = self.store.seals_at(list(chain)) if chain and self.models.sealer is not None else {}

        def read(at: int) -> bytes | None:
            if at not in chain:
                return self._deciphered(at)
            state, seal = chain[at]
            return self.store.mapper.decipher(self.models.checked(at, state, seal, seals.get(at) or GENESIS))

        return max(chain, default=None), read

    def _past_from_events(self) -> PastRows:
        """The whole past folded from the events: what answers when the archive does not match its seals."""
        world = World()
        for pos, event in self.store.read():
            fold_stored(world, event, pos)
        return world.past.rows()

    def _index_from_events(self, leaves: set[int], upto: int) -> Iterator[IndexRow]:
        """The item index's rows of `leaves` up to `upto`, from the events: what answers when the stored rows do not
        match their seals (one read of the events; only those rows are kept)."""
        for position, values in self.store.read_data(after=0, upto=upto):
            for ref in refs_in(values):
                if leaf_of(ref, position) in leaves:
                    yield ref, position, values.get("rule")

    def _deciphered(self, position: int) -> bytes | None:
        found = self.models.checkpoint(position)
        return self.store.mapper.decipher(found) if found is not None else None

    # ------------------------------------------------------------------------------- keeping up

    def catch_up(self, progress: Progress | None = None) -> World:
        """Bring both projections up to the end of the log; the current world."""
        last = self.store.last_position()
        indexed, folded = self.models.tracking(INDEX), self.models.tracking(WORLD)
        if 0 < last - indexed < self.parallel_from and folded == indexed:
            # both behind by the same events, not far: the index is noted as the world folds them, each event
            # read and decoded once (a second read was a fifth of a short rebuild); its rows are written at each
            # checkpoint, beside the fold, as the world's are
            return self._catch_up_world(folded, last, progress, index_along=True)
        with self._indexing(indexed, last):
            return self._catch_up_world(folded, last, progress)

    def bring_up(self, progress: Progress | None = None) -> World | None:
        """Bring both projections up to the end of the log, like `catch_up`; the current world only if the world's
        projection was behind (it was folded then), else None: decoding the present is left to a question that
        needs it (`Ledger(lazily=True)`)."""
        last = self.store.last_position()
        indexed, folded = self.models.tracking(INDEX), self.models.tracking(WORLD)
        if folded != last:
            return self.catch_up(progress)
        if indexed != last:
            with self._indexing(indexed, last):
                pass
        return None

    @contextmanager
    def _indexing(self, indexed: int, last: int) -> Iterator[None]:
        """The item index brought up from `indexed` (its tracking position) to `last`: far behind, in a second
        process during the body (the ledger is opened there again, so it must be a file or a server), else here,
        before it."""
        behind = last - indexed
        if behind < self.parallel_from or self.store.url in (None, ":memory:"):
            try:
                self.index.catch_up(last, after=indexed)
            except Exception as e:
                if not _unwritable(e):
                    raise
                self.index.discard()  # it stays behind, complete up to its tracking position
            yield
            return
        second = subprocess.Popen(
            [sys.executable, "-c", _INDEX_ELSEWHERE, self.store.url, str(last), str(os.getpid())],
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},  # it imports what this process does
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            yield
        except BaseException:
            second.kill()
            raise
        finally:
            _, errors = second.communicate()
        if second.returncode != 0:
            problem = errors.decode(errors="replace").strip().splitlines() or [f"exit status {second.returncode}"]
            raise StoreError(f"indexing the ledger in a second process failed: {problem[-1]}")

    def _catch_up_world(self, tracked: int, last: int, progress: Progress | None, index_along: bool = False) -> World:
        """Events are folded as they are read, never held a page at a time: what was just decoded is still in
        the CPU's cache when it is folded. The rows are written in another thread (`_writing`), beside the fold.
        `tracked`: the world's tracking position. `index_along`: each event is noted for the item index too, and
        its rows written at each checkpoint."""
        world = self._world = self.world_at(tracked)
        self._last_checkpoint = (self.models.checkpoint_at_or_before(tracked) or (0, b""))[0]
        self._base = None  # the first checkpoint of a catch-up is a full one
        world.past.settle(tracked)  # the archive holds the past up to the tracking position
        self._first = tracked + 1
        due = self._due()
        try:
            for position, event in self.store.read(after=tracked, upto=last):
                if position > due and isinstance(event, v.Action):  # checkpoints and flushes fall between actions
                    self._between_actions(world, last, progress, index_along)
                    due = self._due()
                fold_stored(world, event, position)
                if index_along:
                    self.index.note(position, event.__dict__)
            self._between_actions(world, last, progress, index_along, at_end=True)
        finally:
            self._settle(world, wait=True)  # nothing may use the read models while that thread writes them
        return world

    def _between_actions(
        self, world: World, last: int, progress: Progress | None, index_along: bool, at_end: bool = False
    ) -> None:
        checkpoint = world.position - self._last_checkpoint >= self.every
        if checkpoint:
            self._checkpoint(world)
            if progress is not None:
                progress(world.position, last)
        if index_along and (checkpoint or at_end):
            self._index_writes.append(self._writing.submit(self.index.take()))
        if (
            self._first is not None
            and self._first <= world.position
            and (at_end or world.position - self._first + 1 >= FLUSH_EVERY)
        ):
            self._writes.append((world.position, self._writing.submit(self._write_world, *self._world_rows())))
            self._first = world.position + 1
        self._settle(world)

    def _due(self) -> int:
        """After which position the next checkpoint or write falls, while catching up."""
        return min(self._last_checkpoint + self.every, (self._first or 1) + FLUSH_EVERY - 1)

    def _settle(self, world: World, wait: bool = False) -> None:
        """Forget the past that the archive now holds: a long rebuild keeps its memory flat. With `wait`, also
        wait for the item index's writes (a write its storage refuses leaves the index where it was: the ones
        after it find it short and write nothing, for the next catch-up to complete)."""
        while wait and self._index_writes:
            try:
                self._index_writes.pop(0).result()
            except Exception as e:
                if not _unwritable(e):
                    raise
        while self._writes and (wait or self._writes[0][1].done()):
            position, written = self._writes.pop(0)
            try:
                if written.result():
                    world.past.settle(position)
            except Exception as e:
                # the read models could not be written (after retries): the world folded here is still right, so
                # the command goes on (a writer's append is never lost to its read models); they stay where
                # they were, for the next catch-up, and the past stays in memory instead of the archive
                if not _unwritable(e):
                    raise

    # ------------------------------------------------------------------------------- following the write side

    def observe(self, recorded: Sequence[Recorded], world: World) -> None:
        """The write side staged one action's events; `world` is the state after them."""
        self._world = world
        for position, event in recorded:
            self.index.note(position, event.__dict__)
        if recorded and self._first is None:
            self._first = recorded[0][0]
        if recorded and world.position - self._last_checkpoint >= self.every:
            self._checkpoint(world)

    def flush(self) -> None:
        """Write what was noted, each projection with its new tracking position in one transaction; if other
        writers' events came in between, leave them to `catch_up` (a tracking position never skips). The events
        are stored by now: a read model that cannot be written stays where it was, for the next `catch_up` to
        complete, and never turns a stored append into a failed command."""
        try:
            self.index.flush()
        except Exception as e:
            if not _unwritable(e):
                raise
            self.index.discard()
        try:
            self._flush_world()
        except Exception as e:
            if not _unwritable(e):
                raise
            self._base = None  # the next checkpoint noted here is a full one

    def discard(self) -> None:
        """Forget what was noted but not written (a refused batch)."""
        self.index.discard()
        self._checkpoints, self._first, self._base = [], None, None

    # ------------------------------------------------------------------------------- the world's rows

    def _checkpoint(self, world: World) -> None:
        """The world as JSON here, since it goes on changing (a delta onto the last checkpoint noted here, unless a
        full one is due); compressed and encrypted in another thread, since both let go of Python's lock: they run
        beside the fold, on the second core."""
        base = self._base if self._deltas < DELTAS else None
        # each checkpoint waiting to be packed holds the present as JSON (tens of MB for a large present): when the
        # writing thread falls behind the fold (it shares the second core with the indexing process), at most
        # PACKING of them wait, not every checkpoint of the catch-up since it fell behind
        waiting = [packed for _, packed in self._checkpoints if not packed.done()]
        if len(waiting) >= PACKING:
            waiting[0].result()
        # the rows are made afresh unless they were written with the last checkpoint noted here, of this world,
        # which noted every change since (every reset of `_base` is a reason not to trust them)
        rows = self._rows
        if rows is None or self._base is None or self._rows_of is not world or rows.position != self._base:
            rows = self._rows = PresentRows(world)
            self._rows_of = world
        packed = self._writing.submit(_pack, present_json(world, base, rows), self.store.mapper.encipher)
        forget_changes(world)
        self._checkpoints.append((world.position, packed))
        self._last_checkpoint = world.position
        self._base, self._deltas = world.position, 0 if base is None else self._deltas + 1

    def _world_rows(self) -> tuple[int, int, list[tuple[int, Future[bytes]]], PastRows]:
        """What was noted for the world since the last flush (positions, checkpoints, the past), and forget it."""
        first, checkpoints, world = self._first, self._checkpoints, self._world
        self._checkpoints, self._first = [], None
        assert first is not None and world is not None
        return first, world.position, checkpoints, world.past.after(first - 1)

    def _flush_world(self) -> bool:
        if self._first is None:
            return False
        written = self._write_world(*self._world_rows())
        if not written:
            self._base = None  # another writer's checkpoints are there instead: the next one is a full one
        return written

    def _write_world(
        self, first: int, position: int, checkpoints: list[tuple[int, Future[bytes]]], past: PastRows
    ) -> bool:
        packed = [(at, bytes_.result()) for at, bytes_ in checkpoints]
        return self.models.write_world(first, position, packed, past)


def _unwritable(error: Exception) -> bool:
    """Whether writing a read model failed because of its storage (a lock held too long, a full disk), which the
    events do not depend on; not a damaged file, which every command must report."""
    return from_storage(error) and not is_damage(error)


def _pack(state: bytes, encipher: Callable[[bytes], bytes]) -> bytes:
    return encipher(compressed(state))
