"""The ledger as an application: a store, the world folded from it, and atomic appends of actions.

A thin shell: it stamps, asks the engine, and appends; on a refusal or a lost race it forgets its world and
re-reads the store, so the world is never more than a cache of what the store holds.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Protocol

from .checks import RefusedError
from .engine import handle
from .evolve import evolve
from .store import DECIDED_TOPIC, ConflictError, Encoded, EventStore, StoreError
from .vocabulary import Action, Decided, Recorded
from .world import World

RETRIES = 60


class ActionRefusedError(RefusedError):
    """An action of a batch was refused; `index` says which (0-based). Nothing of the batch was appended."""

    def __init__(self, index: int, problem: str) -> None:
        super().__init__(problem)
        self.index = index
        self.problem = problem


class DoesNotApply(StoreError):
    """A stored event that does not apply to the state before it (a user, record or item it names is not there):
    every event was decided against that state when it was appended, so it was changed behind the ledger's back,
    and sealed again (on an unkeyed ledger anyone who can edit the database can). `verify` names it too."""


def fold_stored(world: World, event: Action | Decided, position: int) -> None:
    """`evolve` for an event read from the store: one that does not apply is `DoesNotApply`, naming its position,
    not an internal error."""
    try:
        evolve(world, event, position)
    except LookupError as e:  # what an event that does not apply raises; anything else is the program's error
        raise DoesNotApply(
            f"the event at position {position} does not apply to the state before it ({type(e).__name__}: {e}): "
            "it was changed behind the ledger's back (`syncledger verify` lists what is damaged)"
        ) from e


class Observer(Protocol):
    """Read models that follow the write side's own appends (see `projections.projector.Projector`)."""

    def observe(self, recorded: Sequence[Recorded], world: World) -> None: ...

    def flush(self) -> None: ...

    def discard(self) -> None: ...


