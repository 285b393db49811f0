"""The `expect:` checks of scenario files: models for what may be checked, and the comparison with a state."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, ValidationError, ValidationInfo, field_validator

from syncledger.ledger import vocabulary as v
from syncledger.ledger.rules import RULES
from syncledger.ledger.values import CrmState, CrmType, FieldValue, OutlookType
from syncledger.ledger.vocabulary import Time
from syncledger.ledger.world import World, links
from syncledger.projections.document import iso

from ..inputs import BadInputError, describe, shown

# crm:<record>, outlook:<user>/<item>, user:<name>, no part empty (an id may hold a slash; a user name before it not)
REFERENCE = re.compile(r"crm:.+|outlook:(?P<user>[^/]+)/.+|user:(?P<named>.+)", re.DOTALL)


class _Check(BaseModel):
    """A check: the properties listed are checked, the others not. `null` is checked only where the state
    document can hold it (`NULLABLE`: a record's regarding and start, an item's start); anywhere else a property
    is never null, and `null` is a value of the wrong type (bad input, not a check that silently passes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _no_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.NULLABLE:
            raise ValueError("never null here: give a value, or leave the property out")
        return value

    def listed(self, name: str) -> bool:
        """Whether the check lists the property (a listed `null` is checked too)."""
        return name in self.model_fields_set


class RecordCheck(_Check):
    NULLABLE = frozenset({"regarding", "start"})

    type: CrmType | None = None
    owner: str | None = None
    state: CrmState | None = None
    regarding: str | None = None
    start: Time | None = None
    fields: dict[str, FieldValue] | None = None
    shared_with: list[str] | None = None


class ItemCheck(_Check):
    NULLABLE = frozenset({"start"})
    type: OutlookType | None = None
    linked: StrictBool | StrictStr | None = None
    completed: bool | None = None
    start: Time | None = None
    fields: dict[str, FieldValue] | None = None


class LinkCheck(_Check):
    user: str | None = None
    item: str | None = None
    record: str | None = None
    state: Literal["linked", "unlinked"] | None = None
    origin: Literal["tracked", "synced"] | None = None
    rule: str | None = None


class Expectation(_Check):
    crm: dict[str, Literal["absent"] | RecordCheck] = {}
    outlook: dict[str, dict[str, Literal["absent"] | ItemCheck]] = {}
    links: list[LinkCheck] = []
    pending: dict[str, int] = {}
    why: dict[str, StrictStr | None] = {}


CHECKS: dict[str, tuple[str, type[BaseModel]]] = {
    "crm": ("a CRM record", RecordCheck),
    "outlook": ("an Outlook item", ItemCheck),
    "links": ("a link", LinkCheck),
}


def parse_expectation(raw: Any) -> Expectation:
    if not isinstance(raw, dict):
        raise BadInputError("expect: must be a mapping of checks (crm, outlook, links, pending, why)")
    unstorable = v.unstorable(raw, ("expect",))  # no such id is in the ledger, and PostgreSQL fails the query
    if unstorable is not None:
        raise BadInputError(f"{unstorable[0]}: {unstorable[1]}")
    try:
        expectation = Expectation.model_validate(raw)
    except ValidationError as e:
        raise BadInputError(_describe_check(e)) from None
    named = [(f"why: {ref}", rule) for ref, rule in expectation.why.items()]
    named += [(f"links[{n}].rule", k.rule) for n, k in enumerate(expectation.links, 1)]
    for where, rule in named:  # a rule no method has is a typo, as an unknown user is: bad input, not a failure
        if rule is not None and rule not in RULES:
            raise BadInputError(f"expect: {where}: unknown rule {shown(rule)} ('syncledger rules' lists them)")
    return expectation


def _describe_check(error: ValidationError) -> str:
    """What is wrong with a check, naming the kind of thing checked and what it takes: a check of an item is
    `absent` or a mapping of its properties, and `absent` is only one branch of that choice."""
    errors = error.errors()
    where = [e for e in errors if e["loc"] and e["loc"][0] in CHECKS]
    extra = next((e for e in errors if e["type"] == "extra_forbidden"), None)
    if extra is not None and extra["loc"][0] in CHECKS:
        what, model = CHECKS[str(extra["loc"][0])]
        valid = ", ".join(model.model_fields)
        return f"expect: unknown key {shown(str(extra['loc'][-1]))} in a check of {what} (valid: {valid})"
    if extra is not None and len(extra["loc"]) == 1:
        return f"expect: unknown key {shown(str(extra['loc'][0]))} (valid: {', '.join(Expectation.model_fields)})"
    shapes = [e for e in where if e["type"] == "model_type" and e["loc"][0] != "links"]
    if shapes and len(where) == 2:  # neither `absent` nor a mapping
        what, model = CHECKS[str(shapes[0]["loc"][0])]
        key = ".".join(str(p) for p in shapes[0]["loc"][:-1])
        got = shown(shapes[0]["input"])
        return f"expect.{key}: a check of {what} is absent or a mapping of {', '.join(model.model_fields)} (got {got})"
    if where and where[0]["type"] == "literal_error" and len(where) > 1:
        errors = [e for e in errors if e is not where[0]]  # `absent` was not meant: say what is wrong in the rest
        return describe(ValidationError.from_exception_data(error.title, errors), ("expect",))  # type: ignore[arg-type]
    return describe(error, ("expect",))


def _show(value: Any) -> str:
    if isinstance(value, datetime):
        return iso(value) or ""
    return repr(value)


def _compare(where: str, wanted: Any, found: Any, failures: list[str]) -> None:
    if wanted != found:
        failures.append(f"{where}: expected {_show(wanted)}, found {_show(found)}")


class Decisions(Protocol):
    def last_decision(self, ref: str) -> tuple[int, str] | None: ...


def evaluate(expectation: Expectation, world: World, index: Decisions) -> list[str]:
    """Every check that does not hold, as 'where: expected X, found Y'. Unknown users are bad input."""
    failures: list[str] = []
    for record_id, check in expectation.crm.items():
        record = world.records.get(record_id)
        where = f"crm.{record_id}"
        if isinstance(check, RecordCheck):
            for name in [check.owner, *(check.shared_with or [])]:
                if name is not None:
                    _user(world, name, f"{where}.{'owner' if name == check.owner else 'shared_with'}")
        if check == "absent" or record is None:
            _compare(
                where, "absent" if check == "absent" else "present", "absent" if record is None else "present", failures
            )
            continue
        assert isinstance(check, RecordCheck)
        for name in ("type", "owner", "state", "regarding", "start"):
            if check.listed(name):
                _compare(f"{where}.{name}", getattr(check, name), getattr(record, name), failures)
        for name, value in (check.fields or {}).items():
            _compare(f"{where}.fields.{name}", value, record.fields.get(name), failures)
        if check.shared_with is not None:
            _compare(f"{where}.shared_with", sorted(set(check.shared_with)), sorted(record.shared_with), failures)
    for user_name, items in expectation.outlook.items():
        user = _user(world, user_name)
        for item_id, item_check in items.items():
            item = user.items.get(item_id)
            where = f"outlook.{user_name}.{item_id}"
            if item_check == "absent" or item is None:
                _compare(
                    where,
                    "absent" if item_check == "absent" else "present",
                    "absent" if item is None else "present",
                    failures,
                )
                continue
            assert isinstance(item_check, ItemCheck)
            link = user.links_by_item.get(item_id)
            if item_check.linked is not None:
                if isinstance(item_check.linked, bool):
                    _compare(f"{where}.linked", item_check.linked, link is not None, failures)
                else:
                    _compare(f"{where}.linked", item_check.linked, link.record if link else False, failures)
            for name in ("type", "completed", "start"):
                if item_check.listed(name):
                    _compare(f"{where}.{name}", getattr(item_check, name), getattr(item, name), failures)
            for name, value in (item_check.fields or {}).items():
                _compare(f"{where}.fields.{name}", value, item.fields.get(name), failures)
    for n, link_check in enumerate(expectation.links, 1):
        if link_check.user is not None:
            _user(world, link_check.user, f"links[{n}].user")
        wanted = link_check.model_dump(exclude_none=True)
        rows = [
            {"user": k.user, "item": k.item, "record": k.record, "state": k.state, "origin": k.origin, "rule": k.rule}
            for k in links(world)
        ]
        if not any(all(row[key] == value for key, value in wanted.items()) for row in rows):
            near = [
                row
                for row in rows
                if row["item"] == wanted.get("item", row["item"]) and row["user"] == wanted.get("user", row["user"])
            ]
            failures.append(f"links[{n}]: expected a link {wanted}, found {near or 'none like it'}")
    for user_name, count in expectation.pending.items():
        _compare(f"pending.{user_name}", count, len(_user(world, user_name).pending), failures)
    for ref, rule in expectation.why.items():
        found = REFERENCE.fullmatch(ref)
        if found is None:
            raise BadInputError(f"expect: why: {shown(ref)} is not a reference (crm:<record> or outlook:<user>/<item>)")
        if (named := found["user"] or found["named"]) is not None:
            _user(world, named, f"why.{ref}")
        last = index.last_decision(ref)
        _compare(f"why.{ref}", rule, last[1] if last else None, failures)
    return failures


def _user(world: World, name: str, where: str = "") -> Any:
    """A user a check names: an undeclared one is bad input (a typo), not a failed check."""
    user = world.users.get(name)
    if user is None:
        raise BadInputError(f"expect: {where + ': ' if where else ''}unknown user {shown(name)}")
    return user
