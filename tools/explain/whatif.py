"""`whatif`: the ledger's own history replayed under the other rule set (RULES-SSS.md, "What if"), compared item
by item with what the ledger holds.

Three pure steps over the ledger's events as the store reads them (the shell opens the store and prints):

1. **Rewrite** the user actions (what `export` writes) for the question: the moved users' declarations take the
   method and their own `option sync_method` actions are dropped; for users moved to `server_side`, `offline` and
   `online` are dropped and the Outlook actions they made while offline take effect when they went online, after
   every other action at that time (an e-mail that arrived meanwhile keeps its time: it reaches the mailbox on the
   server); `--org` options replace the ledger's own `org.option` actions of that name.
2. **Replay** them through the engine into a fresh in-memory world (no store: each action is decided and folded,
   as the write side does), skipping each action the other rule set refuses, with its reason; the ledger's own
   events are folded beside it, so both sides end at the same point (`--at`).
3. **Compare** the two ends item by item (every CRM record and Outlook item: exists or not, linked or not, its
   properties), each difference with the decision that made it on each side (rule, time, cause: `decisive`); and
   a summary by rule pair, pairs without differences included.

Imported ledgers (SOURCES.md): the baseline is the first action, so it comes first; the moved users' inferred
syncs are inferred again at the target method's cycle (`Inference`); discrepancy rows are judged again
(`Imported`).

Memory (issue 15): what grows with the ledger's length rather than with the organisation's present is each
side's cause of every position, its decisions about every item ever decided about, and its world's past. Each
side keeps them in its `Notes`: in memory by default (the pure core, for tests and scenarios), or, as the command
line and `bench` ask, in a private temporary file (`whatif_spill.SpilledNotes`: the import's staging file and its
`move_past`), with the same answer. The comparison streams: both ends (the present) in memory, each item's
decisions read back one item at a time, in reference order. The core still takes the ledger's events as a stream
and folds the ledger's side itself rather than asking the read models (`Reader.world_at`, the stored index): it
must read every event anyway to replay the actions, noting the ledger's decisions as they pass costs nothing
more, while reading every decision again from the index would be one random read per decision; and folding keeps
the command what it was, a reader of the events that writes no read model (nor waits for them to catch up).
What stays in memory besides the present: the skipped actions and the differences (the answer lists every one),
the actions the rewriter holds back while their user is offline, and the causes of the last few thousand positions.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from sys import intern
from typing import Any, NamedTuple

from pydantic import ValidationError

from syncledger.ledger import effects as fx
from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import fold_stored
from syncledger.ledger.checks import RefusedError
from syncledger.ledger.engine import handle
from syncledger.ledger.world import Item, Record, World
from syncledger.projections.document import iso

from ..inputs import BadInputError, shown
from .diff import item_values, record_values

METHODS = v.SYNC_METHODS
NONE = "(none)"  # the rule of a side that made no decision about an item


# ------------------------------------------------------------------------------------------------ the question


@dataclass(frozen=True)
class Question:
    """What to replay: every user (or `users`) on `method` from their declaration on, the organisation options in
    `org` from the start, compared at `at` (None: the end of the ledger)."""

    method: str
    users: frozenset[str] | None = None
    org: Mapping[str, bool] = field(default_factory=dict)
    at: datetime | None = None

    def moves(self, user: str) -> bool:
        return self.users is None or user in self.users


def parse_method(text: str) -> str:
    if text not in METHODS:
        raise BadInputError(f"--method takes {' or '.join(METHODS)}, not {shown(text)}")
    return text


def parse_org(pairs: Iterable[str]) -> dict[str, bool]:
    """`--org NAME=VALUE`, each name once, each value true or false."""
    known = v.ORG_OPTIONS  # each true or false
    options: dict[str, bool] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals:
            raise BadInputError(f"--org takes NAME=VALUE (e.g. distinct_logical_deletes=true), not {shown(pair)}")
        if name not in known:
            raise BadInputError(f"--org {shown(name)}: unknown organisation option (known: {', '.join(known)})")
        if value not in ("true", "false"):
            raise BadInputError(f"--org {name} takes true or false, not {shown(value)}")
        if name in options:
            raise BadInputError(f"--org {name} is given twice")
        options[name] = value == "true"
    return options


# ------------------------------------------------------------------------------------------------ 1. rewriting


class Skipped(NamedTuple):
    """An action of the ledger that the what-if history does not carry out, and why."""

    id: str | None
    at: datetime | None
    do: str
    user: str
    reason: str
    refs: tuple[str, ...]  # the record and items it names

    def document(self) -> dict[str, Any]:
        return {"id": self.id, "at": iso(self.at), "do": self.do, "user": self.user, "reason": self.reason}


def refs_of(action: v.Action) -> tuple[str, ...]:
    """The CRM records and Outlook items an action names."""
    found: list[str] = []
    data = action.__dict__
    user = data.get("user")
    if data.get("item") is not None and user is not None:
        found.append(v.outlook_ref(user, data["item"]))
    for key in ("record", "regarding"):
        if data.get(key) is not None:
            found.append(v.crm_ref(data[key]))
    return tuple(found)


class Rewriter:
    """Step 1, streaming: `feed` each ledger action in order and replay what it returns, then `finish`. Pure: it
    reads nothing but the actions and keeps only the Outlook actions it holds back."""

    def __init__(self, question: Question) -> None:
        self.question = question
        self.to_server = question.method == "server_side"
        self.offline: dict[str, list[v.Action]] = {}  # moved users offline in the ledger: what they did meanwhile
        self.due: list[tuple[datetime, list[v.Action]]] = []  # released after every other action at that time
        self.dropped: Counter[str] = Counter()  # what the rewriting left out, by kind
        self.retimed = 0  # actions held back and carried out later, at the time they take effect
        self._held: set[str] = set()  # the ids of the actions held back

    def feed(self, action: v.Action) -> list[v.Action]:
        """What to replay, in order, for this ledger action (and the held actions due before it)."""
        out = self._release(before=action.when)
        data = action.__dict__
        user = data.get("user")
        moved = user is not None and self.question.moves(user)
        do = action.do
        if do == "user.add" and moved:
            out.append(self._declared(action))
        elif do == "option" and moved and data.get("name") == "sync_method":
            self.dropped["their own option sync_method"] += 1
        elif do == "org.option" and data.get("name") in self.question.org:
            self.dropped[f"org.option {data.get('name')} (given with --org)"] += 1
        elif self.to_server and moved and do in ("offline", "online"):
            self.dropped[f"{do} (no offline queue with server_side)"] += 1
            assert user is not None
            if do == "offline":
                self.offline.setdefault(user, [])
            else:
                held = self.offline.pop(user, [])
                if held:
                    self.due.append((action.when, held))
        elif self.to_server and user is not None and user in self.offline and _made_in_outlook(action):
            self.offline[user].append(action)
            if action.id is not None:
                self._held.add(action.id)
        else:
            out.append(action)
        return out

    def finish(self, at: datetime | None) -> tuple[list[v.Action], list[Skipped]]:
        """What is still due by `at` (None: the end), and what never reaches the mailbox by then."""
        out = self._release(before=None, upto=at)
        never = []
        for when, held in self.due:
            reason = f"made while offline; reaches the mailbox at {iso(when)}, after --at"
            never += [_not_reached(a, reason) for a in held]
        for user, held in self.offline.items():
            state = "never reconnects" if at is None else f"has not reconnected by {iso(at)}"
            never += [_not_reached(a, f"made while offline; {user}'s Outlook {state}") for a in held]
        self.due, self.offline = [], {}
        self._held.clear()
        return out, never

    def holds(self, action_id: str) -> bool:
        """Whether the action with this id is held back, to be carried out later."""
        return action_id in self._held

    def _release(self, before: datetime | None, upto: datetime | None = None) -> list[v.Action]:
        """The held actions due strictly before `before` (or at or before `upto`, or all), retimed, in order."""
        out: list[v.Action] = []
        while self.due:
            when, held = self.due[0]
            if before is not None and when >= before:
                break
            if before is None and upto is not None and when > upto:
                break
            self.due.pop(0)
            for action in held:
                if action.id is not None:
                    self.retimed += 1  # ids are unique in a ledger: one count per action
                    self._held.discard(action.id)
                out.append(action.model_copy(update={"at": when}))
        return out

    def _declared(self, action: v.Action) -> v.Action:
        if (action.__dict__.get("sync_method") or "outlook_client") == self.question.method:
            return action  # already on it: the declaration stays as the ledger holds it
        return action.model_copy(update={"sync_method": self.question.method})


def _made_in_outlook(action: v.Action) -> bool:
    """An action the user made in Outlook, which reaches a server_side mailbox only when Outlook is connected.
    Not an e-mail arriving (`outlook.create` of an e-mail): the message reaches the mailbox on the server at its
    own time, whether Outlook is connected or not (a decision: RULES-SSS.md speaks of what the user makes)."""
    if not action.do.startswith("outlook."):
        return False
    return not (action.do == "outlook.create" and action.__dict__.get("type") == "email")


def _not_reached(action: v.Action, reason: str) -> Skipped:
    return Skipped(action.id, action.at, action.do, action.user_name, reason, refs_of(action))


DEFAULT_CYCLES = {"outlook_client": timedelta(minutes=15), "server_side": timedelta(minutes=5)}  # SOURCES.md
_UNITS = {"s": 1, "m": 60, "h": 3600}


def cycle_of(text: object, method: str) -> timedelta:
    """A user's sync cycle: their own (`<n>s`, `<n>m`, `<n>h`, from people.yaml), else the method's default."""
    if isinstance(text, str) and len(text) > 1 and text[:-1].isdigit() and text[-1] in _UNITS:
        return timedelta(seconds=int(text[:-1]) * _UNITS[text[-1]])
    return DEFAULT_CYCLES[method]


def next_boundary(t: datetime, cycle: timedelta) -> datetime:
    """The first cycle boundary strictly later than `t`: multiples of the cycle from 00:00 UTC each day."""
    day = t.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    steps = (t - day) // cycle + 1
    return min(day + steps * cycle, day + timedelta(days=1))


class Inference:
    """Imported ledgers (SOURCES.md): a moved user declared by an import (`user.add` id `people:<user>`) has their
    inferred syncs (ids `inferred:<user>@<time>`) dropped and inferred again at the target method's cycle (their
    own `cycle` if the declaration has one, else the method's default): at the first boundary strictly later than
    their earliest pending operation, while online, after the actions at that instant, in the order the users
    were declared, and never after the latest event read. Syncs from action lines and the other users' stay."""

    def __init__(self, question: Question) -> None:
        self.question = question
        self.cycles: dict[str, timedelta] = {}  # the users whose syncs are inferred again, in declaration order
        self.dropped = 0
        self.inferred = 0

    def keeps(self, action: v.Action) -> bool:
        """Note a declaration; False for an inferred sync of a user whose syncs are inferred again."""
        data = action.__dict__
        user, ident = data.get("user"), action.id or ""
        if action.do == "user.add" and user is not None and self.question.moves(user) and ident.startswith("people:"):
            self.cycles[user] = cycle_of(data.get("cycle"), self.question.method)
        elif action.do == "sync" and user in self.cycles and ident.startswith("inferred:"):
            self.dropped += 1
            return False
        return True

    def next_sync(self, world: World, before: datetime | None, upto: datetime | None) -> v.Action | None:
        """The earliest inferred sync due strictly before `before` (or at or before `upto`), or None."""
        best: tuple[datetime, str] | None = None
        for name, cycle in self.cycles.items():
            user = world.users.get(name)
            if user is None or not user.online or not user.pending:
                continue
            when = next_boundary(min(p.at for p in user.pending), cycle)
            if world.at is not None and when < world.at:  # never back in time: the first boundary from now on
                when = next_boundary(world.at - timedelta.resolution, cycle)
            if (before is not None and when >= before) or (upto is not None and when > upto):
                continue
            if best is None or when < best[0]:
                best = (when, name)
        if best is None:
            return None
        when, name = best
        self.inferred += 1
        return v.SyncRequested(do="sync", user=name, at=when, id=f"inferred:{name}@{iso(when)}")


