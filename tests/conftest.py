"""Shared fixtures: run the real `syncledger` command line (as `python -m syncledger`) in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `python -m syncledger ARGS...` (the same program as `syncledger`) and capture its output.

    The working directory defaults to the test's tmp_path, so a default `./syncledger.db` never lands in
    the repository; `SYNCLEDGER_DB` is removed so that only an explicit `--db` chooses the ledger.
    """

    def run(*args: object, cwd: Path | str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        env.pop("SYNCLEDGER_DB", None)
        return subprocess.run(
            [sys.executable, "-m", "syncledger", *(str(arg) for arg in args)],
            cwd=str(cwd if cwd is not None else tmp_path),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


# ---------------------------------------------------------------------------------------------- back ends

POSTGRES_URL = os.environ.get("SYNCLEDGER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ("memory", "sqlite", "postgres")


def _postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used for tests, or None when it answers."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except Exception as e:  # any failure to connect means: not here
        return f"PostgreSQL at {POSTGRES_URL} does not answer ({type(e).__name__}: {' '.join(str(e).split())[:120]})"
    return None


_POSTGRES_PROBLEM = _postgres_problem()


def require_postgres() -> None:
    """Skip with the reason, unless SYNCLEDGER_REQUIRE_POSTGRES=1 (CI), which makes it a failure."""
    if _POSTGRES_PROBLEM is None:
        return
    if os.environ.get("SYNCLEDGER_REQUIRE_POSTGRES") == "1":
        pytest.fail(_POSTGRES_PROBLEM)
    pytest.skip(_POSTGRES_PROBLEM)


class Locations:
    """Fresh, empty ledger locations on one back end; PostgreSQL ones are schemas dropped afterwards."""

    def __init__(self, backend: str, tmp_path: Path) -> None:
        self.backend, self.tmp_path, self.schemas = backend, tmp_path, []  # type: ignore[var-annotated]

    def new(self) -> str | None:
        n = len(self.schemas) + len(list(self.tmp_path.glob("ledger-*.db"))) + 1
        if self.backend == "memory":
            return None
        if self.backend == "sqlite":
            return str(self.tmp_path / f"ledger-{n}.db")
        schema = f"syncledger_test_{os.getpid()}_{id(self) % 100000}_{n}"
        self.schemas.append(schema)
        return f"{POSTGRES_URL}?schema={schema}"

    def drop(self) -> None:
        if not self.schemas:
            return
        import gc

        import psycopg

        gc.collect()  # connections a test left to the garbage collector close now, not when the server is full

        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            for schema in self.schemas:
                connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=BACKENDS)
def locations(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Locations]:
    """Every test that takes this runs once per back end: in memory, a SQLite file, a PostgreSQL schema."""
    if request.param == "postgres":
        require_postgres()
    made = Locations(request.param, tmp_path)
    yield made
    made.drop()


@pytest.fixture(params=[b for b in BACKENDS if b != "memory"])
def stored(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Locations]:
    """Ledger locations on the two back ends that outlive a process (a SQLite file, a PostgreSQL schema), for the
    tests where other processes, or the real command, open the same ledger."""
    if request.param == "postgres":
        require_postgres()
    made = Locations(request.param, tmp_path)
    yield made
    made.drop()
