"""`syncledger verify`: nothing lost, nothing changed, and every read model equal to a rebuild."""

from __future__ import annotations

import typer

from syncledger.projections.integrity import verify as check_ledger

from ..output import console, print_json
from ..progress import progress
from .app import DbOption, JsonOption, app, ledger_location, open_reader, reports_damage


@app.command()
@reports_damage
def verify(json: bool = JsonOption, db: str | None = DbOption) -> None:
    """Check the ledger's integrity: the sequence, the seal over every event, decisions against their causes and
    the rule table, and the read models (checkpoints, the archived past, the item index) against a rebuild. Exit 1
    with findings.

    \b
    Example:
        SYNCLEDGER_SEAL_KEY=... syncledger verify --json
    """
    reader = open_reader(db)
    with progress("verifying") as update:
        report = check_ledger(reader.ledger.store, reader.projector.models, update)
    if json:
        print_json(
            {
                "ok": report.ok,
                "events": report.events,
                "keyed": report.keyed,
                "checkpoints": report.checkpoints,
                "read_models_up_to": report.tracking,
                "findings": [f.__dict__ for f in report.findings],
            }
        )
    elif report.ok:
        seal = "a keyed seal (HMAC)" if report.keyed else "an unkeyed seal (SHA-256)"
        console.print(
            f"ok: {report.events:,} events at {ledger_location(db)}, under {seal}; nothing lost, nothing "
            f"changed; {report.checkpoints} checkpoints, the archived past and the item index equal a rebuild"
        )
    else:
        first = report.findings[0]
        console.print(f"[bold red]{len(report.findings)} finding(s)[/bold red]; the first at position {first.position}")
        for f in report.findings[:50]:
            console.print(f"  @{f.position} {f.check}: {f.problem}")
    raise typer.Exit(0 if report.ok else 1)