class Imported:
    """The rest of the seam for imported ledgers (SOURCES.md). The baseline is the ledger's first action, so it is
    applied first, as it is. A discrepancy row (`do: discrepancy`: an imported row the ledger's rules refused,
    the refused action inside, with its own id and time) is judged again: its action is replayed under the other
    rules instead, carried out if they accept it, else skipped as still refused. (The discrepancy action itself
    is the sources branch's vocabulary; without it, no such row exists and this passes everything through.)"""

    def __init__(self, question: Question) -> None:
        self.question = question
        self.judged: set[str] = set()  # ids of the refused actions judged again

    def feed(self, action: v.Action) -> list[v.Action]:
        if action.do != "discrepancy":
            return [action]
        refused = action.__dict__.get("action")
        try:
            again: v.Action = v.ACTION_ADAPTER.validate_python(refused)
        except ValidationError:
            return [action]  # not an action this syncledger can replay: the row stays as the ledger has it
        if again.id is None or again.at is None:
            again = again.model_copy(update={"id": again.id or action.id, "at": again.at or action.at})
        self.judged.add(again.id or "")
        return [again]

    def refusal(self, action: v.Action, reason: str) -> str:
        """Why an action is skipped, saying so when it is a discrepancy row judged again."""
        if action.id is not None and action.id in self.judged:
            return f"still refused under {self.question.method} (a discrepancy in the ledger): {reason}"
        return reason


