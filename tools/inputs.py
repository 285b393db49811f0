"""Turning outside input (scenario steps, JSON lines, command-line verbs and values) into actions, times and
positions, with one-line errors."""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from syncledger.ledger import vocabulary as v

from .output import one_line

Point = int | datetime  # a place in the ledger: a position, or a time


class BadInputError(ValueError):
    """Input that cannot become an action or a check; the message names what is wrong (not where)."""


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxdict, _SHORT.maxlist, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = 2, 3, 3, 60, 60, 40


def shown(value: Any, limit: int = 80) -> str:
    """A value from outside as a message shows it: quoted text with undecodable bytes escaped and a long middle
    elided, anything else a short repr, whatever its size or depth (alias bombs included)."""
    if isinstance(value, str):
        return f"'{one_line(value, limit)}'"
    return _SHORT.repr(value)


UNION_BRANCHES = {"ItemCheck", "RecordCheck"}  # models that share a place with `absent` in a check


def _keys(loc: list[str]) -> list[str]:
    """Pydantic's error location without the steps that name a branch of a union (`literal['absent']`, `bool`
    at the end, a check's model anywhere): only the keys of the input."""
    while loc and (loc[-1].startswith(("literal[", "function-")) or loc[-1] in ("bool", "str", "int", "float")):
        loc = loc[:-1]
    return [part for part in loc if part not in UNION_BRANCHES]


def valid_keys(cls: type[BaseModel]) -> list[str]:
    """The keys an input model takes, as the input spells them (`with`, not `with_`); not the ledger's own."""
    hidden = {"at", "id", "queued", "do"}
    return [f.alias or name for name, f in cls.model_fields.items() if name not in hidden]


def _choices(annotation: Any) -> list[str]:
    """The values a key takes when they are a closed set (Literal values, true/false), else []."""
    if annotation is bool:
        return ["true", "false"]
    if get_origin(annotation) is Literal:
        return [str(value) for value in get_args(annotation)]
    if get_origin(annotation) in (Union, UnionType, Annotated):
        return [c for arg in get_args(annotation) if arg is not type(None) for c in _choices(arg)]
    return []


PLACEHOLDERS = {"actor": "USER", "owner": "USER", "to": "USER", "with": "USER", "regarding": "RECORD"}


def verb_usage(cls: type[BaseModel]) -> str:
    """`actor=ACTOR record=RECORD [fields.NAME=VALUE] [start=TIME]`: the keys of one verb as `syncledger do`
    takes them, read from its model (so that the help cannot drift from what is accepted)."""
    hidden = {"at", "id", "queued", "do"}
    words = []
    for name, info in cls.model_fields.items():
        if name in hidden:
            continue
        key = info.alias or name
        choices = _choices(info.annotation)
        if choices:
            word = f"{key}={'|'.join(choices)}"
        elif get_origin(info.annotation) is dict:
            word = f"{key}.NAME=VALUE"
        elif "datetime" in str(info.annotation).lower():
            word = f"{key}=TIME"
        else:
            word = f"{key}={PLACEHOLDERS.get(key, key.upper())}"
        words.append(word if info.is_required() else f"[{word}]")
    return " ".join(words)


def verb_table() -> list[str]:
    """One line per verb with its keys, for `syncledger do --help`."""
    width = max(map(len, v.ACTION_CLASSES))
    return [f"{do:<{width}}  {verb_usage(cls)}" for do, cls in v.ACTION_CLASSES.items()]


def option_values(name: str) -> list[str] | None:
    """The values a user option takes, from the vocabulary's `user.add` (None for an unknown option)."""
    found = v.UserAdded.model_fields.get(name)
    if found is None or name == "user":
        return None
    return _choices(found.annotation) or None


def describe(error: ValidationError, prefix: tuple[str | int, ...] = ()) -> str:
    """The problem of a pydantic error that says most, in one line a person can act on: an unknown key before
    the missing key it may be a typo of."""
    errors = error.errors()
    e = next((x for x in errors if x["type"] == "extra_forbidden"), errors[0])
    loc = [str(p) for p in e["loc"]]
    kind = e["type"]
    if kind == "union_tag_invalid":
        tag = e["input"].get("do") if isinstance(e["input"], dict) else e["input"]
        return f"unknown action {shown(tag)} (valid: {', '.join(v.ACTION_CLASSES)})"
    if kind == "union_tag_not_found":
        return "missing key 'do' (the action)"
    action = v.ACTION_CLASSES.get(loc[0]) if loc else None
    if action is not None:
        loc = loc[1:]  # the discriminated union's tag says nothing the reader does not know
    loc = _keys(loc)
    key = ".".join([*(str(p) for p in prefix), *loc]) or "value"
    if kind == "unstorable":  # the message names the key inside the action already
        return f"{'.'.join(map(str, prefix))}.{e['msg']}" if prefix else str(e["msg"])
    if kind == "missing":
        return f"missing key '{key}'"
    if kind == "extra_forbidden":
        valid = f" (valid: {', '.join(valid_keys(action))})" if action is not None and len(loc) == 1 else ""
        return f"unknown key {shown(key)}{valid}"  # a long key elided, so that the valid ones stay in view
    if kind == "literal_error":
        expected = e.get("ctx", {}).get("expected", "")
        valid = ", ".join(part.strip(" '") for part in expected.replace(" or ", ",").split(","))
        return f"unknown {key} {shown(e['input'])} (valid: {valid})"
    message = e["msg"].removeprefix("Value error, ")
    return f"{key}: {message[0].lower()}{message[1:]} (got {shown(e['input'])})"


