"""Turning outside input (scenario steps, JSON lines, command-line verbs) into actions, with one-line errors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ledger import vocabulary as v


class BadInput(ValueError):
    """Input that cannot become an action or a check; the message names what is wrong (not where)."""


def describe(error: ValidationError, prefix: tuple[str | int, ...] = ()) -> str:
    """The first problem of a pydantic error, in one line a person can act on."""
    e = error.errors()[0]
    loc = [str(p) for p in e["loc"]]
    kind = e["type"]
    if kind == "union_tag_invalid":
        return (
            f"unknown action {e['input'].get('do') if isinstance(e['input'], dict) else e['input']!r} "
            f"(valid: {', '.join(v.ACTION_CLASSES)})"
        )
    if kind == "union_tag_not_found":
        return "missing key 'do' (the action)"
    if loc and loc[0] in v.ACTION_CLASSES:
        loc = loc[1:]  # the discriminated union's tag says nothing the reader does not know
    key = ".".join([*(str(p) for p in prefix), *loc]) or "value"
    if kind == "missing":
        return f"missing key '{key}'"
    if kind == "extra_forbidden":
        return f"unknown key '{key}'"
    if kind == "literal_error":
        expected = e.get("ctx", {}).get("expected", "")
        valid = ", ".join(part.strip(" '") for part in expected.replace(" or ", ",").split(","))
        return f"unknown {loc[-1] if loc else 'value'} {e['input']!r} (valid: {valid})"
    shown = repr(e["input"])
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{key}: {e['msg'][0].lower()}{e['msg'][1:]} (got {shown})"


def parse_action(raw: Any) -> v.Action:
    """An action from a mapping with a `do:` key (a scenario step, a JSON line, a command-line verb)."""
    if not isinstance(raw, dict):
        raise BadInput(f"an action must be a mapping with a 'do' key, not {type(raw).__name__}")
    if "queued" in raw:
        raise BadInput("unknown key 'queued'")
    try:
        return v.ACTION_ADAPTER.validate_python(raw)  # type: ignore[no-any-return]
    except ValidationError as e:
        raise BadInput(describe(e)) from None


def parse_time(text: str, what: str = "time") -> datetime:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"{what} {text!r} is not an ISO 8601 time (e.g. 2026-03-02T11:00:00Z)") from None
    if t.tzinfo is None:
        raise BadInput(f"{what} {text!r} has no time zone (add Z or +01:00)")
    return t