# ------------------------------------------------------------------------------------------------ 2. replaying


class Cause(NamedTuple):
    """The user action a decision goes back to (through decisions that queued operations, to the action)."""

    id: str | None
    do: str
    at: datetime | None
    user: str

    def document(self) -> dict[str, Any]:
        return {"id": self.id, "do": self.do, "at": iso(self.at), "user": self.user}


class Mark(NamedTuple):
    """One decision about an item, as the comparison needs it; `removed`: it took the item away (deleted the CRM
    record, or the Outlook item), where its other decisions are about it without changing whether it exists;
    `changed`: the item's properties it set (as `_differing` names them: `fields.<name>`, `start`, `state`,
    `regarding`, `completed`, `linked`; `fields.*` for every field, `exists` for a creation)."""

    rule: str
    at: datetime
    actor: str
    cause: Cause | None
    reason: str | None
    removed: bool = False
    changed: frozenset[str] = frozenset()

    def document(self) -> dict[str, Any]:
        cause = self.cause.document() if self.cause is not None else None
        return {"rule": self.rule, "at": iso(self.at), "by": self.actor, "reason": self.reason, "cause": cause}


class Notes:
    """What one side keeps that grows with the ledger: the user action each position goes back to, and every
    decision about each CRM record and Outlook item, in order. This one keeps them in memory (the pure default);
    `whatif_spill.SpilledNotes` keeps the same in a temporary file, and moves its world's past there too."""

    def __init__(self) -> None:
        self.causes: dict[int, Cause | None] = {0: None}  # by position
        self.decisions: dict[str, list[Mark]] = defaultdict(list)

    def add_cause(self, position: int, cause: Cause | None) -> None:
        self.causes[position] = cause

    def cause(self, position: int) -> Cause | None:
        return self.causes.get(position)

    def add_mark(self, refs: Iterable[str], mark: Mark) -> None:
        for ref in refs:
            self.decisions[ref].append(mark)

    def settle(self, world: World) -> None:
        """Every so often, between events: nothing to do in memory."""

    def decided(self) -> Iterator[tuple[str, int, list[Mark]]]:
        """Every reference decided about, in order (the order of Python's strings, which is SQLite's order of
        UTF-8 text), with the rank of its first decision among every reference's first, and its decisions."""
        first = {ref: n for n, ref in enumerate(self.decisions)}
        for ref in sorted(self.decisions):
            yield ref, first[ref], self.decisions[ref]


