"""Action lines (SCENARIOS.md): one user action per JSON line with its `id` and `at`, never a decision and never
the ledger's internal `queued` key. Parsing says which line is wrong and why, in one line."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from syncledger.ledger import vocabulary as v

from .inputs import BadInput, parse_action, parse_time
from .output import one_line

BOM = b"\xef\xbb\xbf"
FIRST_KEYS = ("id", "at", "do")


class BadLine(ValueError):
    """A line that is not a valid action line: `line N: problem`."""

    def __init__(self, number: int, problem: str) -> None:
        self.number = number
        self.problem = one_line(problem)
        super().__init__(f"line {number}: {self.problem}")


def to_line(action: v.Action) -> bytes:
    """The action as one JSON line: `id`, `at` and `do` first, then its own keys."""
    data = v.dump(action)
    data.pop("queued", None)
    first = {key: data.pop(key) for key in FIRST_KEYS if key in data}
    return orjson.dumps(first | data) + b"\n"


def parse_line(number: int, line: bytes) -> v.Action:
    """One action line, checked as an input (not yet against the ledger); `BadLine` if it is not one."""
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise BadLine(number, f"not valid JSON ({e.msg}, at column {e.colno})") from None
    if not isinstance(raw, dict):
        raise BadLine(number, f"an action line is a JSON object with a 'do' key, not {type(raw).__name__}")
    for key in ("id", "at"):
        if key not in raw:
            raise BadLine(number, f"missing key '{key}' (every action line has an id and a time)")
        if not isinstance(raw[key], str):
            raise BadLine(number, f"{key} must be text, not {_json_type(raw[key])}")
    try:
        at = parse_time(raw["at"], "at")  # ISO 8601 with a zone: not a number of seconds, not a bare date
        return parse_action({**raw, "at": at})
    except BadInput as e:
        raise BadLine(number, str(e)) from None


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "true or false", type(None): "null"}.get(type(value), "a number")


def read_lines(lines: Iterable[bytes]) -> Iterator[tuple[int, v.Action]]:
    """(line number, action) for every line that is not blank; `BadLine` at the first bad one."""
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
