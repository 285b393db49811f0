"""The Microsoft 365 audit log (SOURCES.md "Microsoft 365 audit log"): CSV exports of the audit search, in either
header form; only the `AuditData` column is read. What a row says is read here; what the ledger makes of it (an
item it has never seen, a later stage of a deletion, a discrepancy) is `judge`'s."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

import orjson

from .errors import LooseError, SourceError
from .times import source_time

OPERATIONS = {"Create", "Update", "MoveToDeletedItems", "SoftDelete", "HardDelete"}
LATER_STAGES = {"SoftDelete", "HardDelete"}
EXCHANGE_ITEM_TYPES = {2, 3}

csv.field_size_limit(1 << 30)


@dataclass(slots=True)
class M365Row:
    """One row's AuditData, kept as its JSON text until it is judged."""

    number: int
    at: datetime
    text: str
    row_id: str

    @property
    def data(self) -> dict[str, Any]:
        found: dict[str, Any] = orjson.loads(self.text)
        return found

    @property
    def id(self) -> str:
        return f"m365:{self.row_id.lower()}"


def has_audit_data(data: bytes) -> bool:
    """Whether the file is a CSV with an `AuditData` column (detection)."""
    head = _text(data[:65536], "")
    for line in head.splitlines()[:2]:
        if line.startswith("#TYPE"):
            continue
        return any(c.strip().strip('"').lower() == "auditdata" for c in next(csv.reader([line]), []))
    return False


def _text(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        if name:
            raise SourceError(name, "is not UTF-8 text") from None
        return data.decode("utf-8-sig", errors="replace")


def read_file(name: str, data: bytes) -> list[M365Row]:
    return list(read_stream(name, io.BytesIO(data)))


def read_stream(name: str, stream: BinaryIO) -> Iterator[M365Row]:
    """The rows of one CSV, read as a stream (a file of a million rows is never in memory whole)."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        yield from _rows(name, text)
    except UnicodeDecodeError:
        raise SourceError(name, "is not UTF-8 text") from None
    finally:
        text.detach()


def _rows(name: str, text: io.TextIOWrapper) -> Iterator[M365Row]:
    first = text.readline()
    lines = text if first.startswith("#TYPE") else itertools.chain([first], text)
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise SourceError(name, "is not a CSV with an AuditData column") from None
    names = [h.strip().strip('"').lower() for h in header]
    if "auditdata" not in names:
        raise SourceError(name, "has no AuditData column")
    column = names.index("auditdata")
    number = 0
    try:
        for cells in reader:
            if not cells or all(not c.strip() for c in cells):
                continue
            number += 1
            if len(cells) <= column:
                raise SourceError(name, "has no AuditData value", number)
            try:
                parsed = orjson.loads(cells[column])
            except orjson.JSONDecodeError as e:
                raise SourceError(name, f"AuditData is not valid JSON ({e.msg})", number) from None
            if not isinstance(parsed, dict):
                raise SourceError(name, "AuditData is not a JSON object", number)
            try:
                at = source_time(parsed.get("CreationTime"), "AuditData.CreationTime")
            except LooseError as e:
                raise SourceError(name, str(e), number) from None
            row_id = parsed.get("Id")
            yield M365Row(number, at, cells[column], row_id if isinstance(row_id, str) else "")
    except csv.Error as e:
        raise SourceError(name, f"is not valid CSV ({e})", number + 1) from None


@dataclass(frozen=True)
class Touched:
    """One item a row names: its id as the log writes it, its label and folder."""

    id: str
    subject: str | None
    folder: str


def folder_type(path: str) -> str:
    low = path.lstrip("\\/").lower()
    if low.startswith("calendar"):
        return "appointment"
    if low.startswith("contacts"):
        return "contact"
    if low.startswith("tasks"):
        return "task"
    return "email"


def items_of(data: dict[str, Any]) -> list[Touched]:
    found = data.get("AffectedItems")
    if found is None:
        item = data.get("Item")
        if item is None:
            raise LooseError("the row names no item (no Item nor AffectedItems)")
        found = [item]
    if not isinstance(found, list) or not found:
        raise LooseError("AffectedItems must be a list of items")
    out = []
    for item in found:
        if not isinstance(item, dict) or not isinstance(item.get("Id"), str) or not item["Id"]:
            raise LooseError("an item without its Id")
        subject = item.get("Subject")
        parent = item.get("ParentFolder")
        path = parent.get("Path") if isinstance(parent, dict) else None
        out.append(Touched(item["Id"], subject if isinstance(subject, str) else None, str(path or "")))
    return out


NAMED_TYPES = {"exchangeitem": 2, "exchangeitemgroup": 3}  # some exports write the enumeration's name


def record_type(data: dict[str, Any]) -> int | None:
    kind = data.get("RecordType")
    if isinstance(kind, str) and kind.isdigit():
        return int(kind)
    if isinstance(kind, str):
        return NAMED_TYPES.get(kind.strip().lower(), -1)
    return kind if isinstance(kind, int) else None