class Side:
    """One history's world and, for every CRM record and Outlook item, the decisions about it in order (in its
    `notes`: in memory, or spilled to a file)."""

    def __init__(self, world: World | None = None, notes: Notes | None = None) -> None:
        self.world = world if world is not None else World()
        self.notes = notes if notes is not None else Notes()

    def fold(self, position: int, event: v.Action | v.Decided) -> None:
        """The ledger's own event: fold it, and note it."""
        fold_stored(self.world, event, position)
        self.note(position, event)
        self.notes.settle(self.world)

    def note(self, position: int, event: v.Action | v.Decided, cause: Cause | None = None) -> None:
        if isinstance(event, v.Decided):
            cause = self.notes.cause(event.cause)
            mark = Mark(intern(event.rule), event.at, intern(event.actor), cause, event.reason)
            about = [ref for ref in event.about if not ref.startswith("user:")]
            changes = _changed_by(event)
            if not changes:
                self.notes.add_mark(about, mark)
            for ref in about if changes else ():  # in order: the first decision about each ranks it
                changed = changes.get(ref)
                if changed is None:
                    self.notes.add_mark([ref], mark)
                else:
                    removed = "exists" in changed and "created" not in changed
                    self.notes.add_mark([ref], mark._replace(removed=removed, changed=changed - {"created"}))
        elif cause is None:
            cause = Cause(event.id, intern(event.do), event.at, intern(event.user_name))  # one copy of each name
        self.notes.add_cause(position, cause)


def _changed_by(decision: v.Decided) -> dict[str, frozenset[str]]:
    """What a decision's effects set of each record and item, by reference (`Mark.changed`): a deletion and a
    creation set `exists` (a creation also `created`, so that it is not read as the removal)."""
    found: dict[str, set[str]] = defaultdict(set)
    for e in decision.effects:
        if isinstance(e, fx.DeleteRecord):
            found[v.crm_ref(e.record)].add("exists")
        elif isinstance(e, fx.DeleteItem):
            found[v.outlook_ref(e.user, e.item)].add("exists")
        elif isinstance(e, fx.CreateRecord):
            found[v.crm_ref(e.record)].update(("exists", "created"))
        elif isinstance(e, fx.CreateItem):
            found[v.outlook_ref(e.user, e.item)].update(("exists", "created"))
        elif isinstance(e, fx.ChangeRecord):
            changed = {f"fields.{name}" for name in e.fields}
            changed.update(name for name in ("start", "state", "regarding") if getattr(e, name) is not None)
            found[v.crm_ref(e.record)].update(changed)
        elif isinstance(e, fx.ReplaceItem):
            found[v.outlook_ref(e.user, e.item)].update(("fields.*", "start", "completed"))
        elif isinstance(e, (fx.LinkItem, fx.UnlinkItem)):
            found[v.outlook_ref(e.user, e.item)].add("linked")
    return {ref: frozenset(changed) for ref, changed in found.items()}


def _sets(mark: Mark, properties: Collection[str]) -> bool:
    """Whether the decision set one of `properties` (as `_differing` names them) of its item."""
    return any(p in mark.changed or (p.startswith("fields.") and "fields.*" in mark.changed) for p in properties)


@dataclass
class Replay:
    """Both histories up to the question's point."""

    ledger: Side
    whatif: Side
    actions: int = 0  # user actions replayed (carried out)
    skipped: list[Skipped] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    retimed: int = 0  # actions made offline, re-timed to when Outlook reconnected
    users: list[str] = field(default_factory=list)  # the users the ledger declares (by the end, or --at)
    inferred: int = 0  # syncs inferred again (imported ledgers)
    judged: int = 0  # discrepancy rows judged again (imported ledgers)


