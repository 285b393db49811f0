"""What every command shares: the typer app, the common options, opening the ledger, and usage errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from syncledger.ledger.application import Ledger
from syncledger.ledger.store import StoreError
from syncledger.projections import reader as reader_module
from syncledger.projections.reader import Reader

from ..progress import progress

# `syncledger --help` lists the commands in this order: a first ledger, the support questions, checking the
# rules, moving actions in and out, then measuring; not in the order their modules happen to be imported
COMMANDS = (
    "demo",
    "do",
    "state",
    "why",
    "history",
    "pending",
    "preview",
    "diff",
    "rules",
    "run",
    "verify",
    "head",
    "import",
    "export",
    "generate",
    "bench",
)


class _InOrder(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        known = super().list_commands(ctx)
        return sorted(known, key=lambda name: COMMANDS.index(name) if name in COMMANDS else len(COMMANDS))


app = typer.Typer(
    cls=_InOrder,
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


def existing_location(db: str | None) -> str:
    """The ledger's location (`ledger_location`); a missing file is refused instead of becoming an empty ledger."""
    location = ledger_location(db)
    if "://" not in location and not Path(location).exists():
        raise Usage(
            f"no ledger at {location} (create one with 'syncledger demo' or 'syncledger do user.add "
            f"user=alice', or choose one with --db)"
        )
    return location


def open_reader(db: str | None, *, must_exist: bool = True) -> Reader:
    """The ledger at --db (or $SYNCLEDGER_DB, or ./syncledger.db) with its read models up to date; reading
    commands refuse a missing file instead of creating an empty ledger."""
    location = existing_location(db) if must_exist else ledger_location(db)
    try:
        with progress("bringing the read models up to date") as update:
            return reader_module.open_reader(location, progress=update)
    except StoreError as e:
        raise Usage(str(e)) from None


def open_ledger(db: str | None, *, must_exist: bool = True) -> Ledger:
    """The ledger at --db, opened for appending (its read models follow what it appends)."""
    return open_reader(db, must_exist=must_exist).ledger
