"""Processes a command starts end with it (issue 11, item 11): a rebuild far behind indexes the ledger in a second
process (`projections.projector`); when the command is killed with SIGKILL, which no handler of it sees, that
process must not go on alone."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from syncledger.projections.projector import PARALLEL_FROM


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "SYNCLEDGER_DB"}


@pytest.fixture(scope="module")
def big_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated ledger long enough that a rebuild indexes it in a second process."""
    folder = tmp_path_factory.mktemp("big")
    lines, db = folder / "org.jsonl", folder / "ledger.db"
    with lines.open("w") as out:
        subprocess.run(
            [sys.executable, "-m", "syncledger", "generate", "--users", "50", "--days", "40"]
            + ["--events", str(PARALLEL_FROM + 5_000)],
            stdout=out,
            env=_env(),
            check=True,
            timeout=600,
        )
    imported = subprocess.run(
        [sys.executable, "-m", "syncledger", "import", lines, "--db", db],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert imported.returncode == 0, imported.stderr
    return db


def _children(parent: int) -> list[int]:
    """The processes whose parent is `parent`, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting to be reaped by its new parent does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _tracking(db: Path) -> dict[str, int]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as reader:
        return {name: int(position) for name, position in reader.execute("SELECT * FROM syncledger_tracking")}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process table from /proc")
def test_killing_a_rebuild_ends_its_index_process_too(big_ledger: Path) -> None:
    with closing(sqlite3.connect(big_ledger)) as db, db:
        last = int(db.execute("SELECT max(originator_version) FROM stored_events").fetchone()[0])
        assert last >= PARALLEL_FROM
        db.execute("UPDATE syncledger_tracking SET position = 0 WHERE name = 'format'")  # read models rebuilt
    rebuilding = subprocess.Popen(
        [sys.executable, "-m", "syncledger", "state", "--json", "--db", big_ledger],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    second: list[int] = []
    while not second and rebuilding.poll() is None and time.monotonic() < deadline:
        second = [p for p in _children(rebuilding.pid) if b"catch_up_index" in Path(f"/proc/{p}/cmdline").read_bytes()]
        time.sleep(0.01)
    assert second, "the rebuild started no second process"
    rebuilding.send_signal(signal.SIGKILL)
    rebuilding.wait()

    deadline = time.monotonic() + 120  # a generous bound; it ends at once
    while _alive(second[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(second[0]), "the index process runs on after its parent was killed"
    # it ended with its parent, not because it had finished: the index is not complete
    assert _tracking(big_ledger).get("index", 0) < last

    # and what it left is a prefix that the next command completes
    again = subprocess.run(
        [sys.executable, "-m", "syncledger", "state", "--json", "--db", big_ledger],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert again.returncode == 0, again.stderr
    assert _tracking(big_ledger)["index"] == last
