"""Hostile input through the command line: scenario files, action lines and the verbs, in process.

Whatever a file, a line or an argument holds (random bytes, invalid UTF-8, YAML and JSON syntax errors,
executable YAML tags, alias bombs, 10,000 levels of nesting, 10 MB lines, NUL and bidi marks and lone
surrogates, numbers where text belongs, lists where mappings belong, unknown keys at every level, near-miss
`do:` values, times without zones or going backwards), `syncledger` either accepts it (0, or 1 for a failed
check) or refuses it with exit status 2 and exactly one short line on standard error that starts with
`syncledger: `; it never shows a traceback, never ends with another status (70 is the "internal error" of
`syncledger.tools.cli.main`), and a refused input appends nothing to the `--db` ledger, not even part of it.

The commands run in this process through `syncledger.tools.cli.main()` (the `syncledger` entry point: one-line errors
and exit statuses live there), with `sys.argv` patched and the output captured, so that hypothesis can try many
inputs; a few cases that depend on the real process (standard input, argument decoding) use the `run_cli`
subprocess fixture. The `--db` ledgers are SQLite files seeded with a few events first, so "appends nothing"
means "the last position did not move".
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from syncledger.ledger.store import EventStore
from syncledger.tools.cli import main
from syncledger.tools.output import json_text

try:
    from . import hostile as h
except ImportError:  # tests/tools is not a package: pytest put this directory on sys.path
    import hostile as h  # type: ignore[no-redef]

Run = Callable[..., subprocess.CompletedProcess[str]]

MAX_MESSAGE = 1_000  # characters in the one error line, the file's path included: a message, not an echo
MAX_OUTPUT = 100_000  # characters on each stream for an input of a few hundred bytes (alias bombs)
MB10 = 10 * 1024 * 1024
SEED_AT = "2026-01-01T08:00:00Z"
SEED = (
    ("user.add", "user=zoe"),
    ("crm.create", "actor=zoe", "record=z1", "type=contact", "fields.fullname=Zed"),
    ("sync", "user=zoe"),
)
KNOWN_REFS = {"crm:z1", "outlook:zoe/z1", "user:zoe"}

# Sized for the whole module to run in about a minute; HOSTILE_SCALE=10 tries ten times as many inputs.
SCALE = float(os.environ.get("HOSTILE_SCALE", "1"))
SOME = settings(
    max_examples=max(1, int(30 * SCALE)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
MANY = settings(SOME, max_examples=max(1, int(50 * SCALE)))


_serial = itertools.count()


# ------------------------------------------------------------------------------------------------ running


@dataclass(frozen=True)
class Result:
    code: object
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}; stderr ({len(self.err)} chars): {self.err[:400]!r}; stdout: {self.out[:300]!r}"


def cli(*args: object, stdin: bytes | None = None) -> Result:
    """`syncledger ARGS...` in this process, as the entry point runs it; (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code: object = None
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(sys, "argv", ["syncledger", *(str(a) for a in args)]))
        stack.enter_context(mock.patch.dict(os.environ))
        os.environ.pop("SYNCLEDGER_DB", None)
        os.environ.pop("SYNCLEDGER_DEBUG", None)
        if stdin is not None:
            stack.enter_context(mock.patch.object(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin))))
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        try:
            main()
        except SystemExit as e:
            code = e.code
    return Result(code, out.getvalue(), err.getvalue())


def assert_one_line(err: str) -> None:
    assert "Traceback" not in err, err
    assert err.startswith("syncledger: ") and err.endswith("\n") and err.count("\n") == 1, err[:500]
    assert len(err) <= MAX_MESSAGE, f"a {len(err):,}-character error line: {err[:300]}..."


def assert_refused(result: Result, *mentions: str) -> None:
    """Exit status 2 and one short line on standard error (mentioning each regex in `mentions`)."""
    assert result.code == 2, str(result)
    assert_one_line(result.err)
    assert "Traceback" not in result.out
    for mention in mentions:
        assert re.search(mention, result.err), f"{mention!r} not in {result.err[:300]!r}"


def assert_contract(result: Result) -> None:
    """For input that may or may not be valid: accepted (0 or 1, nothing on standard error but a warning such as
    `do`'s when its time is far from the ledger's) or refused (2)."""
    assert result.code in (0, 1, 2), str(result)
    assert "Traceback" not in result.out and "Traceback" not in result.err, str(result)
    if result.code == 2:
        assert_one_line(result.err)
    else:
        kept = [line for line in result.err.splitlines() if not line.startswith("syncledger: warning: ")]
        assert kept == [], str(result)


def position(db: Path) -> int:
    store = EventStore(str(db))
    try:
        return store.last_position()
    finally:
        store.close()


_template: tuple[Path, int] | None = None


def seeded(directory: Path) -> tuple[Path, int]:
    """A fresh SQLite ledger holding user zoe, her contact z1 and her sync; (path, last position). A copy of
    one seeded file: seeding each one through the command line would cost most of this module's time."""
    global _template
    if _template is None:
        template = directory / "template.db"
        for args in SEED:
            result = cli("do", *args, "--at", SEED_AT, "--db", template)
            assert result.code == 0, str(result)
        with contextlib.closing(sqlite3.connect(template)) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the one file
        _template = template, position(template)
    db = directory / f"ledger-{next(_serial)}.db"
    shutil.copyfile(_template[0], db)
    assert position(db) == _template[1]
    return db, _template[1]


def write(directory: Path, content: str | bytes, suffix: str = ".yaml") -> Path:
    path = directory / f"input-{next(_serial)}{suffix}"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def dump(doc: Any) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=1_000_000)


def run_scenario(directory: Path, content: str | bytes, *, memory: bool = True) -> list[Result]:
    """`run FILE` (in memory, unless `memory` is false) and `run FILE --db LEDGER` on a seeded ledger; checks
    the contract of each and that a refusal appended nothing (an acceptance appends atomically)."""
    path = write(directory, content)
    results = [cli("run", path)] if memory else []
    db, before = seeded(directory)
    results.append(cli("run", path, "--db", db))
    for result in results:
        assert_contract(result)
    after = position(db)
    if results[-1].code == 2:
        assert after == before, f"a refused scenario appended {after - before} events: {results[-1]}"
    else:
        assert after >= before
    return results


def refused_scenario(directory: Path, content: str | bytes, *mentions: str, memory: bool = True) -> None:
    for result in run_scenario(directory, content, memory=memory):
        assert_refused(result, *mentions)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A default ./syncledger.db, if any command made one, lands in the test's directory."""
    monkeypatch.chdir(tmp_path)
    yield


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    cli("rules")  # the first run imports and builds what every later run reuses


