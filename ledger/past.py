"""What is over: CRM records deleted (as they were when deleted), Outlook items deleted, links ended, and the ids
of the actions recorded.

Each of these is stamped with its position and never changes again, so one copy of the past serves every point
in time. That is what keeps the cost of a state bounded: a checkpoint holds only the present, and a world as of
position C reads the past up to C from an `Archive` (the read models' tables) and keeps what happens after C in
memory. A world folded from nothing has no archive and keeps its whole past in memory.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
from operator import attrgetter
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from .world import Link, Record


@dataclass
class PastRows:
    """The past up to a position, in full: for equality, for verifying and for an archive's writer."""

    records: dict[str, Record] = field(default_factory=dict)  # record id -> the record as it was deleted
    items: dict[tuple[str, str], int] = field(default_factory=dict)  # (user, item) -> position of its deletion
    links: list[Link] = field(default_factory=list)  # ended links, in the order they were made
    actions: dict[str, int] = field(default_factory=dict)  # action id -> position

    def upto(self, position: int) -> PastRows:
        """The part of it at or before `position`."""
        return PastRows(
            {k: r for k, r in self.records.items() if r.changed <= position},
            {k: p for k, p in self.items.items() if p <= position},
            [link for link in self.links if link.position <= position],
            {k: p for k, p in self.actions.items() if p <= position},
        )


made = attrgetter("made")  # the order links are listed in


class Archive(Protocol):
    """The stored past; every question is about the past up to `upto` (rows after it are not yet there for the
    asker). Kept by `projections.readmodels`."""

    def record(self, record: str, upto: int) -> Record | None: ...

    def item_deleted(self, user: str, item: str, upto: int) -> bool: ...

    def action(self, action_id: str, upto: int) -> int | None: ...

    def ended_links(self, upto: int) -> list[Link]: ...

    def ended_links_page(self, upto: int, after: int, limit: int, user: str | None = None) -> list[Link]:
        """The first `limit` ended links made after `after` (of `user` only, if given), in the order made."""
        ...

    def ended_links_between(self, after: int, upto: int) -> list[Link]:
        """The links that ended after position `after`, up to `upto`, in the order made."""
        ...

    def last_link(self, user: str, item: str, upto: int) -> Link | None: ...

    def rows(self, upto: int) -> PastRows: ...


class Past:
    """The archived past up to `upto`, and what has happened since, in memory."""

    def __init__(self, archive: Archive | None = None, upto: int = 0) -> None:
        self._archive = archive
        self.upto = upto
        self.since = PastRows()

    @property
    def archive(self) -> Archive | None:
        """The archive, when it holds anything for this past (nothing is archived up to position 0)."""
        return self._archive if self.upto > 0 else None

    # ------------------------------------------------------------------------------- the fold adds

    def add_record(self, record: Record) -> None:
        self.since.records[record.id] = record

    def add_item(self, user: str, item: str, position: int) -> None:
        self.since.items[(user, item)] = position

    def add_link(self, link: Link) -> None:
        self.since.links.append(link)

    def add_action(self, action_id: str, position: int) -> None:
        self.since.actions[action_id] = position

    # ------------------------------------------------------------------------------- questions

    def record(self, record: str) -> Record | None:
        """The record as it was when it was deleted in CRM, or None if it never was."""
        found = self.since.records.get(record)
        if found is None and self.archive is not None:
            found = self.archive.record(record, self.upto)
        return found

    def item_deleted(self, user: str, item: str) -> bool:
        if (user, item) in self.since.items:
            return True
        return self.archive is not None and self.archive.item_deleted(user, item, self.upto)

    def action(self, action_id: str) -> int | None:
        """The position of the action with this id, or None if the ledger has none."""
        found = self.since.actions.get(action_id)
        if found is None and self.archive is not None:
            found = self.archive.action(action_id, self.upto)
        return found

    def ended_links(self) -> list[Link]:
        """Every ended link, in the order they were made."""
        ended = [*self.archive.ended_links(self.upto), *self.since.links] if self.archive else list(self.since.links)
        ended.sort(key=made)  # two sorted runs: a merge
        return ended

    def ended_links_page(self, after: int, limit: int, user: str | None = None) -> list[Link]:
        """The first `limit` ended links made after `after` (`Link.made`), of `user` only if given, in the order
        made: what a page of a state document costs, not every link the ledger ever ended."""
        since = [k for k in self.since.links if k.made > after and (user is None or k.user == user)]
        stored = self.archive.ended_links_page(self.upto, after, limit, user) if self.archive else []
        return sorted([*stored, *since], key=made)[:limit]

    def ended_links_between(self, after: int) -> list[Link]:
        """The links that ended after position `after` (what a diff from `after` to here compares), in the order
        made: read by position, not from every link ever ended."""
        since = [k for k in self.since.links if k.position > after]
        stored = self.archive.ended_links_between(after, self.upto) if self.archive and after < self.upto else []
        return sorted([*stored, *since], key=made)

    def last_link(self, user: str, item: str) -> Link | None:
        """The link of the user's item that ended last, if any (an item can be linked, unlinked and tracked again)."""
        for link in reversed(self.since.links):
            if link.user == user and link.item == item:
                return link
        return self.archive.last_link(user, item, self.upto) if self.archive is not None else None

    def rows(self) -> PastRows:
        """Everything, archived or not."""
        rows = self.archive.rows(self.upto) if self.archive is not None else PastRows()
        rows.records.update(self.since.records)
        rows.items.update(self.since.items)
        rows.links = sorted([*rows.links, *self.since.links], key=made)
        rows.actions.update(self.since.actions)
        return rows

    def after(self, position: int) -> PastRows:
        """What was added after `position`, for the archive's writer. Everything is added in the order of its
        position, so each part is cut where a binary search finds `position` (no Python loop over entries)."""
        since = self.since
        return PastRows(
            _cut(since.records, map(_changed, since.records.values()), position),
            _cut(since.items, since.items.values(), position),
            since.links[bisect_right(list(map(_position, since.links)), position) :],
            _cut(since.actions, since.actions.values(), position),
        )

    def rebase(self, archive: Archive, upto: int) -> None:
        """Another archive, which holds everything up to `upto` (what the old one held, and what was here): forget
        it here (a large import moves its staged past to its staging file this way)."""
        self._archive = archive
        self.settle(upto)

    def settle(self, upto: int) -> None:
        """The archive now holds everything up to `upto`: forget it here (a long rebuild keeps memory flat)."""
        kept = self.after(upto)
        self.since, self.upto = kept, upto

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Past) and self.rows() == other.rows()

    def __deepcopy__(self, memo: dict[int, object]) -> Past:
        """A copy shares the archive (read-only) and copies what is in memory."""
        import copy

        twin = Past(self._archive, self.upto)
        twin.since = copy.deepcopy(self.since, memo)
        return twin


K = TypeVar("K")
V = TypeVar("V")
_changed, _position = attrgetter("changed"), attrgetter("position")


def _cut(entries: dict[K, V], positions: Iterable[int], after: int) -> dict[K, V]:
    """The entries after position `after`, from a dict kept in the order of their positions."""
    start = bisect_right(list(positions), after)
    return dict(islice(entries.items(), start, None)) if start else dict(entries)
