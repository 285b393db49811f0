"""Shared fixtures: run the real `syncledger` command line (as `python -m tools`) in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `python -m tools ARGS...` (the same program as `syncledger`) and capture its output.

    The working directory defaults to the test's tmp_path, so a default `./syncledger.db` never lands in
    the repository; `SYNCLEDGER_DB` is removed so that only an explicit `--db` chooses the ledger.
    """

    def run(*args: object, cwd: Path | str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        env.pop("SYNCLEDGER_DB", None)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
        return subprocess.run(
            [sys.executable, "-m", "tools", *(str(arg) for arg in args)],
            cwd=str(cwd if cwd is not None else tmp_path),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run
