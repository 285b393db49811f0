"""Reading the files of one command: each file's kind (detected from its content, or forced with `--from`), its
rows, and all of them merged by time (ties keep the command line's order, then the file's)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from syncledger.ledger import vocabulary as v

from ..actionlines import BOM, BadLineError, read_lines
from . import baseline, dataverse, m365
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


def load(files: list[tuple[str, str | None]], people: People | None) -> tuple[list[SourceFile], list[Row]]:
    """Every file read and checked as input (not yet against the ledger), and their rows merged by time."""
    sources: list[SourceFile] = []
    rows: list[Row] = []
    for index, (path, forced) in enumerate(files):
        data = read(path)
        kind = forced or detect(data)
        if kind is None and data.removeprefix(BOM).lstrip()[:1] in (b"{", b"["):
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
        found = _rows(source, index, data, people)
        source.rows = len(found)
        rows += found
    rows.sort(key=_order)
    return sources, rows


def _order(row: Row) -> tuple[int, datetime, tuple[int, int]]:
    return (0 if row.kind == "baseline" else 1, row.at, row.order)


def _rows(source: SourceFile, index: int, data: bytes, people: People | None) -> list[Row]:
    if source.kind == "baseline":
        assert people is not None
        found = baseline.read_file(source.path, data, people)
        return [Row(found.at, (index, 1), source, 1, "baseline", found)]
    if source.kind == "dataverse":
        page, source.incomplete = dataverse.read_file(source.path, source.path, data)
        return [Row(r.at, (index, r.number), source, r.number, "dataverse", r) for r in page]
    if source.kind == "m365":
        return [Row(r.at, (index, r.number), source, r.number, "m365", r) for r in m365.read_file(source.path, data)]
    try:
        actions = list(read_lines(data.splitlines()))
    except BadLineError as e:
        raise SourceError(source.path, e.problem, e.number) from None
    out = []
    for number, action in actions:
        assert action.at is not None
        out.append(Row(action.at, (index, number), source, number, "actions", action))
    return out


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
