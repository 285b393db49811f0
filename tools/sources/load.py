"""Reading the files of one command: each file's kind (detected from its content, or forced with `--from`), its
rows, and all of them merged by time (ties keep the command line's order, then the file's), kept on disk until
they are judged (`Rows`)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

import orjson

from syncledger.ledger import vocabulary as v
from syncledger.projections.spill import scratch_database

from ..actionlines import BOM, BadLineError, parse_line
from . import baseline, dataverse, m365
from .baseline import Baseline
from .errors import SourceError
from .people import People

KINDS = ("baseline", "dataverse", "m365", "actions")


@dataclass
class SourceFile:
    path: str
    name: str  # as provenance and the report name it
    kind: str
    rows: int = 0
    incomplete: bool = False


@dataclass(slots=True)
class Row:
    at: datetime
    order: tuple[int, int]  # (file, row): ties keep the command line's order, then the file's
    file: SourceFile
    number: int
    kind: str
    data: Any = field(default=None)  # a DataverseRow, an M365Row, an action, or a Baseline


def detect(data: bytes) -> str | None:
    """A file's kind from its content (SOURCES.md "Formats, ids, case"), or None."""
    body = data.removeprefix(BOM).lstrip()
    if body.startswith(b"{"):
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = None
        if isinstance(doc, dict):
            if "do" in doc:
                return "actions"
            if any(k in doc for k in ("records", "items", "links")):
                return "baseline"
            if isinstance(doc.get("value"), list):
                return "dataverse"
            return None
        first = body.split(b"\n", 1)[0].strip()
        try:
            line = orjson.loads(first)
        except orjson.JSONDecodeError:
            return None
        return "actions" if isinstance(line, dict) and "do" in line else None
    if m365.has_audit_data(data):
        return "m365"
    return None


def read(path: str) -> bytes:
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except OSError as e:
        raise SourceError(path, f"cannot read it: {e.strerror or e}") from None


WHOLE = 64 << 20  # a file up to this size is read at once to tell its kind; a larger one by its first MB
HEAD = 1 << 20


def _kind(path: str) -> tuple[str | None, bytes | None]:
    """A file's kind from its content, and the file itself when it was read whole to tell it (None when it was
    told from its head: a large CSV or action lines, which are then read as a stream)."""
    try:
        size = os.path.getsize(path)
    except OSError as e:
        raise SourceError(path, f"cannot read it: {e.strerror or e}") from None
    if size <= WHOLE:
        data = read(path)
        return detect(data), data
    with open(path, "rb") as stream:
        head = stream.read(HEAD)
    body = head.removeprefix(BOM).lstrip()
    if body.startswith(b'{"do"') or body.startswith(b'{ "do"'):
        return "actions", None
    if body.startswith(b"{"):  # one large JSON document: read whole, as it must be parsed whole anyway
        data = read(path)
        return detect(data), data
    return ("m365" if m365.has_audit_data(head) else None), None


def load(files: list[tuple[str, str | None]], people: People | None) -> tuple[list[SourceFile], Rows]:
    """Every file read and checked as input (not yet against the ledger), and their rows merged by time (`Rows`:
    kept in a temporary file, not in memory)."""
    sources: list[SourceFile] = []
    rows = Rows(sources)
    try:
        for index, (path, forced) in enumerate(files):
            found, data = _kind(path)
            kind = forced or found
            if kind is None and data is not None and data.removeprefix(BOM).lstrip()[:1] in (b"{", b"["):
                try:
                    orjson.loads(data.removeprefix(BOM))
                except orjson.JSONDecodeError as e:
                    raise SourceError(path, f"is not valid JSON ({e.msg}, line {e.lineno} column {e.colno})") from None
            if kind is None:
                raise SourceError(
                    path,
                    "is of no known kind (a baseline, a Dataverse audits page, a Microsoft 365 audit CSV or action "
                    "lines); give --from KIND if it is one",
                )
            name = os.path.basename(path) or path
            source = SourceFile(path, name, kind)
            sources.append(source)
            if kind != "actions" and people is None:
                raise SourceError(path, f"is a {kind} file: give --people people.yaml to say who is who")
            source.rows = rows.add(index, source, data, people)
            del data
    except BaseException:
        rows.close()
        raise
    return sources, rows


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
SPOOLED = 10_000  # rows written to the spool at a time
FETCHED = 2_000  # rows read back at a time