# ------------------------------------------------------------------------------------ scenario files


def test_the_base_scenario_is_valid(tmp_path: Path) -> None:
    """The documents the tests break start out valid: a refusal can only come from the break."""
    for result in run_scenario(tmp_path, dump(h.base())):
        assert result.code == 0, str(result)


@given(st.binary(max_size=400))
@MANY
def test_random_bytes_as_a_scenario(tmp_path: Path, content: bytes) -> None:
    run_scenario(tmp_path, content)


@pytest.mark.parametrize(
    "bad",
    [b"\xff", b"\xc3\x28", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80" * 3],
    ids=["ff", "broken-pair", "overlong", "encoded-surrogate", "above-10ffff", "truncated", "continuations"],
)
def test_invalid_utf8_is_refused(tmp_path: Path, bad: bytes) -> None:
    text = dump(h.base()).encode()
    content = text.replace(b"Jane Doe", b"Jane " + bad + b" Doe")
    refused_scenario(tmp_path, content, r"input-\d+\.yaml")


@pytest.mark.parametrize(
    "text",
    [
        "title: x\nusers:\n\talice: {}\n",
        "title: x\nsteps:\n  - {do: sync, user: alice\n",
        "title: 'unclosed\n",
        "title: x\n  users: {}\n",
        "title: x: y\n",
        "steps:\n- a\n b: c\n",
        "title: *nowhere\n",
        "a: &x 1\nb: &x 2\nc: *y\n",
        "title: x\n---\ntitle: y\n",
        "%YAML 9.9\n--- {}\n",
        "%TAG ! tag:evil.example,2000:\n--- !thing {}\n",
        "title: !custom x\n",
        "title: !!int abc\n",
        "title: !!float abc\n",
        "title: !!timestamp yesterday\n",
        "title: \x07\n",
        "title: a\x00b\n",
        "{[1]: x}\n",
        "? [a, b]\n: c\n",
        "<<: 5\n",
        "title: " + '"\\q"' + "\n",
        "]",
    ],
    ids=lambda text: repr(text)[:30],
)
def test_yaml_syntax_errors_are_refused(tmp_path: Path, text: str) -> None:
    refused_scenario(tmp_path, text)


PYTHON_TAGS = (
    "!!python/object/apply:os.system ['touch {m}']",
    "!!python/object/apply:builtins.open ['{m}', 'w']",
    "!!python/object/new:builtins.open ['{m}', 'w']",
    "!!python/object/apply:subprocess.call [[touch, '{m}']]",
    "!python/object/apply:os.system ['touch {m}']",
    "!<tag:yaml.org,2002:python/object/apply:os.system> ['touch {m}']",
    "!!python/name:os.system",
    "!!python/module:os",
    "!!python/object:builtins.object {{}}",
)


@pytest.mark.parametrize("tag", PYTHON_TAGS)
@pytest.mark.parametrize(
    "place",
    ["title: {t}\n", "users: {{alice: {t}}}\n", "users: {{alice: {{}}}}\nsteps:\n  - {{do: sync, user: {t}}}\n"],
    ids=["title", "user-options", "step-value"],
)
def test_python_tags_are_refused_and_never_run(tmp_path: Path, tag: str, place: str) -> None:
    marker = tmp_path / "executed"
    refused_scenario(tmp_path, place.format(t=tag.format(m=marker)))
    assert not marker.exists(), "a scenario file ran code"


def test_python_tags_on_standard_input_are_refused_and_never_run(tmp_path: Path) -> None:
    """The real program reading a scenario from a pipe."""
    marker = tmp_path / "executed"
    text = f"title: !!python/object/apply:os.system ['touch {marker}']\n"
    result = subprocess.run(
        [sys.executable, "-m", "syncledger", "run", "/dev/stdin"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={
            **{k: v for k, v in os.environ.items() if k not in ("SYNCLEDGER_DB", "SYNCLEDGER_DEBUG")},
        },
    )
    assert_refused(Result(result.returncode, result.stdout, result.stderr))
    assert not marker.exists()


@pytest.mark.parametrize("place", h.BOMB_PLACES)
def test_alias_bombs_are_refused_or_bounded(tmp_path: Path, place: str) -> None:
    """A 600-byte file whose aliases expand to 531,441 strings: the answer must not grow with the expansion
    (no echo of the expanded value, no building it as text: a 9-level bomb is 3 GB of repr)."""
    path = write(tmp_path, h.billion_laughs(6, place))
    tracemalloc.start()
    try:
        result = cli("run", path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_contract(result)
    assert len(result.out) < MAX_OUTPUT, f"{len(result.out):,} characters on stdout: {result.out[:200]}..."
    assert peak < 4_000_000, f"{place}: {peak:,} bytes allocated for a 600-byte file: the expansion was built"


@pytest.mark.parametrize("bracket", ["[", "{", "{a: ", "- "])
@pytest.mark.parametrize("closed", [False, True], ids=["unclosed", "closed"])
@pytest.mark.parametrize("place", ["top", "title", "step", "fields", "expect"])
def test_ten_thousand_levels_of_nesting_are_refused(tmp_path: Path, bracket: str, closed: bool, place: str) -> None:
    closing = {"[": "]", "{": "}", "{a: ": "}", "- ": ""}[bracket]
    inner = "1" if bracket in ("{a: ", "- ") else ""
    nest = bracket * 10_000 + (inner + closing * 10_000 if closed else "")
    text = {
        "top": nest,
        "title": f"title: {nest}\n",
        "step": f"users: {{alice: {{}}}}\nsteps:\n  - {{do: sync, user: alice, x: {nest}}}\n",
        "fields": f"users: {{alice: {{}}}}\nsteps:\n  - {{do: outlook.create, user: alice, item: m, type: email, "
        f"fields: {{a: {nest}}}}}\n",
        "expect": f"expect: {{crm: {{c1: {nest}}}}}\n",
    }[place]
    refused_scenario(tmp_path, text, memory=False)


@pytest.mark.parametrize("depth", [50, 300, 900])
@pytest.mark.parametrize(
    "place",
    ["title", "do", "user", "at", "start", "fields", "record check", "item check", "link check", "why", "pending"],
)
def test_moderate_nesting_is_refused_in_one_short_line(tmp_path: Path, depth: int, place: str) -> None:
    """Nesting under the parser's limit reaches the validation and its messages, which must stay short."""
    nest = "{a: " * depth + "1" + "}" * depth
    users = "users: {alice: {}}\nsteps:\n  - "
    text = {
        "title": f"title: {nest}\n",
        "do": f"{users}{{do: {nest}, user: alice}}\n",
        "user": f"{users}{{do: sync, user: {nest}}}\n",
        "at": f"{users}{{do: sync, user: alice, at: {nest}}}\n",
        "start": f"start: {nest}\n",
        "fields": f"{users}{{do: outlook.create, user: alice, item: m, type: email, fields: {{a: {nest}}}}}\n",
        "record check": f"expect: {{crm: {{c1: {nest}}}}}\n",
        "item check": f"users: {{alice: {{}}}}\nexpect: {{outlook: {{alice: {{m: {nest}}}}}}}\n",
        "link check": f"expect: {{links: [{nest}]}}\n",
        "why": f"expect: {{why: {{'crm:c1': {nest}}}}}\n",
        "pending": f"expect: {{pending: {{alice: {nest}}}}}\n",
    }[place]
    if place == "title":
        run_scenario(tmp_path, text, memory=False)  # a title is shown, not checked: any value may do
    else:
        refused_scenario(tmp_path, text, memory=False)


def test_a_ten_megabyte_line_is_refused_in_one_short_line(tmp_path: Path) -> None:
    value = "v" * MB10
    text = f"users: {{alice: {{}}}}\nsteps:\n  - {{do: sync, user: alice, extra: {value}}}\n"
    refused_scenario(tmp_path, text, "unknown key 'extra'", memory=False)


def test_a_ten_megabyte_field_value_is_kept_or_refused(tmp_path: Path) -> None:
    body = "x" * MB10
    text = (
        "users: {alice: {}}\nsteps:\n"
        f"  - {{do: outlook.create, user: alice, item: m1, type: email, fields: {{subject: Hi, body: {body}}}}}\n"
        "expect: {outlook: {alice: {m1: {fields: {subject: Hi}}}}}\n"
    )
    (result,) = run_scenario(tmp_path, text, memory=False)
    assert result.code in (0, 2), str(result)


@pytest.mark.parametrize("place", ["do", "user", "at", "start", "unknown key", "why", "users key", "record check"])
def test_a_megabyte_value_is_refused_in_one_short_line(tmp_path: Path, place: str) -> None:
    big = "x" * 1_000_000
    users = "users: {alice: {}}\nsteps:\n  - "
    text = {
        "do": f"{users}{{do: {big}, user: alice}}\n",
        "user": f"{users}{{do: sync, user: {big}}}\n",
        "at": f"{users}{{do: sync, user: alice, at: {big}}}\n",
        "start": f"start: {big}\n",
        "unknown key": f"{big}: 1\n",
        "why": f"expect: {{why: {{{big}: X}}}}\n",
        "users key": f"users: {{{big}: {{}}}}\n",
        "record check": f"expect: {{crm: {{c1: {big}}}}}\n",
    }[place]
    refused_scenario(tmp_path, text, memory=False)


@given(h.broken_scenarios())
@MANY
def test_broken_scenarios_are_refused_and_append_nothing(tmp_path: Path, broken: tuple[str, dict[str, Any]]) -> None:
    """Unknown keys at every level, wrong types, near-miss actions, times without a zone, going backwards or
    not times at all, null steps: the base scenario with one of them is refused, in memory and on a ledger."""
    _, doc = broken
    refused_scenario(tmp_path, dump(doc))


USERS = "start: 2026-03-02T09:00:00Z\nusers: {alice: {}, bob: {}}\n"
CONTACT = "{do: crm.create, actor: bob, record: c1, type: contact}"


NAMED_REFUSALS = [
    pytest.param(USERS + "steps: [null]\n", "step 1", id="null-step"),
    pytest.param(USERS + f"steps: [{CONTACT}, ~]\n", "step 2", id="null-second-step"),
    pytest.param(USERS + "steps: [{do: sync, user: 5}]\n", "step 1", id="user-number"),
    pytest.param(
        USERS + "steps: [{do: crm.create, actor: bob, record: 7, type: contact}]\n", "step 1", id="record-number"
    ),
    pytest.param(USERS + "steps: [{do: 5, user: alice}]\n", "step 1", id="do-number"),
    pytest.param(USERS + "steps: [{do: sync, user: [alice]}]\n", "step 1", id="user-list"),
    pytest.param(USERS + "steps: [[do, sync]]\n", "step 1", id="step-list"),
    pytest.param(
        USERS + "steps: [{do: crm.create, actor: bob, record: c1, type: contact, fields: [a, b]}]\n",
        "step 1",
        id="fields-list",
    ),
    pytest.param("users: {alice: [sync_filter]}\n", "users.alice", id="options-list"),
    pytest.param(USERS + "expect: [crm]\n", "expect", id="expect-list"),
    pytest.param("titel: x\n", "titel", id="top-unknown"),
    pytest.param("users: {alice: {filter: owned}}\n", "filter", id="options-unknown"),
    pytest.param(USERS + "steps: [{do: sync, user: alice, usr: alice}]\n", "usr", id="step-unknown"),
    pytest.param(USERS + "steps: [{expect: {}, note: x}]\n", "note", id="beside-expect-unknown"),
    pytest.param(USERS + "steps: [{expect: {}, 0: x, note: y}]\n", "step 1", id="beside-expect-mixed-keys"),
    pytest.param(USERS + "expect: {crm: {}, crn: {}}\n", "crn", id="expect-unknown"),
    pytest.param(
        USERS + f"steps: [{CONTACT}]\nexpect: {{crm: {{c1: {{owner: bob, ownr: x}}}}}}\n",
        "ownr",
        id="record-check-unknown",
    ),
    pytest.param(
        USERS + "expect: {outlook: {alice: {c1: {linked: false, lnked: true}}}}\n", "lnked", id="item-check-unknown"
    ),
    pytest.param(USERS + "expect: {links: [{user: alice, usr: alice}]}\n", "usr", id="link-check-unknown"),
    pytest.param(
        USERS + "steps: [{do: crm.Create, actor: bob, record: c1, type: contact}]\n", "unknown action", id="do-case"
    ),
    pytest.param(USERS + "steps: [{do: 'sync ', user: alice}]\n", "unknown action", id="do-space"),
    pytest.param(USERS + "steps: [{do: outlook.tracks, user: alice, item: m1}]\n", "unknown action", id="do-plural"),
    pytest.param("start: 2026-03-02T09:00:00\n", "time zone", id="start-no-zone"),
    pytest.param("start: 2026-03-02\n", "time zone", id="start-date"),
    pytest.param(USERS + "steps: [{at: 2026-03-02T10:00:00, do: sync, user: alice}]\n", "time zone", id="at-no-zone"),
    pytest.param(
        USERS + "steps: [{at: 2026-03-02T08:59:59Z, do: sync, user: alice}]\n", "backwards", id="at-before-start"
    ),
    pytest.param(
        USERS + "steps: [{at: 2026-03-02T11:00:00Z, do: sync, user: alice}, "
        "{at: 2026-03-02T12:00:00+02:00, do: sync, user: bob}]\n",
        "backwards",
        id="at-before-previous",
    ),
]


@pytest.mark.parametrize(("text", "mention"), NAMED_REFUSALS)
def test_named_refusals_in_one_line_and_nothing_appended(tmp_path: Path, text: str, mention: str) -> None:
    """The brief's list, one example each: null steps, numbers where text belongs, lists where mappings belong,
    unknown keys at every level, near-miss actions, times without a zone or going backwards."""
    refused_scenario(tmp_path, text, re.escape(mention))


@pytest.mark.parametrize(
    "change",
    [
        {"steps": {}},
        {"steps": 0},
        {"steps": False},
        {"steps": ""},
        {"users": []},
        {"users": 0},
        {"users": ""},
        {"users": False},
    ],
    ids=repr,
)
def test_empty_values_of_the_wrong_type_are_refused(tmp_path: Path, change: dict[str, Any]) -> None:
    """`steps: {}` is a mapping where a list belongs, `users: []` a list where a mapping belongs."""
    refused_scenario(tmp_path, dump({"title": "wrong type", **change}))


@pytest.mark.parametrize("start", [5, 4102444800, 1.5, True], ids=repr)
def test_a_number_is_not_a_time(tmp_path: Path, start: object) -> None:
    """An appointment's `start` (and a check's) is an ISO 8601 time; a number is a value of the wrong type."""
    step = {"do": "outlook.create", "user": "alice", "item": "a1", "type": "appointment", "start": start}
    refused_scenario(tmp_path, dump({"users": {"alice": {}}, "steps": [step]}), r"\bstart\b")
    check = {"users": {"alice": {}}, "expect": {"outlook": {"alice": {"a1": {"start": start}}}}}
    refused_scenario(tmp_path, dump(check), r"\bstart\b")


@pytest.mark.parametrize(
    "value",
    ['"\\udcff"', '"a\\ud800b"', "1" + "0" * 5000, str(2**64), str(-(2**63) - 1), "99999999999999999999999"],
    ids=["lone-low-surrogate", "lone-high-surrogate", "5001-digits", "2**64", "-2**63-1", "23-digits"],
)
def test_field_values_the_ledger_cannot_store_are_refused(tmp_path: Path, value: str) -> None:
    """The store writes JSON (orjson): no lone surrogates, integers within 64 bits. What it cannot keep must be
    refused as input, not fail at the append as an internal error."""
    text = (
        "users: {alice: {}}\nsteps:\n"
        "  - {do: outlook.create, user: alice, item: m1, type: email, fields: {subject: Hi}}\n"
        f"  - {{do: outlook.update, user: alice, item: m1, fields: {{n: {value}}}}}\n"
    )
    refused_scenario(tmp_path, text)


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_field_values_that_are_not_json_are_refused_or_kept(tmp_path: Path, value: str) -> None:
    """NaN and infinities are not JSON: refuse them, or keep them; never record them as something else (the
    state document, being JSON, cannot show them: in practice, refuse them)."""
    text = (
        "users: {alice: {}}\nsteps:\n"
        f"  - {{do: outlook.create, user: alice, item: m1, type: email, fields: {{n: {value}}}}}\n"
    )
    path = write(tmp_path, text)
    db, _ = seeded(tmp_path)
    result = cli("run", path, "--db", db)
    assert_contract(result)
    if result.code == 0:
        state = cli("state", "--json", "--db", db)
        assert_contract(state)
        kept = json.loads(state.out)["outlook"]["alice"]["m1"]["fields"]["n"]
        assert isinstance(kept, float) and (math.isnan(kept) or math.isinf(kept)), f"{value} was recorded as {kept!r}"


@given(odd=st.lists(h.odd_text.filter(lambda s: 0 < len(s) <= 200), min_size=3, max_size=3, unique=True))
@SOME
def test_odd_names_are_kept_exactly_or_refused(tmp_path: Path, odd: list[str]) -> None:
    """NUL, bidi overrides, emoji, separators in user, record and field names: refused, or read back as given."""
    user, record, field = odd
    doc = {
        "title": "odd names",
        "users": {user: {}},
        "steps": [
            {"do": "crm.create", "actor": user, "record": record, "type": "task", "fields": {field: field}},
            {"do": "sync", "user": user},
        ],
        "expect": {"crm": {record: {"fields": {field: field}}}},
    }
    text = dump(doc)
    assume(yaml.safe_load(text) == doc)  # YAML itself folds some line breaks (U+0085) in plain scalars
    db, _ = seeded(tmp_path)
    result = cli("run", write(tmp_path, text), "--db", db)
    assert_contract(result)
    assert result.code != 1, f"a name or value was not kept as given: {result}"
    if result.code == 0:
        state = json.loads(cli("state", "--json", "--db", db).out)
        assert state["crm"][record]["fields"] == {field: field} and user in state["outlook"]
        assert_contract(cli("why", f"crm:{record}", "--db", db))
        assert_contract(cli("why", f"outlook:{user}/{record}", "--db", db))


@given(h.yaml_values(max_leaves=20))
@MANY
def test_random_yaml_documents(tmp_path: Path, doc: Any) -> None:
    run_scenario(tmp_path, dump(doc))


@given(st.data())
@MANY
def test_random_values_anywhere_in_a_valid_scenario(tmp_path: Path, data: st.DataObject) -> None:
    """Any place of the base scenario replaced by any value: accepted or refused, never anything else."""
    doc = h.base()
    where = data.draw(st.sampled_from(h.paths(doc)), label="path")
    value = data.draw(h.yaml_values(), label="value")
    run_scenario(tmp_path, dump(h.replace(doc, where, value)))


@given(st.data())
@SOME
def test_random_steps_after_a_valid_prefix_append_nothing_when_refused(tmp_path: Path, data: st.DataObject) -> None:
    doc = h.base()
    step = data.draw(
        st.one_of(
            h.yaml_values(),
            st.dictionaries(h.yaml_keys, h.yaml_values(), max_size=5).map(lambda d: {"do": "sync", **d}),
            st.fixed_dictionaries({"do": h.near_miss_verbs, "user": st.just("alice")}),
        ),
        label="step",
    )
    doc["steps"].insert(data.draw(st.integers(1, len(doc["steps"])), label="at"), step)
    run_scenario(tmp_path, dump(doc))


# ------------------------------------------------------------------------------------ syncledger do


def do(db: Path, *args: object) -> tuple[Result, int, int]:
    before = position(db)
    result = cli("do", *args, "--db", db)
    return result, before, position(db)


def assert_do_contract(result: Result, before: int, after: int) -> None:
    assert_contract(result)
    if result.code == 2:
        assert after == before, f"a refused action appended {after - before} events: {result}"
    else:
        assert after > before, str(result)


pair_keys = st.one_of(
    h.odd_text,
    st.lists(st.sampled_from(sorted(h.KNOWN_KEYS) + ["", "x"]), min_size=1, max_size=4).map(".".join),
    st.sampled_from(["", "=", ".", "..", "fields.", "fields..", ".fields", "fields.a.b", "user.x", "with"]),
)
pair_values = st.one_of(h.yaml_trap_text, h.odd_text_with_surrogates, st.sampled_from(("zoe", "z1", "contact")))


@given(
    verb=st.one_of(st.sampled_from(h.VERBS), h.near_miss_verbs, h.odd_text),
    pairs=st.lists(
        st.one_of(st.tuples(pair_keys, pair_values).map(lambda kv: f"{kv[0]}={kv[1]}"), h.odd_text), max_size=6
    ),
)
@MANY
def test_do_with_hostile_pairs(tmp_path: Path, verb: str, pairs: list[str]) -> None:
    assume(not verb.startswith("-") and not any(p.startswith("-") for p in pairs))  # options, not arguments
    db, _ = seeded(tmp_path)
    assert_do_contract(*do(db, verb, *pairs))


@given(key=h.unknown_keys.filter(lambda k: "=" not in k and k.split(".")[0] not in h.KNOWN_KEYS), value=pair_values)
@SOME
def test_do_refuses_an_unknown_key_and_appends_nothing(tmp_path: Path, key: str, value: str) -> None:
    assume(not key.startswith("-"))
    db, _ = seeded(tmp_path)
    result, before, after = do(db, "sync", "user=zoe", f"{key}={value}")
    assert_refused(result)
    assert after == before


@pytest.mark.parametrize(
    "args",
    [
        ["sync", "="],
        ["sync", "=="],
        ["sync", "=zoe"],
        ["sync", "user=zoe", ""],
        ["sync", "user=zoe", ".=1"],
        ["sync", "user=zoe", "..=1"],
        ["sync", "user.=zoe"],
        ["sync", "user=zoe", "user.x=1"],
        ["sync", "user="],
        ["sync", "user=[zoe]"],
        ["sync", "user={zoe: 1}"],
        ["sync", "user=null"],
        ["sync", "user=true"],
        ["sync", "user=2026-01-01"],
        ["sync", "user=zoe", "queued=[]"],
        ["sync", "user=zoe", "do=crm.delete"],
        ["sync", "user=zoe", "at=yesterday"],
        ["outlook.create", "user=zoe", "item=m1", "type=email", "fields.=x"],
        ["outlook.create", "user=zoe", "item=m1", "type=email", "fields..=x"],
        ["outlook.create", "user=zoe", "item=m1", "type=email", "fields.a.b=x"],
        ["outlook.create", "user=zoe", "item=m1", "type=email", "fields.a=1", "fields=x"],
        ["outlook.create", "user=zoe", "item=m1", "type=email", "fields=x"],
        ["crm.create", "actor=zoe", "record=z2", "type=appointment", "start=4102444800"],
        ["crm.create", "actor=zoe", "record=z2", "type=appointment", "start=5"],
        ["Sync", "user=zoe"],
        ["sync ", "user=zoe"],
        ["sync\x00", "user=zoe"],
        ["ѕync", "user=zoe"],
        ["sync", "user=zo\x00e"],
        ["sync", "user=\u202ezoe"],
        ["sync", "user=\udcff"],
        ["sync", "user=" + "[" * 10_000],
        ["sync", "user=" + "{" * 10_000],
        ["sync", "user=" + "9" * 5000],
        ["sync", "user=zoe", "id=" + "9" * 5000],
        ["crm.update", "actor=zoe", "record=z1", "fields.n=" + "9" * 5000, "start=" + "9" * 5000],
        ["sync", "user=" + "z" * MB10],
        ["sync", "user=zoe", "k" * 1_000_000 + "=1"],
        ["x" * 1_000_000, "user=zoe"],
        ["sync", "user=zoe", "id=" + "i" * 1_000_000],
    ],
    ids=lambda args: " ".join(a if len(a) <= 30 else f"{a[:12]}...({len(a):,})" for a in args),
)
def test_do_refuses_bad_pairs_in_one_short_line(tmp_path: Path, args: list[str]) -> None:
    db, _ = seeded(tmp_path)
    result, before, after = do(db, *args)
    assert_refused(result)
    assert after == before


@pytest.mark.parametrize("value", ["\udcff", "a\ud800b", "x" * MB10, "\x00", "\u202e😀\u2028"], ids=repr)
def test_do_field_values_are_kept_exactly_or_refused(tmp_path: Path, value: str) -> None:
    """Field values stay text; an undecodable byte in an argument (a lone surrogate) cannot be stored as JSON."""
    db, _ = seeded(tmp_path)
    result, before, after = do(db, "crm.update", "actor=zoe", "record=z1", f"fields.note={value}")
    assert_do_contract(result, before, after)
    if result.code == 0:
        state = json.loads(cli("state", "--json", "--db", db).out)
        assert state["crm"]["z1"]["fields"]["note"] == value


def test_an_undecodable_argument_byte_through_the_real_program(tmp_path: Path, run_cli: Run) -> None:
    """`fields.note=$'\\xff'` from a shell: Python decodes the byte as a lone surrogate."""
    db, before = seeded(tmp_path)
    result = run_cli("do", "crm.update", "actor=zoe", "record=z1", "fields.note=\udcff", "--db", db)
    assert_contract(Result(result.returncode, result.stdout, result.stderr))
    if result.returncode == 2:
        assert position(db) == before


def test_do_never_runs_yaml_tags(tmp_path: Path) -> None:
    db, _ = seeded(tmp_path)
    marker = tmp_path / "executed"
    for tag in PYTHON_TAGS:
        value = tag.format(m=marker)
        for key in ("user", "id", "record", "at", "start", "delete_in_crm"):
            assert_do_contract(*do(db, "sync", f"{key}={value}", "user=zoe"))
    assert not marker.exists(), "a command-line value ran code"


AT_GARBAGE = [
    "",
    " ",
    "now",
    "yesterday",
    "2026-03-02",
    "2026-03-02T09:00:00",
    "2026-03-02 09:00",
    "2026-13-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-03-02T25:00:00Z",
    "2026-03-02T09:00:00+25:00",
    "2026-03-02T09:00:00Z\n",
    "2026-03-02T09:00:00ZZ",
    "\x00",
    "0",
    "-1",
    "4102444800",
    "1e400",
    "9" * 5000,
    "２０２６-03-02T09:00:00Z",
    "2020-01-01T00:00:00Z",  # before the ledger's last time
    "0001-01-01T00:00:00+12:00",
    "x" * MB10,
]


@pytest.mark.parametrize("at", AT_GARBAGE, ids=lambda at: repr(at)[:30])
def test_do_refuses_at_garbage(tmp_path: Path, at: str) -> None:
    db, _ = seeded(tmp_path)
    result, before, after = do(db, "sync", "user=zoe", "--at", at)
    assert_refused(result)
    assert after == before


def _is_a_time(text: str) -> bool:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


@given(at=h.odd_text_with_surrogates)
@SOME
def test_do_refuses_random_at(tmp_path: Path, at: str) -> None:
    assume(not _is_a_time(at) and not at.startswith("-"))
    db, _ = seeded(tmp_path)
    result, before, after = do(db, "sync", "user=zoe", "--at", at)
    assert_refused(result)
    assert after == before


# ------------------------------------------------------------------------------- state, why, --db


@given(number=st.integers())
@SOME
def test_state_at_any_integer_position(tmp_path: Path, number: int) -> None:
    db, last = seeded(tmp_path)
    result = cli("state", "--position", number, "--json", "--db", db)
    if 0 <= number <= last:
        assert result.code == 0, str(result)
        assert json.loads(result.out)["position"] == number
    else:
        assert_refused(result)


@pytest.mark.parametrize(
    "text", ["-1", "abc", "", " ", "1.5", "1e3", "0x10", "9" * 5000, "٣", "1_0", "+1", "\x00", "NaN", "1" * MB10]
)
def test_state_position_garbage(tmp_path: Path, text: str) -> None:
    db, last = seeded(tmp_path)
    result = cli("state", "--position", text, "--json", "--db", db)
    assert_contract(result)
    if result.code == 0:
        assert 0 <= json.loads(result.out)["position"] <= last


@given(text=h.odd_text_with_surrogates)
@SOME
def test_state_random_position_and_time_and_user(tmp_path: Path, text: str) -> None:
    assume(not text.startswith("-"))
    db, _ = seeded(tmp_path)
    for option in ("--position", "--at", "--user"):
        assert_contract(cli("state", option, text, "--db", db))
    if text != "zoe":
        assert_refused(cli("state", "--user", text, "--db", db))


@pytest.mark.parametrize("user", ["", "\x00", "z" * 1_000_000, "zoe\n", "\udcff"], ids=lambda u: repr(u)[:20])
def test_state_refuses_an_unknown_user_in_one_short_line(tmp_path: Path, user: str) -> None:
    db, _ = seeded(tmp_path)
    assert_refused(cli("state", "--user", user, "--db", db))


WHY_REFS = [
    "",
    " ",
    "crm:",
    "crm",
    "outlook:",
    "outlook:/",
    "outlook:zoe/",
    "outlook:/z1",
    "outlook:zoe",
    "outlook:zoe/z1/extra",
    "user:",
    "user:nobody",
    "CRM:z1",
    "crm:z1 ",
    "crm:\x00",
    "crm:z1\n",
    "crm:\u202ez1",
    "crm:\udcff",
    "crm:" + "x" * MB10,
    "outlook:" + "a/" * 100_000,
    "crm:" + "crm:" * 100_000,
]


@pytest.mark.parametrize("ref", WHY_REFS, ids=lambda ref: repr(ref)[:30])
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_why_refuses_odd_references_in_one_short_line(tmp_path: Path, ref: str, as_json: bool) -> None:
    db, _ = seeded(tmp_path)
    assert_refused(cli("why", ref, *(["--json"] if as_json else []), "--db", db))


@given(ref=st.one_of(h.odd_text_with_surrogates, st.sampled_from(sorted(KNOWN_REFS))))
@SOME
def test_why_random_references(tmp_path: Path, ref: str) -> None:
    assume(not ref.startswith("-"))
    db, _ = seeded(tmp_path)
    result = cli("why", ref, "--db", db)
    if ref in KNOWN_REFS:
        assert result.code == 0, str(result)
    else:
        assert_refused(result)


@pytest.mark.parametrize(
    "content",
    [b"", b"not a database", b"SQLite format 3\x00" + b"\xff" * 200, b"\x00" * 4096],
    ids=["empty", "text", "bad-sqlite-header", "zeros"],
)
@pytest.mark.parametrize(
    "command",
    [["state"], ["why", "crm:z1"], ["do", "user.add", "user=amy"], ["run", "{scenario}"]],
    ids=["state", "why", "do", "run"],
)
def test_a_db_that_is_not_a_ledger_is_refused(tmp_path: Path, content: bytes, command: list[str]) -> None:
    db = write(tmp_path, content, ".db")
    scenario = write(tmp_path, "users: {amy: {}}\n")
    result = cli(*(arg.format(scenario=scenario) for arg in command), "--db", db)
    if content == b"":
        assert_contract(result)  # an empty file is an empty SQLite database
    else:
        assert_refused(result)
        assert db.read_bytes() == content


# ------------------------------------------------------------------- what the commands show of a value
# A hostile CRM subject (h.HOSTILE_SUBJECT: DEL, C1 controls, bidi marks, overrides and isolates, line
# separators) through the real program: the text, the JSON and the HTML timeline each show it escaped, never raw,
# and the JSON parses back to the subject itself.


@pytest.fixture(scope="module")
def subject_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("subject")
    scenario, db = folder / "subject.yaml", folder / "subject.db"
    scenario.write_text(h.subject_scenario(), encoding="utf-8")
    ran = subprocess.run(
        [sys.executable, "-m", "syncledger", "run", str(scenario), "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return db


def _with_subject(diff: dict[str, Any]) -> list[dict[str, Any]]:
    found = [c for c in diff["changes"] if "fields.subject" in c["fields"]]
    assert [c["ref"] for c in found] == ["crm:m1", "outlook:alice/m1"], found
    return found


SHOWING = {  # each command that shows the subject, and where its JSON holds the value itself
    "state": (["state"], lambda doc: [doc["outlook"]["alice"]["m1"]["fields"]["subject"]]),
    "why": (["why", "crm:m1"], lambda doc: [doc["label"]]),
    "history": (["history", "crm:m1"], lambda doc: [doc["label"]]),
    "diff": (["diff", "0", "6"], lambda doc: [c["fields"]["fields.subject"]["new"] for c in _with_subject(doc)]),
    "preview": (["preview", "alice"], lambda doc: [doc["decisions"][0]["effects"][0]["fields"]["subject"]]),
    "pending": (["pending"], None),  # its JSON has the sentence only, written as the text shows it
}


@pytest.mark.parametrize("name", SHOWING)
def test_json_output_escapes_display_controls_and_parses_to_the_same_subject(
    name: str, subject_ledger: Path, run_cli: Run
) -> None:
    command, values = SHOWING[name]
    result = run_cli(*command, "--json", "--db", subject_ledger)
    assert result.returncode == 0, result.stderr
    assert h.raw_display_controls(result.stdout) == [], f"raw in {name} --json"
    doc = json.loads(result.stdout)
    if values is None:  # the sentence, as the text output writes it (a literal backslash before x7f)
        assert "Invoice \\x7f \\x80" in doc["pending"]["alice"][0]["sentence"]
        return
    assert "\\u202e" in result.stdout and "\\u0085" in result.stdout  # JSON's own escapes
    assert values(doc) and all(value == h.HOSTILE_SUBJECT for value in values(doc)), values(doc)


@pytest.mark.parametrize("name", SHOWING)
def test_text_output_shows_display_controls_escaped(name: str, subject_ledger: Path, run_cli: Run) -> None:
    result = run_cli(*SHOWING[name][0], "--db", subject_ledger)
    assert result.returncode == 0, result.stderr
    assert h.raw_display_controls(result.stdout) == [], f"raw in {name}"
    assert "Invoice \\x7f \\x80\\x81" in result.stdout, result.stdout[:800]  # escaped, as Python writes them


def test_the_html_timeline_shows_display_controls_escaped(subject_ledger: Path, run_cli: Run, tmp_path: Path) -> None:
    page = tmp_path / "m1.html"
    result = run_cli("history", "crm:m1", "--html", page, "--db", subject_ledger)
    assert result.returncode == 0, result.stderr
    html = page.read_text(encoding="utf-8")
    assert h.raw_display_controls(html) == []
    assert "Invoice \\x7f \\x80\\x81" in html and "\\u202efdp.exe" in html  # what the text output shows


def test_exported_action_lines_escape_display_controls_and_import_the_same_subject(
    subject_ledger: Path, run_cli: Run, tmp_path: Path
) -> None:
    exported = run_cli("export", "--db", subject_ledger)
    assert exported.returncode == 0, exported.stderr
    assert h.raw_display_controls(exported.stdout) == [] and "\\u202e" in exported.stdout
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [line["fields"] for line in lines if "fields" in line] == [
        {"subject": h.HOSTILE_SUBJECT},
        {"category": h.HOSTILE_SUBJECT},
    ]
    (tmp_path / "lines.jsonl").write_text(exported.stdout, encoding="utf-8")
    assert run_cli("import", tmp_path / "lines.jsonl", "--db", tmp_path / "again.db").returncode == 0
    state = json.loads(run_cli("state", "--json", "--db", tmp_path / "again.db").stdout)
    assert state["crm"]["m1"]["fields"] == {"subject": h.HOSTILE_SUBJECT, "category": h.HOSTILE_SUBJECT}


@given(
    st.recursive(
        h.odd_text | st.text(st.characters(blacklist_categories=("Cs",))) | st.integers(-(2**63), 2**63 - 1),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=12,
    )
)
@MANY
def test_json_text_parses_to_the_value_it_was_given_with_no_display_control_raw(value: Any) -> None:
    text = json_text(value)
    assert h.raw_display_controls(text) == [] and "\n" not in text
    assert json.loads(text) == value


# ------------------------------------------------------------------------ action lines (import)

LINES = [
    {"id": "h-1", "at": "2026-01-02T09:00:00Z", "do": "user.add", "user": "yan"},
    {"id": "h-2", "at": "2026-01-02T09:01:00Z", "do": "crm.create", "actor": "yan", "record": "y1", "type": "task"},
    {"id": "h-3", "at": "2026-01-02T09:02:00Z", "do": "sync", "user": "yan"},
]


def jsonl(lines: list[Any]) -> bytes:
    return b"".join((line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines)


def import_lines(directory: Path, content: bytes, *, via_stdin: bool = False) -> Result:
    """`syncledger import FILE --db LEDGER` on a seeded ledger; a refusal must append nothing."""
    db, before = seeded(directory)
    if via_stdin:
        result = cli("import", "-", "--db", db, stdin=content)
    else:
        result = cli("import", write(directory, content, ".jsonl"), "--db", db)
    assert_contract(result)
    after = position(db)
    if result.code == 2:
        assert after == before, f"a refused import appended {after - before} events: {result}"
    return result


def refused_line(directory: Path, lines: list[Any], number: int, *, via_stdin: bool = False) -> None:
    result = import_lines(directory, jsonl(lines), via_stdin=via_stdin)
    assert_refused(result, rf"\bline {number}\b")


def test_the_base_action_lines_are_valid(tmp_path: Path) -> None:
    db, before = seeded(tmp_path)
    result = cli("import", write(tmp_path, jsonl(LINES), ".jsonl"), "--db", db)
    assert result.code == 0, str(result)
    assert position(db) > before


def _line(**change: Any) -> dict[str, Any]:
    line = {"id": "h-9", "at": "2026-01-02T09:03:00Z", "do": "crm.update", "actor": "yan", "record": "y1"}
    line.update(change)
    return {k: v for k, v in line.items() if v is not _DROP}


_DROP = object()
_UPDATE = b'{"id": "h-9", "at": "2026-01-02T09:03:00Z", "do": "crm.update", "actor": "yan", "record": "y1", '
BAD_LINES = [
    pytest.param(b"{", id="unclosed-object"),
    pytest.param(b"garbage", id="not-json"),
    pytest.param(b"{'do': 'sync'}", id="single-quotes"),
    pytest.param(b'{"do": "sync",}', id="trailing-comma"),
    pytest.param(b'{"do": "sync"} {"do": "sync"}', id="two-objects"),
    pytest.param(b"\x00", id="nul"),
    pytest.param(b"\xff\xfe", id="invalid-utf8"),
    pytest.param(
        b'{"id": "h-9", "at": "2026-01-02T09:03:00Z", "do": "sync", "user": "yan\xff"}', id="invalid-utf8-value"
    ),
    pytest.param(b"[]", id="array"),
    pytest.param(b"1", id="number"),
    pytest.param(b"null", id="null"),
    pytest.param(b'"sync"', id="string"),
    pytest.param(b"true", id="boolean"),
    pytest.param(b"[" * 10_000 + b"]" * 10_000, id="10000-arrays"),
    pytest.param(b"[" * 10_000, id="10000-unclosed-arrays"),
    pytest.param(b'{"a":' * 10_000 + b"1" + b"}" * 10_000, id="10000-objects"),
    pytest.param(_line(fields={"deep": json.loads("[" * 500 + "]" * 500)}), id="500-arrays-in-a-field"),
    pytest.param(b"x" * MB10, id="10MB-garbage"),
    pytest.param(_line(**{"k" * MB10: 1}), id="10MB-unknown-key"),
    pytest.param(_line(record="r" * MB10), id="10MB-record"),
    pytest.param(_line(extra="v" * MB10), id="10MB-value-of-unknown-key"),
    pytest.param(b'{"id": "h-9", "at": "2026-01-02T09:03:00Z", "do": "sync", "user": "\\udcff"}', id="surrogate-user"),
    pytest.param(_UPDATE + b'"fields": {"n": "\\ud800"}}', id="surrogate-field"),
    pytest.param(_UPDATE + b'"fields": {"n": NaN}}', id="NaN"),
    pytest.param(_UPDATE + b'"fields": {"n": Infinity}}', id="Infinity"),
    pytest.param(_UPDATE + b'"fields": {"n": 1' + b"0" * 5000 + b"}}", id="5001-digit-int"),
    pytest.param(_line(at=4102444800), id="at-number"),
    pytest.param(_line(at=1.5), id="at-float"),
    pytest.param(_line(at="2026-01-02T09:03:00"), id="at-without-zone"),
    pytest.param(_line(at="2026-01-02"), id="at-date"),
    pytest.param(_line(at="2020-01-01T00:00:00Z"), id="at-backwards"),
    pytest.param(_line(at="soon"), id="at-text"),
    pytest.param(_line(at=None), id="at-null"),
    pytest.param(_line(at=_DROP), id="at-missing"),
    pytest.param(_line(id=5), id="id-number"),
    pytest.param(_line(id=["h"]), id="id-list"),
    pytest.param(_line(id=""), id="id-empty"),
    pytest.param(_line(id=None), id="id-null"),
    pytest.param(_line(id="h-1"), id="id-of-another-action"),
    pytest.param(_line(do="crm.updat"), id="do-near-miss"),
    pytest.param(_line(do="CRM.update"), id="do-upper"),
    pytest.param(_line(do="crm.update "), id="do-space"),
    pytest.param(_line(do=None), id="do-null"),
    pytest.param(_line(do=["crm.update"]), id="do-list"),
    pytest.param(_line(do=_DROP), id="do-missing"),
    pytest.param(_line(do="decision", rule="X", cause=1, about=[]), id="a-decision"),
    pytest.param(_line(queued=[]), id="queued"),
    pytest.param(_line(unknown=1), id="unknown-key"),
    pytest.param(_line(actor=5), id="actor-number"),
    pytest.param(_line(actor=["yan"]), id="actor-list"),
    pytest.param(_line(actor={"name": "yan"}), id="actor-object"),
    pytest.param(_line(actor=""), id="actor-empty"),
    pytest.param(_line(actor="nobody"), id="actor-unknown"),
    pytest.param(_line(record="gone"), id="record-unknown"),
    pytest.param(_line(fields=["a"]), id="fields-list"),
    pytest.param(_line(fields="a=1"), id="fields-text"),
    pytest.param(_line(fields={"a": {"b": 1}}), id="field-object"),
    pytest.param(_line(fields={"a": [1]}), id="field-list"),
    pytest.param(_line(fields={"": 1}), id="field-empty-name"),
    pytest.param(_line(start="2026-01-02T10:00:00Z"), id="start-on-a-task"),
]


@pytest.mark.parametrize("bad", BAD_LINES)
def test_a_bad_line_is_refused_with_its_number_and_nothing_is_appended(tmp_path: Path, bad: Any) -> None:
    refused_line(tmp_path, [*LINES, bad], 4)


@pytest.mark.parametrize("number", [1, 2, 3])
def test_the_first_bad_line_is_named_wherever_it_is(tmp_path: Path, number: int) -> None:
    lines: list[Any] = [*LINES, _line()]
    lines[number - 1] = _line(do="crm.updat", id=f"h-{number}")
    refused_line(tmp_path, lines, number)


def test_the_same_id_with_different_content_in_one_file_is_refused(tmp_path: Path) -> None:
    refused_line(tmp_path, [*LINES, {**LINES[2], "at": "2026-01-02T09:05:00Z"}], 4)


def test_a_bad_line_on_standard_input_is_refused(tmp_path: Path) -> None:
    refused_line(tmp_path, [*LINES, b"[" * 10_000], 4, via_stdin=True)


@given(st.binary(max_size=300))
@SOME
def test_random_bytes_as_action_lines(tmp_path: Path, content: bytes) -> None:
    import_lines(tmp_path, content)


@given(value=h.json_values(surrogates=True, max_leaves=20))
@MANY
def test_random_json_as_an_action_line(tmp_path: Path, value: Any) -> None:
    if isinstance(value, dict):
        value["not-a-key"] = 1  # an unknown key: whatever else it holds, the line is refused
    refused_line(tmp_path, [LINES[0], value, *LINES[1:]], 2)


@given(st.data())
@MANY
def test_random_values_in_an_action_line(tmp_path: Path, data: st.DataObject) -> None:
    """Any key of a valid line given a value of another JSON type: refused, with the line's number."""
    number = data.draw(st.sampled_from((2, 3)), label="line")
    lines = [dict(line) for line in LINES]
    key = data.draw(st.sampled_from(sorted(lines[number - 1])), label="key")
    lines[number - 1][key] = data.draw(
        h.json_values(surrogates=True).filter(lambda v: not isinstance(v, str)), label="value"
    )
    assert_refused(import_lines(tmp_path, jsonl(lines)), rf"\bline {number}\b")
