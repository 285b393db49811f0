"""Input the ledger cannot keep, would lose something over, or would mislead a reader with (issue 11, items 3, 5,
8 and 10), through the real `syncledger` command on SQLite and PostgreSQL.

- NUL (and lone surrogates): PostgreSQL text cannot hold `\\x00`; one such character in an id, a user, a field
  name or value, once stored, failed every later command (exit 70). It is refused where it enters, on every back
  end alike, and nothing is appended.
- `demo --db PATH` replaces an earlier demo only: any other ledger, database or file is refused and left as it was.
- Time: a time the calendar cannot hold past a time zone is refused; so is one more than a year after both the
  ledger's last event and the clock, unless `--future` says it is meant (a typo such as 2062 or 9999-12-31 froze
  the ledger's time: every later action without a time went backwards).
- Input: keys given twice (YAML, JSON lines, `do` arguments) are refused, naming the key and where; `do`'s `at=`
  (silently ignored) is refused; control characters in values are shown escaped by every text output and error.

Arguments cannot carry NUL into a real process, so `do` with NUL runs in this process (`syncledger.tools.cli.main`);
everything else runs as the real program.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest

from syncledger.ledger.store import EventStore
from syncledger.tools.cli import main
from tests.conftest import Locations

Run = Callable[..., subprocess.CompletedProcess[str]]

SEED_AT = "2026-01-01T08:00:00Z"
FAR = "2099-01-01T00:00:00Z"  # more than a year after the seed and after the clock, for the next 70 years
PAST_THE_END = "9999-12-31T23:59:59-05:00"  # in UTC, a time in the year 10000
DEMO_EVENTS = 39  # what `syncledger demo` appends to an empty ledger
SEEDED = 4  # the seed's events: three actions and the decision of zoe's sync


@dataclass(frozen=True)
class Result:
    returncode: object
    stdout: str
    stderr: str


def run(*args: object) -> Result:
    """`syncledger ARGS...`: in this process for SQLite, as the entry point runs it (hundreds of subprocesses
    would take many minutes); as the real program for PostgreSQL, whose connection pools end with the process.
    The tests that matter most run as the real program on both (`run_cli`)."""
    if any(str(arg).startswith("postgresql://") for arg in args):
        env = {k: v for k, v in os.environ.items() if k not in ("SYNCLEDGER_DB", "SYNCLEDGER_DEBUG")}
        done = subprocess.run(
            [sys.executable, "-m", "syncledger", *map(str, args)], capture_output=True, text=True, env=env, timeout=120
        )
        return Result(done.returncode, done.stdout, done.stderr)
    return Result(*cli(*args))


def cli(*args: object) -> tuple[object, str, str]:
    """`syncledger ARGS...` in this process, as the entry point runs it: (exit status, stdout, stderr)."""
    out, err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8"), io.StringIO()  # `export` writes bytes
    code: object = None
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(sys, "argv", ["syncledger", *(str(a) for a in args)]))
        stack.enter_context(mock.patch.dict(os.environ))
        os.environ.pop("SYNCLEDGER_DB", None)
        os.environ.pop("SYNCLEDGER_DEBUG", None)
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        try:
            main()
        except SystemExit as e:
            code = e.code
    out.flush()
    return code, out.buffer.getvalue().decode("utf-8", "backslashreplace"), err.getvalue()  # type: ignore[attr-defined]


SEED_LINES = [
    {"id": "s-1", "at": SEED_AT, "do": "user.add", "user": "zoe"},
    {"id": "s-2", "at": SEED_AT, "do": "crm.create", "actor": "zoe", "record": "z1", "type": "contact"},
    {"id": "s-3", "at": SEED_AT, "do": "sync", "user": "zoe"},
]


def seeded(stored: Locations) -> str:
    """A ledger holding user zoe, her contact z1 and her sync, at SEED_AT."""
    db = stored.new()
    assert db is not None
    seed = stored.tmp_path / "seed.jsonl"
    seed.write_text("".join(json.dumps(line) + "\n" for line in SEED_LINES))
    result = run("import", seed, "--db", db)
    assert result.returncode == 0, result.stderr
    assert position(db) == SEEDED
    return db


def position(db: str) -> int:
    store = EventStore(db)
    try:
        return store.last_position()
    finally:
        store.close()


def refused(result: subprocess.CompletedProcess[str] | Result, *mentions: str) -> None:
    """Exit status 2, one line on standard error, mentioning each of `mentions`."""
    assert result.returncode == 2, f"exit {result.returncode}: {result.stderr[:500]} {result.stdout[:300]}"
    assert result.stderr.startswith("syncledger: ") and result.stderr.count("\n") == 1, result.stderr[:500]
    for mention in mentions:
        assert mention in result.stderr, f"{mention!r} not in {result.stderr!r}"


def still_works(db: str, events: int) -> None:
    """The ledger holds `events` events and every command still answers."""
    assert position(db) == events
    for command in (["state", "--json"], ["verify"]):
        result = run(*command, "--db", db)
        assert result.returncode == 0, f"{command}: exit {result.returncode}: {result.stderr[:300]}"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------- 3: NUL and surrogates

NUL_SCENARIOS = {
    "user": 'users: {"a\\0b": {}}\n',
    "record": 'steps:\n  - {do: crm.create, actor: zoe, record: "r\\0", type: task}\n',
    "field name": 'steps:\n  - {do: crm.create, actor: zoe, record: r1, type: task, fields: {"n\\0": x}}\n',
    "field value": 'steps:\n  - {do: crm.update, actor: zoe, record: z1, fields: {note: "a\\0b"}}\n',
    "id": 'steps:\n  - {id: "i\\0", do: sync, user: zoe}\n',
    "check": 'expect: {why: {"crm:z\\0": X}, crm: {"z\\0": absent}}\n',
}


@pytest.mark.parametrize("where", sorted(NUL_SCENARIOS))
def test_nul_in_a_scenario_is_refused_and_the_ledger_keeps_working(
    stored: Locations, tmp_path: Path, run_cli: Run, where: str
) -> None:
    db = seeded(stored)
    before = position(db)
    scenario = write(tmp_path, "nul.yaml", "start: 2026-01-02T09:00:00Z\n" + NUL_SCENARIOS[where])
    refused(run_cli("run", scenario, "--db", db), "nul.yaml", "NUL", "\\x00")
    still_works(db, before)


NUL_LINES = {
    "user": {"do": "user.add", "user": "a\x00b"},
    "record": {"do": "crm.create", "actor": "zoe", "record": "r\x00", "type": "task"},
    "field name": {"do": "crm.update", "actor": "zoe", "record": "z1", "fields": {"n\x00": 1}},
    "field value": {"do": "crm.update", "actor": "zoe", "record": "z1", "fields": {"note": "a\x00b"}},
    "id": {"do": "sync", "user": "zoe", "id": "i\x00"},
    "surrogate": {"do": "crm.update", "actor": "zoe", "record": "z1", "fields": {"note": "a\udcffb"}},
}


@pytest.mark.parametrize("where", sorted(NUL_LINES))
def test_nul_in_an_action_line_is_refused_and_nothing_is_appended(
    stored: Locations, tmp_path: Path, where: str
) -> None:
    db = seeded(stored)
    before = position(db)
    good = {"id": "g-1", "at": "2026-01-02T09:00:00Z", "do": "sync", "user": "zoe"}
    bad = {"id": "g-2", "at": "2026-01-02T09:01:00Z", **NUL_LINES[where]}
    lines = tmp_path / "nul.jsonl"
    lines.write_bytes(b"".join(json.dumps(line).encode() + b"\n" for line in (good, bad)))
    refused(run("import", lines, "--db", db), "line 2")
    still_works(db, before)


@pytest.mark.parametrize(
    "args",
    [
        ["user.add", "user=a\x00"],
        ["crm.create", "actor=zoe", "record=r\x00", "type=task"],
        ["crm.update", "actor=zoe", "record=z1", "fields.note=a\x00b"],
        ["crm.update", "actor=zoe", "record=z1", "fields.n\x00=1"],
        ["sync", "user=zoe", "id=\x00"],
    ],
    ids=["user", "record", "field-value", "field-name", "id"],
)
def test_nul_in_do_arguments_is_refused_and_nothing_is_appended(stored: Locations, args: list[str]) -> None:
    db = seeded(stored)
    before = position(db)
    code, _, err = cli("do", *args, "--db", db)
    assert code == 2 and err.count("\n") == 1 and "NUL" in err, (code, err)
    still_works(db, before)


# ---------------------------------------------------------------------------------------------- 5: demo


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_demo_refuses_to_replace_a_ledger_that_is_not_a_demo(tmp_path: Path, run_cli: Run) -> None:
    """The issue's case: `demo --db` pointed at a real ledger deleted it."""
    db = tmp_path / "team.db"
    for args in (("user.add", "user=zoe"), ("crm.create", "actor=zoe", "record=z1", "type=contact")):
        assert run_cli("do", *args, "--at", SEED_AT, "--db", db).returncode == 0
    with contextlib.closing(sqlite3.connect(db)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = digest(db)
    refused(run_cli("demo", "--db", db), "not an earlier demo")
    assert digest(db) == before
    assert position(str(db)) == 2


@pytest.mark.parametrize("content", ["text", "foreign-sqlite", "directory", "demo-with-more"])
def test_demo_refuses_anything_but_an_earlier_demo(tmp_path: Path, run_cli: Run, content: str) -> None:
    target = tmp_path / "target.db"
    if content == "text":
        target.write_text("my notes\n")
    elif content == "foreign-sqlite":
        with contextlib.closing(sqlite3.connect(target)) as connection:
            connection.execute("CREATE TABLE invoices (number INTEGER)")
            connection.execute("INSERT INTO invoices VALUES (42)")
            connection.commit()
    elif content == "directory":
        target.mkdir()
        (target / "keep").write_text("x")
    else:  # a demo that someone went on to use: its new events are not the demo's
        assert run_cli("demo", "--db", target).returncode == 0
        assert run_cli("do", "user.add", "user=zed", "--db", target).returncode == 0
        with contextlib.closing(sqlite3.connect(target)) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = digest(target) if target.is_file() else sorted(p.name for p in target.iterdir())
    refused(run_cli("demo", "--db", target))
    after = digest(target) if target.is_file() else sorted(p.name for p in target.iterdir())
    assert after == before


def test_demo_replaces_an_earlier_demo(stored: Locations) -> None:
    db = stored.new()
    assert db is not None
    for _ in range(2):
        result = run("demo", "--db", db)
        assert result.returncode == 0, result.stderr
        assert position(db) == DEMO_EVENTS
    assert run("verify", "--db", db).returncode == 0


def test_demo_refuses_a_ledger_on_either_back_end(stored: Locations) -> None:
    db = seeded(stored)
    refused(run("demo", "--db", db), "not an earlier demo")
    still_works(db, SEEDED)


# ---------------------------------------------------------------------------------------------- 8: time


def time_entries(tmp_path: Path, db: str, at: str) -> dict[str, list[object]]:
    """Every way a time enters: the command line to run with `at` in it."""
    line = tmp_path / "at.jsonl"
    line.write_text(json.dumps({"id": "t-1", "at": at, "do": "sync", "user": "zoe"}) + "\n")
    step = write(tmp_path, "at.yaml", f"steps:\n  - {{at: '{at}', do: sync, user: zoe}}\n")
    start = write(tmp_path, "start.yaml", f"start: '{at}'\nusers: {{amy: {{}}}}\n")
    return {
        "do --at": ["do", "sync", "user=zoe", "--at", at],
        "import at": ["import", line],
        "run at": ["run", step],
        "run start": ["run", start],
        "state --at": ["state", "--at", at],
        "preview --at": ["preview", "zoe", "--at", at],
        "diff": ["diff", "1", at],
        "export --to": ["export", "--to", at],
    }


ENTRIES = ["do --at", "import at", "run at", "run start", "state --at", "preview --at", "diff", "export --to"]


@pytest.mark.parametrize("entry", ENTRIES)
def test_a_time_far_ahead_is_refused_without_future(stored: Locations, tmp_path: Path, entry: str) -> None:
    db = seeded(stored)
    command = time_entries(tmp_path, db, FAR)[entry]
    refused(run(*command, "--db", db), "2099-01-01", "--future")
    still_works(db, SEEDED)
    accepted = run(*command, "--future", "--db", db)
    assert accepted.returncode == 0, accepted.stderr


@pytest.mark.parametrize("entry", ENTRIES)
def test_a_time_past_the_calendar_is_refused(stored: Locations, tmp_path: Path, entry: str) -> None:
    db = seeded(stored)
    command = time_entries(tmp_path, db, PAST_THE_END)[entry]
    refused(run(*command, "--future", "--db", db), "outside the times the ledger can represent")
    still_works(db, SEEDED)


def test_a_ledger_already_ahead_is_the_measure(stored: Locations, run_cli: Run) -> None:
    """Once a far time is in the ledger (given with --future), times within a year of it need no --future."""
    db = seeded(stored)
    assert run_cli("do", "sync", "user=zoe", "--at", FAR, "--future", "--db", db).returncode == 0
    assert run_cli("do", "sync", "user=zoe", "--at", "2099-06-01T00:00:00Z", "--db", db).returncode == 0
    refused(run_cli("do", "sync", "user=zoe", "--at", "2100-06-02T00:00:00Z", "--db", db), "--future")


def test_a_scenario_that_creeps_ahead_step_by_step_is_measured_from_the_step_before(tmp_path: Path) -> None:
    """Each step is measured from the one before it: a scenario may span years, but not jump one at a time."""
    halves = [f"{year}-{month}-01T00:00:00Z" for year in range(2026, 2032) for month in ("01", "07")]
    steps = "".join(f"  - {{at: '{at}', do: sync, user: amy}}\n" for at in halves)
    creeping = write(tmp_path, "creep.yaml", f"start: 2026-01-01T00:00:00Z\nusers: {{amy: {{}}}}\nsteps:\n{steps}")
    assert run("run", creeping).returncode == 0
    jumping = write(
        tmp_path, "jump.yaml", "users: {amy: {}}\nsteps:\n  - {at: '2062-01-01T00:00:00Z', do: sync, user: amy}\n"
    )
    refused(run("run", jumping), "jump.yaml", "step 1", "--future")


# ---------------------------------------------------------------------------------------------- 10: input


def test_a_user_declared_twice_in_yaml_is_refused(stored: Locations, tmp_path: Path, run_cli: Run) -> None:
    db = seeded(stored)
    twice = write(tmp_path, "twice.yaml", "users:\n  amy: {}\n  amy: {sync_filter: owned_and_shared}\n")
    refused(run_cli("run", twice, "--db", db), "twice.yaml", "line 3", "'amy'", "given twice")
    still_works(db, SEEDED)


@pytest.mark.parametrize(
    "text",
    [
        "steps:\n  - {do: sync, user: amy, user: zoe}\n",
        "steps:\n  - {do: crm.create, actor: zoe, record: z1, type: task, fields: {a: 1, a: 2}}\n",
        "title: a\ntitle: b\n",
        "expect: {crm: {z1: absent}, crm: {}}\n",
    ],
    ids=["step", "fields", "top", "expect"],
)
def test_keys_given_twice_in_yaml_are_refused(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "dup.yaml", "users: {zoe: {}}\n" + text)
    refused(run("run", path), "dup.yaml", "given twice")


@pytest.mark.parametrize(
    "line",
    [
        b'{"id": "d-1", "at": "2026-01-02T09:00:00Z", "do": "user.add", "user": "zoe", "user": "amy"}',
        b'{"id": "d-1", "at": "2026-01-02T09:00:00Z", "do": "crm.update", "actor": "zoe", "record": "z1", '
        b'"fields": {"a": 1, "a" : 2}}',
        b'{"id": "d-1", "id": "d-2", "at": "2026-01-02T09:00:00Z", "do": "sync", "user": "zoe"}',
    ],
    ids=["user", "field", "id"],
)
def test_keys_given_twice_in_an_action_line_are_refused(stored: Locations, tmp_path: Path, line: bytes) -> None:
    db = seeded(stored)
    path = tmp_path / "dup.jsonl"
    path.write_bytes(b'{"id": "d-0", "at": "2026-01-02T08:00:00Z", "do": "sync", "user": "zoe"}\n' + line + b"\n")
    refused(run("import", path, "--db", db), "line 2", "given twice")
    still_works(db, SEEDED)


def test_a_colon_inside_a_value_is_not_a_key_given_twice(tmp_path: Path, stored: Locations) -> None:
    db = seeded(stored)
    path = tmp_path / "ok.jsonl"
    line = {"id": "k-1", "at": "2026-01-02T09:00:00Z", "do": "crm.update", "actor": "zoe", "record": "z1"}
    path.write_text(json.dumps({**line, "fields": {"note": 'say "a": b', "b": '": "'}}) + "\n")
    assert run("import", path, "--db", db).returncode == 0


@pytest.mark.parametrize(
    ("args", "mention"),
    [
        (["sync", "user=amy", "user=zoe"], "given twice"),
        (["crm.update", "actor=zoe", "record=z1", "fields.a=1", "fields.a=2"], "given twice"),
        (["crm.update", "actor=zoe", "record=z1", "fields.a=1", "fields=x"], "mixes"),
        (["sync", "user=zoe", "at=2026-05-01T00:00:00Z"], "--at"),
        (["sync", "user=zoe", "do=crm.delete"], "verb"),
    ],
    ids=["user", "field", "value-over-nested", "at", "do"],
)
def test_do_refuses_keys_given_twice_and_arguments_it_would_ignore(
    stored: Locations, args: list[str], mention: str
) -> None:
    db = seeded(stored)
    refused(run("do", *args, "--db", db), mention)
    still_works(db, SEEDED)


ESC = "\x1b[2J\x1b[31m"  # clear the screen, then red
CONTROLS = ESC + "\x07\u202e"


def test_control_characters_are_shown_escaped_in_text_output(stored: Locations, tmp_path: Path, run_cli: Run) -> None:
    db = seeded(stored)
    before = position(db)
    scenario = write(
        tmp_path,
        "odd.yaml",
        "start: 2026-01-02T09:00:00Z\nsteps:\n"
        f"  - {{do: crm.create, actor: zoe, record: {json.dumps('r' + CONTROLS)}, type: contact, "
        f"fields: {{fullname: {json.dumps('Jane' + CONTROLS + chr(0x85) + chr(10) + '@99 forged line')}}}}}\n"
        "  - {do: sync, user: zoe}\n",
    )
    assert run_cli("run", scenario, "--db", db).returncode == 0
    record = "r" + CONTROLS
    after = position(db)
    for command in (["state"], ["why", f"crm:{record}"], ["history", f"crm:{record}"], ["diff", before, after]):
        result = run_cli(*command, "--db", db)
        assert result.returncode == 0, f"{command}: {result.stderr}"
        for char in ("\x1b", "\x07", "\u202e", "\x85", "\n@99"):
            assert char not in result.stdout, f"{command}: {char!r} printed raw"
        assert "\\x1b[2J" in result.stdout, f"{command}: {result.stdout[:600]}"
    assert "\\n@99 forged line" in run_cli("state", "--db", db).stdout


def test_control_characters_are_shown_escaped_in_refusals_and_reports(tmp_path: Path, run_cli: Run) -> None:
    refusal = run_cli("do", "sync", f"user={ESC}", "--db", tmp_path / "x.db")
    refused(refusal, "\\x1b[2J")
    assert "\x1b" not in refusal.stderr
    failing = write(
        tmp_path, "title.yaml", f"title: {json.dumps('T' + CONTROLS)}\nexpect: {{crm: {{c1: {{type: task}}}}}}\n"
    )
    report = run_cli("run", failing)
    assert report.returncode == 1
    assert "T\\x1b[2J" in report.stdout and "\x1b" not in report.stdout, report.stdout