class Rows:
    """The rows of every file of one command, merged by time (a baseline first, then by time; ties keep the
    command line's order, then the file's). They are kept compactly in a private temporary SQLite file (the
    JSON of each row, keyed by that order), not in memory: a file is read once, checked row by row as it goes
    (a CSV as a stream), and the rows come back in order, a few thousand at a time, as often as they are
    iterated (a lost race, a bad row's count). An external sort: it costs a copy of the rows on disk, and no
    file is held in memory once read, whatever the number and size of the files, or how their times overlap."""

    def __init__(self, files: list[SourceFile]) -> None:
        self.files = files
        self.db = scratch_database()  # a temporary file, removed as it opens
        self.db.execute("BEGIN")
        self.db.execute(
            "CREATE TABLE rows (rank INTEGER, at INTEGER, file INTEGER, number INTEGER, id TEXT, body BLOB, "
            "PRIMARY KEY (rank, at, file, number)) WITHOUT ROWID"
        )
        self.baselines: dict[int, Baseline] = {}
        self.count = 0
        self.first: datetime | None = None  # the window: the earliest and latest row
        self.last: datetime | None = None

    def add(self, index: int, source: SourceFile, data: bytes | None, people: People | None) -> int:
        """Read one file's rows into the spool; how many."""
        batch: list[tuple[int, int, int, int, str | None, bytes | str | None]] = []
        count = 0
        for rank, at, number, row_id, body in _read(source, index, data, people, self.baselines):
            batch.append((rank, (at - EPOCH) // MICROSECOND, index, number, row_id, body))
            count += 1
            self.first = at if self.first is None or at < self.first else self.first
            self.last = at if self.last is None or at > self.last else self.last
            if len(batch) >= SPOOLED:
                self.db.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?)", batch)
                batch = []
        self.db.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?)", batch)
        self.count += count
        return count

    def __len__(self) -> int:
        return self.count

    @property
    def window(self) -> tuple[datetime, datetime] | None:
        return (self.first, self.last) if self.first is not None and self.last is not None else None

    def __iter__(self) -> Iterator[Row]:
        after: tuple[int, int, int, int] = (-1, 0, 0, 0)
        while page := self.db.execute(
            "SELECT rank, at, file, number, id, body FROM rows WHERE (rank, at, file, number) > (?, ?, ?, ?) "
            "ORDER BY rank, at, file, number LIMIT ?",
            (*after, FETCHED),
        ).fetchall():
            for rank, at_us, file, number, row_id, body in page:
                yield self._row(rank, EPOCH + at_us * MICROSECOND, file, number, row_id, body)
            after = page[-1][:4]

    def _row(self, rank: int, at: datetime, index: int, number: int, row_id: str | None, body: Any) -> Row:
        source = self.files[index]
        kind = source.kind
        if kind == "dataverse":
            return Row(at, (index, number), source, number, kind, dataverse.DataverseRow(number, at, str(row_id), body))
        if kind == "m365":
            return Row(at, (index, number), source, number, kind, m365.M365Row(number, at, body, str(row_id)))
        if kind == "baseline":
            return Row(at, (index, number), source, number, kind, self.baselines[index])
        return Row(at, (index, number), source, number, kind, parse_line(number, body))

    def close(self) -> None:
        self.db.close()


Read = tuple[int, datetime, int, str | None, bytes | str | None]  # (rank, time, row number, id, what is kept)


def _read(
    source: SourceFile, index: int, data: bytes | None, people: People | None, baselines: dict[int, Baseline]
) -> Iterator[Read]:
    if source.kind == "baseline":
        assert people is not None
        found = baseline.read_file(source.path, data if data is not None else read(source.path), people)
        baselines[index] = found
        yield 0, found.at, 1, None, None
        return
    if source.kind == "dataverse":
        whole = data if data is not None else read(source.path)
        page, source.incomplete = dataverse.read_file(source.path, source.path, whole)
        for r in page:
            yield 1, r.at, r.number, r.auditid, r.blob
        return
    if source.kind == "m365":
        with _opened(source.path, data) as stream:
            for m in m365.read_stream(source.path, stream):
                yield 1, m.at, m.number, m.row_id, m.text
        return
    with _opened(source.path, data) as stream:
        try:
            for number, line in enumerate(stream, 1):  # as `read_lines` reads them, keeping each line's text
                line = (line.removeprefix(BOM) if number == 1 else line).strip()
                if line:
                    action = parse_line(number, line)
                    assert action.at is not None
                    yield 1, action.at.astimezone(UTC), number, None, line
        except BadLineError as e:
            raise SourceError(source.path, e.problem, e.number) from None


@contextmanager
def _opened(path: str, data: bytes | None) -> Iterator[BinaryIO]:
    if data is not None:
        yield io.BytesIO(data)
        return
    try:
        stream = open(path, "rb")
    except OSError as e:
        raise SourceError(path, f"cannot read it: {e.strerror or e}") from None
    with stream:
        yield stream


def is_action(row: Row) -> bool:
    return isinstance(row.data, v.Action)


def with_kinds(args: list[str]) -> list[tuple[str, str | None]]:
    """The files of a command line, each with the kind `--from KIND` forces on the files after it (until the next
    `--from`), or None; ValueError for a wrong `--from` or another option among them."""
    out: list[tuple[str, str | None]] = []
    kind: str | None = None
    words = iter(args)
    for word in words:
        if word == "--from" or word.startswith("--from="):
            value = word.partition("=")[2] if "=" in word else next(words, None)
            if value not in KINDS:
                raise ValueError(f"--from takes {'|'.join(KINDS)}, not {value!r}")
            kind = value
        elif word.startswith("--") and word != "-":
            raise ValueError(f"no such option: {word}")
        else:
            out.append((word, kind))
    if not out:
        raise ValueError("give at least one FILE to import")
    return out
