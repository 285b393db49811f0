"""One import (or convert) from the sources: read and check every file, judge every row against the ledger, and
publish everything in one transaction only when nothing was bad (SOURCES.md: one bad row appends nothing). The
rows wait on disk (`load.Rows`) and the staged events in a staging file (`transfer.Staging`, as an import of
action lines stages them), so memory stays flat whatever the size of the exports; a crash publishes nothing or
everything, and importing again completes it."""

from __future__ import annotations

from collections.abc import Callable

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger
from syncledger.ledger.store import ConflictError

from ..transfer import Stager, Staging
from .judge import Judge
from .load import Rows, SourceFile, load
from .people import People, load_people
from .report import Report

RETRIES = 5


Inputs = tuple[People | None, list[SourceFile], Rows]


def read_inputs(people_path: str | None, files: list[tuple[str, str | None]]) -> Inputs:
    """people.yaml and every file, read and checked as input (not yet against a ledger): `SourceError` if bad."""
    people = load_people(people_path) if people_path is not None else None
    sources, rows = load(files, people)
    return people, sources, rows


def run_import(
    ledger: Ledger,
    inputs: Inputs,
    *,
    skip_unknown_records: bool = False,
    append: bool = True,
    collect: Callable[[v.Action], None] | None = None,
) -> Report:
    """Judge every row, staging what it appends; publish it all in one transaction (`append`), or leave the ledger
    as it was (convert: `collect` sees every action an import would append). `SourceError` for bad input, with
    nothing appended. A lost race with another writer judges the rows again (they are read again from disk)."""
    people, sources, rows = inputs
    with Staging(ledger.store.mapper) as staging:
        for _ in range(RETRIES):
            ledger.catch_up()
            stager = Stager(ledger, staging)
            judge = Judge(
                ledger, people, sources, rows, skip_unknown_records=skip_unknown_records, collect=collect, stager=stager
            )
            try:
                report = judge.run()
            except BaseException:
                stager.discard()
                raise
            if not append:
                stager.discard()
                return report
            if ledger.world.position == stager.stored:
                return report  # nothing new: everything was in the ledger already, or skipped
            stager.finish()
            try:
                ledger.publish(staging.pages())
            except ConflictError:
                staging.clear()
                continue
            return report
    raise ConflictError(f"gave up after {RETRIES} tries: other writers kept appending at the same time")
