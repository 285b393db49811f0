"""What every command shares: the typer app, the common options, opening the ledger, and usage errors."""

from __future__ import annotations

import gc
import os
from datetime import UTC, datetime
from pathlib import Path

import typer

from syncledger.ledger.application import Ledger
from syncledger.ledger.store import StoreError
from syncledger.projections import reader as reader_module
from syncledger.projections.reader import Reader

from .inputs import Horizon
from .progress import progress

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="syncledger: the ledger of what Dynamics CRM and each user's Outlook did, and why.",
)

DEFAULT_DB = "./syncledger.db"
DbOption = typer.Option(
    None, "--db", help="Ledger: a SQLite file (default ./syncledger.db, or $SYNCLEDGER_DB) or a postgresql:// URL."
)
JsonOption = typer.Option(False, "--json", help="Print JSON instead of text.")
FutureOption = typer.Option(
    False, "--future", help="Accept times more than a year after both the ledger's last event and the clock."
)


def clock() -> datetime:
    """The time now: read here, in the command line, and handed to the ledger; the ledger reads no clock."""
    return datetime.now(UTC).replace(microsecond=0)


def horizon(future: bool) -> Horizon:
    """The typo guard for the times a command takes (`inputs.Horizon`), with the clock read now."""
    return Horizon(clock(), future)


def collect_for_bulk_work() -> None:
    """Set the garbage collector for a process that folds and imports millions of small objects. They make no
    reference cycles, so reference counting frees them; but the cyclic collector's default thresholds made it
    walk the whole growing heap again and again: 40% of an import's time, measured. Start-up objects are
    frozen out of its sight and it runs far less often (still, so that a rare cycle is freed)."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


class Usage(Exception):
    """Bad input or usage: exit status 2 with this one line."""


def ledger_location(db: str | None) -> str:
    return db or os.environ.get("SYNCLEDGER_DB") or DEFAULT_DB


def open_reader(db: str | None, *, must_exist: bool = True) -> Reader:
    """The ledger at --db (or $SYNCLEDGER_DB, or ./syncledger.db) with its read models up to date; reading
    commands refuse a missing file instead of creating an empty ledger."""
    location = ledger_location(db)
    if must_exist and "://" not in location and not Path(location).exists():
        raise Usage(
            f"no ledger at {location} (create one with 'syncledger demo' or 'syncledger do user.add "
            f"user=alice', or choose one with --db)"
        )
    try:
        with progress("bringing the read models up to date") as update:
            return reader_module.open_reader(location, progress=update)
    except StoreError as e:
        raise Usage(str(e)) from None


def open_ledger(db: str | None, *, must_exist: bool = True) -> Ledger:
    """The ledger at --db, opened for appending (its read models follow what it appends)."""
    return open_reader(db, must_exist=must_exist).ledger
