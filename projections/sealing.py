"""Seals over the read models, so that derived data never decides anything unverified.

Every checkpoint is sealed to the event seal at its position (`ledger.seal.derived_seal`, keyed like the events),
and every batch of read-model rows a projection writes (positions `first`..`last`, in one transaction) is sealed
to the event seal at `last` and chained to the batch before, over a digest of each of its tables' rows. A reader
checks a checkpoint's seal before it uses it, and a projection's batches once per process before it answers from
their tables; what does not match is ignored (the answer is folded from the events) and reported, and `verify`
reports each as a finding.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from syncledger.ledger.seal import GENESIS, derived_seal

DIGEST = 32
# the tables of each projection whose rows a batch seal covers, in the order of their digests, with the columns
# they are read back by (as they are inserted) and which of them is the row's position
SEALED: dict[str, tuple[tuple[str, str, int], ...]] = {
    "index": (("index", "ref, position, rule", 1), ("actions", "id, position", 1)),
    "world": (
        ("past_records", "record, position, state", 1),
        ("past_items", "owner, item, position", 2),
        ("past_links", "made, position, owner, item, record, origin, rule, in_filter", 1),
    ),
}


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
    """Of a table's rows in a batch, in any order and however a back end hands them back: sorted (each table's
    rows start with their primary key, so the sort never compares further), booleans as booleans, bytes as hex;
    then serialized in one call (a rebuild digests millions of rows)."""
    ordered = sorted(map(tuple, rows))
    if table == "past_records":
        ordered = [(record, position, bytes(state).hex()) for record, position, state in ordered]
    elif table == "past_links":
        ordered = [(*row[:7], bool(row[7])) for row in ordered]
    return hashlib.sha256(orjson.dumps(ordered)).digest()


def digests(projection: str, rows_by_table: Mapping[str, Sequence[Sequence[Any]]]) -> bytes:
    return b"".join(digest(table, rows_by_table.get(table, ())) for table, _, _ in SEALED[projection])


def batch_problems(
    projection: str,
    batches: list[Batch],
    tracking: int,
    key: bytes | None,
    read_table: Callable[[str, str, int], Iterable[Sequence[Any]]],
    event_seal: Callable[[int], bytes | None],
    tables: Iterable[str] | None = None,
) -> list[tuple[int, str]]:
    """(position, problem) for each way the projection's batches up to `tracking` are not what was sealed: the
    chain of their seals, each against the event seal at its end (`event_seal`), and the rows of `tables` (every
    sealed table of the projection by default; `read_table(table, columns, upto)` reads them in the order of their
    positions) against their digests, one batch at a time. Empty when everything matches."""
    problems: list[tuple[int, str]] = []
    name = "item index and action ids" if projection == "index" else "archived past"
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
    if problems:
        return problems
    batches = [b for b in batches if b.last <= tracking]
    layout = SEALED[projection]
    for number, (table, columns, at) in enumerate(layout):
        if tables is not None and table not in tables:
            continue
        sealed = [b.digests[number * DIGEST : (number + 1) * DIGEST] for b in batches]
        for n in _mismatched(table, read_table(table, columns, tracking), at, [b.last for b in batches], sealed):
            batch = batches[n]
            problems.append(
                (
                    batch.last,
                    f"the {name}'s {table.replace('_', ' ')} of positions {batch.first} to {batch.last} "
                    "differ from what was sealed",
                )
            )
    return problems


def _mismatched(table: str, rows: Iterable[Sequence[Any]], at: int, ends: list[int], sealed: list[bytes]) -> list[int]:
    """The numbers of the batches (ending at `ends`) whose rows of `table` do not match their digests (`sealed`):
    the rows come in the order of their positions (column `at`), and each batch is digested as its last row
    passes, so only one batch's rows are held at a time. Rows past the last batch belong to none."""
    mismatched: list[int] = []
    n, held = 0, list[Sequence[Any]]()
    for row in rows:
        position = int(row[at])
        while n < len(ends) and position > ends[n]:
            if digest(table, held) != sealed[n]:
                mismatched.append(n)
            n, held = n + 1, []
        if n == len(ends):
            break
        held.append(row)
    for rest in range(n, len(ends)):
        if digest(table, held) != sealed[rest]:
            mismatched.append(rest)
        held = []
    return mismatched


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
