"""`syncledger run` and `syncledger demo`: scenario files through the real ledger."""

from __future__ import annotations

import sys

import typer

from syncledger.ledger.store import StoreError
from syncledger.projections.document import state_document
from syncledger.projections.reader import open_reader

from .. import scenarios
from ..explain.text import print_why
from ..explain.why import explain
from ..output import console, fail, print_json, printable
from ..reports import print_state
from ..scenarios.demo import DEMO_REF, write_demo
from ..scenarios.earlier_demo import NotADemo
from .app import DbOption, FutureOption, JsonOption, Usage, app, horizon


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
    for path in files:
        try:
            outcome = scenarios.run(scenarios.load(path), db, horizon(future))
        except scenarios.ScenarioError as e:
            fail(str(e))
            worst = 2
            continue
        except StoreError as e:
            fail(f"{path}: {e}")
            worst = 2
            continue
        worst = max(worst, outcome.status)
        if json:
            print_json(state_document(outcome.ledger.world))
        report = sys.stderr if json else sys.stdout
        if outcome.failures:
            report.write(printable(f"FAIL {path}: {outcome.scenario.title}") + "\n")
            for failure in outcome.failures:
                report.write(printable(f"  {failure}") + "\n")
        elif not json:
            report.write(printable(f"ok   {path}: {outcome.scenario.title}") + "\n")
    raise typer.Exit(worst)


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
    except (scenarios.ScenarioError, NotADemo) as e:
        raise Usage(str(e)) from None
    console.print(f"[bold]{outcome.scenario.title}[/bold]  (ledger written to {db})\n")
    print_state(state_document(outcome.ledger.world))
    console.print(f"\n[bold]syncledger why {DEMO_REF} --db {db}[/bold]")
    reader = open_reader(db)
    print_why(explain(DEMO_REF, reader.world, reader.index, reader.event))
    if outcome.failures:
        raise typer.Exit(1)
