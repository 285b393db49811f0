"""What `--db` points at, and what its storage does (issue 11, items 6 and 9; issue 14, point 6).

A reading command opens only a syncledger ledger: on another program's SQLite file or PostgreSQL schema, an
empty file, a missing schema, it changes nothing (no tables, no WAL switch) and says so in one line (exit 2). A
writing command creates a ledger only where there is nothing yet. Failures of the storage itself (a table of
another program named like ours, a reserved schema name, a damaged page, a full disk or a file size limit) are one
line saying what and where, never an internal error; `verify` reports a damaged file as a finding (exit 1)."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from syncledger.ledger.store import EventStore
from tests.conftest import POSTGRES_URL, require_postgres

Run = Callable[..., subprocess.CompletedProcess[str]]

READING = (("state",), ("why", "crm:c1"), ("history", "crm:c1"), ("verify",), ("export",), ("pending",))
WRITING = ("do", "user.add", "user=alice")


def _refused(result: subprocess.CompletedProcess[str], *mentions: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("syncledger: ") and result.stderr.count("\n") == 1, result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    for mention in mentions:
        assert mention in result.stderr, result.stderr


def _files(folder: Path) -> dict[str, str]:
    """Every file in the folder with a digest of its bytes: what a command must leave as it was."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


# ------------------------------------------------------------------------------------------------ SQLite files


def _foreign_file(path: Path, events_table: bool = False) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        if events_table:  # another program's table that happens to be called like the ledger's
            db.execute("CREATE TABLE stored_events (id INTEGER PRIMARY KEY, what TEXT)")
            db.execute("INSERT INTO stored_events (what) VALUES ('a thing')")
        else:
            db.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)")
            db.execute("INSERT INTO people (name) VALUES ('Jane')")


