"""Seals over the read models, so that derived data never decides anything unverified.

Every checkpoint is sealed to the event seal at its position (`ledger.seal.derived_seal`, keyed like the events),
and every batch of read-model rows a projection writes (positions `first`..`last`, in one transaction) is sealed
to the event seal at `last` and chained to the batch before, over a digest of each of its tables' rows. A reader
checks a checkpoint's seal before it uses it, and a projection's batches before it answers from their tables;
what does not match is ignored (the answer is folded from the events) and reported, and `verify` reports each as
a finding.

The archive's tables are looked up by a key (a record, an owner's item, an owner's links, an action id), and a
lookup must not cost the whole table: their rows fall in BUCKETS buckets by that key (`bucket`, a column of each
row), and a batch's digest of such a table is a digest of its buckets' digests, each stored beside it
(`syncledger_buckets`). A lookup checks the batches' chain and the bucket digests once per process, then only the
rows of its key's bucket: the rows it found match what was sealed, and no sealed row of that key is missing (an
absence is proven as well as a presence).

The item index's own rows are not digested per batch: each of its batches seals, after its tables' digests, the
root of the index's digest tree as of its end (`index_root`; `projections.indextree`), which proves every row.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import sys
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from syncledger.ledger.seal import GENESIS, derived_seal

DIGEST = 32
BUCKETS = 256  # the buckets of a table looked up by key: a lookup checks about 1/BUCKETS of its rows
MADE_RANGE = 16_384  # the ended links' second buckets: by the position that made them, in ranges of this many
# the tables of each projection whose rows a batch seal covers, in the order of their digests, with the columns
# they are read back by (as they are inserted) and which of them is the row's position; a bucketed table's rows
# start with their bucket (`BUCKETED`). "links_made" is no table of its own: the ended links again (`SOURCE`), in
# buckets by the range of positions they were made in, so that a page of every user's ended links (in the order
# they were made) checks the ranges it spans, not every ended link
SEALED: dict[str, tuple[tuple[str, str, int], ...]] = {
    # the item index's own rows are sealed by the root of their digest tree (`index_root`), cumulatively
    "index": (("actions", "bucket, id, position", 2),),
    "world": (
        ("past_records", "bucket, record, position, state", 2),
        ("past_items", "bucket, owner, item, position", 3),
        ("past_links", "bucket, made, position, owner, item, record, origin, rule, in_filter", 2),
        ("links_made", f"made / {MADE_RANGE}, made, position, owner, item, record, origin, rule, in_filter", 2),
    ),
}
BUCKETED = frozenset({"actions", "past_records", "past_items", "past_links", "links_made"})
SOURCE = {"links_made": "past_links"}  # the table a digest's rows are read from, where it is not its own
Entry = tuple[int, int, bytes]  # a stored bucket digest: the batch's last position, the bucket, the digest


def made_range(made: int) -> int:
    """The "links_made" bucket of an ended link made at position `made`."""
    return made // MADE_RANGE


def bucket(*key: str) -> int:
    """The bucket of a bucketed table's row: of its record, of its owner and item, of its link's owner, of its action
    id. Stable across processes, versions and back ends (CRC-32 of the key's UTF-8)."""
    return zlib.crc32("\x00".join(key).encode("utf-8", "surrogatepass")) % BUCKETS


class Sealer(Protocol):
    """What the read models seal with: the event store (`ledger.store.EventStore`)."""

    seal_key: bytes | None

    def seal_at(self, position: int) -> bytes | None: ...


@dataclass
class Batch:
    projection: str
    last: int
    first: int
    event_seal: bytes
    digests: bytes
    seal: bytes


def checkpoint_seal(sealer: Sealer, position: int, state: bytes, event_seal: bytes | None = None) -> bytes:
    """The seal a checkpoint's stored bytes must carry (`event_seal`: the event's, if the caller has it)."""
    if event_seal is None:
        event_seal = sealer.seal_at(position) or GENESIS
    return derived_seal(event_seal, "checkpoint", position, [state], sealer.seal_key)


def batch_seal(
    key: bytes | None, projection: str, previous: bytes, first: int, last: int, event_seal: bytes, digests: bytes
) -> bytes:
    return derived_seal(event_seal, f"batch:{projection}", last, [previous, first.to_bytes(8, "big"), digests], key)


def digest(table: str, rows: Iterable[Sequence[Any]]) -> bytes:
    """Of a table's rows in a batch, in any order and however a back end hands them back: a bucketed table's, of its
    buckets' digests (`combined`)."""
    return combined(bucket_digests(table, rows)) if table in BUCKETED else _digest(table, rows)


def _digest(table: str, rows: Iterable[Sequence[Any]]) -> bytes:
    """Of rows: sorted (each table's rows start with their primary key, so the sort never compares further),
    booleans as booleans, bytes as hex; then serialized in one call (a rebuild digests millions of rows)."""
    ordered = sorted(map(tuple, rows))
    if table == "past_records":
        ordered = [(number, record, position, bytes(state).hex()) for number, record, position, state in ordered]
    elif table in ("past_links", "links_made"):
        ordered = [(*row[:8], bool(row[8])) for row in ordered]
    return hashlib.sha256(orjson.dumps(ordered)).digest()


def bucket_digests(table: str, rows: Iterable[Sequence[Any]]) -> dict[int, bytes]:
    """The digest of each bucket's rows (a bucketed table's rows start with their bucket), by bucket: only buckets
    with rows."""
    found: dict[int, list[Sequence[Any]]] = {}
    for row in rows:
        found.setdefault(int(row[0]), []).append(row)
    return {number: _digest(table, found[number]) for number in sorted(found)}


def combined(buckets: Mapping[int, bytes]) -> bytes:
    """A bucketed table's digest in a batch: of its buckets' digests, in bucket order."""
    return hashlib.sha256(b"".join(n.to_bytes(2, "big") + d for n, d in sorted(buckets.items()))).digest()


def digests(
    projection: str, rows_by_table: Mapping[str, Sequence[Sequence[Any]]]
) -> tuple[bytes, list[tuple[str, int, bytes]]]:
    """A batch's digests (one per sealed table, in the order of `SEALED`), and the bucket digests of its bucketed
    tables as (table, bucket, digest), stored beside it."""
    joined: list[bytes] = []
    entries: list[tuple[str, int, bytes]] = []
    for table, _, _ in SEALED[projection]:
        rows = rows_by_table.get(table, ())
        if table in BUCKETED:
            buckets = bucket_digests(table, rows)
            entries.extend((table, number, found) for number, found in buckets.items())
            joined.append(combined(buckets))
        else:
            joined.append(_digest(table, rows))
    return b"".join(joined), entries


def index_root(batch: Batch) -> bytes:
    """The root of the item index's digest tree sealed in one of its batches (`projections.indextree`): after the
    digests of its tables."""
    start = len(SEALED["index"]) * DIGEST
    return batch.digests[start : start + DIGEST]


def links_root(batch: Batch) -> bytes:
    """The root of the ended links' digest tree sealed in one of the archive's batches (`projections.linktree`):
    after the digests of its tables."""
    start = len(SEALED["world"]) * DIGEST
    return batch.digests[start : start + DIGEST]


def projection_name(projection: str) -> str:
    return "item index and action ids" if projection == "index" else "archived past"


def _sealed(projection: str, table: str, batch: Batch) -> bytes:
    """The batch's sealed digest of `table`."""
    number = [name for name, _, _ in SEALED[projection]].index(table)
    return batch.digests[number * DIGEST : (number + 1) * DIGEST]


def chain_problems(
    projection: str,
    batches: list[Batch],
    tracking: int,
    key: bytes | None,
    event_seal: Callable[[int], bytes | None],
) -> list[tuple[int, str]]:
    """(position, problem) for each way the chain of the projection's batches up to `tracking` is not what was
    sealed: a gap, a seal that does not match, a batch sealed to other events (`event_seal`: the event seal at a
    position). Empty when the chain holds."""
    problems: list[tuple[int, str]] = []
    name = projection_name(projection)
    previous_last, previous_seal = 0, GENESIS
    for batch in batches:
        if batch.last > tracking:
            break
        if batch.first != previous_last + 1:
            problems.append(
                (batch.first, f"the {name} has no sealed rows for positions {previous_last + 1} to {batch.first - 1}")
            )
        expected = batch_seal(key, projection, previous_seal, batch.first, batch.last, batch.event_seal, batch.digests)
        if expected != batch.seal:
            problems.append(
                (batch.last, f"the {name} written for positions {batch.first} to {batch.last} does not match its seal")
            )
        elif event_seal(batch.last) != batch.event_seal:
            problems.append(
                (
                    batch.last,
                    f"the {name} written for positions {batch.first} to {batch.last} was sealed to other events",
                )
            )
        previous_last, previous_seal = batch.last, batch.seal
    if tracking and previous_last != tracking:
        problems.append(
            (tracking, f"the {name} is said to be complete up to {tracking}, but sealed up to {previous_last}")
        )
    return problems


def batch_problems(
    projection: str,
    batches: list[Batch],
    tracking: int,
    key: bytes | None,
    read_table: Callable[[str, str, int], Iterable[Sequence[Any]]],
    event_seal: Callable[[int], bytes | None],
    tables: Iterable[str] | None = None,
    read_buckets: Callable[[str, int], Iterable[Entry]] | None = None,
) -> list[tuple[int, str]]:
    """(position, problem) for each way the projection's batches up to `tracking` are not what was sealed: their
    chain (`chain_problems`), then the rows of `tables` (every sealed table of the projection by default;
    `read_table(table, columns, upto)` reads them in the order of their positions) against their digests, one
    batch at a time, and the stored bucket digests of each bucketed table (`read_buckets(table, upto)`, in the order
    of their batches, if given) against its rows. Empty when everything matches."""
    problems = chain_problems(projection, batches, tracking, key, event_seal)
    if problems:
        return problems
    return row_problems(
        projection, [b for b in batches if b.last <= tracking], tracking, read_table, tables, read_buckets
    )


def row_problems(
    projection: str,
    batches: list[Batch],
    tracking: int,
    read_table: Callable[[str, str, int], Iterable[Sequence[Any]]],
    tables: Iterable[str] | None = None,
    read_buckets: Callable[[str, int], Iterable[Entry]] | None = None,
) -> list[tuple[int, str]]:
    """`batch_problems` but the chain, for batches (up to `tracking`) whose chain holds."""
    problems: list[tuple[int, str]] = []
    for table, columns, at in SEALED[projection]:
        if tables is not None and table not in tables:
            continue
        sealed = [_sealed(projection, table, b) for b in batches]
        stored = read_buckets(table, tracking) if read_buckets is not None and table in BUCKETED else None
        rows = read_table(table, columns, tracking)
        for n, part in _mismatched(table, rows, at, [b.last for b in batches], sealed, stored):
            problems.append((batches[n].last, _differ(projection, part + table, batches[n])))
    return problems


def _mismatched(
    table: str,
    rows: Iterable[Sequence[Any]],
    at: int,
    ends: list[int],
    sealed: list[bytes],
    stored: Iterable[Entry] | None = None,
) -> list[tuple[int, str]]:
    """(number, what) of the batches (ending at `ends`) whose rows of `table` do not match their digests
    (`sealed`; what: "") or whose stored bucket digests (`stored`, in the order of their batches) do not match
    their rows (what: "bucket digests of "): the rows come in the order of their positions (column `at`), and each
    batch is digested as its last row passes, so only one batch's rows are held at a time. Rows past the last batch
    belong to none."""
    mismatched: list[tuple[int, str]] = []
    entries = iter(stored) if stored is not None else None
    ahead: list[Entry] = []  # the next stored entry, read but not yet given to its batch

    def stored_upto(end: int) -> dict[tuple[int, int], bytes]:
        """The stored entries up to `end` not yet given to a batch, by (last, bucket)."""
        found: dict[tuple[int, int], bytes] = {}
        while entries is not None:
            if not ahead:
                ahead.extend(itertools.islice(entries, 1))
                if not ahead:
                    break
            last, number, value = ahead[0]
            if int(last) > end:
                break
            found[(int(last), int(number))] = bytes(value)
            ahead.clear()
        return found

    def check(n: int, held: list[Sequence[Any]]) -> None:
        buckets = bucket_digests(table, held) if table in BUCKETED else {}
        stored_here = stored_upto(ends[n])
        if (combined(buckets) if table in BUCKETED else _digest(table, held)) != sealed[n]:
            mismatched.append((n, ""))
        elif entries is not None and stored_here != {(ends[n], number): value for number, value in buckets.items()}:
            mismatched.append((n, "bucket digests of "))

    n, held = 0, list[Sequence[Any]]()
    for row in rows:
        position = int(row[at])
        while n < len(ends) and position > ends[n]:
            check(n, held)
            n, held = n + 1, []
        if n == len(ends):
            break
        held.append(row)
    for rest in range(n, len(ends)):
        check(rest, held)
        held = []
    return mismatched


def batch_row_problems(
    projection: str, table: str, batch: Batch, rows: Iterable[Sequence[Any]], stored: Iterable[Entry]
) -> list[tuple[int, str]]:
    """`row_problems` of one table in one batch (whose chain holds): its rows (`rows`, positions `batch.first` to
    `batch.last`, in order) against the batch's digest, and its stored bucket digests (`stored`) against them."""
    at = next(at for name, _, at in SEALED[projection] if name == table)
    found = _mismatched(table, rows, at, [batch.last], [_sealed(projection, table, batch)], stored)
    return [(batch.last, _differ(projection, part + table, batch)) for _, part in found]


def bucket_index(
    projection: str, table: str, batches: list[Batch], entries: Iterable[Entry]
) -> tuple[dict[int, dict[int, bytes]], list[tuple[int, str]]]:
    """The stored bucket digests of a bucketed table up to the last of `batches` (whose chain holds), by bucket and
    then by batch (its last position), and (position, problem) for each batch whose sealed digest of the table
    they do not make up."""
    by_batch: dict[int, dict[int, bytes]] = {}
    for last, number, value in entries:
        by_batch.setdefault(int(last), {})[int(number)] = bytes(value)
    problems: list[tuple[int, str]] = []
    ends = {b.last for b in batches}
    for batch in batches:
        if combined(by_batch.get(batch.last, {})) != _sealed(projection, table, batch):
            problems.append((batch.last, _differ(projection, f"bucket digests of {table}", batch)))
    for stray in sorted(set(by_batch) - ends):
        problems.append(
            (stray, f"the {projection_name(projection)} has bucket digests of {table} at {stray}, where no batch ends")
        )
    index: dict[int, dict[int, bytes]] = {}
    for last, buckets in by_batch.items():
        for number, value in buckets.items():
            index.setdefault(number, {})[last] = value
    return index, problems


def bucket_problems(
    projection: str,
    table: str,
    batches: list[Batch],
    sealed: Mapping[int, bytes],
    rows: Iterable[Sequence[Any]],
) -> list[tuple[int, str]]:
    """(position, problem) for each batch whose rows of one bucket of a bucketed table (`rows`, in any order) do not
    match that bucket's digest (`sealed`, by batch: its last position; from `bucket_index`): a row changed, one
    added, or one missing. The batches' chain holds and reaches every row's position."""
    at = next(at for name, _, at in SEALED[projection] if name == table)
    ends = [b.last for b in batches]
    numbers = {last: n for n, last in enumerate(ends)}
    held: dict[int, list[Sequence[Any]]] = {}
    if not batches:  # nothing sealed: any row is a forgery
        name = projection_name(projection)
        return [(0, f"the {name} has {table.replace('_', ' ')} but no sealed batch")] if any(rows) else []
    for row in rows:
        # a row past the last batch (none is read: a lookup reads up to it) is a forgery: the last batch's
        n = min(bisect.bisect_left(ends, int(row[at])), len(ends) - 1)
        held.setdefault(n, []).append(row)
    checked = set(held) | {numbers[last] for last in sealed if last in numbers}
    return [
        (batches[n].last, _differ(projection, table, batches[n]))
        for n in sorted(checked)
        if n not in held or sealed.get(batches[n].last) != _digest(table, held[n])
    ]


def _differ(projection: str, what: str, batch: Batch) -> str:
    shown = what.replace("links_made", "past links (by where made)").replace("_", " ")
    name = projection_name(projection)
    return f"the {name}'s {shown} of positions {batch.first} to {batch.last} differ from what was sealed"


_WARNED: set[str] = set()


def warn(problem: str) -> None:
    """One line on standard error, once per process: derived data was ignored, the answer comes from the events."""
    if problem not in _WARNED:
        _WARNED.add(problem)
        print(
            f"syncledger: warning: {problem}; ignored, answered from the events ('syncledger verify' says what "
            "else; 'syncledger verify --rebuild' rebuilds the read models)",
            file=sys.stderr,
        )
