"""One import (or convert) from the sources: read and check every file, judge every row against the ledger, and
append everything in batches only when nothing was bad (SOURCES.md: one bad row appends nothing)."""

from __future__ import annotations

from collections.abc import Callable

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger
from syncledger.ledger.store import ConflictError

from .judge import Judge
from .load import Row, SourceFile, load
from .people import People, load_people
from .report import Report

BATCH_SIZE = 5_000
RETRIES = 5


Inputs = tuple[People | None, list[SourceFile], list[Row]]


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
    """Judge every row; append what it staged (`append`), or leave the ledger as it was (convert). `SourceError`
    for bad input, with nothing appended."""
    people, sources, rows = inputs
    for _ in range(RETRIES):
        ledger.catch_up()
        judge = Judge(ledger, people, sources, rows, skip_unknown_records=skip_unknown_records, collect=collect)
        try:
            report = judge.run()
        except BaseException:
            ledger.rollback()
            raise
        if not append:
            ledger.rollback()
            return report
        try:
            ledger.commit(batch_size=BATCH_SIZE)
        except ConflictError:
            continue
        return report
    raise ConflictError(f"gave up after {RETRIES} tries: other writers kept appending at the same time")
