"""The read models' tables, kept beside the events in the same database: checkpoints of the present, the archived
past (`ledger.past`: deleted records, deleted items, ended links, action ids), the item index (which positions
touched each reference, and which of them are decisions), and the tracking position up to which they are all
complete. SQLite and PostgreSQL share the SQL; memory uses dicts. Everything here is derived from the events:
a read model of another format is dropped and rebuilt, never migrated. Checkpoints and each batch of rows are
sealed to the events (`projections.sealing`); the archive answers from its tables only once their seals match.

Beside them, one table that is not derived and never dropped: what the ledger says of itself (the fingerprint
of its seal key, `projections.keys`).

This module holds what the ledger asks of them (`ReadModels`) and what both kinds share; the kinds are
`projections.memorymodels` and `projections.sqlmodels` (which also opens them by the ledger's location)."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

from syncledger.ledger.past import PastRows
from syncledger.ledger.world import Link, Record

from .sealing import Batch, Entry, Sealer

IndexRow = tuple[str, int, str | None]  # ref, position, rule of the decision (None for an action)
# of the read models; another format is rebuilt from the events (7: checkpoints and batches sealed; 8: users'
# sync methods and the organisation options in checkpoints; 9: org.option indexed under `org:` too; 10: the item
# index's references in byte order on PostgreSQL too, so that a prefix is a range of its key; 11: users' aliases
# and the copies FILTER-CREATE made without one, in checkpoints; 12: the archive's rows in buckets by their keys,
# with each batch's bucket digests, so that a lookup checks its key's bucket only; 13: the ended links' digests
# by the range of positions they were made in too, so that a page of every user's checks the ranges it spans;
# 14: the ended links keyed by bucket first, so that a bucket's rows lie together; 15: a field given as null is
# removed from its record or item, not kept as null, so checkpoints folded before hold what the fold no longer
# gives; 16: SQLite's tables STRICT, so that no position is stored as text; 17: the item index's rows in leaves
# by their reference, under a digest tree whose root each batch seals (`projections.indextree`), and its references
# in a table of their own for prefixes; 18: the item index keyed by reference again, with the references of each
# leaf listed, so that a batch's rows are written where the batches before wrote theirs; 19: the ended links in
# leaves by owner and item too, under a digest tree whose root each batch of the archive seals (`projections.linktree`))
# Not a format change: checkpoints are Zstandard frames since 12-07 and zlib streams before; this version reads both
# (`codec.decompressed`), so a ledger is not rebuilt for it. A version older than that reads only zlib ones: it says
# a newer checkpoint cannot be used and folds from the start, and its `verify` reports them.
FORMAT = 19
# the two projections, each complete up to its own tracking position: the item index with the action ids
# (`projections.index`), and the world's checkpoints with its archived past (`projections.projector`)
INDEX, WORLD = "index", "world"


class Cipher(Protocol):
    """What the read models encrypt with: the events' own cipher (`ledger.store.EventMapper`)."""

    def encipher(self, data: bytes) -> bytes: ...

    def decipher(self, data: bytes) -> bytes: ...


class ForgedCheckpoint(ValueError):
    """A stored checkpoint does not match its seal: it is not used."""


