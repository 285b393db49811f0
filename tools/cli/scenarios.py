"""`syncledger run` and `syncledger demo`: scenario files through the real ledger."""

from __future__ import annotations

import sys

import typer

from syncledger.ledger.store import StoreError
from syncledger.projections.document import state_document
from syncledger.projections.reader import open_reader

from .. import scenarios
from ..explain.history import is_item_ref
from ..explain.refs import resolve_ref
from ..explain.story import story
from ..explain.text import print_story
from ..inputs import BadInputError
from ..output import console, db_option, fail, print_json, printable
from ..reports import print_state
from ..scenarios.demo import DEMO_REF, write_demo
from ..scenarios.earlier_demo import NotADemo
from .app import REF_HELP, DbOption, FutureOption, JsonOption, UsageError, app, horizon
from .app import open_reader as app_open_reader


@app.command()
def run(
    files: list[str] = typer.Argument(..., help="Scenario files (YAML)."),
    future: bool = FutureOption,
    json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """Run scenario files, each in a fresh in-memory ledger (or appended to --db), and check their expectations.

    \b
    Example:
        syncledger run tests/scenarios/*.yaml
    """
    worst = 0
    statuses: list[int] = []
    for path in files:
        try:
            outcome = scenarios.run(scenarios.load(path), db, horizon(future))
        except scenarios.ScenarioError as e:
            fail(str(e))
            worst = 2
            statuses.append(2)
            continue
        except StoreError as e:
            fail(f"{path}: {e}")
            worst = 2
            statuses.append(2)
            continue
        with outcome:  # on PostgreSQL each file's ledger holds connections until closed
            worst = max(worst, outcome.status)
            statuses.append(outcome.status)
            if json:
                print_json(state_document(outcome.ledger.world))
            report = sys.stderr if json else sys.stdout
            if outcome.failures:
                report.write(printable(f"FAIL {path}: {outcome.scenario.title}") + "\n")
                for failure in outcome.failures:
                    report.write(printable(f"  {failure}") + "\n")
            elif not json:
                report.write(printable(f"ok   {path}: {outcome.scenario.title}") + "\n")
    if len(files) > 1 and not json:  # the end of a long list says how it went, without scrolling back
        refused = f", {statuses.count(2)} refused (bad input)" if 2 in statuses else ""
        sys.stdout.write(f"{len(files)} files: {statuses.count(0)} ok, {statuses.count(1)} failed{refused}\n")
    raise typer.Exit(worst)


@app.command()
def extract(
    ref: str = typer.Argument(..., help=REF_HELP),
    db: str | None = DbOption,
) -> None:
    """A scenario file that reproduces where an item is and why: its users, baseline and steps, and an expect of
    every property of its record and items and the rule of the last decision about each. Attach it to a ticket,
    edit it to ask "what if", keep it as a regression test; `syncledger run` of it passes.

    \b
    Example:
        syncledger extract outlook:alice/c1 --db syncledger-demo.db > ticket.yaml && syncledger run ticket.yaml
    """
    reader = app_open_reader(db)
    if not is_item_ref(ref):
        raise UsageError(f"'{ref}' is not an item: extract takes crm:<record> or outlook:<user>/<item>")
    try:
        ref = resolve_ref(ref, reader.index, reader.world, reader.event)
    except BadInputError as e:
        raise UsageError(str(e)) from None
    sys.stdout.write(scenarios.extract(reader, ref).yaml())


@app.command()
def demo(db: str = typer.Option("./syncledger-demo.db", "--db", help="Where to write the demo ledger.")) -> None:
    """Write a fresh sample ledger from the shipped demo scenario and show what it holds. An earlier demo at
    --db is replaced; anything else there is refused and left as it is.

    \b
    Example:
        syncledger demo && syncledger state --db syncledger-demo.db
    """
    try:
        outcome = write_demo(db)
    except (scenarios.ScenarioError, StoreError, NotADemo) as e:
        raise UsageError(str(e)) from None
    console.print(f"{outcome.scenario.title}  (ledger written to {db})\n", style="bold", markup=False)
    print_state(state_document(outcome.ledger.world))
    console.print(f"\nsyncledger why {DEMO_REF}{db_option(db)}", style="bold", markup=False)
    reader = open_reader(db)
    print_story(story(DEMO_REF, reader.world, reader.index, reader.event, reader.events), db)
    if outcome.failures:
        raise typer.Exit(1)