@pytest.mark.parametrize("events_table", [False, True], ids=["other tables", "a foreign stored_events"])
def test_no_command_changes_another_programs_sqlite_file(run_cli: Run, tmp_path: Path, events_table: bool) -> None:
    folder = tmp_path / "theirs"
    folder.mkdir()
    other = folder / "other-app.db"
    _foreign_file(other, events_table)
    before = _files(folder)
    mention = "table named stored_events" if events_table else "not a syncledger ledger"
    for command in (*READING, WRITING):
        _refused(run_cli(*command, "--db", other), str(other), mention)
        assert _files(folder) == before, command  # no tables, no journal switch, no -wal or -shm beside it
    with closing(sqlite3.connect(f"file:{other}?mode=ro", uri=True)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_reading_an_empty_file_changes_nothing_and_writing_creates_the_ledger(run_cli: Run, tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    for command in READING:
        _refused(run_cli(*command, "--db", empty), f"no ledger at {empty}")
        assert empty.stat().st_size == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"], command
    assert run_cli(*WRITING, "--db", empty).returncode == 0
    assert run_cli("state", "--db", empty).returncode == 0


def test_a_refused_scenario_leaves_no_ledger_file_behind(run_cli: Run, tmp_path: Path) -> None:
    scenario = tmp_path / "refused.yaml"
    step = "{do: crm.create, actor: nobody, record: c1, type: contact}"
    scenario.write_text(f"title: refused\nusers: {{alice: {{}}}}\nsteps:\n  - {step}\n")
    result = run_cli("run", scenario, "--db", tmp_path / "new.db")
    _refused(result, "unknown user 'nobody'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["refused.yaml"]
    # an existing ledger keeps what it holds (nothing of the file)
    assert (
        run_cli("do", "user.add", "user=bob", "--at", "2025-01-01T00:00:00Z", "--db", tmp_path / "kept.db").returncode
        == 0
    )
    _refused(run_cli("run", scenario, "--db", tmp_path / "kept.db"), "unknown user 'nobody'")
    store = EventStore(str(tmp_path / "kept.db"), create=False)
    try:
        assert store.last_position() == 1
    finally:
        store.close()


@pytest.fixture
def ledger(run_cli: Run, tmp_path: Path) -> Path:
    """A small ledger with enough events to span many pages of its file."""
    lines = tmp_path / "org.jsonl"
    made = subprocess.run(
        [sys.executable, "-m", "syncledger", "generate", "--users", "8", "--days", "2", "--seed", "5"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines.write_text(made.stdout)
    db = tmp_path / "ledger.db"
    imported = run_cli("import", lines, "--db", db)
    assert imported.returncode == 0, imported.stderr
    return db


def test_a_damaged_page_is_one_line_and_a_finding_of_verify(run_cli: Run, ledger: Path) -> None:
    with closing(sqlite3.connect(ledger)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        size = db.execute("PRAGMA page_size").fetchone()[0]
    assert pages > 20
    with ledger.open("r+b") as file:  # a page in the middle of the events' table, overwritten with garbage
        file.seek(pages // 2 * size)
        file.write(bytes(range(256)) * (size // 256))
    for command in (("state",), ("history", "crm:c1"), WRITING):
        _refused(run_cli(*command, "--db", ledger), f"the ledger at {ledger} is damaged", "malformed")
    found = run_cli("verify", "--db", ledger)
    assert found.returncode == 1, found.stdout + found.stderr
    assert "damaged" in found.stdout and "Traceback" not in found.stdout + found.stderr
    as_json = json.loads(run_cli("verify", "--json", "--db", ledger).stdout)
    assert not as_json["ok"] and "damaged" in as_json["findings"][0]["problem"]


def test_a_file_size_limit_during_an_import_is_one_line_and_the_ledger_stays_whole(
    run_cli: Run, ledger: Path, tmp_path: Path
) -> None:
    lines = tmp_path / "org.jsonl"
    db = tmp_path / "limited.db"

    def limited() -> None:  # what `ulimit -f` does: a write past it fails (Python ignores SIGXFSZ)
        resource.setrlimit(resource.RLIMIT_FSIZE, (len(ledger.read_bytes()) // 3,) * 2)

    env = {k: v for k, v in os.environ.items() if k != "SYNCLEDGER_DB"}
    result = subprocess.run(
        [sys.executable, "-m", "syncledger", "import", lines, "--db", db],
        preexec_fn=limited,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    _refused(result, f"cannot write to the ledger at {db}", "ulimit -f")
    verified = run_cli("verify", "--db", db)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    again = run_cli("import", lines, "--db", db)  # completes it
    assert again.returncode == 0, again.stderr
    state = json.loads(run_cli("state", "--json", "--db", db).stdout)
    assert state == json.loads(run_cli("state", "--json", "--db", ledger).stdout)


# ------------------------------------------------------------------------------------------- PostgreSQL schemas


@pytest.fixture
def schema() -> Iterator[str]:
    """A schema name of this test's own, dropped afterwards."""
    require_postgres()
    import psycopg

    name = f"syncledger_foreign_{os.getpid()}"
    yield name
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _catalogue(schema: str) -> tuple[list[str], list[str]]:
    """The schemas of the database like `schema`, and the tables of `schema`."""
    import psycopg

    with psycopg.connect(POSTGRES_URL) as connection:
        schemas = [r[0] for r in connection.execute("SELECT nspname FROM pg_namespace WHERE nspname = %s", (schema,))]
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1", (schema,)
        ).fetchall()
    return schemas, [r[0] for r in tables]


@pytest.mark.parametrize("events_table", [False, True], ids=["other tables", "a foreign stored_events"])
def test_no_command_changes_another_programs_postgres_schema(run_cli: Run, schema: str, events_table: bool) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
        table = "stored_events" if events_table else "people"
        connection.execute(f'CREATE TABLE "{schema}".{table} (id INT, what TEXT)')
    url = f"{POSTGRES_URL}?schema={schema}"
    before = _catalogue(schema)
    mention = "table named stored_events" if events_table else "not a syncledger ledger"
    for command in (*READING, WRITING):
        _refused(run_cli(*command, "--db", url), url, mention)
        assert _catalogue(schema) == before, command


def test_reading_a_missing_schema_creates_nothing_and_writing_creates_the_ledger(run_cli: Run, schema: str) -> None:
    url = f"{POSTGRES_URL}?schema={schema}"
    for command in READING[:2]:
        _refused(run_cli(*command, "--db", url), f"no ledger at {url}")
        assert _catalogue(schema) == ([], []), command
    assert run_cli(*WRITING, "--db", url).returncode == 0
    assert "stored_events" in _catalogue(schema)[1]
    assert run_cli("state", "--db", url).returncode == 0


def test_a_reserved_schema_name_is_one_line(run_cli: Run) -> None:
    require_postgres()
    for command in (("state",), WRITING):
        _refused(run_cli(*command, "--db", f"{POSTGRES_URL}?schema=pg_x"), "pg_", "reserved")