class ReadModels(Protocol):
    """The read models as the projections write them and the read side asks them: two projections (INDEX, WORLD),
    each complete up to its tracking position. Two implementations, side by side below: `MemoryReadModels` (dicts)
    and `SqlReadModels` (tables beside the events on SQLite or PostgreSQL)."""

    on_server: bool  # whether a write waits for a server (PostgreSQL), which a long catch-up reads beside

    def tracking(self, projection: str) -> int:
        """The position up to which the projection (INDEX or WORLD) is complete."""
        ...

    def write_index(
        self, first: int, position: int, rows: Sequence[IndexRow], actions: Sequence[tuple[str, int]]
    ) -> bool:
        """The index rows and action ids of positions `first`..`position`, with the new tracking position, in one
        transaction; only if the index is complete up to `first - 1` (whether it wrote)."""
        ...

    def write_world(self, first: int, position: int, checkpoints: Sequence[tuple[int, bytes]], past: PastRows) -> bool:
        """The checkpoints and the past (but its action ids) of positions `first`..`position`, likewise."""
        ...

    def checkpoint(self, position: int) -> bytes | None:
        """The checkpoint at exactly `position`, as stored (enciphered), if there is one; `ForgedCheckpoint` if it
        does not match its seal."""
        ...

    def checkpoint_row(self, position: int) -> tuple[bytes, bytes | None] | None:
        """The checkpoint at `position` and its seal, as stored, unchecked (for `verify`)."""
        ...

    def checkpoint_at_or_before(self, position: int) -> tuple[int, bytes] | None: ...

    def checkpoint_rows_before(self, position: int, count: int) -> list[tuple[int, bytes, bytes | None]]:
        """The latest `count` checkpoints at or before `position`, newest first, with their seals, as stored and
        unchecked (`checked` checks one): a delta's chain of checkpoints in one read."""
        ...

    def checked(self, position: int, state: bytes, seal: bytes | None, event_seal: bytes | None = None) -> bytes:
        """A stored checkpoint's state, if it matches its seal (`event_seal`: the event's at `position`, looked up
        if not given); `ForgedCheckpoint` if it does not."""
        ...

    def checkpoints(self) -> list[int]: ...

    def touched(self, ref: str) -> list[tuple[int, str | None]]:
        """The positions that touched `ref`, each with the rule of its decision (None for an action)."""
        ...

    def touched_many(self, refs: Sequence[str]) -> dict[str, list[tuple[int, str | None]]]:
        """`touched` of each of `refs` (those the index names), read at once."""
        ...

    def touched_between(self, refs: Sequence[str], after: int, upto: int) -> dict[str, list[tuple[int, str | None]]]:
        """`touched_many` of the positions after `after` up to `upto` only: what a window of the ledger reads,
        without the whole history of a user named in it."""
        ...

    def latest_before(self, pairs: Sequence[tuple[str, int]]) -> list[int | None]:
        """For each (reference, position), the last position before it that touched the reference (None if
        none), read at once: without the reference's every position."""
        ...

    def refs(self) -> list[str]: ...

    def refs_starting(self, prefix: str, fold_case: bool, limit: int) -> list[str]:
        """Up to `limit` references that start with `prefix` (ignoring case if `fold_case`), in order."""
        ...

    # the archive (`ledger.past.Archive`): what the present no longer holds, as of position `upto`
    def record(self, record: str, upto: int) -> Record | None: ...

    def item_deleted(self, user: str, item: str, upto: int) -> bool: ...

    def action(self, action_id: str, upto: int) -> int | None: ...

    def ended_links(self, upto: int) -> list[Link]: ...

    def ended_links_page(self, upto: int, after: int, limit: int, user: str | None = None) -> list[Link]: ...

    def ended_links_between(self, after: int, upto: int) -> list[Link]: ...

    def last_link(self, user: str, item: str, upto: int) -> Link | None: ...

    def rows(self, upto: int, raw: bool = False) -> PastRows:
        """The past up to `upto`: as stored if `raw` (for `verify`), else as trusted."""
        ...

    # seals (`projections.sealing`) and what the ledger says of itself (`projections.keys`)
    sealer: Sealer | None
    # the past folded from the events, for when the stored archive does not match its seals (`projections.projector`)
    rebuild_past: Callable[[], PastRows] | None
    rebuild_index: Callable[[set[int], int], Iterable[IndexRow]] | None

    def batches(self, projection: str) -> list[Batch]:
        """The sealed batches of a projection, in order."""
        ...

    def read_table(self, table: str, columns: str, upto: int) -> Iterator[Sequence[Any]]:
        """A sealed table's rows up to `upto`, as they were inserted (`projections.sealing.SEALED`), in the order
        of their positions."""
        ...

    def tree_problems(self, root: bytes, upto: int) -> list[str]:
        """What of the item index's digest tree (`projections.indextree`) does not match its rows up to `upto` or
        the `root` sealed there (read models that keep no tree: nothing)."""
        ...

    def links_tree_problems(self, root: bytes, upto: int) -> list[str]:
        """What of the ended links' digest tree (`projections.linktree`) does not match the archive's ended links up
        to `upto` or the `root` sealed there (read models that keep no tree: nothing)."""
        ...

    def read_buckets(self, table: str, upto: int) -> Iterator[Entry]:
        """A bucketed table's stored bucket digests (`projections.sealing.BUCKETED`) of the batches up to `upto`, in the
        order of their batches."""
        ...

    def highest_positions(self) -> dict[str, int]:
        """The highest position each read model names (for `verify`'s check for a truncated ledger)."""
        ...

    def seal_fingerprint(self) -> str | None:
        """The fingerprint of the key the ledger is sealed with, if it is (`projections.keys`)."""
        ...

    def record_seal_fingerprint(self, fingerprint: str) -> None: ...

    def reset(self) -> None:
        """Forget everything: the projections rebuild from the events."""
        ...

    def close(self) -> None: ...