def replay(events: Iterable[v.Recorded], question: Question, notes: Callable[[], Notes] = Notes) -> Replay:
    """Fold the ledger's events up to `question.at` and, beside them, replay its rewritten actions through the
    engine into a fresh world; an action the engine refuses there is skipped, with its reason. Each side keeps
    its causes and decisions in `notes()` (in memory unless the caller gives a spilling kind)."""
    ledger, whatif = Side(notes=notes()), Side(_organisation(question.org), notes())
    found = Replay(ledger, whatif)
    rewriter, imported, inference = Rewriter(question), Imported(question), Inference(question)
    causes: dict[str, Cause] = {}  # ledger action id -> its cause, for the what-if copy of it (same id, same action),
    # until it is carried out (or held back by the rewriter until then): only the actions in flight

    def carry_out(actions: list[v.Action]) -> None:
        for action in actions:
            if inference.cycles:
                infer(before=action.when)
            carry_out_one(action)

    def infer(before: datetime | None = None, upto: datetime | None = None) -> None:
        while (sync := inference.next_sync(whatif.world, before, upto)) is not None:
            carry_out_one(sync)

    def carry_out_one(action: v.Action) -> None:
        cause = causes.pop(action.id, None) if action.id is not None else None
        if cause is not None and action.at != cause.at:
            cause = cause._replace(at=action.at)
        try:
            recorded = handle(whatif.world, action)
        except RefusedError as e:
            reason = imported.refusal(action, str(e))
            found.skipped.append(Skipped(action.id, action.at, action.do, action.user_name, reason, refs_of(action)))
            return
        found.actions += 1
        for position, event in recorded:
            whatif.note(position, event, cause if isinstance(event, v.Action) else None)
        whatif.notes.settle(whatif.world)

    for position, event in events:
        if question.at is not None and event.when > question.at:
            break
        ledger.fold(position, event)
        if isinstance(event, v.Action):
            if event.id is not None:
                causes[event.id] = ledger.notes.cause(position)  # type: ignore[assignment]
            exported = event.model_copy(update={"queued": ()}) if event.queued else event  # as `export` writes it
            if inference.keeps(exported):
                for action in imported.feed(exported):
                    carry_out(rewriter.feed(action))
            if event.id is not None and not rewriter.holds(event.id):
                causes.pop(event.id, None)  # dropped, or refused, or carried out: never asked for again
    due, never = rewriter.finish(question.at)
    carry_out(due)
    if inference.cycles and ledger.world.at is not None:
        infer(upto=ledger.world.at)  # never after the latest event read
    found.skipped += never
    found.dropped, found.retimed = rewriter.dropped, rewriter.retimed
    if inference.dropped:
        found.dropped[f"inferred sync (inferred again at the {question.method} cycle)"] = inference.dropped
    found.inferred, found.judged = inference.inferred, len(imported.judged)
    found.users = list(ledger.world.users)
    return found


def _organisation(options: Mapping[str, bool]) -> World:
    """A fresh world with the organisation options set from the start (as `org.option` sets them)."""
    world = World()
    for name, value in options.items():
        setattr(world, name, value)
    return world


# ------------------------------------------------------------------------------------------------ 3. comparing


Values = dict[str, Any]


@dataclass(frozen=True)
class Difference:
    """A CRM record or Outlook item whose end differs, with the decision that made the difference on each side
    (`decisive`), and the skipped actions that named it."""

    ref: str
    change: str  # "deleted instead of kept", "unlinked instead of linked", ... (the what-if side first)
    properties: tuple[str, ...]  # the properties that differ ("exists" when one side has none)
    ledger: Values | None
    whatif: Values | None
    ledger_decision: Mark | None
    whatif_decision: Mark | None
    skipped: tuple[Skipped, ...] = ()
    ledger_last: Mark | None = None  # each side's last decision about it, whatever caused it
    whatif_last: Mark | None = None

    @property
    def pair(self) -> tuple[str, str]:
        return _rule(self.ledger_decision), _rule(self.whatif_decision)

    def document(self) -> dict[str, Any]:
        def mark(found: Mark | None) -> dict[str, Any] | None:
            return found.document() if found is not None else None

        return {
            "ref": self.ref,
            "change": self.change,
            "properties": list(self.properties),
            "ledger": self.ledger,
            "whatif": self.whatif,
            "decisions": {"ledger": mark(self.ledger_decision), "whatif": mark(self.whatif_decision)},
            "last_decisions": {"ledger": mark(self.ledger_last), "whatif": mark(self.whatif_last)},
            "skipped": [s.id for s in self.skipped],
        }


@dataclass(frozen=True)
class Pair:
    """How many items the pair of rules ("ledger rule -> what-if rule") decided, and how many of them differ."""

    ledger_rule: str
    whatif_rule: str
    items: int
    differ: int
    changes: dict[str, int]

    @property
    def name(self) -> str:
        return f"{self.ledger_rule} -> {self.whatif_rule}"

    def document(self) -> dict[str, Any]:
        return {
            "pair": self.name,
            "ledger_rule": self.ledger_rule,
            "whatif_rule": self.whatif_rule,
            "items": self.items,
            "differ": self.differ,
            "changes": self.changes,
        }


