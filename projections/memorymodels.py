"""The read models in memory: for scenario runs and tests (`projections.readmodels` says what they hold)."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from syncledger.ledger.past import PastRows, made
from syncledger.ledger.world import Link, Record

from .readmodels import INDEX, WORLD, IndexRow, latest_before, starting
from .sealing import Batch, Entry, Sealer


def _exactly(found: tuple[int, bytes] | None, position: int) -> bytes | None:
    return found[1] if found is not None and found[0] == position else None


class MemoryReadModels:
    """In memory: for scenario runs and tests. Nothing can change it behind the ledger's back: it is not sealed."""

    def __init__(self) -> None:
        self.on_server = False
        self.sealer: Sealer | None = None
        self.rebuild_past: Callable[[], PastRows] | None = None
        self.rebuild_index: Callable[[set[int], int], Iterable[IndexRow]] | None = None  # its index is not stored
        self._fingerprint: str | None = None
        self._tracking: dict[str, int] = {}
        self._checkpoints: dict[int, bytes] = {}
        self._index: dict[str, list[tuple[int, str | None]]] = {}
        self._past = PastRows()  # its action ids are the index projection's
        self._last_links: dict[tuple[str, str], Link] = {}

    def tracking(self, projection: str) -> int:
        """The position up to which the projection (INDEX or WORLD) is complete."""
        return self._tracking.get(projection, 0)

    def write_index(
        self, first: int, position: int, rows: Sequence[IndexRow], actions: Sequence[tuple[str, int]]
    ) -> bool:
        """The index rows and action ids of positions `first`..`position`, with the new tracking position, in one
        transaction; only if the index is complete up to `first - 1` (whether it wrote)."""
        if self.tracking(INDEX) != first - 1:
            return False
        for ref, pos, rule in rows:
            self._index.setdefault(ref, []).append((pos, rule))
        self._past.actions.update(actions)
        self._tracking[INDEX] = position
        return True

    def write_world(self, first: int, position: int, checkpoints: Sequence[tuple[int, bytes]], past: PastRows) -> bool:
        """The checkpoints and the past (but its action ids) of positions `first`..`position`, likewise."""
        if self.tracking(WORLD) != first - 1:
            return False
        self._checkpoints.update(checkpoints)
        self._past.records.update(past.records)
        self._past.items.update(past.items)
        self._past.links = sorted([*self._past.links, *past.links], key=made)
        self._last_links.update({(link.user, link.item): link for link in past.links})
        self._tracking[WORLD] = position
        return True

    def checkpoint(self, position: int) -> bytes | None:
        return _exactly(self.checkpoint_at_or_before(position), position)

    def checkpoint_at_or_before(self, position: int) -> tuple[int, bytes] | None:
        positions = sorted(self._checkpoints)
        n = bisect.bisect_right(positions, position)
        return (positions[n - 1], self._checkpoints[positions[n - 1]]) if n else None

    def checkpoint_rows_before(self, position: int, count: int) -> list[tuple[int, bytes, bytes | None]]:
        positions = sorted(p for p in self._checkpoints if p <= position)[-count:] if count > 0 else []
        return [(p, self._checkpoints[p], None) for p in reversed(positions)]

    def checked(self, position: int, state: bytes, seal: bytes | None, event_seal: bytes | None = None) -> bytes:
        return state

    def checkpoints(self) -> list[int]:
        return sorted(self._checkpoints)

    def checkpoint_row(self, position: int) -> tuple[bytes, bytes | None] | None:
        """The checkpoint at `position` and its seal, as stored, unchecked (for `verify`)."""
        found = self._checkpoints.get(position)
        return (found, None) if found is not None else None

    def batches(self, projection: str) -> list[Batch]:
        return []

    def tree_problems(self, root: bytes, upto: int) -> list[str]:
        return []  # nothing stored, nothing sealed: the index is this process's own

    def links_tree_problems(self, root: bytes, upto: int) -> list[str]:
        return []  # nothing stored, nothing sealed: the archive is this process's own

    def read_table(self, table: str, columns: str, upto: int) -> Iterator[Sequence[Any]]:
        return iter(())

    def read_buckets(self, table: str, upto: int) -> Iterator[Entry]:
        return iter(())

    def highest_positions(self) -> dict[str, int]:
        past = self._past
        return {
            "tracking positions": max(self._tracking.values(), default=0),
            "checkpoints": max(self._checkpoints, default=0),
            "item index": max((p for rows in self._index.values() for p, _ in rows), default=0),
            "action ids": max(past.actions.values(), default=0),
            "archived past": max([*past.items.values(), *(link.position for link in past.links)], default=0),
        }

    def seal_fingerprint(self) -> str | None:
        return self._fingerprint

    def record_seal_fingerprint(self, fingerprint: str) -> None:
        self._fingerprint = fingerprint

    def touched(self, ref: str) -> list[tuple[int, str | None]]:
        return list(self._index.get(ref, ()))

    def touched_many(self, refs: Sequence[str]) -> dict[str, list[tuple[int, str | None]]]:
        return {ref: list(self._index[ref]) for ref in refs if ref in self._index}

    def touched_between(self, refs: Sequence[str], after: int, upto: int) -> dict[str, list[tuple[int, str | None]]]:
        found = {ref: [row for row in self._index.get(ref, ()) if after < row[0] <= upto] for ref in refs}
        return {ref: rows for ref, rows in found.items() if rows}

    def latest_before(self, pairs: Sequence[tuple[str, int]]) -> list[int | None]:
        return [latest_before([p for p, _ in self._index.get(ref, ())], position) for ref, position in pairs]

    def refs(self) -> list[str]:
        return list(self._index)

    def refs_starting(self, prefix: str, fold_case: bool, limit: int) -> list[str]:
        return starting(self._index, prefix, fold_case, limit)

    # --------------------------------------------------------------------- the archive (`ledger.past.Archive`)

    def record(self, record: str, upto: int) -> Record | None:
        found = self._past.records.get(record)
        return found if found is not None and found.changed <= upto else None

    def item_deleted(self, user: str, item: str, upto: int) -> bool:
        return self._past.items.get((user, item), upto + 1) <= upto

    def action(self, action_id: str, upto: int) -> int | None:
        found = self._past.actions.get(action_id)
        return found if found is not None and found <= upto else None

    def ended_links(self, upto: int) -> list[Link]:
        return [link for link in self._past.links if link.position <= upto]

    def ended_links_page(self, upto: int, after: int, limit: int, user: str | None = None) -> list[Link]:
        found = (k for k in self.ended_links(upto) if k.made > after and (user is None or k.user == user))
        return list(itertools.islice(found, limit))

    def ended_links_between(self, after: int, upto: int) -> list[Link]:
        return [k for k in self.ended_links(upto) if k.position > after]

    def last_link(self, user: str, item: str, upto: int) -> Link | None:
        found = self._last_links.get((user, item))
        if found is None or found.position <= upto:
            return found
        return next((k for k in reversed(self.ended_links(upto)) if k.user == user and k.item == item), None)

    def rows(self, upto: int, raw: bool = False) -> PastRows:
        return self._past.upto(upto)

    def reset(self) -> None:
        fingerprint, sealer, rebuild_past = self._fingerprint, self.sealer, self.rebuild_past
        self.__init__()  # type: ignore[misc]
        self._fingerprint, self.sealer, self.rebuild_past = fingerprint, sealer, rebuild_past

    def close(self) -> None:
        pass
