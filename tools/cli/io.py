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
from ..sources.errors import SourceError
from ..sources.importer import read_inputs, run_import
from ..sources.load import detect, with_kinds
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
    last_at = reader.end()[1]  # an export decodes no present
    within_horizon(first, last_at, future, "--from")
    within_horizon(last, last_at, future, "--to")
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


@app.command("import", context_settings={"ignore_unknown_options": True})
def import_(
    files: list[str] = typer.Argument(
        ...,
        metavar="[--from KIND] FILE...",
        help="Action lines (- for standard input), or with --people a real organisation's exports: a baseline, "
        "Dataverse audits pages, Microsoft 365 audit CSVs (each file's kind is told from its content; --from "
        "baseline|dataverse|m365|actions before files forces theirs).",
    ),
    people: str | None = typer.Option(None, "--people", help="people.yaml: who is who in the exports."),
    skip_unknown_records: bool = typer.Option(
        False, "--skip-unknown-records", help="Count and skip rows about a record the ledger and baseline lack."
    ),
    future: bool = FutureOption,
    json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """Append action lines to the ledger, or a real organisation's exports (SOURCES.md) with --people. Every line
    and row is checked through the rules first: one bad one appends nothing. What the ledger already holds is
    skipped, so importing again is harmless (and completes an import that was interrupted).

    \b
    Example:
        syncledger import actions.jsonl --db team.db
        syncledger import --people people.yaml baseline.json audits-*.json m365-audit.csv --db contoso.db
    """
    given = _with_kinds(files)
    if people is None and not skip_unknown_records and len(given) == 1 and given[0][1] is None:
        file = given[0][0]
        if file == "-" or _kind_of(file) in (None, "actions"):
            _import_lines(file, future, json, db)
            return
    _import_sources(people, given, skip_unknown_records, json, db)


def _with_kinds(args: list[str]) -> list[tuple[str, str | None]]:
    try:
        return with_kinds(args)
    except ValueError as e:
        raise UsageError(one_line(str(e))) from None


def _kind_of(file: str) -> str | None:
    try:
        with open(file, "rb") as stream:
            head = stream.read(1 << 20)
    except OSError:
        return None
    return (
        detect(head)
        if len(head) < 1 << 20
        else ("actions" if head.lstrip(b"\xef\xbb\xbf").startswith(b'{"') else detect(head))
    )


def _import_sources(
    people_file: str | None, files: list[tuple[str, str | None]], skip_unknown: bool, json: bool, db: str | None
) -> None:
    for path, _ in files:
        if path == "-":
            raise UsageError("standard input is for action lines alone; give the exports as files")
    try:
        inputs = read_inputs(people_file, files)  # every file checked as input before a ledger is opened
        ledger = open_ledger(db, must_exist=False)
        with progress("judging the rows and importing"):
            report = run_import(ledger, inputs, skip_unknown_records=skip_unknown)
    except SourceError as e:
        raise UsageError(one_line(str(e))) from None
    except ConflictError as e:
        raise UsageError(one_line(f"{e}; nothing more was appended, import the files again")) from None
    if json:
        print_json(report.document())
    else:
        for line in report.text():
            console.print(line, markup=False)


def _import_lines(file: str, future: bool, json: bool, db: str | None) -> None:
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
