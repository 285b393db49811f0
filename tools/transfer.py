"""Action lines in and out of the ledger. Export writes the user actions in order; import checks the whole file
through the rules before appending anything, skips the lines the ledger already holds, and appends in batches
that a second import completes after a crash."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import BinaryIO

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger
from syncledger.ledger.checks import RefusedError
from syncledger.ledger.store import ConflictError
from syncledger.projections.reader import Reader

from .actionlines import BadLineError, differences, read_lines, to_line
from .inputs import BadInputError, Horizon, Point
from .progress import Update

BATCH_SIZE = 5_000  # events per transaction: a crash leaves whole actions, a prefix of the file
RETRIES = 5  # another writer appending meanwhile: re-read and check again
FEW = 1_000  # up to this many lines already held, read them one by one; more, in one pass over the ledger


# ----------------------------------------------------------------------------------------------- export


def export_range(reader: Reader, start: Point | None, end: Point | None) -> tuple[int, int | None]:
    """The positions to export, as (after, upto) for `Ledger.events`: from `start` (its own event included) to
    `end` (inclusive), each a position or a time."""
    if start is None:
        after = 0
    elif isinstance(start, int):
        after = max(start - 1, 0)
    else:
        after = reader.position_at_time(start - timedelta(microseconds=1))
    upto = end if end is None or isinstance(end, int) else reader.position_at_time(end)
    if start is not None and end is not None and upto is not None:  # never answered with actions outside it
        same_kind = isinstance(start, int) == isinstance(end, int)
        if start > end if same_kind else after > upto:  # type: ignore[operator]
            raise BadInputError("--from is after --to: give the earlier point first")
    return after, upto


def export_lines(ledger: Ledger, after: int, upto: int | None, out: BinaryIO) -> None:
    """Write the user actions after `after` up to `upto` as action lines (not the decisions: an import decides
    them again), in order, a chunk at a time."""
    chunk: list[bytes] = []
    for _, event in ledger.events(after, upto):
        if isinstance(event, v.Action):
            chunk.append(to_line(event))
            if len(chunk) >= 10_000:
                out.write(b"".join(chunk))
                chunk = []
    out.write(b"".join(chunk))
    out.flush()


# ----------------------------------------------------------------------------------------------- import


@dataclass(frozen=True)
class Imported:
    lines: int  # action lines read (blank lines not counted)
    skipped: int  # lines whose id the ledger already held, with the same content
    appended: int  # new actions appended
    first: int | None  # positions of what was appended: the new actions and their decisions
    last: int | None

    @property
    def events(self) -> int:
        return self.last - self.first + 1 if self.first is not None and self.last is not None else 0

    def document(self, name: str) -> dict[str, object]:
        return {
            "file": name,
            "lines": self.lines,
            "appended": self.appended,
            "skipped": self.skipped,
            "events": self.events,
            "first": self.first,
            "last": self.last,
        }


def import_actions(
    ledger: Ledger, lines: Iterable[bytes], progress: Update | None = None, ahead: Horizon | None = None
) -> Imported:
    """Check every line, in order, as input and through the rules, then append the new ones in batches;
    `BadLineError` for the first bad line, with nothing appended. A lost race with another writer re-checks them."""
    raw: list[bytes] = []  # the lines as read, for another try (standard input cannot be read twice)
    for attempt in range(RETRIES):
        ledger.catch_up()
        stored = ledger.world.position
        count = _Count()
        source = _counted(read_lines(_kept(lines, raw) if attempt == 0 else raw), count, progress)
        skipped, appended = _stage(ledger, source, ahead)
        try:
            ledger.commit(batch_size=BATCH_SIZE)
        except ConflictError:
            continue  # what the other writer appended may turn some of the lines into skips
        last = ledger.world.position  # the position of the last event staged, now appended
        if last == stored:
            return Imported(count.lines, skipped, 0, None, None)
        return Imported(count.lines, skipped, appended, stored + 1, last)
    raise ConflictError(f"gave up after {RETRIES} tries: other writers kept appending at the same time")


class _Count:
    lines = 0


def _counted(
    lines: Iterator[tuple[int, v.Action]], count: _Count, progress: Update | None
) -> Iterator[tuple[int, v.Action]]:
    """The lines, counted, and reported every few thousand (the total is not known before the end of the file)."""
    for count.lines, line in enumerate(lines, 1):
        if progress is not None and count.lines % 2000 == 0:
            progress(count.lines, 0)
        yield line


def _kept(source: Iterable[bytes], into: list[bytes]) -> Iterator[bytes]:
    """The lines as they are read, also kept as bytes for another try: a tenth of what the parsed actions take."""
    for line in source:
        into.append(line)
        yield line


def _stage(ledger: Ledger, lines: Iterator[tuple[int, v.Action]], ahead: Horizon | None = None) -> tuple[int, int]:
    """Stage every new line (a dry run through the rules; the events are kept encoded only) and check the ones the
    ledger already holds; the numbers of lines skipped and staged. On the first bad line, forget everything
    staged and raise its `BadLineError`."""
    stored = ledger.world.position  # ids at or before it are in the store; after it, staged from this file
    held: list[tuple[int, v.Action, int]] = []  # checked in one go at the end: reading them one by one is slow
    line_of_id: dict[str, int] = {}
    skipped = staged = 0
    try:
        for number, action in lines:
            position = ledger.world.past.action(action.id) if action.id is not None else None
            if position is None:
                try:
                    if ahead is not None:  # the typo guard, from the line before (or the ledger's last event)
                        ahead.check(action.at, ledger.world.at, "at")
                    ledger.stage(action, keep=False)
                except (RefusedError, BadInputError) as e:
                    raise BadLineError(number, str(e)) from None
                line_of_id[action.id or ""] = number
                staged += 1
                continue
            skipped += 1
            if position <= stored:
                held.append((number, action, position))
            else:
                earlier = ledger.staged_event(position)
                _same(number, action, earlier, f"is also on line {line_of_id[action.id or '']}")
    except BadLineError:
        ledger.rollback()
        _check_held(held, ledger)  # an earlier line that differs from the ledger is the first bad one
        raise
    try:
        _check_held(held, ledger)
    except BadLineError:
        ledger.rollback()
        raise
    return skipped, staged


def _check_held(held: list[tuple[int, v.Action, int]], ledger: Ledger) -> None:
    events = _held_events([position for _, _, position in held], ledger)
    for number, action, position in held:
        _same(number, action, events.get(position), f"is already in the ledger (position {position})")


def _same(number: int, line: v.Action, held: v.Action | v.Decided | None, where: str) -> None:
    if not isinstance(held, v.Action):
        raise BadLineError(number, f"action id '{line.id}' {where} but that position holds no action")
    differ = differences(held, line)
    if differ:
        raise BadLineError(number, f"action id '{line.id}' {where} with different content ({', '.join(differ)} differ)")


def _held_events(positions: list[int], ledger: Ledger) -> dict[int, v.Action | v.Decided]:
    """The stored events at `positions`: one read each when few, else one pass over that stretch of the ledger."""
    if not positions:
        return {}
    if len(positions) <= FEW:
        found = (ledger.store.read_one(p) for p in positions)
        return {r[0]: r[1] for r in found if r is not None}
    wanted = set(positions)
    return {p: e for p, e in ledger.events(min(wanted) - 1, max(wanted)) if p in wanted}