@dataclass(frozen=True)
class Answer:
    question: Question
    users: list[str]  # the users moved
    ledger_end: tuple[int, datetime | None]  # the ledger's last position and time included
    whatif_end: tuple[int, datetime | None]  # the same in the replay
    actions: int
    differences: list[Difference]
    skipped: list[Skipped]
    dropped: dict[str, int]
    retimed: int
    summary: list[Pair]
    inferred: int = 0
    judged: int = 0

    def document(self) -> dict[str, Any]:
        q = self.question
        return {
            "method": q.method,
            "users": self.users,
            "org": dict(q.org),
            "at": iso(q.at),
            "ledger": {"position": self.ledger_end[0], "at": iso(self.ledger_end[1])},
            "whatif": {
                "position": self.whatif_end[0],
                "at": iso(self.whatif_end[1]),
                "actions": self.actions,
                "skipped": len(self.skipped),
                "retimed": self.retimed,
                "inferred_syncs": self.inferred,
                "discrepancies_judged": self.judged,
                "dropped": self.dropped,
            },
            "appended": False,
            "differences": [d.document() for d in self.differences],
            "skipped": [s.document() for s in self.skipped],
            "summary": [p.document() for p in self.summary],
        }


def answer(events: Iterable[v.Recorded], question: Question, notes: Callable[[], Notes] = Notes) -> Answer:
    """The what-if answer from the ledger's events (in order, as the store reads them); `BadInputError` for a
    `--user` the ledger never declares (by `--at`). `notes` makes where each side keeps what grows with the
    ledger (`Notes`: in memory; the command line gives `whatif_spill.Spill.notes`): the answer is the same."""
    found = replay(events, question, notes)
    if question.users is not None:
        unknown = sorted(question.users - set(found.users))
        if unknown:
            declared = ", ".join(found.users) or "none"
            by = f" by {iso(question.at)}" if question.at is not None else ""
            raise BadInputError(f"unknown user {shown(unknown[0])} (declared{by}: {declared})")
    differences, summary = compare(found.ledger, found.whatif, found.skipped)
    moved = [u for u in found.users if question.moves(u)]
    ledger_world, whatif_world = found.ledger.world, found.whatif.world
    return Answer(
        question,
        moved,
        (ledger_world.position, ledger_world.at),
        (whatif_world.position, whatif_world.at),
        found.actions,
        differences,
        found.skipped,
        dict(found.dropped),
        found.retimed,
        summary,
        found.inferred,
        found.judged,
    )


def compare(ledger: Side, whatif: Side, skipped: Iterable[Skipped] = ()) -> tuple[list[Difference], list[Pair]]:
    """Every CRM record and Outlook item whose end differs, and the summary by rule pair over every item either
    side decided about (pairs with no difference included). One pass in reference order over the two ends (the
    organisation's present, in memory) and each side's decisions (`Notes.decided`, streamed): one item's
    decisions at a time, never every item's."""
    a, b = _ends(ledger.world), _ends(whatif.world)
    named: dict[str, list[Skipped]] = defaultdict(list)
    by_id: dict[str, Skipped] = {}
    for s in skipped:
        for ref in s.refs:
            named[ref].append(s)
        if s.id is not None:
            by_id[s.id] = s
    differences, ranked = [], []
    counts: dict[tuple[str, str], list[Any]] = {}
    for ref, rank, marks_left, marks_right in _merged(sorted({*a, *b}), ledger.notes, whatif.notes):
        old, new = a.get(ref), b.get(ref)
        properties = _differing(old, new)
        found: Difference | None = None
        if properties:
            left, right = decisive(marks_left, marks_right, old, new)
            change = _change(ref, old, new, properties, ledger.world, whatif.world)
            lasts = (marks_left[-1] if marks_left else None), (marks_right[-1] if marks_right else None)
            here = list(named.get(ref, ()))
            for mark in (left, right):  # the skipped action behind the decision that made the difference, too
                found_skip = by_id.get(_cause_id(mark) or "") if mark is not None else None
                if found_skip is not None and found_skip not in here:
                    here.append(found_skip)
            found = Difference(ref, change, properties, old, new, left, right, tuple(here), *lasts)
            differences.append(found)
            ranked.append((rank, ref, found))
            pair = found.pair
        elif marks_left or marks_right:
            left, right = decisive(marks_left, marks_right)
            pair = (_rule(left), _rule(right))
        else:
            continue  # an item of both ends, alike, that no rule ever decided about
        entry = counts.setdefault(pair, [0, 0, Counter()])
        entry[0] += 1
        if found is not None:
            entry[1] += 1
    ranked.sort(key=itemgetter(0, 1))  # each pair's kinds of change in the order the items were first decided about
    for _, _, found in ranked:
        counts[found.pair][2][found.change] += 1
    differences.sort(key=lambda d: _ref_order(d.ref))  # the order they are listed in (the same, for crm: and outlook:)
    summary = [Pair(left, right, n, d, dict(changes)) for (left, right), (n, d, changes) in counts.items()]
    summary.sort(key=lambda p: (-p.differ, p.ledger_rule == p.whatif_rule, p.name))  # where rules differ first
    return differences, summary


