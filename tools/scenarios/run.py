"""Running a loaded scenario through the real ledger, and its outcome: passed, failed checks (status 1), or
refused input (`ScenarioError`, status 2, nothing appended)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from types import TracebackType

from syncledger.ledger.application import ActionRefusedError, Ledger
from syncledger.ledger.location import new_file, undo_new_file
from syncledger.ledger.vocabulary import Recorded
from syncledger.projections.index import ItemIndex
from syncledger.projections.reader import Reader, StoredIndex, open_reader

from ..inputs import BadInputError, Horizon
from .expect import evaluate
from .load import Scenario, ScenarioError, Step, where


@dataclass
class Outcome:
    scenario: Scenario
    ledger: Ledger
    failures: list[str]
    reader: Reader | None = field(default=None, repr=False)  # the stored ledger's, when run with a db

    @property
    def status(self) -> int:
        return 1 if self.failures else 0

    def close(self) -> None:
        """Close the stored ledger's connections (nothing to close for an in-memory run). On PostgreSQL each
        open ledger holds a pool of the server's connections until then."""
        if self.reader is not None:
            self.reader.close()

    def __enter__(self) -> Outcome:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def run(scenario: Scenario, db: str | None = None, ahead: Horizon | None = None) -> Outcome:
    """Run a loaded scenario in a fresh in-memory ledger, or appended to the ledger at `db` (atomically:
    a refused step appends nothing of the file). `ScenarioError` for a refused step or a bad check. With
    `ahead`, no step's time may lie further past the step before it (or the ledger's last event)."""
    fresh = new_file(db)  # a refused file then leaves no empty ledger behind
    existed = fresh and db is not None and os.path.exists(db)
    reader = None if db is None else open_reader(db)
    ledger = Ledger() if reader is None else reader.ledger
    index = _StagedOverStored(reader.index if reader is not None else None)
    failures: list[str] = []
    try:
        for step in scenario.steps:
            if step.action is not None:
                try:
                    if ahead is not None:  # the typo guard (a BadInputError, so a ValueError: reported below)
                        ahead.check(step.action.at, ledger.world.at, "start" if step.number is None else "at")
                    recorded = ledger.stage(step.action)
                except ValueError as e:
                    problem = e.problem if isinstance(e, ActionRefusedError) else str(e)
                    if step.action.do == "baseline":  # the label says so already
                        problem = problem.removeprefix("baseline ")
                    raise ScenarioError(f"{where(scenario.path, step.number, _label(step))}: {problem}") from None
                index.add(recorded)
            if step.expectation is not None:
                try:
                    found = evaluate(step.expectation, ledger.world, index)
                except BadInputError as e:
                    raise ScenarioError(f"{where(scenario.path, step.number, _label(step))}: {e}") from None
                label = f"step {step.number}" if step.number else "expect"
                failures += [f"{label}: {failure}" for failure in found]
        ledger.commit()
    except ScenarioError:
        ledger.rollback()
        if reader is not None:
            empty = fresh and ledger.store.last_position() == 0
            reader.close()
            if empty and db is not None:
                undo_new_file(db, existed)
        raise
    except BaseException:
        if reader is not None:  # no outcome carries it out to be closed
            reader.close()
        raise
    return Outcome(scenario, ledger, failures, reader)


class _StagedOverStored:
    """The decisions this file stages, over those the ledger's stored index already holds: `why` checks need
    both, and reading the whole ledger to index it again would cost what the ledger costs."""

    def __init__(self, stored: StoredIndex | None) -> None:
        self.stored, self.staged = stored, ItemIndex()

    def add(self, recorded: list[Recorded]) -> None:
        self.staged.add(recorded)

    def last_decision(self, ref: str) -> tuple[int, str] | None:
        found = self.staged.last_decision(ref)
        if found is None and self.stored is not None:
            found = self.stored.last_decision(ref)
        return found


def _label(step: Step) -> str | None:
    if step.number is not None:
        return None
    if step.action is not None:
        return "baseline" if step.action.do == "baseline" else f"users.{getattr(step.action, 'user', '')}"
    return "final expect"
