"""Many `syncledger do` processes at once lose no write (issue 11, item 4): 8 processes, each running 100 `do`
one after the other, against one ledger. Every process opens the ledger, brings the read models up to date (the
race was there: two processes writing the same tracking position), appends, and writes the read models again.

Each `do` is the real command (`syncledger.tools.cli.main`, the entry point) in a process of its own, forked from
a driver that imported syncledger once: 800 fresh interpreters would cost minutes of start-up alone."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from syncledger.ledger import vocabulary as v
from syncledger.ledger.store import EventStore
from tests.conftest import POSTGRES_URL, Locations, require_postgres

PROCESSES, EACH = 8, 100  # the sizes of the issue

# one driver process: `do` EACH times, each in a forked child that runs the entry point and exits with its status
_DRIVER = r"""
import json, os, sys
from syncledger.tools.cli import main

location, worker, each = sys.argv[1], sys.argv[2], int(sys.argv[3])
results = []
for n in range(each):
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        os.dup2(write, 2)
        sys.argv = ["syncledger", "do", "crm.create", "actor=alice", f"record={worker}-{n}", "type=contact",
                    "--db", location]
        code = 0
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 0
        except BaseException:
            code = 99
        sys.stderr.flush()
        os._exit(code)
    os.close(write)
    with os.fdopen(read) as errors:
        said = errors.read()
    _, status = os.waitpid(child, 0)
    results.append([os.waitstatus_to_exitcode(status), said.strip()])
print(json.dumps(results))
"""


def _cli(*args: object) -> subprocess.CompletedProcess[str]:
    env = {k: val for k, val in os.environ.items() if k != "SYNCLEDGER_DB"}
    return subprocess.run(
        [sys.executable, "-m", "syncledger", *map(str, args)], env=env, capture_output=True, text=True, timeout=600
    )


def test_many_processes_doing_at_once_lose_no_write(stored: Locations) -> None:
    location = stored.new()
    assert location is not None
    added = _cli("do", "user.add", "user=alice", "--db", location)
    assert added.returncode == 0, added.stderr
    env = {k: val for k, val in os.environ.items() if k != "SYNCLEDGER_DB"}
    drivers = [
        subprocess.Popen(
            [sys.executable, "-c", _DRIVER, location, f"w{n}", str(EACH)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(PROCESSES)
    ]
    results = []
    for driver in drivers:
        out, err = driver.communicate(timeout=1800)
        assert driver.returncode == 0, err
        results += json.loads(out)
    failed = [said for code, said in results if code != 0]
    assert failed == [], f"{len(failed)} of {len(results)} failed; the first: {failed[0]}"

    store = EventStore(location)
    try:
        actions = [e for _, e in store.read() if isinstance(e, v.Action)]
    finally:
        store.close()
    created = sorted(e.record for e in actions if e.do == "crm.create")  # type: ignore[attr-defined]
    assert created == sorted(f"w{w}-{n}" for w in range(PROCESSES) for n in range(EACH))
    verified = _cli("verify", "--db", location)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def _refuse_index_writes(location: str) -> None:
    """Make every write of the item index fail from now on, as a full disk or a held lock would."""
    if "://" not in location:
        with closing(sqlite3.connect(location)) as db, db:
            db.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON syncledger_index "
                "BEGIN SELECT RAISE(FAIL, 'the index cannot be written'); END"
            )
        return
    import psycopg

    schema = location.rsplit("schema=", 1)[1]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(
            f'CREATE FUNCTION "{schema}".refuse() RETURNS trigger LANGUAGE plpgsql AS '
            "$$ BEGIN RAISE EXCEPTION 'the index cannot be written'; END $$"
        )
        connection.execute(
            f'CREATE TRIGGER refuse BEFORE INSERT ON "{schema}".syncledger_index '
            f'FOR EACH ROW EXECUTE FUNCTION "{schema}".refuse()'
        )


def test_a_read_model_that_cannot_be_written_never_fails_a_stored_append(stored: Locations) -> None:
    location = stored.new()
    assert location is not None
    assert _cli("do", "user.add", "user=alice", "--db", location).returncode == 0
    _refuse_index_writes(location)
    for n in range(2):  # the first after its append; the second also while catching up before it
        done = _cli("do", "crm.create", "actor=alice", f"record=c{n}", "type=contact", "--db", location)
        assert done.returncode == 0, done.stderr
    store = EventStore(location)
    try:
        assert [e.do for _, e in store.read()] == ["user.add", "crm.create", "crm.create"]
    finally:
        store.close()
    shown = _cli("state", "--json", "--db", location)
    assert shown.returncode == 0, shown.stderr
    assert sorted(json.loads(shown.stdout)["crm"]) == ["c0", "c1"]


def test_four_writers_appending_batches_on_postgresql_leave_a_ledger_that_verifies_without_a_warning(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The bench's several-writers measure, small (`tools/perf/writers.py`: 4 processes, each appending batches of
    20 generated actions of an organisation of its own with `Ledger.append`), then `verify`. A writer that checked
    the archive's seals while another wrote the next batch used to warn that the read models were "complete up to
    N, but sealed up to M", and ignore them; `verify` reported the same (`tests/projections/
    test_concurrent_readers.py` puts the other writer at each point in turn; this is the real thing, as it comes)."""
    require_postgres()
    from syncledger.tools.perf import writers
    from syncledger.tools.perf.generate import write_lines

    lines = tmp_path / "org.jsonl"
    with lines.open("wb") as out:
        write_lines(out, 20, 60, 5, 6_000)
    locations = Locations("postgres", tmp_path)
    location = locations.new()
    assert location is not None
    try:
        result = writers._run(location, lines, 4, actions=2_000)
        store = EventStore(location)
        try:
            stored = sum(isinstance(e, v.Action) for _, e in store.read())
        finally:
            store.close()
        assert stored == 2_000 - writers.BATCH * result["refused"]  # a refused batch appends nothing, whole
        assert stored >= 1_500
        verified = _cli("verify", "--db", location)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "warning" not in verified.stderr
        assert "warning" not in capfd.readouterr().err  # the writers' own
    finally:
        locations.drop()
