"""`verify`: is anything lost, changed or inconsistent? The stored rows against their seal chain, every event
decoded, decisions against their causes and the rule table, and every read model against a rebuild."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from syncledger.ledger import vocabulary as v
from syncledger.ledger.evolve import evolve
from syncledger.ledger.rules import RULES
from syncledger.ledger.seal import GENESIS, KEYED, seal, unwrap
from syncledger.ledger.store import EventStore, StoreError
from syncledger.ledger.world import World, forget_changes

from .codec import CheckpointMissingError, decode_checkpoint, present_data
from .index import ItemIndex
from .readmodels import INDEX, WORLD, ReadModels


@dataclass
class Finding:
    position: int
    check: str
    problem: str


@dataclass
class Report:
    events: int = 0
    keyed: bool = False
    checkpoints: int = 0
    tracking: int = 0  # every read model is complete up to here
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def verify(store: EventStore, models: ReadModels, progress: Callable[[int, int], None] | None = None) -> Report:
    indexed, folded = models.tracking(INDEX), models.tracking(WORLD)
    report = Report(tracking=min(indexed, folded))

    def add(position: int, check: str, problem: str) -> None:
        report.findings.append(Finding(position, check, problem))

    checkpoints = set(models.checkpoints())
    report.checkpoints = len(checkpoints)
    world, scan = World(), ItemIndex()
    previous_seal, expected, last_at = GENESIS, 1, None
    total = store.last_position()
    for row in store.rows():
        position = row.originator_version
        if position != expected:
            add(
                expected,
                "sequence",
                f"positions {expected} to {position - 1} are missing: events were removed behind the ledger's back",
            )
        expected = position + 1
        try:
            kind, stored_seal, payload = unwrap(row.state)
        except ValueError:
            add(position, "seal", "the event has no seal: it was inserted or rewritten behind the ledger's back")
            continue
        report.keyed = report.keyed or kind == KEYED
        if kind == KEYED and store.seal_key is None:
            add(position, "seal", "sealed with a key: set SYNCLEDGER_SEAL_KEY to check it")
        elif kind != KEYED and store.seal_key is not None:
            add(
                position,
                "seal",
                "not sealed with the key: rewritten behind the ledger's back, or sealed before the key was set",
            )
        elif seal(previous_seal, position, row.topic, payload, store.seal_key) != stored_seal:
            add(
                position,
                "seal",
                "the seal does not match: this event was changed, or one before it inserted or "
                "removed, behind the ledger's back",
            )
        previous_seal = stored_seal  # so that one changed event is reported once, not at every later one
        try:
            _, event = store.mapper.decode(row)
        except StoreError as e:
            add(position, "decode", str(e))
            continue
        if last_at is not None and event.at is not None and event.at < last_at:
            add(position, "time", f"time goes backwards from {last_at.isoformat()} to {event.at.isoformat()}")
        last_at = event.at
        if isinstance(event, v.Decided):
            if event.rule not in RULES:
                add(position, "decision", f"unknown rule '{event.rule}'")
            if not 0 < event.cause < position:
                add(position, "decision", f"its cause {event.cause} is not an earlier event")
        try:
            evolve(world, event, position)
        except (KeyError, TypeError, ValueError) as e:
            add(position, "fold", f"the event does not apply to the state before it ({type(e).__name__}: {e})")
        if position <= indexed:
            scan.add([(position, event)])
        if position in checkpoints:
            _check_checkpoint(store, models, position, world, add)
            forget_changes(world)  # nothing is written from this world: keep its memory flat
        if progress is not None and position % 10_000 == 0:
            progress(position, total)
    report.events = expected - 1
    _check_index(models, scan, add)
    _check_past(models, folded, indexed, world, add)
    report.findings = _collapsed(sorted(report.findings, key=lambda f: f.position or report.events + 1))
    return report


def _collapsed(findings: list[Finding]) -> list[Finding]:
    """A run of the same finding on consecutive positions is one finding: the first position, and how many."""
    out: list[Finding] = []
    run = 0
    for f in findings:
        last = out[-1] if out else None
        if last and last.check == f.check and last.problem.split(" (and ")[0] == f.problem and f.position > 0:
            run += 1
            last.problem = f"{f.problem} (and {run} more after it)"
            continue
        run = 0
        out.append(Finding(f.position, f.check, f.problem))
    return out


def _check_checkpoint(
    store: EventStore, models: ReadModels, position: int, world: World, add: Callable[[int, str, str], None]
) -> None:
    def read(at: int) -> bytes | None:
        found = models.checkpoint(at)
        return store.mapper.decipher(found) if found is not None else None

    try:
        stored = decode_checkpoint(position, read)
    except CheckpointMissingError as e:
        add(position, "checkpoint", f"the checkpoint cannot be read: {e}")
        return
    except Exception as e:  # a checkpoint that cannot be read is a finding, not a crash
        add(position, "checkpoint", f"the checkpoint cannot be read ({type(e).__name__})")
        return
    if present_data(stored) != present_data(world):
        add(position, "checkpoint", "the checkpoint differs from a rebuild from the events")


def _check_index(models: ReadModels, scan: ItemIndex, add: Callable[[int, str, str], None]) -> None:
    stored_refs = set(models.refs())
    for ref in sorted(stored_refs ^ set(scan.touched)):
        add(0, "index", f"the item index and a rebuild disagree on whether '{ref}' exists")
    for ref in sorted(stored_refs & set(scan.touched)):
        rows = models.touched(ref)
        if [p for p, _ in rows] != scan.touched[ref] or [r for r in rows if r[1]] != scan.decisions.get(ref, []):
            add(rows[0][0] if rows else 0, "index", f"the item index of '{ref}' differs from a rebuild")


def _check_past(
    models: ReadModels, folded: int, indexed: int, world: World, add: Callable[[int, str, str], None]
) -> None:
    """The archived past (deleted records and items, ended links; and the index's action ids) against the
    rebuild's, each up to where its projection is complete."""
    try:
        stored = models.rows(folded)
        # the two projections are usually complete up to the same position: then one read serves both
        stored_ids = stored.actions if indexed == folded else models.rows(indexed).actions
    except Exception as e:  # an archive row that cannot be read is a finding, not a crash
        add(0, "archive", f"the archived past cannot be read ({type(e).__name__})")
        return
    rebuilt = world.past.rows()
    upto_folded = rebuilt.upto(folded)
    parts = {"records": "deleted records", "items": "deleted items", "links": "ended links"}
    for name, what in parts.items():
        if getattr(stored, name) != getattr(upto_folded, name):
            add(0, "archive", f"the archive's {what} differ from a rebuild from the events")
    if stored_ids != {i: p for i, p in rebuilt.actions.items() if p <= indexed}:
        add(0, "archive", "the archive's action ids differ from a rebuild from the events")