def parse_action(raw: Any) -> v.Action:
    """An action from a mapping with a `do:` key (a scenario step, a JSON line, a command-line verb)."""
    if not isinstance(raw, dict):
        raise BadInputError(f"an action must be a mapping with a 'do' key, not {type(raw).__name__}")
    if "queued" in raw:
        raise BadInputError("unknown key 'queued'")
    if not isinstance(raw.get("do", ""), str):  # pydantic would spell out the whole value in its message
        raise BadInputError(f"do must be the name of an action, not {type(raw['do']).__name__}")
    try:
        action = v.ACTION_ADAPTER.validate_python(raw)
    except ValidationError as e:
        wrong_value = "value" in raw and any(x["loc"][:2] == ("option", "value") for x in e.errors())
        allowed = option_values(str(raw.get("name"))) if wrong_value else None
        if allowed is not None:  # the option's name says which values are valid
            raise BadInputError(f"{raw['name']} must be {' or '.join(allowed)} (got {shown(raw['value'])})") from None
        raise BadInputError(describe(e)) from None
    assert isinstance(action, v.Action)  # the adapter's union holds only actions
    return action


def parse_time(text: str, what: str = "time") -> datetime:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadInputError(f"{what} {shown(text)} is not an ISO 8601 time (e.g. 2026-03-02T11:00:00Z)") from None
    if t.tzinfo is None:
        raise BadInputError(f"{what} {shown(text)} has no time zone (add Z or +01:00)")
    return representable_time(t, what)


def representable_time(t: datetime, what: str = "time") -> datetime:
    """A time the ledger can keep and show (`vocabulary.representable`), or `BadInputError` naming it."""
    try:
        return v.representable(t)
    except ValueError as e:
        raise BadInputError(f"{what} {e}") from None


# --------------------------------------------------------------------------------------- the typo guard

AHEAD = timedelta(days=365)


@dataclass(frozen=True)
class Horizon:
    """How far ahead a time may lie: a year past both the ledger's last event and the clock, unless `--future`
    says the time is meant. One typo (2062 for 2026, or 9999-12-31) would otherwise freeze the ledger's time:
    every later action without a time, and every import, would go backwards. `now` is the clock as the command
    line read it; nothing in the ledger reads a clock."""

    now: datetime
    future: bool = False

    def check(self, t: datetime | None, last: datetime | None, what: str) -> None:
        if t is None or self.future:
            return
        known = max(self.now, last) if last is not None else self.now
        if t > known + AHEAD:
            since = f"the ledger's last event ({_iso(last)}) and " if last is not None else ""
            raise BadInputError(
                f"{what} {_iso(t)} is more than a year after {since}the clock ({_iso(self.now)}): "
                "a typo? give --future if that time is meant"
            )


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_position(text: str) -> int | None:
    """A position given as plain ASCII digits (not `²`, not a 5,000-digit number), else None."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def parse_point(text: str, what: str = "time") -> Point:
    """A position (digits) or an ISO 8601 time with a time zone: what `--since`, `--from`, `diff A B` take."""
    position = parse_position(text)
    if position is not None:
        return position
    try:
        return parse_time(text, what)
    except BadInputError as e:
        raise BadInputError(f"{e}, nor a position") from None


_NOT_ARGUMENTS = {  # keys of the action that `do` sets itself: an argument would be silently overwritten
    "do": "the action is the verb, given once",
    "at": "the time is given with --at",
}


def parse_pairs(verb: str, pairs: list[str]) -> dict[str, Any]:
    """`syncledger do VERB key=value...` as the mapping of an action; dotted keys nest (fields.phone=555)."""
    raw: dict[str, Any] = {"do": verb}
    given: set[str] = set()
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadInputError(f"{shown(pair)} is not key=value (e.g. record=c1, fields.phone=555)")
        if key in _NOT_ARGUMENTS:
            raise BadInputError(f"unknown argument '{key}=': {_NOT_ARGUMENTS[key]}")
        if key in given:  # a second value would silently win
            raise BadInputError(f"{shown(key)} is given twice (each key once)")
        given.add(key)
        path = key.split(".")
        target = raw
        for part in path[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise BadInputError(f"{shown(key)} mixes a value and nested keys")
        if path[-1] in target:  # `fields=x` after `fields.a=1`, or the other way round
            raise BadInputError(f"{shown(key)} mixes a value and nested keys")
        # values are text (ids, field values, ISO times); only the options' true and false are not
        flag = (
            {"true": True, "false": False}.get(value) if path[0] not in ("fields", "user", "item", "record") else None
        )
        target[path[-1]] = value if flag is None else flag
    return raw
