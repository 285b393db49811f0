"""Dataverse audit (SOURCES.md "Dataverse audit"): pages of the Web API's `audits` entity set, each row's
`AuditDetail` merged in as `details`, turned into CRM actions. What a row says is read here, from the row alone;
what the ledger makes of it (a record it does not know, a discrepancy) is `judge`'s."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from .errors import LooseError, SourceError
from .people import People
from .times import iso, source_time

TABLES = {"contact", "appointment", "task", "email", "phonecall", "letter", "fax"}
CODES = {2: "contact", 4201: "appointment", 4212: "task", 4202: "email", 4210: "phonecall", 4207: "letter", 4204: "fax"}
ACTIVITY_STATES = {0: "active", 3: "active", 1: "completed", 2: "canceled"}
CONTACT_STATES = {0: "active", 1: "inactive"}
STATE_ACTION = {"completed": "crm.complete", "canceled": "crm.cancel", "inactive": "crm.deactivate"}
ATTRIBUTE_ACTIONS = {1, 2, 3, 4, 5, 13, 17, 18, 41, 47}
SHARE_ACTIONS = {14, 48, 49}
DETAILS_REQUIRED = {1, 2, 13, *SHARE_ACTIONS}  # optional for the others (41 and 47 without one: no change)
NOT_FIELDS = {"statuscode", "_ownerid_value", "statecode", "_regardingobjectid_value"}


@dataclass(slots=True)
class DataverseRow:
    """One audit row, kept as its JSON bytes until it is judged (a million rows as dicts would not fit)."""

    number: int
    at: datetime
    auditid: str
    blob: bytes

    @property
    def raw(self) -> dict[str, Any]:
        found: dict[str, Any] = orjson.loads(self.blob)
        return found

    @property
    def id(self) -> str:
        return f"dataverse:{self.auditid.lower()}"


def read_file(path: str, name: str, data: bytes) -> tuple[list[DataverseRow], bool]:
    """The rows of one page (in its order), and whether it has an `@odata.nextLink` (the export goes on)."""
    doc = _json(path, data)
    rows = doc.get("value") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise SourceError(name, "a Dataverse audit page is a JSON object with a 'value' list")
    out = []
    for number, raw in enumerate(rows, 1):
        if not isinstance(raw, dict):
            raise SourceError(name, "an audit row is a JSON object", number)
        try:
            at = source_time(raw.get("createdon"), "createdon")
            if not isinstance(raw.get("auditid"), str) or not raw["auditid"]:
                raise LooseError("auditid is missing or not text")
        except LooseError as e:
            raise SourceError(name, str(e), number) from None
        out.append(DataverseRow(number, at, raw["auditid"], orjson.dumps(raw)))
    return out, bool(doc.get("@odata.nextLink"))


def _json(path: str, data: bytes) -> Any:
    try:
        return orjson.loads(data.removeprefix(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as e:
        raise SourceError(path, f"is not valid JSON ({e.msg}, line {e.lineno} column {e.colno})") from None


def table_of(raw: dict[str, Any]) -> str | None:
    code = raw.get("objecttypecode")
    if isinstance(code, int) and not isinstance(code, bool):
        return CODES.get(code)
    if isinstance(code, str):
        low = code.strip().lower()
        if low.isdigit():
            return CODES.get(int(low))
        return low if low in TABLES else None
    raise LooseError("objecttypecode is missing or not a table name or code")


def detail_kind(details: Any) -> str | None:
    if details is None:
        return None
    if not isinstance(details, dict):
        raise LooseError("details must be an AuditDetail object")
    kind = str(details.get("@odata.type", "")).rsplit(".", 1)[-1]
    if kind == "AttributeAuditDetail" or (not kind and ("OldValue" in details or "NewValue" in details)):
        return "attribute"
    if kind == "ShareAuditDetail" or (not kind and "Principal" in details):
        return "share"
    return "other"


def text(value: Any) -> str | None:
    """A column's value as the ledger keeps a field: text (numbers and booleans in JSON form, times UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return iso(source_time(value, "value")) if _looks_like_time(value) else value
        except LooseError:
            return value
    return orjson.dumps(value).decode()


def _looks_like_time(value: str) -> bool:
    return len(value) >= 19 and value[4] == "-" and value[7] == "-" and value[10] in "T " and value[13] == ":"


