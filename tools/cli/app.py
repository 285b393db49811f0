"""What every command shares: the typer app, the common options, opening the ledger, and usage errors."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import typer
from typer.core import TyperGroup

from syncledger.ledger.application import Ledger
from syncledger.ledger.location import OPENED, from_storage, is_damage, storage_problem
from syncledger.ledger.store import EventStore, NoLedger, StoreError
from syncledger.projections import reader as reader_module
from syncledger.projections.reader import Reader

from ..inputs import BadInputError, Horizon, Point
from ..output import console, db_option, print_json
from ..progress import progress

# `syncledger --help` lists the commands in this order: a first ledger, the support questions, checking the
# rules, moving actions in and out, then measuring; not in the order their modules happen to be imported. Each is
# registered by the module of this package named here, which the entry point imports only for its own command
# (`syncledger.tools.cli.load_commands`)
COMMANDS = {
    "demo": "scenarios",
    "do": "ledger",
    "state": "ledger",
    "why": "audit",
    "history": "history",
    "pending": "audit",
    "preview": "audit",
    "diff": "audit",
    "whatif": "whatif",
    "rules": "ledger",
    "run": "scenarios",
    "extract": "scenarios",
    "verify": "verify",
    "head": "verify",
    "import": "io",
    "convert": "organisation",
    "discrepancies": "organisation",
    "export": "io",
    "generate": "perf",
    "bench": "perf",
}
_ORDER = list(COMMANDS)


class _InOrder(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        known = super().list_commands(ctx)
        return sorted(known, key=lambda name: _ORDER.index(name) if name in COMMANDS else len(COMMANDS))


app = typer.Typer(
    cls=_InOrder,
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="syncledger: the ledger of what Dynamics CRM and each user's Outlook did, and why.",
)


@app.callback()
def _commands() -> None:
    """The app is a group of commands even when one is registered (`load_commands` registers only the one asked
    for; typer would make a lone command the program itself, and take its name for an argument)."""


DEFAULT_DB = "./syncledger.db"
DbOption = typer.Option(
    None, "--db", help="Ledger: a SQLite file (default ./syncledger.db, or $SYNCLEDGER_DB) or a postgresql:// URL."
)
JsonOption = typer.Option(False, "--json", help="Print JSON instead of text.")
REF_HELP = "crm:<record> or outlook:<user>/<item>; a unique prefix of the id will do (4+ characters)"
FutureOption = typer.Option(
    False, "--future", help="Accept times more than a year after both the ledger's last event and the clock."
)


def clock() -> datetime:
    """The time now: read here, in the command line, and handed to the ledger; the ledger reads no clock."""
    return datetime.now(UTC).replace(microsecond=0)


def horizon(future: bool) -> Horizon:
    """The typo guard for the times a command takes (`inputs.Horizon`), with the clock read now."""
    return Horizon(clock(), future)


def within_horizon(point: Point | None, last: datetime | None, future: bool, what: str) -> None:
    """A time given to a reading command (`state --at`, `diff`, `--since`, `--from`...) passes the typo guard, or
    the command ends with `UsageError`; positions and absent points pass as they are."""
    if isinstance(point, datetime):
        try:
            horizon(future).check(point, last, what)
        except BadInputError as e:
            raise UsageError(str(e)) from None


class UsageError(Exception):
    """Bad input or usage: exit status 2 with this one line."""


def ledger_location(db: str | None) -> str:
    return db or os.environ.get("SYNCLEDGER_DB") or DEFAULT_DB


def open_store(db: str | None) -> tuple[str, EventStore]:
    """The event store of the ledger at --db, for commands that read the events without the read models (`head`,
    `verify`): only an existing ledger is opened, as `open_reader` does; nothing is created or changed."""
    location = ledger_location(db)
    try:
        return location, EventStore(location, create=False)
    except NoLedger as e:
        raise UsageError(_no_ledger_hint(e, location, db)) from None
    except StoreError as e:
        raise UsageError(str(e)) from e  # the cause tells `reports_damage` a damaged file from other refusals


def _no_ledger_hint(error: NoLedger, location: str, db: str | None) -> str:
    return (
        f"{error} (create one with 'syncledger demo{db_option(location)}' or 'syncledger do user.add user=alice"
        f"{db_option(db)}', or choose one with --db)"
    )


def open_reader(db: str | None, *, must_exist: bool = True) -> Reader:
    """The ledger at --db (or $SYNCLEDGER_DB, or ./syncledger.db) with its read models up to date. Reading
    commands open only a ledger: where there is none, or something else, they change nothing and say so."""
    location = ledger_location(db)
    try:
        with progress("bringing the read models up to date") as update:
            return reader_module.open_reader(location, progress=update, create=not must_exist)
    except NoLedger as e:
        raise UsageError(_no_ledger_hint(e, location, db)) from None
    except StoreError as e:
        raise UsageError(str(e)) from e  # the cause tells `reports_damage` a damaged file from other refusals


def storage_failure(error: BaseException) -> str | None:
    """One line for a failure of the storage under the ledger (a full disk, a damaged file, a lost server), naming
    the ledger last opened; None for anything else (a bug, even one the storage reports, such as bad SQL)."""
    if not from_storage(error):
        return None
    return storage_problem(error, OPENED[-1] if OPENED else "the ledger")


Command = TypeVar("Command", bound=Callable[..., Any])


def reports_damage(command: Command) -> Command:
    """For `verify`: a ledger whose storage is damaged (a corrupt page) is a finding, exit status 1, with what and
    where; not a usage error, and never an internal one."""

    @functools.wraps(command)
    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Exception as e:
            if not is_damage(e):
                raise
            problem = storage_failure(e) or str(e)
            if kwargs.get("json"):
                print_json({"ok": False, "findings": [{"position": None, "check": "storage", "problem": problem}]})
            else:
                console.print(f"1 finding: the storage: {problem}", markup=False)
            raise typer.Exit(1) from None

    return checked  # type: ignore[return-value]


def open_ledger(db: str | None, *, must_exist: bool = True) -> Ledger:
    """The ledger at --db, opened for appending (its read models follow what it appends)."""
    return open_reader(db, must_exist=must_exist).ledger
