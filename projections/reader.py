"""The read side as one object: the current world, the item index, events by position, and the world as of any
point, served from the read models (checkpoints, stored index) so that cost grows with the question asked, not
with the ledger."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger
from syncledger.ledger.store import EventStore, StoreError, _redacted
from syncledger.ledger.vocabulary import Recorded
from syncledger.ledger.world import World

from .codec import CheckpointUnreadable, Only
from .document import state_document
from .glimpse import glimpse_document
from .keys import check_seal_key
from .projector import CHECKPOINT_EVERY, Progress, Projector
from .readmodels import INDEX, WORLD, ReadModels, tracking_behind
from .sealing import projection_name
from .sqlmodels import open_read_models

ROWS_KEPT = 4096  # references whose index rows a reader keeps once read


class _View(Mapping[str, list[Any]]):
    """A mapping from reference to rows of the stored index, read on demand."""

    def __init__(self, index: StoredIndex, decisions_only: bool) -> None:
        self.index, self.decisions_only = index, decisions_only

    def __getitem__(self, ref: str) -> list[Any]:
        rows = self.index.rows(ref)
        found = [(p, r) for p, r in rows if r is not None] if self.decisions_only else [p for p, _ in rows]
        if not found:
            raise KeyError(ref)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self.index.models.refs())  # every reference: for suggestions, not for lookups

    def __len__(self) -> int:
        return len(self.index.models.refs())


class StoredIndex:
    """The item index as `projections.index.ItemIndex` offers it, read from the read models."""

    def __init__(self, models: ReadModels) -> None:
        self.models = models
        self._rows: OrderedDict[str, list[tuple[int, str | None]]] = OrderedDict()  # the latest ROWS_KEPT read
        self.touched = _View(self, decisions_only=False)  # ref -> positions of every event that touched it
        self.decisions = _View(self, decisions_only=True)  # ref -> (position, rule) of each decision about it

    def rows(self, ref: str) -> list[tuple[int, str | None]]:
        """The positions that touched `ref`, each with the rule of its decision (None for an action)."""
        return self.rows_of([ref])[ref]

    def rows_of(self, refs: Iterable[str]) -> dict[str, list[tuple[int, str | None]]]:
        """`rows` of each of `refs`, those not read yet read at once (one statement, not one each)."""
        wanted = list(dict.fromkeys(refs))
        missing = [ref for ref in wanted if ref not in self._rows]
        read = self.models.touched_many(missing) if missing else {}
        found = {}
        for ref in wanted:
            rows = self._rows.pop(ref, None)
            found[ref] = self._rows[ref] = rows if rows is not None else read.get(ref, [])
        while len(self._rows) > ROWS_KEPT:
            self._rows.popitem(last=False)
        return found

    def positions_of(self, refs: Iterable[str]) -> dict[str, list[int]]:
        """The positions of every event that touched each of `refs` (`touched`, for many at once)."""
        return {ref: [p for p, _ in rows] for ref, rows in self.rows_of(refs).items()}

    def positions_between(self, refs: Iterable[str], after: int, upto: int) -> dict[str, list[int]]:
        """The positions after `after` up to `upto` that touched each of `refs` (a reference without any is left
        out): read from the rows already read, else for that window only."""
        wanted = list(dict.fromkeys(refs))
        found = {ref: [p for p, _ in self._rows[ref] if after < p <= upto] for ref in wanted if ref in self._rows}
        read = self.models.touched_between([ref for ref in wanted if ref not in found], after, upto)
        found.update({ref: [p for p, _ in rows] for ref, rows in read.items()})
        return {ref: positions for ref, positions in found.items() if positions}

    def latest_before(self, pairs: Sequence[tuple[str, int]]) -> list[int | None]:
        """For each (reference, position), the last position before it that touched the reference."""
        return self.models.latest_before(pairs)

    def last_decision(self, ref: str) -> tuple[int, str] | None:
        found = self.decisions.get(ref)
        return (found[-1][0], found[-1][1]) if found else None

    def known(self, ref: str) -> bool:
        return bool(self.rows(ref))

    def refs_starting(self, prefix: str, fold_case: bool, limit: int) -> list[str]:
        return self.models.refs_starting(prefix, fold_case, limit)


class Reader:
    def __init__(self, ledger: Ledger, projector: Projector) -> None:
        self.ledger, self.projector = ledger, projector
        self.index = StoredIndex(projector.models)

    @property
    def world(self) -> World:
        """The state after the last event."""
        return self.ledger.world

    def event(self, position: int) -> v.Action | v.Decided | None:
        found = self.ledger.store.read_one(position)
        return found[1] if found else None

    def events(self, positions: Iterable[int]) -> list[Recorded]:
        """The events at the given positions, in order (positions are often far apart: no range scan)."""
        return self.ledger.store.read_at(list(positions))

    def last_position(self) -> int:
        """The position of the last event: the world's if it is loaded, else the store's (no present decoded)."""
        return self.world.position if self.ledger.loaded else self.ledger.store.last_position()

    def end(self) -> tuple[int, datetime | None]:
        """The position and time of the last event, without decoding the present (`last_position`)."""
        if self.ledger.loaded:
            return self.world.position, self.world.at
        last = self.last_position()
        event = self.event(last) if last else None
        return last, event.at if event is not None else None

    def world_at(self, position: int) -> World:
        """The state after the event at `position`: the nearest checkpoint, then at most one interval."""
        if position >= self.last_position():  # one query: the last event is read only when its time is asked
            return self.ledger.world
        return self.projector.world_at(position)

    def world_holding(self, position: int, only: Only) -> World:
        """The state after the event at `position`, holding every user and at least the records and items `only`
        names. Where a checkpoint before it can be used, only those, the items linked to those records, and what
        the events since the checkpoint touched (a glimpse's world, `Projector.glimpse_at`); else the whole world.
        What a comparison of a few of them needs (`diff`)."""
        if position < self.last_position():
            glimpse = self.projector.glimpse_at(position, only)
            if glimpse is not None:
                return glimpse.world
        return self.world_at(position)

    def state_at(
        self,
        position: int,
        user: str | None = None,
        links_after: int = 0,
        links_limit: int | None = None,
        links_as_objects: bool = False,
    ) -> dict[str, Any]:
        """The state document after the event at `position` (`document.state_document`, which says what the rest
        means). For a past point and a page of links, it is made from the nearest checkpoint's rows and the few
        records and items the events since it touched (`projections.glimpse`): the same document, without making
        the whole present objects first. `UnknownUser` if `user` is not one at that point."""
        if links_limit is not None and position < self.last_position():
            glimpse = self.projector.glimpse_at(position)
            if glimpse is not None:
                _known(glimpse.world, user)
                try:
                    return glimpse_document(glimpse, user, links_after, links_limit, links_as_objects)
                except CheckpointUnreadable:
                    pass  # `world_at` says why, and folds from the start
        world = self.world_at(position)
        _known(world, user)
        return state_document(world, user, links_after, links_limit, links_as_objects)

    def close(self) -> None:
        """Close the ledger's connections (the read models', then the events')."""
        self.projector.models.close()
        self.ledger.store.close()

    def world_at_time(self, at: datetime) -> World:
        """The state after every event that happened at or before `at`."""
        return self.world_at(self.position_at_time(at))

    def position_at_time(self, at: datetime) -> int:
        """The last position whose event happened at or before `at` (0 if none): a binary search, since
        time never goes backwards in a ledger."""
        low, high = 0, self.last_position()  # invariant: event(low) <= at (or low == 0) < event(high+1)
        while low < high:
            middle = (low + high + 1) // 2
            event = self.event(middle)
            if event is not None and event.at is not None and event.at <= at:
                low = middle
            else:
                high = middle - 1
        return low


class UnknownUser(LookupError):
    """A question about a user the state has not (`known` are its users)."""

    def __init__(self, user: str, known: list[str]) -> None:
        super().__init__(user)
        self.user, self.known = user, known


def _known(world: World, user: str | None) -> None:
    if user is not None and user not in world.users:
        raise UnknownUser(user, list(world.users))


def open_reader(
    location: str | None,
    *,
    progress: Progress | None = None,
    checkpoint_every: int = CHECKPOINT_EVERY,
    create: bool = True,
) -> Reader:
    """The ledger at `location` with its read models brought up to date; they follow its own appends too. Unless
    `create`, only an existing ledger is opened (`ledger.location.NoLedger` where there is none). A seal key that
    does not fit the ledger is refused (`projections.keys`)."""
    store = EventStore(location, create=create)
    models = open_read_models(location, store.mapper, store)
    check_seal_key(store, models, _redacted(location))
    _refuse_truncated(store, models, _redacted(location))
    _refuse_set_back(models, _redacted(location))
    projector = Projector(store, models, checkpoint_every)
    # the read models are brought up now; the present world is decoded only if a question asks for it (it was
    # folded already if the world's projection was behind)
    ledger = Ledger(
        store, observer=projector, load_world=projector.catch_up, world=projector.bring_up(progress), lazily=True
    )
    return Reader(ledger, projector)


def _refuse_set_back(models: ReadModels, where: str) -> None:
    """A read model whose tracking position is behind its own sealed batches was changed behind the ledger's back:
    caught up from there, it would add what its batches hold a second time. Nothing is appended or answered until
    `verify` has reported it and `verify --rebuild` started the read models again."""
    for projection, (position, last) in tracking_behind(models).items():
        raise StoreError(
            f"the read models of the ledger at {where} were changed behind its back: the tracking position of the "
            f"{projection_name(projection)} is {position if position else 'missing'}, behind the sealed batches "
            f"(to position {last}); run 'syncledger verify', then 'syncledger verify --rebuild'"
        )


def _refuse_truncated(store: EventStore, models: ReadModels, where: str) -> None:
    """Read models complete beyond the last event mean the ledger lost its end (or an older copy was restored):
    nothing is appended or answered over that gap, and the read models stay as the evidence `verify` reports."""
    ahead, last = max(models.tracking(INDEX), models.tracking(WORLD)), store.last_position()
    if ahead > last:
        raise StoreError(
            f"the ledger at {where} ends at position {last}, but its read models reach {ahead}: events were removed "
            "from its end, or an older copy of it restored; run 'syncledger verify' (with your heads), then "
            "'syncledger verify --rebuild' to accept the ledger as it is"
        )
