"""Baseline files (SOURCES.md "The baseline"): what existed when the exports begin, read and checked here; the
event (`BaselineObserved`, `{"do": "baseline", "document": ...}`) and its fold are the ledger's."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from syncledger.ledger import vocabulary as v

from ..inputs import shown
from .errors import LooseError, SourceError
from .people import People
from .times import iso, source_time

STATES = {"contact": ("active", "inactive")}
ACTIVITY_STATES = ("active", "completed", "canceled")


@dataclass
class Baseline:
    at: datetime
    document: dict[str, Any]  # normalised: GUIDs lower case, times UTC
    users: list[str]  # every user it names, in people.yaml's order
    unlinked: int  # records in someone's filter without that user's link

    @property
    def id(self) -> str:
        canonical = orjson.dumps(self.document, option=orjson.OPT_SORT_KEYS)
        return f"baseline:{hashlib.sha256(canonical).hexdigest()}"


def read_file(name: str, data: bytes, people: People) -> Baseline:
    try:
        doc = orjson.loads(data.removeprefix(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as e:
        raise SourceError(name, f"is not valid JSON ({e.msg}, line {e.lineno} column {e.colno})") from None
    try:
        return parse(doc, people)
    except LooseError as e:
        raise SourceError(name, str(e)) from None


def _user(people: People, name: Any, what: str) -> str:
    if not isinstance(name, str) or name not in people.users:
        raise LooseError(f"{what} {shown(name)} is not a user of {people.file}")
    return name


def _time(value: Any, what: str) -> str:
    return iso(source_time(value, what))


def parse(doc: Any, people: People, default_at: datetime | None = None) -> Baseline:
    if not isinstance(doc, dict):
        raise LooseError("a baseline is a JSON object with at, records, items and links")
    unknown = sorted(set(doc) - {"at", "records", "items", "links"})
    if unknown:
        raise LooseError(f"unknown key {shown(unknown[0])} (valid: at, records, items, links)")
    if doc.get("at") is None and default_at is not None:
        at = default_at
    else:
        at = source_time(doc.get("at"), "at")
    named: set[str] = set()
    records: dict[str, dict[str, Any]] = {}
    for n, raw in enumerate(_list(doc, "records"), 1):
        record = _record(raw, f"records[{n}]", people, named)
        if record["id"] in records:
            raise LooseError(f"records[{n}]: record {shown(record['id'])} is given twice")
        records[record["id"]] = record
    items_doc = doc.get("items") or {}
    if not isinstance(items_doc, dict):
        raise LooseError("items is an object of user -> list of items")
    items: dict[str, dict[str, dict[str, Any]]] = {}
    for user, listed in items_doc.items():
        _user(people, user, "items: store")
        named.add(user)
        if not isinstance(listed, list):
            raise LooseError(f"items.{user} is a list of items")
        mine: dict[str, dict[str, Any]] = {}
        for n, raw in enumerate(listed, 1):
            item = _item(raw, f"items.{user}[{n}]")
            if item["id"] in mine:
                raise LooseError(f"items.{user}[{n}]: item {shown(item['id'])} is given twice")
            mine[item["id"]] = item
        items[user] = mine
    links = []
    by_item: set[tuple[str, str]] = set()
    by_record: set[tuple[str, str]] = set()
    for n, raw in enumerate(_list(doc, "links"), 1):
        where = f"links[{n}]"
        if not isinstance(raw, dict) or set(raw) - {"user", "item", "record", "origin"}:
            raise LooseError(f"{where}: a link has user, item, record and origin")
        user = _user(people, raw.get("user"), f"{where}: user")
        item_id, record_id = raw.get("item"), raw.get("record")
        if not isinstance(record_id, str) or record_id.lower() not in records:
            raise LooseError(f"{where}: record {shown(record_id)} is not a record of the baseline")
        record_id = record_id.lower()
        if not isinstance(item_id, str) or item_id not in items.get(user, {}):
            raise LooseError(f"{where}: item {shown(item_id)} is not an item of {user}'s in the baseline")
        if v.outlook_type_of(records[record_id]["type"]) != items[user][item_id]["type"]:
            raise LooseError(
                f"{where}: a {items[user][item_id]['type']} cannot be linked to a {records[record_id]['type']}"
            )
        if raw.get("origin") not in ("tracked", "synced"):
            raise LooseError(f"{where}: origin is tracked or synced, not {shown(raw.get('origin'))}")
        if (user, item_id) in by_item or (user, record_id) in by_record:
            raise LooseError(f"{where}: {user} has one link per item and per record")
        by_item.add((user, item_id))
        by_record.add((user, record_id))
        links.append({"user": user, "item": item_id, "record": record_id, "origin": raw["origin"]})
    document = {
        "at": iso(at),
        "records": list(records.values()),
        "items": {user: list(mine.values()) for user, mine in items.items()},
        "links": links,
    }
    order = [name for name in people.users if name in named]
    return Baseline(at, document, order, _unlinked(records, by_record, people))


def _list(doc: dict[str, Any], key: str) -> list[Any]:
    found = doc.get(key) or []
    if not isinstance(found, list):
        raise LooseError(f"{key} is a list")
    return found


def _fields(raw: Any, where: str) -> dict[str, Any]:
    fields = raw.get("fields") or {}
    if not isinstance(fields, dict) or not all(isinstance(k, str) and k for k in fields):
        raise LooseError(f"{where}.fields is an object of field names to values")
    return fields


def _record(raw: Any, where: str, people: People, named: set[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise LooseError(f"{where}: a record is an object")
    extra = sorted(set(raw) - {"id", "type", "owner", "state", "fields", "start", "shared_with", "regarding"})
    if extra:
        raise LooseError(f"{where}: unknown key {shown(extra[0])}")
    rid = raw.get("id")
    if not isinstance(rid, str) or not rid:
        raise LooseError(f"{where}: id is missing")
    kind = raw.get("type")
    if kind not in v.CRM_TYPES:
        raise LooseError(f"{where}: type {shown(kind)} (valid: {', '.join(v.CRM_TYPES)})")
    owner = _user(people, raw.get("owner"), f"{where}: owner")
    named.add(owner)
    state = raw.get("state", "active")
    if state not in STATES.get(kind, ACTIVITY_STATES):
        raise LooseError(f"{where}: state {shown(state)} is not a state of a {kind}")
    record: dict[str, Any] = {"id": rid.lower(), "type": kind, "owner": owner, "state": state}
    record["fields"] = _fields(raw, where)
    if raw.get("start") is not None:
        if kind != "appointment":
            raise LooseError(f"{where}: start is only for appointments")
        record["start"] = _time(raw["start"], f"{where}.start")
    shared = raw.get("shared_with") or []
    if not isinstance(shared, list):
        raise LooseError(f"{where}: shared_with is a list of users")
    record["shared_with"] = [_user(people, u, f"{where}: shared_with") for u in shared]
    named.update(record["shared_with"])
    if raw.get("regarding") is not None:
        if kind != "email" or not isinstance(raw["regarding"], str):
            raise LooseError(f"{where}: regarding is an e-mail's record id")
        record["regarding"] = raw["regarding"].lower()
    return record


def _item(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise LooseError(f"{where}: an item is an object")
    extra = sorted(set(raw) - {"id", "type", "fields", "start", "completed"})
    if extra:
        raise LooseError(f"{where}: unknown key {shown(extra[0])}")
    iid = raw.get("id")
    if not isinstance(iid, str) or not iid:
        raise LooseError(f"{where}: id is missing")
    kind = raw.get("type")
    if kind not in v.OUTLOOK_TYPES:
        raise LooseError(f"{where}: type {shown(kind)} (valid: {', '.join(v.OUTLOOK_TYPES)})")
    item: dict[str, Any] = {"id": iid, "type": kind, "fields": _fields(raw, where)}
    if raw.get("start") is not None:
        if kind != "appointment":
            raise LooseError(f"{where}: start is only for appointments")
        item["start"] = _time(raw["start"], f"{where}.start")
    completed = raw.get("completed")
    if completed is not None:
        if not isinstance(completed, bool) or (completed and kind != "task"):
            raise LooseError(f"{where}: completed is true or false, and only for tasks")
        if kind == "task":
            item["completed"] = completed
    return item


def _unlinked(records: dict[str, dict[str, Any]], linked: set[tuple[str, str]], people: People) -> int:
    count = 0
    for rid, record in records.items():
        if record["type"] == "email" or (record["type"] == "contact" and record["state"] != "active"):
            continue
        users = [record["owner"]]
        users += [u for u in record["shared_with"] if people.users[u].sync_filter == "owned_and_shared"]
        if any((u, rid) not in linked for u in users):
            count += 1
    return count