def privileges(value: Any, what: str) -> set[str]:
    if value is None:
        return set()
    if not isinstance(value, str):
        raise LooseError(f"{what} must be text (privilege names separated by commas)")
    names = {p.strip() for p in value.split(",")}
    return {p for p in names if p and p != "None"}


@dataclass
class Mapped:
    """What a row says, before the ledger judges it: a reason to skip it, or actions (as mappings: the judge adds
    ids, users' names and provenance), and for a row made by synchronisation what it changed."""

    skip: str | None = None
    actions: list[dict[str, Any]] | None = None
    by_sync: bool = False


def map_row(row: DataverseRow, people: People) -> Mapped:
    """Judge the row alone (SOURCES.md "Judging a row", point 1) and map it; `LooseError` for bad input,
    `UnknownPerson` for a user GUID people.yaml does not name."""
    raw = row.raw
    table = table_of(raw)
    if table is None:
        return Mapped("another table")
    action = raw.get("action")
    if isinstance(action, str) and action.strip().isdigit():  # some exports write the option set's value as text
        action = int(action)
    if not isinstance(action, int) or isinstance(action, bool):
        raise LooseError("action is missing or not a number")
    if action not in ATTRIBUTE_ACTIONS | SHARE_ACTIONS:
        return Mapped("another operation")
    details = raw.get("details")
    kind = detail_kind(details)
    if kind is None and action in DETAILS_REQUIRED:
        raise LooseError(f"action {action} needs its details (RetrieveAuditDetails merged in as 'details')")
    if kind == "other" or (kind == "share") != (action in SHARE_ACTIONS) and kind is not None:
        return Mapped("another detail type")
    record = raw.get("_objectid_value")
    if not isinstance(record, str) or not record:
        raise LooseError("_objectid_value is missing or not text")
    record = record.lower()
    user = raw.get("_userid_value")
    if not isinstance(user, str) or not user:
        raise LooseError("_userid_value is missing or not text")
    caller = raw.get("_callinguserid_value")
    by_sync = people.is_sync_caller(user) or (isinstance(caller, str) and people.is_sync_caller(caller))
    actor = "synchronisation" if by_sync else _crm_person(people, user)
    if kind == "share":
        assert isinstance(details, dict)
        mapped = _share(details, actor, record, people)
    else:
        mapped = _attributes(action, table, details, actor, record, people, row.id)
    mapped.by_sync = by_sync
    return mapped


class UnknownPerson(LookupError):
    def __init__(self, kind: str, key: str) -> None:
        super().__init__(key)
        self.kind, self.key = kind, key


def _crm_person(people: People, guid: str) -> str:
    name = people.crm_user(guid)
    if name is None:
        raise UnknownPerson("CRM user", guid.lower())
    return name


def _share(details: dict[str, Any], actor: str, record: str, people: People) -> Mapped:
    principal = details.get("Principal")
    if not isinstance(principal, dict):
        raise LooseError("a ShareAuditDetail needs its Principal")
    guid = principal.get("systemuserid") or principal.get("ownerid")
    if not isinstance(guid, str) or not guid:
        raise LooseError("the share's Principal has no systemuserid or ownerid")
    old = privileges(details.get("OldPrivileges"), "OldPrivileges")
    new = privileges(details.get("NewPrivileges"), "NewPrivileges")
    if ("ReadAccess" in new) == ("ReadAccess" in old):
        return Mapped("no change")
    name = people.crm_user(guid)
    if name is None:
        return Mapped("another principal")
    do = "crm.share" if "ReadAccess" in new else "crm.unshare"
    return Mapped(actions=[{"do": do, "actor": actor, "record": record, "with": name}])


def _values(details: Any, key: str) -> dict[str, Any]:
    if details is None:
        return {}
    found = details.get(key)
    if found is None:
        return {}
    if not isinstance(found, dict):
        raise LooseError(f"details.{key} must be an object of column values")
    return {k: val for k, val in found.items() if "@" not in k}


