"""`syncledger demo`: a fresh sample ledger written from the shipped scenario (demo.yaml, beside this module)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .load import load
from .run import Outcome, run

DEMO_REF = "outlook:alice/c1"  # the item the demo asks `why` about


def write_demo(db: str) -> Outcome:
    """Replace the ledger file at `db` (a PostgreSQL schema is appended to) with the demo scenario's events;
    `ScenarioError` if the shipped file is broken."""
    if "://" not in db:
        for suffix in ("", "-wal", "-shm"):
            Path(db + suffix).unlink(missing_ok=True)
    with resources.as_file(resources.files("syncledger.tools.scenarios") / "demo.yaml") as path:
        return run(load(str(path)), db)
