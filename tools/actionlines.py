"""Action lines (SCENARIOS.md): one user action per JSON line with its `id` and `at`, never a decision and never
the ledger's internal `queued` key. Parsing says which line is wrong and why, in one line."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from syncledger.ledger import vocabulary as v

from .inputs import BadInputError, parse_action, parse_time, shown
from .output import json_bytes, one_line

BOM = b"\xef\xbb\xbf"
FIRST_KEYS = ("id", "at", "do")


class BadLineError(ValueError):
    """A line that is not a valid action line: `line N: problem`."""

    def __init__(self, number: int, problem: str) -> None:
        self.number = number
        self.problem = one_line(problem)
        super().__init__(f"line {number}: {self.problem}")


def to_line(action: v.Action) -> bytes:
    """The action as one JSON line: `id`, `at` and `do` first, then its own keys; what a terminal would obey
    (DEL, C1 controls, bidi marks) written as `\\uXXXX`, as every `--json` writes it (`json_bytes`)."""
    data = v.dump(action)
    data.pop("queued", None)
    first = {key: data.pop(key) for key in FIRST_KEYS if key in data}
    return json_bytes(first | data, option=0) + b"\n"


def parse_line(number: int, line: bytes) -> v.Action:
    """One action line, checked as an input (not yet against the ledger); `BadLineError` if it is not one."""
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise BadLineError(number, f"not valid JSON ({e.msg}, at column {e.colno})") from None
    if not isinstance(raw, dict):
        raise BadLineError(number, f"an action line is a JSON object with a 'do' key, not {type(raw).__name__}")
    repeated = _repeated_key(line, raw)
    if repeated is not None:
        raise BadLineError(number, f"key {shown(repeated)} is given twice in one object")
    for key in ("id", "at"):
        if key not in raw:
            if raw.get("do") == "baseline":  # its time and id follow from its document
                continue
            raise BadLineError(number, f"missing key '{key}' (every action line has an id and a time)")
        if not isinstance(raw[key], str):
            raise BadLineError(number, f"{key} must be text, not {_json_type(raw[key])}")
    try:
        if "at" not in raw:
            return parse_action(raw)
        at = parse_time(raw["at"], "at")  # ISO 8601 with a zone: not a number of seconds, not a bare date
        return parse_action({**raw, "at": at})
    except BadInputError as e:
        raise BadLineError(number, str(e)) from None


_KEY_END = re.compile(rb'"\s*:')  # where each key of a JSON text ends (and maybe a few string values' insides)


def _repeated_key(line: bytes, parsed: dict[str, Any]) -> str | None:
    """A key given twice in one object of the line, which JSON parsers (orjson too) resolve silently, last one
    wins. Exact and cheap: every key of the text ends in `"` and `:`, so a line with fewer such places than its
    parsed objects have keys has none repeated; only a line with more is parsed again, keeping every pair."""
    keys = _count_keys(parsed)
    ends = line.count(b'":')  # fast, and exact unless white space stands between a key and its colon
    spaced = b'" ' in line or b'"\t' in line or b'"\n' in line or b'"\r' in line  # JSON's white space
    if ends < keys or (ends == keys and spaced):
        ends = len(_KEY_END.findall(line))
    if ends <= keys:
        return None
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in items]
        if len(set(keys)) < len(keys) and not found:
            found.append(next(key for number, key in enumerate(keys) if key in keys[:number]))
        return dict(items)

    try:
        json.loads(line, object_pairs_hook=pairs)
    except RecursionError:  # deeper than Python's parser goes (orjson goes deeper): no action nests like that
        return None
    return found[0] if found else None


def _count_keys(value: Any) -> int:
    """The keys of every object in a parsed line (a loop: a line may nest deeper than Python recurses)."""
    if type(value) is dict:  # an action line: one object, its `fields` one level down (plain loops: fastest)
        count = len(value)
        for inner in value.values():
            if type(inner) is dict:
                count += len(inner)
                for deeper in inner.values():
                    if type(deeper) is dict or type(deeper) is list:
                        return _count_all_keys(value)
            elif type(inner) is list:
                return _count_all_keys(value)
        return count
    return _count_all_keys(value)


def _count_all_keys(value: Any) -> int:
    count, pending = 0, [value]
    while pending:
        inner = pending.pop()
        if isinstance(inner, dict):
            count += len(inner)
            pending += [x for x in inner.values() if isinstance(x, (dict, list))]
        elif isinstance(inner, list):
            pending += [x for x in inner if isinstance(x, (dict, list))]
    return count


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "true or false", type(None): "null"}.get(type(value), "a number")


def read_lines(lines: Iterable[bytes]) -> Iterator[tuple[int, v.Action]]:
    """(line number, action) for every line that is not blank; `BadLineError` at the first bad one."""
    for number, line in enumerate(lines, 1):
        if number == 1:
            line = line.removeprefix(BOM)
        if line.strip():
            yield number, parse_line(number, line.strip())


def content(action: v.Action) -> dict[str, Any]:
    """What two lines with the same id must agree on (times compared as instants, not as text)."""
    return action.model_dump(by_alias=True, exclude={"queued"})


def differences(held: v.Action, line: v.Action) -> list[str]:
    """The keys in which a line differs from the action the ledger holds under the same id."""
    a, b = content(held), content(line)
    return [key for key in dict.fromkeys([*a, *b]) if a.get(key) != b.get(key)]
