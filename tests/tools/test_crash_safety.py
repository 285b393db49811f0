"""Crash safety: an import killed with SIGKILL at a random moment leaves a ledger that opens, verifies, and
that the same import completes, with nothing duplicated and nothing lost."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

RUNS = 24


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("SYNCLEDGER_DB", None)
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


def _cli(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools", *map(str, args)],
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
            [sys.executable, "-m", "tools", "generate", "--users", "30", "--days", "3", "--seed", "4"],
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


def test_an_import_killed_at_random_moments_is_completed_by_importing_again(
    org: tuple[Path, str, int, float], tmp_path: Path
) -> None:
    lines, clean_state, count, duration = org
    complete = json.loads(clean_state)["position"]
    rng = random.Random(20261125)
    # The import checks every line first and appends last. Where the kills land is steered: after a kill that
    # came too late (the import had finished) the next come earlier, after one too early (nothing written yet)
    # later, so that on a slow or a fast machine enough of them land while it writes.
    early, late = 0.2 * duration, 1.3 * duration
    runs = killed_midway = 0
    while runs < RUNS or (killed_midway < 3 and runs < 4 * RUNS):
        runs += 1
        db = tmp_path / f"crash-{runs}.db"
        importing = subprocess.Popen(
            [sys.executable, "-m", "tools", "import", str(lines), "--db", str(db)],
            cwd=tmp_path,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        delay = rng.uniform(early, late)
        time.sleep(delay)
        importing.send_signal(signal.SIGKILL)
        importing.wait()
        partial = 0
        if db.exists():
            verified = _cli("verify", "--json", "--db", db, cwd=tmp_path)
            assert verified.returncode == 0, verified.stdout + verified.stderr
            partial = json.loads(verified.stdout)["events"]
        if partial == 0:
            early = min(delay, late - 0.05)
        elif partial >= complete:
            late = max(delay, early + 0.05)
        else:
            killed_midway += 1  # a prefix: the kill landed while it wrote
        again = _cli("import", lines, "--db", db, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert _cli("state", "--json", "--db", db, cwd=tmp_path).stdout == clean_state
        exported = _cli("export", "--db", db, cwd=tmp_path).stdout.splitlines()
        ids = [json.loads(line)["id"] for line in exported]
        assert len(ids) == count == len(set(ids))  # nothing lost, nothing duplicated
        assert _cli("verify", "--db", db, cwd=tmp_path).returncode == 0
    assert killed_midway >= 3, f"only {killed_midway} of {runs} kills landed in the middle of an import"
