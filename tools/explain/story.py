"""`why`'s whole story: every event about an item since its link was made (or since it appeared), every event
that caused a decision among them (all the queued changes a decision merged, the offline operation and going
online behind a replay), what the item's own decisions reached in other users' Outlooks, what still waits for a
sync, and the facts each rule read, as each decision recorded them, in order and in sentences.

The cost is the item's own events (and its causes'), read through the item index; never a scan of the ledger.
`why --short` is the one-paragraph answer of `tools.explain.why`, unchanged.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syncledger.ledger import effects as fx
from syncledger.ledger import vocabulary as v
from syncledger.ledger.world import World, known_record, latest_link
from syncledger.projections.document import iso

from .sentences import (
    MAX_READS,
    Clock,
    Index,
    Lookup,
    Names,
    action_sentence,
    decision_sentence,
    facts_sentence,
    person,
)
from .why import _Reading, _user_event_before, explain, present

MAX_STORY = 200  # events about the item told in one answer (the latest); `history` has every one
ReadMany = Callable[[list[int]], Iterable[v.Recorded]]


@dataclass(frozen=True)
class StoryStep:
    """One event of the story: about the item itself, a cause of a decision about it, or a decision about
    another user's copy that one of the item's own decisions reached."""

    position: int
    at: datetime | None
    actor: str
    event: str  # the action's `do`, or "decision"
    rule: str | None
    cause: int | None
    causes: tuple[int, ...]  # every cause (several when queued changes merged into one decision)
    sync: int | None  # the sync (or going online) the decision belongs to, as recorded
    facts: dict[str, Any] | None  # what the rule read, as recorded
    role: str  # "about", "cause" or "reached"
    dropped: bool  # an offline operation dropped (OFFLINE-CONFLICT)
    reached_from: int | None  # for "reached": the decision about the item that queued it
    sentence: str
    read: str | None  # the facts, in words

    def document(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "at": iso(self.at),
            "actor": self.actor,
            "event": self.event,
            "rule": self.rule,
            "cause": self.cause,
            "causes": list(self.causes),
            "sync": self.sync,
            "facts": self.facts,
            "role": self.role,
            "dropped": self.dropped,
            "reached_from": self.reached_from,
            "sentence": self.sentence,
            "read": self.read,
        }


@dataclass(frozen=True)
class Waiting:
    """A queued operation about the item that no sync has decided yet."""

    user: str
    operation: str
    cause: int
    at: datetime
    sentence: str

    def document(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "operation": self.operation,
            "cause": self.cause,
            "at": iso(self.at),
            "sentence": self.sentence,
        }


@dataclass(frozen=True)
class Story:
    """Why an item is in its present state, told whole: the present (as `why --short` says it), where the story
    starts, its events oldest first, and what still waits."""

    ref: str
    exists: bool
    type: str | None
    now: str
    rule: str | None  # of the latest decision about the item (what `expect: why` checks)
    link: dict[str, Any] | None
    since: int | None  # the position the story starts at
    since_what: str  # "its link was made", "it appeared", "it was created", "the first event about it"
    omitted: int  # earlier events about the item not told (see `history`)
    steps: list[StoryStep]
    waiting: list[Waiting]
    label: str | None = None  # its fullname or subject, shown next to its id

    def document(self) -> dict[str, Any]:
        return {
            **present(self),
            "since": {"position": self.since, "what": self.since_what},
            "omitted": self.omitted,
            "chain": [step.document() for step in self.steps],
            "waiting": [w.document() for w in self.waiting],
        }


def story(ref: str, world: World, index: Index, lookup: Lookup, read_many: ReadMany | None = None) -> Story:
    """The whole story of `ref` (a known reference: see `why.check_ref`). `read_many` reads many positions at
    once (the item's own events), `lookup` one at a time (causes, found one by one)."""
    read = _Reading(lookup)
    touched = list(index.touched.get(ref, []))
    since, since_what = _start(ref, world, touched)
    about = [p for p in touched if since is None or p >= since]
    omitted = max(0, len(about) - MAX_STORY)
    about = about[omitted:]
    if touched and not omitted and touched[0] not in about:
        about.insert(0, touched[0])  # how the item appeared, before it was linked
    if read_many is not None:
        for position, prefetched in read_many([p for p in about if p not in read.cache]):
            read.cache[position] = prefetched
        # the decisions' own causes too, in the same few reads (each cause's causes, rarer, are read one by one),
        decisions = [e for p in about if isinstance(e := read.cache.get(p), v.Decided)]
        causes = {c for d in decisions for c in (*(d.causes or (d.cause,)), d.cause + 1) if c not in read.cache}
        # and the syncs they were taken at, which say whether an import inferred them
        causes |= {d.sync for d in decisions if d.sync is not None and d.sync not in read.cache}
        for position, prefetched in read_many(sorted(causes)):
            read.cache[position] = prefetched
    short = explain(ref, world, index, read)  # the present, in the words of `why --short`
    roles: dict[int, str] = dict.fromkeys(about, "about")
    reached_from: dict[int, int] = {}
    onward: list[Waiting] = []  # what the item's own decisions queued for others, not decided yet
    for position in about:
        event = read(position)
        if not isinstance(event, v.Decided):
            continue
        for cause in decision_causes(position, event, read, index):
            roles.setdefault(cause, "cause")
        others = [q for q in event.queued if q.user != _user_of(event)]
        if others:
            for found in _reached(position, others, index, read, read_many):
                if found not in roles:
                    roles[found], reached_from[found] = "reached", position
            onward += _still_queued(position, event, others, world)
    names = Names(world, index, read)
    waiting = _waiting(ref, world, read, names)
    waiting += [w for w in onward if (w.user, w.cause) not in {(x.user, x.cause) for x in waiting}]
    steps = _steps(roles, reached_from, read, names)
    return Story(
        ref,
        short.exists,
        short.type,
        short.now,
        short.rule,
        short.link,
        since,
        since_what,
        omitted,
        steps,
        waiting,
        short.label,
    )


def _start(ref: str, world: World, touched: list[int]) -> tuple[int | None, str]:
    """Where the story starts: when the item's (latest) link was made, else when it appeared."""
    kind, _, name = ref.partition(":")
    if kind == "outlook":
        user, _, item = name.partition("/")
        link = latest_link(world, user, item)
        if link is not None:
            return link.made, "its link was made"
        return (touched[0], "it appeared") if touched else (None, "it appeared")
    if kind == "crm":
        record = known_record(world, name)
        if record is not None and record.created:
            return record.created, "it was created"
    return (touched[0], "the first event about it") if touched else (None, "the first event about it")


def decision_causes(position: int, decision: v.Decided, read: Lookup, index: Index) -> set[int]:
    """Every event that caused the decision, back to the user actions: every merged cause (`causes`), each
    cause's own causes, and for an offline operation replayed on going online, the OFFLINE-QUEUE that held it
    and the going online (the decision's recorded `sync`, or for older ledgers the user's event before it)."""
    found: set[int] = set()
    todo: list[tuple[int, v.Decided]] = [(position, decision)]
    while todo:
        at, d = todo.pop()
        behind: list[int | None] = list(d.causes or (d.cause,))
        if any(isinstance(e, fx.SettleOperation) for e in d.effects):
            held = read(d.cause + 1)
            if isinstance(held, v.Decided) and held.rule == "OFFLINE-QUEUE" and held.cause == d.cause:
                behind.append(d.cause + 1)
            behind.append(d.sync if d.sync is not None else _user_event_before(index, d.actor, at))
        for cause in behind:
            if cause is None or not 0 < cause < at or cause in found:
                continue
            found.add(cause)
            event = read(cause)
            if isinstance(event, v.Decided):
                todo.append((cause, event))
    return found


def _user_of(d: v.Decided) -> str:
    for ref in d.about:
        if ref.startswith("outlook:"):
            return ref[8:].partition("/")[0]
    return d.actor.removeprefix("sync:")


def _reached(
    position: int, queued: list[v.Queued], index: Index, read: _Reading, read_many: ReadMany | None
) -> list[int]:
    """The decisions at other users' syncs that settled what the decision queued for them (an edit pushed to
    CRM reaching someone else's copy): among the record's events after it, as far as MAX_READS of them."""
    found = []
    users = {q.user for q in queued}
    records = {q.record for q in queued if q.record is not None}
    for record in records:
        touched = index.touched.get(v.crm_ref(record), [])
        later = touched[bisect_right(touched, position) :][:MAX_READS]
        if read_many is not None:
            for p, prefetched in read_many([p for p in later if p not in read.cache]):
                read.cache[p] = prefetched
        for p in later:
            event = read(p)
            if (
                isinstance(event, v.Decided)
                and event.actor.removeprefix("sync:") in users
                and (event.cause == position or position in (event.causes or ()))
            ):
                found.append(p)
    return found


def _still_queued(position: int, d: v.Decided, queued: list[v.Queued], world: World) -> list[Waiting]:
    """What the decision queued for other users that their next sync (or going online) has yet to decide."""
    found = []
    for q in queued:
        user = world.users.get(q.user)
        if user is not None and any(op.cause == position and op.record == q.record for op in user.pending):
            who = person(q.user)
            waits = f"{who}'s next sync" if user.online else f"{who} to go online"
            what = f"{d.rule} changed CRM {q.record}" if q.record else d.rule
            found.append(Waiting(q.user, q.operation, position, d.at, f"{what}; for {who}'s copy, waiting for {waits}"))
    return found


def _waiting(ref: str, world: World, read: Lookup, names: Names) -> list[Waiting]:
    """What is queued about the item and not decided yet, by whom (the item's user, or everyone the record's
    changes are queued for)."""
    kind, _, name = ref.partition(":")
    if kind == "outlook":
        user_name, _, item = name.partition("/")
        user = world.users.get(user_name)
        link = user.links_by_item.get(item) if user else None
        record = link.record if link else None
        candidates = [
            (user_name, op)
            for op in (user.pending if user else [])
            if op.item == item or (record is not None and op.record == record)
        ]
    elif kind == "crm":
        known = known_record(world, name)
        users = [*world.links_to.get(name, {}), *([known.owner, *known.shared_with] if known else [])]
        candidates = [
            (u, op)
            for u in dict.fromkeys(users)
            if u in world.users
            for op in world.users[u].pending
            if op.record == name
        ]
    else:
        return []
    waiting = []
    for user_name, op in candidates[:MAX_READS]:
        event = read(op.cause)
        what = action_sentence(event, names, Clock().at(event.at)) if isinstance(event, v.Action) else f"@{op.cause}"
        who = person(user_name)
        waits = f"{who}'s next sync" if world.users[user_name].online else f"{who} to go online"
        sentence = f"{what}: waiting for {waits}"
        waiting.append(Waiting(user_name, op.operation, op.cause, op.at, sentence))
    return waiting


def _steps(roles: dict[int, str], reached_from: dict[int, int], read: Lookup, names: Names) -> list[StoryStep]:
    events = [(p, e) for p in sorted(roles) if (e := read(p)) is not None]
    for _, event in events:
        names.learn(event)
    clock = Clock()
    steps = []
    for position, event in events:
        when = clock.at(event.at)
        role = roles[position]
        if isinstance(event, v.Decided):
            at_sync = read(event.sync) if event.sync is not None and event.actor.startswith("sync:") else None
            sentence = decision_sentence(
                event, names, when, position=position, cause=read(event.cause), exact=True, sync=at_sync
            )
            steps.append(
                StoryStep(
                    position,
                    event.at,
                    event.actor,
                    "decision",
                    event.rule,
                    event.cause,
                    tuple(event.causes or (event.cause,)),
                    event.sync,
                    dict(event.facts) if event.facts is not None else None,
                    role,
                    event.rule == "OFFLINE-CONFLICT",
                    reached_from.get(position),
                    sentence,
                    facts_sentence(event, names),
                )
            )
        else:
            sentence = action_sentence(event, names, when)
            steps.append(
                StoryStep(
                    position, event.at, event.user_name, event.do, None, None, (), None, None, role, False, None,
                    sentence, None,
                )
            )  # fmt: skip
    return steps


def step_notes(step: StoryStep) -> list[str]:
    """What a decision's line adds below it: what caused it (every merged cause), what it reached, and the facts
    its rule read. Positions are written `@N`."""
    if step.event != "decision":
        return []
    notes = []
    if len(step.causes) > 1:
        merged = ", ".join(f"@{c}" for c in step.causes[:-1]) + f" and @{step.causes[-1]}"
        notes.append(f"Because of {merged}: {len(step.causes)} queued changes, merged into this one decision.")
    elif step.cause is not None:
        notes.append(f"Because of @{step.cause}.")
    if step.sync is not None and not step.actor.startswith("sync:") and step.rule != "GO-ONLINE-SYNC":
        notes.append(f"Held offline, then replayed when {person(step.actor)} went online (@{step.sync}).")
    if step.reached_from is not None:
        notes.append(f"Here @{step.reached_from}, a decision about this item, reached another user's copy.")
    if step.dropped:
        notes.append("The offline operation was dropped; nothing of it reached CRM.")
    if step.read:
        notes.append(f"It read: {step.read}.")
    return notes