def tracking_behind(models: ReadModels, stored: dict[str, list[Batch]] | None = None) -> dict[str, tuple[int, int]]:
    """Each projection whose tracking position is behind the last of its sealed batches (`stored`, by projection,
    else read here): (that position, the batch's last). A batch and its tracking position are written in one
    transaction and the batches are read first, so another process writing meanwhile moves the position with its
    batch: only a tracking row deleted or set back behind the ledger's back stays behind. Caught up from there, a
    projection would add its batches' rows again (the item index's tree would count them twice)."""
    stored = stored if stored is not None else {p: models.batches(p) for p in (INDEX, WORLD)}
    found = {}
    for projection, batches in stored.items():
        if batches and (position := models.tracking(projection)) < batches[-1].last:
            found[projection] = (position, batches[-1].last)
    return found


MAX_SPELLINGS = 256  # case spellings of a prefix's start looked up one by one (8 letters)


def prefix_ranges(prefix: str, fold_case: bool) -> tuple[list[str], bool]:
    """The starts whose ranges of the item index's key hold every reference starting with `prefix`: the prefix
    itself, or, ignoring case (after the `crm:` before the id), each upper and lower case spelling of its longest
    start that has at most MAX_SPELLINGS of them; and whether that start is shorter than the prefix (the rows
    of its ranges are then filtered by the whole prefix)."""
    if not fold_case:
        return [prefix], False
    head, _, rest = prefix.partition(":")
    spellings = [f"{head}:"]
    for n, c in enumerate(rest):
        cases = list(dict.fromkeys((c.lower(), c.upper())))
        if len(spellings) * len(cases) > MAX_SPELLINGS:
            return spellings, n < len(rest)
        spellings = [s + case for s in spellings for case in cases]
    return spellings, False


def after_all_starting(start: str) -> str:
    """The least text greater than every text that starts with `start` (in code point order, which is UTF-8's byte
    order): `start` with its last character one higher, or a longer one when that is the highest character."""
    for n in range(len(start) - 1, -1, -1):
        if ord(start[n]) < 0x10FFFF:
            return start[:n] + chr(ord(start[n]) + 1)
    return start + "\U0010ffff"  # only highest characters: nothing here is that long on purpose


def starting(refs: Iterable[str], prefix: str, fold_case: bool, limit: int) -> list[str]:
    """The references among `refs` that start with `prefix` (ignoring case if `fold_case`): the first `limit`."""
    if fold_case:
        folded = prefix.lower()
        found = [r for r in refs if r[: len(prefix)].lower() == folded]
    else:
        found = [r for r in refs if r.startswith(prefix)]
    return sorted(found)[:limit]


def latest_before(positions: Sequence[int], position: int) -> int | None:
    """The last of `positions` (in order) before `position`, if any."""
    at = bisect.bisect_left(positions, position)
    return positions[at - 1] if at else None
