"""`syncledger generate` and `syncledger bench`: a synthetic organisation, and the measures of DESIGN.md."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ..output import print_json
from ..perf.generate import write_lines
from .app import JsonOption, UsageError, app


@app.command()
def generate(
    users: int = typer.Option(50, "--users", min=1, help="How many users the organisation has."),
    days: int = typer.Option(5, "--days", min=1, help="How many working days to simulate."),
    seed: int = typer.Option(1, "--seed", help="The same seed gives the same lines."),
    events: int | None = typer.Option(None, "--events", min=1, help="Stop once the ledger would hold this many."),
    server_side: float = typer.Option(
        0.0,
        "--server-side",
        min=0.0,
        max=1.0,
        help="The share of users on server-side sync (0 to 1; default 0: every user on the Outlook client).",
    ),
) -> None:
    """Write a deterministic synthetic organisation as action lines (JSON Lines) for `syncledger import`;
    `--server-side 0.3` puts about 30% of its users on server-side synchronization.

    \b
    Example:
        syncledger generate --users 100 --days 20 --seed 7 --server-side 0.3 > org.jsonl
    """
    write_lines(sys.stdout.buffer, users, days, seed, events, server_side)


@app.command()
def bench(
    events: int = typer.Option(
        100_000,
        "--events",
        min=1000,
        help="Size of the ledger to measure on; with --sources, the number of audit rows to generate and import.",
    ),
    users: int = typer.Option(100, "--users", min=1, help="Users in the synthetic organisation."),
    seed: int = typer.Option(1, "--seed"),
    db: str | None = typer.Option(
        None,
        "--db",
        help="A postgresql:// URL: measure on that server, in temporary schemas dropped afterwards (without it, "
        "temporary SQLite files).",
    ),
    sources: bool = typer.Option(
        False,
        "--sources",
        help="Measure the import of a real organisation's exports instead: --events audit rows (Dataverse pages of "
        "5,000, mailbox audit CSVs of 50,000) imported with --people, beside the import of the same actions as "
        "action lines (convert's output): rows/s, actions/s, events/s, peak memory and their ratios.",
    ),
    skip: list[str] = typer.Option(
        [],
        "--skip",
        metavar="MEASURE",
        help="Leave a measure out of a long run: whatif, peer or writers (repeat, or separate with commas).",
    ),
    keep: Path | None = typer.Option(
        None, "--keep", metavar="FILE", help="Keep the measured SQLite ledger at FILE (new), to time other commands."
    ),
    json: bool = JsonOption,
) -> None:
    """Measure ingest, rebuild, time travel, lookups and memory on a temporary ledger, each beside the machine's
    own limit on the same rows in the same run, and beside the eventsourcing package's own Application saving
    and reading trivial events on the same back end; on PostgreSQL, also 4 writers at once against 1.

    \b
    Example:
        syncledger bench --events 1000000 --json
        syncledger bench --events 100000 --db postgresql://postgres@127.0.0.1:5432/test
        syncledger bench --events 10000000 --skip whatif,peer --keep big.db
        syncledger bench --sources --events 100000
    """
    if sources:
        if db is not None or skip or keep is not None:
            raise UsageError("bench --sources measures on temporary SQLite files: give no --db, --skip or --keep")
        from ..perf.sources_bench import report as sources_report
        from ..perf.sources_bench import run_sources_bench

        found = run_sources_bench(events, users, seed)
        print_json(found) if json else sources_report(found)
        return
    from ..perf.bench import report, run_bench

    try:
        skipped = frozenset(name.strip() for names in skip for name in names.split(",") if name.strip())
        result = run_bench(events, users, seed, db, skipped, keep)
    except ValueError as e:
        raise UsageError(str(e)) from None
    print_json(result) if json else report(result)
