"""Scenario files: load (safe YAML only) and turn their steps into timed actions and checks; `ScenarioError`
names the file, the step and the problem (refused input, status 2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from syncledger.ledger.vocabulary import Action

from ..inputs import BadInputError, parse_action, parse_time, representable_time, shown
from .expect import Expectation, parse_expectation

DEFAULT_START = datetime.fromisoformat("2026-01-01T09:00:00+00:00")
STEP = timedelta(minutes=1)
_TOP_KEYS = {"title", "start", "users", "baseline", "steps", "expect"}


class ScenarioError(ValueError):
    """Bad input in a scenario file: the message is the one line to print (file, step, problem)."""


@dataclass
class Step:
    number: int | None  # 1-based index in `steps:`; None for the users block and the final expect
    action: Action | None = None
    expectation: Expectation | None = None


@dataclass
class Scenario:
    path: str
    title: str
    start: datetime
    steps: list[Step] = field(default_factory=list)


def where(path: str, number: int | None, label: str | None = None) -> str:
    return f"{path}: {label}" if label else (f"{path}: step {number}" if number else path)


def load(path: str) -> Scenario:
    """Read and validate a scenario file into timed actions and checks; `ScenarioError` on bad input."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError(f"{path}: cannot read the file: {getattr(e, 'strerror', None) or e}") from None
    try:
        doc = yaml.load(text, Loader=_UniqueKeys)  # noqa: S506 (safe: a SafeLoader that refuses repeated keys)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or "not valid YAML"
        raise ScenarioError(f"{path}: not valid YAML{line}: {problem}") from None
    except RecursionError:
        raise ScenarioError(f"{path}: not valid YAML: nested too deeply") from None
    except Exception as e:  # the YAML constructors raise more than YAMLError (e.g. `!!int abc`, huge integers)
        raise ScenarioError(f"{path}: not valid YAML: {shown(str(e))}") from None
    if not isinstance(doc, dict):
        raise ScenarioError(f"{path}: a scenario must be a mapping with title, users and steps")
    unknown = sorted(set(map(str, doc)) - _TOP_KEYS)
    if unknown:
        raise ScenarioError(f"{path}: unknown key '{unknown[0]}' (valid: {', '.join(sorted(_TOP_KEYS))})")
    start = _time(doc.get("start", DEFAULT_START), path, "start")
    title = doc.get("title", Path(path).stem)
    if not isinstance(title, str):
        raise ScenarioError(f"{path}: title: must be text, not {type(title).__name__}")
    scenario = Scenario(path, title, start)
    users = doc["users"] if doc.get("users") is not None else {}
    if not isinstance(users, dict):
        raise ScenarioError(f"{path}: users: must map each user to their options, e.g. alice: {{}}")
    for name, options in users.items():
        raw = {"do": "user.add", "user": name, **(options or {})} if isinstance(options, dict) else None
        if raw is None:
            raise ScenarioError(f"{path}: users.{name}: options must be a mapping, e.g. {{sync_filter: owned}}")
        try:
            action = parse_action(raw)
        except BadInputError as e:
            raise ScenarioError(f"{path}: users.{name}: {e}") from None
        scenario.steps.append(Step(None, action.model_copy(update={"at": start})))
    first = start  # the time of a first step without `at:`
    if doc.get("baseline") is not None:
        baseline = _baseline(doc["baseline"], start, path)
        scenario.steps.append(Step(None, baseline))
        first = max(start, baseline.when)
    steps = doc["steps"] if doc.get("steps") is not None else []
    if not isinstance(steps, list):
        raise ScenarioError(f"{path}: steps: must be a list")
    previous: datetime | None = None
    for number, raw in enumerate(steps, 1):
        try:
            step, previous = _step(number, raw, first, previous)
        except BadInputError as e:
            raise ScenarioError(f"{where(path, number)}: {e}") from None
        scenario.steps.append(step)
    if doc.get("expect") is not None:
        try:
            scenario.steps.append(Step(None, expectation=parse_expectation(doc["expect"])))
        except BadInputError as e:
            raise ScenarioError(f"{path}: final {e}") from None
    return scenario


def _baseline(raw: Any, start: datetime, path: str) -> Action:
    """The top-level `baseline:` key: SOURCES.md's document, its `at` defaulting to the scenario's start."""
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: baseline: must be a mapping with at, records, items and links")
    try:
        action = parse_action({"do": "baseline", "document": {"at": start, **raw}})
    except BadInputError as e:
        raise ScenarioError(f"{path}: baseline: {str(e).replace('document.', '')}") from None
    if action.when < start:
        raise ScenarioError(f"{path}: baseline: its at {action.when.isoformat()} is before start {start.isoformat()}")
    return action


class _UniqueKeys(yaml.SafeLoader):
    """Safe YAML, except that a key given twice in one mapping is an error: PyYAML keeps the last one silently,
    which would let `users: {alice: {}, alice: {sync_filter: owned}}` escape "a user declared twice". Keys
    merged in with `<<` may still be overridden, as YAML means them to be."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                repeated = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: the base class says so
                continue
            if repeated:
                raise yaml.constructor.ConstructorError(
                    problem=f"key {shown(key)} is given twice in one mapping", problem_mark=key_node.start_mark
                )
        return super().construct_mapping(node, deep)


def _time(value: Any, path: str, what: str) -> datetime:
    try:
        if not isinstance(value, (str, datetime)):
            raise BadInputError(f"{what} must be an ISO 8601 time with a time zone, not {type(value).__name__}")
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise BadInputError(f"{what} {value.isoformat()!r} has no time zone (add Z or +01:00)")
            return representable_time(value, what)
        return parse_time(str(value), what)
    except BadInputError as e:
        raise ScenarioError(f"{path}: {e}") from None


def _step(number: int, raw: Any, start: datetime, previous: datetime | None) -> tuple[Step, datetime | None]:
    if not isinstance(raw, dict):
        raise BadInputError("a step must be a mapping: an action ({do: ...}) or a check ({expect: ...})")
    if "expect" in raw:
        extra = sorted(map(str, set(raw) - {"expect"}))
        if extra:
            raise BadInputError(f"unknown key '{extra[0]}' beside expect")
        return Step(number, expectation=parse_expectation(raw["expect"])), previous
    raw = dict(raw)
    at = raw.pop("at", None)
    if at is not None:
        if not isinstance(at, (str, datetime)):
            raise BadInputError(f"at must be an ISO 8601 time with a time zone, not {type(at).__name__}")
        when = at if isinstance(at, datetime) else parse_time(at, "at")
        if when.tzinfo is None:
            raise BadInputError(f"at {when.isoformat()!r} has no time zone (add Z or +01:00)")
        representable_time(when, "at")
        floor = previous or start
        if when < floor:
            raise BadInputError(f"time goes backwards from {floor.isoformat()} to {when.isoformat()}")
    else:
        when = representable_time(start if previous is None else previous + STEP, "the step's time")
    action = parse_action(raw)
    return Step(number, action.model_copy(update={"at": when})), when
