"""Where `whatif` keeps what grows with the ledger's length, on a ledger of any size: each side's causes by
position, its decisions about every CRM record and Outlook item, and its world's past (deleted records and items,
ended links, action ids) go to a private temporary SQLite file, the one an import stages in (`transfer.Staging`,
which SQLite removes as it opens it), a batch at a time; memory keeps the organisation's present and the recent
positions. The comparison reads the decisions back one reference at a time, in order.

The answer is the one `Notes` (in memory) gives: the same causes and decisions, in the same order, each value
stored as a column and read back equal (times as ISO text with their offset)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import groupby, islice
from operator import itemgetter
from typing import Any

from syncledger.ledger.store import EventMapper
from syncledger.ledger.world import World, forget_changes

from ..transfer import Staging, move_past
from .whatif import Cause, Mark, Notes

EVERY = 10_000  # positions (and decisions) kept in memory before they move to the file


class SpilledNotes(Notes):
    """A side's notes in a staging file: the causes of the last `every` to `2 * every` positions in memory, older
    ones in the file (a decision's cause is most often a few positions back, at times a sync's worth of queue);
    decisions buffered `every` at a time; the world's past moved there every `every` positions (`move_past`)."""

    def __init__(self, staging: Staging, every: int = EVERY) -> None:
        super().__init__()
        self.staging, self.db, self.every = staging, staging.db, every
        self.db.execute(f"CREATE TABLE whatif_causes (position INTEGER PRIMARY KEY, {_CAUSE})")
        self.db.execute(f"CREATE TABLE whatif_marks (ref TEXT, seq INTEGER, {_MARK}, {_CAUSE})")  # indexed when read
        self._marks: list[tuple[Any, ...]] = []
        self._seq = 0
        self._rows: dict[int, tuple[object, tuple[Any, ...]]] = {}  # id -> (cause or time, its columns): shared
        # values (a sync's decisions share its time, and a cause every decision it led to) are written out once

    def _row(self, value: Cause | datetime | None) -> tuple[Any, ...]:
        """The columns of a cause (or of a time), from the memo while the value is alive in it."""
        found = self._rows.get(id(value))
        if found is None or found[0] is not value:
            if isinstance(value, datetime):
                columns: tuple[Any, ...] = (value.isoformat(),)
            else:
                columns = (
                    (0, None, None, None, None)
                    if value is None
                    else (1, value.id, value.do, _text(value.at), value.user)
                )
            found = self._rows[id(value)] = (value, columns)
        return found[1]

    def add_cause(self, position: int, cause: Cause | None) -> None:
        self.causes[position] = cause
        if len(self.causes) >= 2 * self.every:  # the oldest half to the file (positions come in order)
            oldest = list(islice(self.causes.items(), self.every))
            self.db.executemany(
                "INSERT INTO whatif_causes VALUES (?, ?, ?, ?, ?, ?)",
                [(p, *self._row(c)) for p, c in oldest if c is not None],
            )
            for p, _ in oldest:
                del self.causes[p]
            self._rows.clear()

    def cause(self, position: int) -> Cause | None:
        if position in self.causes:
            return self.causes[position]
        row = self.db.execute(f"SELECT {_CAUSE_COLUMNS} FROM whatif_causes WHERE position = ?", (position,)).fetchone()
        return _cause(row) if row else None

    def add_mark(self, refs: Iterable[str], mark: Mark) -> None:
        row: tuple[Any, ...] | None = None
        for ref in refs:
            if row is None:
                rule, at, actor, cause, reason, removed, changed = mark
                row = (rule, *self._row(at), actor, reason, removed, _SEP.join(sorted(changed)), *self._row(cause))
            self._marks.append((ref, self._seq, *row))
            self._seq += 1
        if len(self._marks) >= self.every:
            self._flush()

    def settle(self, world: World) -> None:
        if world.position - world.past.upto >= self.every:
            move_past(world, self.staging)
            forget_changes(world)  # what changed since a checkpoint: no checkpoint is written of this world

    def decided(self) -> Iterator[tuple[str, int, list[Mark]]]:
        self._flush()
        self.db.execute("CREATE INDEX IF NOT EXISTS whatif_marks_ref ON whatif_marks (ref, seq)")
        rows = self.db.execute(
            f"SELECT ref, seq, rule, at, actor, reason, removed, changed, {_CAUSE_COLUMNS} FROM whatif_marks "
            "ORDER BY ref, seq"
        )
        for ref, group in groupby(rows, key=itemgetter(0)):  # the first decision's seq ranks it, as in memory
            marks = [(r[1], _mark(r)) for r in group]
            yield ref, marks[0][0], [m for _, m in marks]

    def _flush(self) -> None:
        self.db.executemany("INSERT INTO whatif_marks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", self._marks)
        self._marks = []
        self._rows.clear()


def _mark(r: Sequence[Any]) -> Mark:
    """A mark as `SpilledNotes.decided` reads it back: (ref, seq, rule, at, actor, reason, removed, changed, cause)."""
    changed = frozenset(r[7].split(_SEP)) if r[7] else frozenset()
    return Mark(r[2], _time(r[3]), r[4], _cause(r[8:]), r[5], bool(r[6]), changed)  # type: ignore[arg-type]


class Spill:
    """The staging files of one answer, one per side (each world's past has the staging tables to itself), closed
    together: `with Spill(store.mapper) as spill: answer(events, question, spill.notes)`."""

    def __init__(self, mapper: EventMapper, every: int = EVERY) -> None:
        self.mapper, self.every = mapper, every
        self.files: list[Staging] = []

    def notes(self) -> SpilledNotes:
        staging = Staging(self.mapper)
        self.files.append(staging)
        return SpilledNotes(staging, self.every)

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *_: object) -> None:
        for staging in self.files:
            staging.db.close()
        self.files = []


_MARK = "rule TEXT, at TEXT, actor TEXT, reason TEXT, removed INTEGER, changed TEXT"
_SEP = "\x1f"  # between the names of the properties a decision changed (`Mark.changed`)
_CAUSE_COLUMNS = "cause_known, cause_id, cause_do, cause_at, cause_user"
_CAUSE = "cause_known INTEGER, cause_id TEXT, cause_do TEXT, cause_at TEXT, cause_user TEXT"


def _cause(row: tuple[Any, ...]) -> Cause | None:
    return Cause(row[1], row[2], _time(row[3]), row[4]) if row[0] else None


def _text(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None
