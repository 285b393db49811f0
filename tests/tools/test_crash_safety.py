"""Crash safety: an import killed with SIGKILL at a random moment leaves a ledger that opens, verifies, holds
nothing or everything of that import (it publishes in one transaction), and that the same import completes, with
nothing duplicated and nothing lost."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

RUNS = 24


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("SYNCLEDGER_DB", None)
    return env


def _cli(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syncledger", *map(str, args)],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, int, float]:
    """An organisation's action lines, and the state a clean import of them gives."""
    folder = tmp_path_factory.mktemp("org")
    lines = folder / "org.jsonl"
    with lines.open("w") as out:
        subprocess.run(
            [sys.executable, "-m", "syncledger", "generate", "--users", "30", "--days", "3", "--seed", "4"],
            stdout=out,
            env=_env(),
            check=True,
            timeout=300,
        )
    started = time.monotonic()
    reference = _cli("import", lines, "--db", folder / "clean.db", cwd=folder)
    duration = time.monotonic() - started
    assert reference.returncode == 0, reference.stderr
    state = _cli("state", "--json", "--db", folder / "clean.db", cwd=folder).stdout
    return lines, state, sum(1 for _ in lines.open()), duration


def _kill_while_writing(importing: subprocess.Popen[bytes], db: Path, rng: random.Random) -> None:
    """Kill the import around the moment a reader sees it published: timed by what the ledger holds, not by the
    clock, so that the kill lands near its one transaction on a slow or a fast machine alike."""
    deadline = time.monotonic() + 120
    while importing.poll() is None and time.monotonic() < deadline and not _stored(db):
        time.sleep(0.001)
    time.sleep(rng.uniform(0, 0.003))
    importing.send_signal(signal.SIGKILL)


def _stored(db: Path) -> int:
    """How many events a reader sees in the ledger now (0 while it has none, or no table yet)."""
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1)) as reader:
            return int(reader.execute("SELECT count(*) FROM stored_events").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_an_import_killed_at_random_moments_is_completed_by_importing_again(
    org: tuple[Path, str, int, float], tmp_path: Path
) -> None:
    lines, clean_state, count, duration = org
    complete = json.loads(clean_state)["position"]
    rng = random.Random(20261125)
    outcomes = set()
    for run in range(RUNS):
        db = tmp_path / f"crash-{run}.db"
        importing = subprocess.Popen(
            [sys.executable, "-m", "syncledger", "import", str(lines), "--db", str(db)],
            cwd=tmp_path,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if run % 2:
            _kill_while_writing(importing, db, rng)
        else:  # anywhere in the run: while it starts, checks, writes, or after it finished
            time.sleep(rng.uniform(0, 1.1) * duration)
            importing.send_signal(signal.SIGKILL)
        importing.wait()
        partial = 0
        if db.exists():
            verified = _cli("verify", "--json", "--db", db, cwd=tmp_path)
            if not (verified.returncode == 2 and "no ledger at" in verified.stderr):  # killed before it made one
                assert verified.returncode == 0, verified.stdout + verified.stderr
                partial = json.loads(verified.stdout)["events"]
        assert partial in (0, complete), f"run {run}: {partial} of {complete} events published"
        outcomes.add(partial)
        again = _cli("import", lines, "--db", db, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert _cli("state", "--json", "--db", db, cwd=tmp_path).stdout == clean_state
        exported = _cli("export", "--db", db, cwd=tmp_path).stdout.splitlines()
        ids = [json.loads(line)["id"] for line in exported]
        assert len(ids) == count == len(set(ids))  # nothing lost, nothing duplicated
        assert _cli("verify", "--db", db, cwd=tmp_path).returncode == 0
    assert outcomes == {0, complete}, "some kills landed before the publish, some after"