def _merged(
    ends: list[str], left: Notes, right: Notes
) -> Iterator[tuple[str, tuple[int, int], list[Mark], list[Mark]]]:
    """Every reference of the ends (sorted) or decided about by either side, in order, with its rank (where the
    ledger first decided about it, else the what-if, else nowhere) and each side's decisions about it."""
    streams = [
        ((ref, 0, 0, []) for ref in ends),
        ((ref, 1, first, marks) for ref, first, marks in left.decided()),
        ((ref, 2, first, marks) for ref, first, marks in right.decided()),
    ]
    current: str | None = None
    found: list[list[Mark]] = [[], []]
    rank = (3, 0)
    for ref, side, first, marks in heapq.merge(*streams, key=itemgetter(0)):
        if ref != current:
            if current is not None:
                yield current, rank, found[0], found[1]
            current, found, rank = ref, [[], []], (3, 0)
        if side:
            found[side - 1] = marks
            rank = min(rank, (side, first))
    if current is not None:
        yield current, rank, found[0], found[1]


def decisive(
    left: list[Mark], right: list[Mark], old: Values | None = None, new: Values | None = None
) -> tuple[Mark | None, Mark | None]:
    """The decision on each side that made an item's end differ (or, for an item that ends alike, where its two
    histories differ last), each side's decisions matched by the user action they go back to:

    - a side where the item ends gone (or never came): the last decision that took it away (the deletion: a
      later decision about it, such as another user's sync keeping their copy, did not), else its last;
    - a side where it ends unlinked, the other linked: its last decision (the one that ended the link), or if it
      has none, the other side's last (the one that linked it);
    - a side where it never was, the other's first (the one that made it);
    - otherwise the last user action whose decisions about the item differ between the sides and, on either
      side, set a property that differs (an edit pushed on one side only, not a later action that merely
      reached one side's copy), else the last whose decisions differ;

    the other side's decision is the one caused by the same user action (its last), else none. Histories that
    never differ give their last decisions: the difference then came from an action, not a rule."""
    if old is not None or new is not None:
        if old is not None and new is None:
            return _matched(_removal(right) or (left[0] if left else None), left, right, on_right=bool(right))
        if new is not None and old is None:
            return _matched(_removal(left) or (right[0] if right else None), left, right, on_right=not left)
        if old is not None and new is not None and bool(old.get("linked")) != bool(new.get("linked")):
            unlinked_right = not new.get("linked")
            ended, linked = (right, left) if unlinked_right else (left, right)
            if ended:  # the decision that ended the link there
                return _matched(ended[-1], left, right, on_right=unlinked_right)
            return _matched(linked[-1] if linked else None, left, right, on_right=not unlinked_right)
    properties = _differing(old, new) if old is not None and new is not None else ()
    by_cause_left, by_cause_right = _by_cause(left), _by_cause(right)
    first_differing: tuple[Mark | None, Mark | None] | None = None
    for cause in reversed(list(dict.fromkeys([*by_cause_left, *by_cause_right]))):
        a, b = by_cause_left.get(cause, []), by_cause_right.get(cause, [])
        if [m.rule for m in a] != [m.rule for m in b]:
            pair = (a[-1] if a else None), (b[-1] if b else None)
            if not properties or any(_sets(m, properties) for m in (*a, *b)):
                return pair
            first_differing = first_differing or pair
    if first_differing is not None:
        return first_differing
    return (left[-1] if left else None), (right[-1] if right else None)


def _removal(marks: list[Mark]) -> Mark | None:
    """The last decision that took the item away, else the last decision about it (None if there is none)."""
    return next((m for m in reversed(marks) if m.removed), marks[-1] if marks else None)


def _matched(
    mark: Mark | None, left: list[Mark], right: list[Mark], *, on_right: bool
) -> tuple[Mark | None, Mark | None]:
    """`mark` (a decision of one side) beside the other side's last decision caused by the same user action."""
    if mark is None:
        return None, None
    others = left if on_right else right
    cause = _cause_id(mark)
    twin = next((m for m in reversed(others) if _cause_id(m) == cause), None)
    return (twin, mark) if on_right else (mark, twin)


def _cause_id(mark: Mark) -> str | None:
    return mark.cause.id if mark.cause is not None else None


def _by_cause(marks: list[Mark]) -> dict[str | None, list[Mark]]:
    found: dict[str | None, list[Mark]] = {}
    for mark in marks:
        found.setdefault(_cause_id(mark), []).append(mark)
    return found


def _rule(mark: Mark | None) -> str:
    return mark.rule if mark is not None else NONE


def _ends(world: World) -> dict[str, Values]:
    """Every CRM record and Outlook item of the world, by reference, as the comparison sees it."""
    ends: dict[str, Values] = {}
    for record in world.records.values():
        ends[v.crm_ref(record.id)] = _record(record)
    for user in world.users.values():
        for item in user.items.values():
            link = user.links_by_item.get(item.id)
            ends[v.outlook_ref(user.name, item.id)] = _item(item, link.record if link is not None else None)
    return ends


def _record(record: Record) -> Values:
    return record_values(record)


def _item(item: Item, linked: str | None) -> Values:
    return {"linked": linked} | item_values(item)


def _differing(old: Values | None, new: Values | None) -> tuple[str, ...]:
    if old is None or new is None:
        return ("exists",) if old is not new else ()
    return tuple(k for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k))