class Ledger:
    def __init__(
        self,
        store: EventStore | None = None,
        observer: Observer | None = None,
        load_world: Callable[[], World] | None = None,
        world: World | None = None,
        lazily: bool = False,
    ) -> None:
        """`load_world` gives a recent state to start from (a checkpoint); the rest is read from the store. `world`:
        one already loaded, to start from instead. With `lazily` (and no `world`), it is loaded when first asked
        for: a question about the past needs no present, whose decoding is the size of the organisation (1.2 s of a
        2.4 s `state --position N` for 1,000 users)."""
        self.store = store or EventStore()
        self.observer = observer
        self._load_world = load_world or World
        self._world = world
        self.staged: list[Recorded] = []  # the events staged since the last commit (those asked to be kept)
        self._encoded: list[Encoded] = []  # all of them, encoded: what the commit appends
        # whether the observer notes what is staged; a large import stops it (`stop_following`), so that what it
        # would note until the publish does not grow with the import
        self.following = True
        if world is not None or not lazily:
            self._load(world)

    @property
    def world(self) -> World:
        """The state after the last event stored (as of the last `catch_up`), and whatever is staged."""
        if self._world is None:
            self._load()
        assert self._world is not None
        return self._world

    @property
    def loaded(self) -> bool:
        """Whether the world is loaded (`world`), not left for the first question that needs it."""
        return self._world is not None

    def _load(self, world: World | None = None) -> None:
        self._world = world if world is not None else self._load_world()
        self.catch_up()

    def catch_up(self) -> list[Recorded]:
        """Fold what other writers appended since this world was last up to date."""
        new = list(self.store.read(after=self.world.position))
        for position, event in new:
            fold_stored(self.world, event, position)
        return new

    def append(self, actions: Sequence[Action], clock: Callable[[], datetime] | None = None) -> list[Recorded]:
        """Decide and append the actions in one transaction: all of them, or none (then `ActionRefusedError`).

        An action without a time is stamped `clock()`, or the ledger's last time if that is later; stamping
        happens after catching up on each try, so racing writers never make time go backwards."""
        attempt = 0
        for _ in range(RETRIES):
            self.catch_up()
            for index, action in enumerate(actions):
                if action.at is None and clock is not None:
                    now = clock()
                    action = action.model_copy(update={"at": max(now, self.world.at) if self.world.at else now})
                try:
                    self.stage(action)
                except RefusedError as e:
                    raise ActionRefusedError(index, str(e)) from None
            try:
                return self.commit()
            except ConflictError:
                attempt += 1
                # jittered exponential backoff, so that writers who lost a race do not collide again at once
                time.sleep(random.uniform(0, min(0.5, 0.002 * 2**attempt)))
        raise ConflictError(f"gave up after {RETRIES} tries: other writers kept appending at the same time")

    def stage(self, action: Action, keep: bool = True) -> list[Recorded]:
        """Decide one action into the world without storing it yet; a refusal forgets everything staged. The
        events are kept encoded for the commit, and as events in `staged` too unless `keep` is false (an import
        of a million lines keeps a few hundred bytes per event instead of a few kilobytes)."""
        try:
            recorded = handle(self.world, action)
        except RefusedError:
            self.rollback()
            raise
        self._encoded += self.store.mapper.encoded(recorded)
        if keep:
            self.staged += recorded
        if self.observer is not None and self.following:
            self.observer.observe(recorded, self.world)
        return recorded

    def stop_following(self) -> None:
        """The observer forgets what it noted of the staged events and notes no more until the next publish or
        rollback, after which it catches up from the store (a large import: see `publish`)."""
        if self.observer is not None and self.following:
            self.observer.discard()
        self.following = False

    def commit(self, batch_size: int | None = None) -> list[Recorded]:
        """Store everything staged: in one transaction, or in transactions of `batch_size` events (a crash then
        leaves a prefix, never a part of one action's events). `ConflictError` if another writer came first."""
        staged, self.staged = self.staged, []
        encoded, self._encoded = self._encoded, []
        try:
            for batch in _batches(encoded, batch_size):
                self.store.append_encoded(batch)
        except ConflictError:
            self._forget()
            raise
        if self.observer is not None:
            self.observer.flush()
        return staged

    def take_encoded(self) -> list[Encoded]:
        """Hand over the events staged so far, encoded, to a staging area that keeps them outside memory until
        `publish` (a large import); what is still staged in memory comes after them."""
        encoded, self._encoded = self._encoded, []
        self.staged = []
        return encoded

    def publish(self, pages: Iterable[Sequence[Encoded]]) -> None:
        """Store events handed over by `take_encoded` (then what is still staged here) in ONE transaction, a page
        at a time: all of them, or none; `ConflictError` if another writer came first. If the observer stopped
        following (`stop_following`), the world is then loaded again, which brings the read models up to the
        store and forgets the staged world's memory."""
        rest, self._encoded, self.staged = self._encoded, [], []
        try:
            self.store.append_pages(itertools.chain(pages, [rest]))
        except ConflictError:
            self._forget()
            raise
        if not self.following:
            self._forget()
        elif self.observer is not None:
            self.observer.flush()

    def staged_event(self, position: int) -> Action | Decided:
        """The event staged at `position` (kept or not), from what the commit will append."""
        return self.store.mapper.decode_encoded(self._encoded[position - self._encoded[0][0]])[1]

    def rollback(self) -> None:
        self.staged, self._encoded = [], []
        self._forget()

    def events(self, after: int = 0, upto: int | None = None) -> Iterator[Recorded]:
        return self.store.read(after, upto)

    def _forget(self) -> None:
        if self.observer is not None:
            self.observer.discard()
        self.following = True
        self._world = None  # let the old one go before the new one is loaded (a large import's staged world)
        self._load()


def _batches(encoded: list[Encoded], size: int | None) -> Iterator[list[Encoded]]:
    """Cut after whole actions only, so that no action is stored without the decisions it caused."""
    if size is None:
        yield encoded
        return
    batch: list[Encoded] = []
    for row in encoded:
        if len(batch) >= size and row[1] != DECIDED_TOPIC:
            yield batch
            batch = []
        batch.append(row)
    if batch:
        yield batch
