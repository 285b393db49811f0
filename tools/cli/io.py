"""`syncledger export` and `syncledger import`: the ledger's user actions as action lines, and back (the work is
in `tools.transfer`)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import typer

from syncledger.ledger.store import ConflictError

from ..actionlines import BadLineError
from ..inputs import BadInputError, Point, parse_point
from ..output import console, one_line, print_json
from ..progress import progress
from ..transfer import export_lines, export_range, import_actions
from .app import DbOption, FutureOption, JsonOption, UsageError, app, horizon, open_ledger, open_reader, within_horizon

# ----------------------------------------------------------------------------------------------- export


@app.command("export")
def export(
    start: str | None = typer.Option(None, "--from", help="First action: a position or an ISO time (inclusive)."),
    end: str | None = typer.Option(None, "--to", help="Last action: a position or an ISO time (inclusive)."),
    future: bool = FutureOption,
    db: str | None = DbOption,
) -> None:
    """Write the ledger's user actions (not its decisions: an import decides them again) as action lines, in
    order, on standard output.

    \b
    Example:
        syncledger export --db old.db > actions.jsonl && syncledger import actions.jsonl --db new.db
    """
    reader = open_reader(db)
    first, last = _point(start, "--from"), _point(end, "--to")
    within_horizon(first, reader.world.at, future, "--from")
    within_horizon(last, reader.world.at, future, "--to")
    try:
        after, upto = export_range(reader, first, last)
    except BadInputError as e:
        raise UsageError(one_line(f"--from {start} --to {end}: {e}")) from None
    export_lines(reader.ledger, after, upto, sys.stdout.buffer)


def _point(text: str | None, option: str) -> Point | None:
    if text is None:
        return None
    try:
        return parse_point(text, option)
    except BadInputError as e:
        raise UsageError(one_line(str(e))) from None


# ----------------------------------------------------------------------------------------------- import


@app.command("import")
def import_(
    file: str = typer.Argument(..., help="Action lines (JSON Lines); - for standard input."),
    future: bool = FutureOption,
    json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """Append action lines to the ledger. Every line is checked through the rules first: one bad line appends
    nothing. Lines whose id the ledger already holds with the same content are skipped, so importing a file
    again is harmless (and completes an import that was interrupted).

    \b
    Example:
        syncledger import actions.jsonl --db team.db
    """
    name = "standard input" if file == "-" else file
    with _opened(file) as stream:
        ledger = open_ledger(db, must_exist=False)
        try:
            with progress("checking and importing") as update:
                found = import_actions(ledger, stream, update, horizon(future))
        except BadLineError as e:
            raise UsageError(one_line(f"{name}: {e}")) from None
        except ConflictError as e:
            raise UsageError(one_line(f"{name}: {e}; nothing more was appended, import the file again")) from None
    if json:
        print_json(found.document(name))
    elif found.appended:
        first, last = found.first, found.last
        decided = found.events - found.appended
        skipped = f"; {found.skipped} already in the ledger, skipped" if found.skipped else ""
        console.print(
            f"Imported {found.appended} actions from {name} at positions {first}..{last} (with {decided} "
            f"decisions){skipped}.",
            markup=False,
        )
    else:
        held = f"all {found.lines} actions of {name} are in the ledger already"
        console.print(f"Nothing to import: {held}.", markup=False)


@contextmanager
def _opened(file: str) -> Iterator[BinaryIO]:
    """The file (standard input for `-`), opened before the ledger so that a wrong name creates no ledger."""
    if file == "-":
        yield sys.stdin.buffer
        return
    try:
        stream = open(file, "rb")  # not `with open(...)` here: only this error is about the file
    except OSError as e:
        raise UsageError(one_line(f"cannot read {file}: {e.strerror or e}")) from None
    with stream:
        yield stream