def _change(
    ref: str, old: Values | None, new: Values | None, properties: tuple[str, ...], before: World, after: World
) -> str:
    """The difference in a few words, the what-if side first: "deleted instead of kept", ..."""
    if new is None:
        return "deleted instead of kept" if _was_deleted(ref, after) else "never there instead of there"
    if old is None:
        return "kept instead of deleted" if _was_deleted(ref, before) else "there instead of never there"
    if "linked" in properties:
        if new["linked"] is None:
            return "unlinked instead of linked"
        return "linked instead of unlinked" if old["linked"] is None else "linked elsewhere"
    return "different " + ", ".join(p.split(".", 1)[0] for p in dict.fromkeys(p.split(".")[0] for p in properties))


def _was_deleted(ref: str, world: World) -> bool:
    if ref.startswith("crm:"):
        return world.past.record(ref[4:]) is not None
    user, _, item = ref[len("outlook:") :].partition("/")
    return world.past.item_deleted(user, item)


def _ref_order(ref: str) -> tuple[int, str]:
    return (0 if ref.startswith("crm:") else 1, ref)


# ------------------------------------------------------------------------------------------------ text


def lines(found: Answer) -> list[str]:
    """The answer as text: the question, every difference with both sides' decisions, the skipped actions, and
    the summary by rule pair."""
    q = found.question
    who = f"all {len(found.users)} users" if q.users is None else ", ".join(found.users)
    org = "".join(f", with {name}={str(value).lower()}" for name, value in q.org.items())
    until = f"up to {iso(q.at)}" if q.at is not None else f"up to the end ({iso(found.ledger_end[1])})"
    # every user action of the ledger up to the point: carried out (less the syncs inferred anew), skipped, dropped
    actions = found.actions + len(found.skipped) - found.inferred + sum(found.dropped.values())
    out = [
        f"What if {who} had used {q.method}{org}, {until}: the ledger's {actions} user "
        f"actions replayed in memory (nothing appended)",
    ]
    extra = [f"{n} {what} dropped" for what, n in found.dropped.items()]
    if found.retimed:
        extra.append(f"{found.retimed} made offline re-timed to when Outlook reconnected")
    if found.inferred:
        extra.append(f"{found.inferred} sync{'s' if found.inferred != 1 else ''} inferred at the {q.method} cycle")
    if found.judged:
        extra.append(f"{found.judged} discrepancy row{'s' if found.judged != 1 else ''} judged again")
    out.append(f"  {found.actions} carried out, {len(found.skipped)} skipped" + "".join(f", {e}" for e in extra))
    out.append("")
    if not found.differences:
        out.append("No record or item ends differently.")
    else:
        n = len(found.differences)
        out.append("1 record or item ends differently:" if n == 1 else f"{n} records and items end differently:")
    for d in found.differences:
        out.append("")
        out.append(f"{d.ref}: {d.change}")
        out.append(f"  ledger:  {_shown_values(d.ledger, d.properties)}")
        out.append(f"  what-if: {_shown_values(d.whatif, d.properties)}")
        out.append(f"  ledger decision:  {_shown_mark(d.ledger_decision, d.whatif_decision, d.ledger_last)}")
        out.append(f"  what-if decision: {_shown_mark(d.whatif_decision, d.ledger_decision, d.whatif_last)}")
        for s in d.skipped:
            out.append(f"  skipped: {_shown_skip(s)}")
    if found.skipped:
        out.append("")
        out.append(f"Skipped ({len(found.skipped)}): actions the what-if history does not carry out")
        out += [f"  {_shown_skip(s)}" for s in found.skipped]
    out.append("")
    out.append("By rule pair (ledger rule -> what-if rule), every item either side decided about:")
    for p in found.summary:
        detail = ", ".join(f"{n} {what}" for what, n in sorted(p.changes.items(), key=lambda kv: -kv[1]))
        out.append(f"  {p.name}: {p.differ} differ" + (f" ({detail})" if detail else "") + f", of {p.items}")
    return out


def _shown_values(values: Values | None, properties: tuple[str, ...]) -> str:
    if values is None:
        return "absent"
    shown_ = [f"{k}={_plain(values.get(k))}" for k in properties if k != "exists"]
    kind = values.get("type")
    if "exists" in properties:
        linked = values.get("linked")
        link = "" if "linked" not in values else (f", linked to {linked}" if linked else ", not linked")
        return f"exists ({kind}{link})"
    return ", ".join(shown_)


def _plain(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _shown_mark(mark: Mark | None, other: Mark | None = None, last: Mark | None = None) -> str:
    if mark is None:
        if other is None:
            return "none" if last is None else f"none that differs (its last: {_shown_mark(last)})"
        return "none for the same user action" + (f" (its last: {_shown_mark(last)})" if last is not None else "")
    text = f"{mark.rule} at {iso(mark.at)} ({mark.actor})"
    if mark.cause is not None:
        c = mark.cause
        text += f", caused by {c.do} {c.id or ''} at {iso(c.at)}".replace("  ", " ")
    return text


def _shown_skip(s: Skipped) -> str:
    return f"{s.id} {iso(s.at)} {s.do} ({s.user}): {s.reason}"
