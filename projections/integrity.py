"""`verify`: is anything lost, changed or inconsistent? The stored rows against their seal chain, every event
decoded, decisions against their causes and the rule table, action ids unique, the heads kept outside the ledger
against its events, every read model against its seal and a rebuild, and nothing derived naming a position past
the last event (a truncated ledger)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from syncledger.ledger import vocabulary as v
from syncledger.ledger.evolve import evolve
from syncledger.ledger.past import PastRows
from syncledger.ledger.rules import METHODS, OBSERVED, RULES
from syncledger.ledger.seal import GENESIS, KEY_VARIABLE, KEYED, fingerprint, seal, unwrap
from syncledger.ledger.store import EventStore, StoreError
from syncledger.ledger.world import World, forget_changes

from .codec import CheckpointMissingError, decode_checkpoint, present_data
from .indextree import EMPTY_ROOT
from .readmodels import INDEX, WORLD, ReadModels, tracking_behind
from .sealing import batch_problems, checkpoint_seal, index_root, links_root, projection_name
from .spill import Spill, archive_problems, index_problems, refs_problems

DRAIN_EVERY = 10_000  # events folded between two moves of the world's past to the spill (and at each checkpoint)
Head = tuple[int, bytes]  # a position and the seal of its event, as `syncledger head` printed them


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


def verify(
    store: EventStore,
    models: ReadModels,
    progress: Callable[[int, int], None] | None = None,
    heads: Sequence[Head] = (),
) -> Report:
    # Other processes may go on appending while this runs: every read model is checked up to its tracking position
    # as read here, once, and what they write beyond it is not this check's. Each projection's tracking position is
    # read before its batches (written together in one transaction), so that another process writing the next batch
    # meanwhile cannot make a complete projection look short of its seals.
    tracking = {projection: models.tracking(projection) for projection in (INDEX, WORLD)}
    stored = {projection: models.batches(projection) for projection in (INDEX, WORLD)}
    findings: list[Finding] = []
    for projection, (behind, last) in tracking_behind(models, stored).items():
        # its tracking row was deleted or set back: the rows sealed beyond it are checked all the same (else
        # every one of them reads as a forgery and the tree as broken, where what changed is one row)
        findings.append(
            Finding(
                last,
                "tracking",
                f"the tracking position of the {projection_name(projection)} is "
                f"{behind if behind else 'missing'}, behind the last sealed batch (position {last}): it was "
                "deleted or set back behind the ledger's back (`syncledger verify --rebuild` rebuilds the read models)",
            )
        )
        tracking[projection] = last
    indexed, folded = tracking[INDEX], tracking[WORLD]
    report = Report(tracking=min(indexed, folded), findings=findings)

    def add(position: int, check: str, problem: str) -> None:
        report.findings.append(Finding(position, check, problem))

    checkpoints = set(models.checkpoints())
    report.checkpoints = len(checkpoints)
    batches = {p: [b for b in stored[p] if b.last <= tracking[p]] for p in (INDEX, WORLD)}
    # the event seals that derived data and heads are checked against, kept as the scan passes them
    wanted = checkpoints | {b.last for found in batches.values() for b in found} | {p for p, _ in heads}
    seals: dict[int, bytes] = {}
    # the rebuild's item index, action ids and past go to a temporary file as the scan passes them, and are
    # compared with the stored read models at the end (`projections.spill`): memory stays flat
    with Spill() as spill:
        _scan(store, models, spill, report, wanted, seals, checkpoints, indexed, progress, add)
        spill.finish()
        for position, action_id, first in spill.duplicate_ids():
            add(
                position,
                "action id",
                f"action id '{action_id}' is already at position {first}: the same action was appended twice",
            )
        last = report.events
        _check_fingerprint(models, store.seal_key, add)
        _check_heads(heads, seals, last, add)
        _check_truncation(models, store, last, add)
        _check_foreign_rows(store, add)
        if models.sealer is not None:
            broken = set()
            for projection, found in batches.items():
                for position, problem in batch_problems(
                    projection,
                    found,
                    tracking[projection],
                    store.seal_key,
                    models.read_table,
                    seals.get,
                    read_buckets=models.read_buckets,
                ):
                    add(position, "read model", problem)
                    broken.add(projection)
            if INDEX not in broken:  # the index's batches hold: its tree must be the one whose root the last seals
                root = index_root(batches[INDEX][-1]) if batches[INDEX] else EMPTY_ROOT
                for problem in models.tree_problems(root, indexed):
                    add(indexed, "read model", problem)
            if WORLD not in broken:  # and the archive's: its ended links' tree must be the one its last batch seals
                root = links_root(batches[WORLD][-1]) if batches[WORLD] else EMPTY_ROOT
                for problem in models.links_tree_problems(root, folded):
                    add(folded, "read model", problem)
        for position, problem in [*index_problems(models, spill, indexed), *refs_problems(models, spill)]:
            add(position, "index", problem)
        for position, problem in archive_problems(models, spill, folded, indexed):
            add(position, "archive", problem)
    report.findings = _collapsed(
        sorted(report.findings, key=lambda f: (f.position or report.events + 1, _RANK.get(f.check, len(_RANK))))
    )
    return report


# where each check's finding stands among those at the same position: the scan's, in the order it checks an
# event (an action id's duplicates are found at the end, from the spill), then those found after the scan
_RANK = {"storage": 0, "sequence": 0, "seal": 0, "decode": 0, "action id": 1}
_RANK.update(dict.fromkeys(("time", "decision", "fold", "checkpoint"), 2))


def _scan(
    store: EventStore,
    models: ReadModels,
    spill: Spill,
    report: Report,
    wanted: set[int],
    seals: dict[int, bytes],
    checkpoints: set[int],
    indexed: int,
    progress: Callable[[int, int], None] | None,
    add: Callable[[int, str, str], None],
) -> None:
    """Every event in order: its storage, seal, decoding, decision and time checked, folded, checked against the
    checkpoint at its position; its index rows, action id and the past it adds spilled."""
    world = World()
    chain = _Chain(store.seal_key, add)
    expected, last_at = 1, None
    total = store.last_position()
    for row in store.rows():
        position = row.position
        if row.text:
            add(
                position,
                "storage",
                "the event is stored as text, not bytes: it was changed with SQL behind the ledger's back",
            )
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
        chain.check(position, kind, stored_seal, row.topic, payload)
        if position in wanted:
            seals[position] = stored_seal
        try:
            _, event = store.mapper.decode_row(position, row.topic, row.state, validate=True)
        except StoreError as e:
            add(position, "decode", str(e))
            continue
        spill.add_event(position, event, position <= indexed)
        if last_at is not None and event.at is not None and event.at < last_at:
            add(position, "time", f"time goes backwards from {last_at.isoformat()} to {event.at.isoformat()}")
        last_at = event.at
        if isinstance(event, v.Decided):
            if event.rule not in RULES:
                add(position, "decision", f"unknown rule '{event.rule}'")
            elif event.rule in OBSERVED.rules:
                pass  # what an organisation reported (BASELINE): no method's rule, the same under every method
            elif event.decided_by not in METHODS:
                add(position, "decision", f"unknown synchronisation method '{event.decided_by}'")
            elif event.rule not in METHODS[event.decided_by].rules:
                add(position, "decision", f"rule '{event.rule}' is not one of {event.decided_by}'s rules")
            if not 0 < event.cause < position:
                add(position, "decision", f"its cause {event.cause} is not an earlier event")
            for merged in event.causes or ():
                if not 0 < merged <= event.cause:
                    add(position, "decision", f"its merged cause {merged} is not an event before its cause")
            if event.sync is not None and not 0 < event.sync < position:
                add(position, "decision", f"its sync {event.sync} is not an earlier event")
        if isinstance(event, v.Action) and event.at is None:
            add(
                position,
                "time",
                "the action has no time: the ledger stamps every action before it stores it, so it was inserted or "
                "rewritten behind the ledger's back",
            )
            continue
        try:
            evolve(world, event, position)
        except LookupError as e:  # validated, an event can only name what the state before it does not hold (found
            # by changing each field of each kind of event in turn); any other error is the program's, not the data's
            add(position, "fold", f"the event does not apply to the state before it ({type(e).__name__}: {e})")
        if position in checkpoints:
            _check_checkpoint(store, models, position, world, seals[position], add)
        if position in checkpoints or position % DRAIN_EVERY == 0:
            # nothing is written from this world and the fold only adds to its past: move the past to the spill
            spill.add_past(world.past.since)
            world.past.since = PastRows()
            forget_changes(world)
        if progress is not None and position % 10_000 == 0:
            progress(position, total)
    chain.finish()
    spill.add_past(world.past.since)
    world.past.since = PastRows()
    report.events = expected - 1


class _Chain:
    """The seal chain as the scan passes it, each row's seal checked against the one before under the check's key
    (or none). Without the key, a run of rows sealed with one cannot be checked: it is one finding, and the rows
    after it that are not keyed are checked as an unkeyed chain from it, since a keyed ledger never goes unkeyed
    (a writer without the key is refused) and where it does is named."""

    def __init__(self, key: bytes | None, add: Callable[[int, str, str], None]) -> None:
        self.key, self.add = key, add
        self.previous, self.previous_kind = GENESIS, 0
        self.unchecked: tuple[int, int] | None = None  # the first and last position of a run of keyed rows, keyless

    def check(self, position: int, kind: int, stored: bytes, topic: str, payload: bytes) -> None:
        if kind == KEYED and self.key is None:
            if self.unchecked is not None and self.unchecked[1] != position - 1:
                self.finish()  # a gap, or a row without a seal, between: two runs
            first = self.unchecked[0] if self.unchecked is not None else position
            self.unchecked = (first, position)
        else:
            self.finish()
            self._check_row(position, kind, stored, topic, payload)
        self.previous, self.previous_kind = stored, kind  # one changed event is reported once, not at every later one

    def _check_row(self, position: int, kind: int, stored: bytes, topic: str, payload: bytes) -> None:
        if kind != KEYED and self.key is not None:
            self.add(
                position,
                "seal",
                "not sealed with the key: rewritten behind the ledger's back, or sealed before the key was set",
            )
            return
        if kind != KEYED and self.previous_kind == KEYED:
            self.add(
                position,
                "seal",
                "not sealed with a key, but the event before it is: a keyed ledger never goes unkeyed, so this "
                "event was appended or rewritten behind the ledger's back, or by a writer without the key",
            )
        if seal(self.previous, position, topic, payload, self.key) != stored:
            self.add(
                position,
                "seal",
                "the seal does not match: this event was changed, or one before it inserted or "
                "removed, behind the ledger's back",
            )

    def finish(self) -> None:
        """The end of a run of rows sealed with a key this check does not have: reported."""
        if self.unchecked is not None:
            self._report_unchecked(self.unchecked)
            self.unchecked = None

    def _report_unchecked(self, run: tuple[int, int]) -> None:
        first, last = run
        if first == last:
            self.add(first, "seal", "sealed with a key: set SYNCLEDGER_SEAL_KEY to check it")
        else:
            self.add(
                first,
                "seal",
                f"positions {first} to {last} are sealed with a key this check does not have: set "
                "SYNCLEDGER_SEAL_KEY to check them",
            )


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


def _check_fingerprint(models: ReadModels, key: bytes | None, add: Callable[[int, str, str], None]) -> None:
    """A fingerprint is recorded once and never changed; `syncledger verify` checks with a key whose fingerprint
    is not the recorded one only if that key seals the ledger's first or newest event."""
    recorded = models.seal_fingerprint()
    if key is not None and recorded is not None and recorded != fingerprint(key):
        add(
            0,
            "key",
            f"the ledger records another key's fingerprint ({recorded}) than {KEY_VARIABLE}'s ({fingerprint(key)}): "
            f"it was replaced behind the ledger's back, or {KEY_VARIABLE} is not the ledger's key (then the seals "
            "do not match either)",
        )