def _attributes(action: int, table: str, details: Any, actor: str, record: str, people: People, row_id: str) -> Mapped:
    old, new = _values(details, "OldValue"), _values(details, "NewValue")
    start_column = "scheduledstart" if table == "appointment" else None
    if action == 1:
        return _create(table, new, actor, record, people, start_column)
    if action == 3:
        return Mapped(actions=[{"do": "crm.delete", "actor": actor, "record": record}])
    actions: list[dict[str, Any]] = []
    changed: dict[str, Any] = {}
    start: str | None = None
    regarding: str | None = None
    for column in dict.fromkeys([*new, *old]):
        before, after = text(old.get(column)), text(new.get(column)) if column in new else None
        if column not in new and column not in ("_ownerid_value", "statecode"):
            after = None  # Dataverse leaves a cleared column out of NewValue
        if before == after or column in ("statuscode",):
            continue
        if column == start_column:
            start = after
        elif column == "_regardingobjectid_value" and table == "email":
            regarding = after.lower() if after else ""  # cleared: "" (SOURCES.md: null removes it)
        elif column in NOT_FIELDS:
            continue
        else:
            changed[column] = after
    update: dict[str, Any] = {"do": "crm.update", "actor": actor, "record": record}
    if changed:
        update["fields"] = changed
    if start is not None:
        update["start"] = start
    if regarding is not None:
        update["regarding"] = regarding
    if len(update) > 3:
        actions.append(update)
    skip: str | None = None
    owner_new = new.get("_ownerid_value")
    if isinstance(owner_new, str) and owner_new.lower() != str(old.get("_ownerid_value") or "").lower():
        name = people.crm_user(owner_new)
        if name is None:
            return Mapped("another principal")
        actions.append({"do": "crm.assign", "actor": actor, "record": record, "to": name})
    state_new = new.get("statecode")
    if "statecode" in new and text(state_new) != text(old.get("statecode")):
        state = _state(table, state_new)
        if state is None:
            skip = "reopened"
        else:
            actions.append({"do": _state_action(state), "actor": actor, "record": record})
    elif details is None or not any(a["do"] in _STATE_ACTIONS for a in actions):
        fixed = _FIXED.get(action)
        if fixed is not None and (details is None or not actions):
            do = fixed(table)
            if do is not None:
                actions.append({"do": do, "actor": actor, "record": record})
    if not actions:
        return Mapped(skip or "no change")
    return Mapped(actions=actions)


_STATE_ACTIONS = {"crm.complete", "crm.cancel", "crm.activate", "crm.deactivate"}
_FIXED: dict[int, Callable[[str], str | None]] = {
    4: lambda table: "crm.activate" if table == "contact" else None,
    5: lambda table: "crm.deactivate" if table == "contact" else None,
    17: lambda table: "crm.cancel" if table != "contact" else None,
    18: lambda table: "crm.complete" if table != "contact" else None,
}


def _state(table: str, code: Any) -> str | None:
    """The state a `statecode` sets; None for an activity made active again (reopened: no ledger action)."""
    if isinstance(code, str) and code.strip().isdigit():
        code = int(code)
    states = CONTACT_STATES if table == "contact" else ACTIVITY_STATES
    if not isinstance(code, int) or isinstance(code, bool) or code not in states:
        raise LooseError(f"statecode {code!r} is not a state of a {table}")
    state = states[code]
    if state == "active" and table != "contact":
        return None
    return state


def _state_action(state: str) -> str:
    return STATE_ACTION.get(state, "crm.activate")


def _create(
    table: str, new: dict[str, Any], actor: str, record: str, people: People, start_column: str | None
) -> Mapped:
    owner_guid = new.get("_ownerid_value")
    owner = actor
    if isinstance(owner_guid, str) and owner_guid:
        found = people.crm_user(owner_guid)
        if found is None:
            return Mapped("another principal")
        owner = found
    create: dict[str, Any] = {"do": "crm.create", "actor": actor, "record": record, "type": table, "owner": owner}
    fields = {}
    for column, value in new.items():
        if column in NOT_FIELDS or column == start_column:
            continue
        shown = text(value)
        if shown is not None:
            fields[column] = shown
    if fields:
        create["fields"] = fields
    if start_column is not None and text(new.get(start_column)) is not None:
        create["start"] = text(new.get(start_column))
    regarding = new.get("_regardingobjectid_value")
    if table == "email" and isinstance(regarding, str) and regarding:
        create["regarding"] = regarding.lower()
    actions = [create]
    if "statecode" in new:
        state = _state(table, new["statecode"])
        if state is not None and state != "active":
            actions.append({"do": _state_action(state), "actor": actor, "record": record})
    return Mapped(actions=actions)
