"""`syncledger convert` and `syncledger discrepancies`: a real organisation's exports as the action lines an
import would append, and the rows the ledger recorded as discrepancies (the import itself is `import --people`,
in `io`; the work is in `tools.sources`)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from typing import Any

import typer

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger

from ..actionlines import to_line
from ..output import console, one_line, print_json
from ..sources.errors import SourceError
from ..sources.importer import read_inputs, run_import
from ..sources.load import with_kinds
from ..sources.times import iso
from .app import DbOption, JsonOption, UsageError, app, ledger_location, open_ledger, open_reader


@app.command("convert", context_settings={"ignore_unknown_options": True})
def convert(
    files: list[str] = typer.Argument(
        ..., metavar="[--from KIND] FILE...", help="What `import --people` takes: baseline, Dataverse, M365, actions."
    ),
    people: str | None = typer.Option(None, "--people", help="people.yaml: who is who in the exports."),
    skip_unknown_records: bool = typer.Option(
        False, "--skip-unknown-records", help="Count and skip rows about a record the ledger and baseline lack."
    ),
    db: str | None = typer.Option(
        None, "--db", help="The ledger an import would append to (default: none, an empty ledger); never changed."
    ),
) -> None:
    """Write every action line an import of these files would append (users, the baseline, the actions with their
    `source`, inferred syncs, aliases, discrepancies) on standard output, appending nothing: a person can read,
    fix and keep them, and importing them gives the same ledger.

    \b
    Example:
        syncledger convert --people people.yaml baseline.json audits.json m365.csv > actions.jsonl
    """
    try:
        given = with_kinds(files)
    except ValueError as e:
        raise UsageError(one_line(str(e))) from None
    out = sys.stdout.buffer
    with tempfile.TemporaryFile() as lines:  # written out only when every row was good: kept on disk until then
        try:
            inputs = read_inputs(people, given)
            ledger = open_ledger(db) if db is not None else Ledger()

            def write(action: v.Action) -> None:
                lines.write(to_line(action))

            run_import(ledger, inputs, skip_unknown_records=skip_unknown_records, append=False, collect=write)
        except SourceError as e:
            raise UsageError(one_line(str(e))) from None
        lines.seek(0)
        shutil.copyfileobj(lines, out)
    out.flush()


@app.command("discrepancies")
def discrepancies(json: bool = JsonOption, db: str | None = DbOption) -> None:
    """List every discrepancy an import recorded: a row of a real export that the ledger would refuse only because
    of a state its own rules or inferred syncs produced (a sync that did not run when assumed, a plug-in, a
    second device), each with the decision behind that state.

    \b
    Example:
        syncledger discrepancies --db contoso.db
    """
    reader = open_reader(db)
    found = [(p, e) for p, e in reader.ledger.events() if isinstance(e, v.DiscrepancyFound)]
    if json:
        print_json([_document(p, e) for p, e in found])
        return
    if not found:
        console.print(f"No discrepancies in {ledger_location(db)}.", markup=False)
        return
    console.print(f"{len(found)} discrepanc{'y' if len(found) == 1 else 'ies'}:", markup=False)
    for position, e in found:
        decision = e.decision
        behind = (
            f"; contradicts {decision.rule} at #{decision.position} ({iso(decision.at)})"
            if decision is not None
            else "; no rule did this"
        )
        what = f"{e.action.get('do')} of {e.action.get('item') or e.action.get('record')} by {e.user_name}"
        console.print(
            f"@{position} {iso(e.when)} {e.row.file} row {e.row.row} ({e.row.id}): {what}: {e.refusal}{behind}",
            markup=False,
        )


def _document(position: int, e: v.DiscrepancyFound) -> dict[str, Any]:
    data = v.dump(e)
    data.pop("queued", None)
    return {"position": position, **data}