def _check_heads(
    heads: Sequence[Head], seals: dict[int, bytes], last: int, add: Callable[[int, str, str], None]
) -> None:
    for position, seal_value in heads:
        if position > last:
            add(
                position,
                "head",
                f"the ledger ends at position {last}, before this head: events were removed from "
                "its end, or an older copy of it restored",
            )
        elif position not in seals:
            add(position, "head", "the ledger has no sealed event at this head's position")
        elif seals[position] != seal_value:
            add(
                position,
                "head",
                "the event here is not the one this head names: the ledger up to here was changed or replaced",
            )


def _check_truncation(models: ReadModels, store: EventStore, last: int, add: Callable[[int, str, str], None]) -> None:
    """Derived data remembers how far the ledger went: past its last event, events were removed from its end. The
    last event is looked for again after the read models (events are stored before anything derived names them):
    another process may have appended, and written its read models, since the scan ended."""
    highest = models.highest_positions()
    last = max(last, store.last_position())
    for what, position in highest.items():
        if position > last:
            add(
                last + 1,
                "truncation",
                f"the {what} name position {position}, past the last event ({last}): events were removed from "
                "the ledger's end, or an older copy of it restored",
            )


def _check_foreign_rows(store: EventStore, add: Callable[[int, str, str], None]) -> None:
    """Rows of the events table outside the ledger's stream change no answer (nothing reads them), but syncledger
    never writes them: someone wrote into the table behind the ledger's back."""
    count, stream = store.foreign_rows()
    if count:
        rows = "a row" if count == 1 else f"{count} rows"
        add(
            0,
            "stream",
            f"the events table holds {rows} outside the ledger's stream ({'in' if count == 1 else 'the first in'} "
            f"stream {stream!r}): syncledger never writes such rows, so they were written behind its back (they "
            "are not part of the ledger and change no answer)",
        )


def _check_checkpoint(
    store: EventStore,
    models: ReadModels,
    position: int,
    world: World,
    event_seal: bytes,
    add: Callable[[int, str, str], None],
) -> None:
    def read(at: int) -> bytes | None:
        found = models.checkpoint_row(at)
        return store.mapper.decipher(found[0]) if found is not None else None

    found = models.checkpoint_row(position)
    sealer = models.sealer
    if found is not None and sealer is not None and found[1] != checkpoint_seal(sealer, position, found[0], event_seal):
        add(
            position,
            "checkpoint",
            "the checkpoint does not match its seal: it was changed behind the ledger's "
            "back, or written for other events; it is not used",
        )
        return

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
