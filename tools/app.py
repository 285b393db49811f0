"""What every command shares: the typer app, the common options, opening the ledger, and usage errors."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from ledger.application import Ledger
from ledger.store import EventStore, StoreError
from projections.reader import Reader

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


class Usage(Exception):
    """Bad input or usage: exit status 2 with this one line."""


def ledger_location(db: str | None) -> str:
    return db or os.environ.get("SYNCLEDGER_DB") or DEFAULT_DB


def open_ledger(db: str | None, *, must_exist: bool = True) -> Ledger:
    """The ledger at --db (or $SYNCLEDGER_DB, or ./syncledger.db); reading commands refuse a missing file."""
    location = ledger_location(db)
    if must_exist and "://" not in location and not Path(location).exists():
        raise Usage(
            f"no ledger at {location} (create one with 'syncledger demo' or 'syncledger do user.add "
            f"user=alice', or choose one with --db)"
        )
    try:
        return Ledger(EventStore(location))
    except StoreError as e:
        raise Usage(str(e)) from None


def open_reader(db: str | None) -> Reader:
    return Reader(open_ledger(db))
