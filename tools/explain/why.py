"""`why`: the chain from user actions to an item's present state, through every decision on the way, in the
sentences of `tools.explain.sentences`."""

from __future__ import annotations

import difflib
import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syncledger.ledger import effects as fx
from syncledger.ledger import vocabulary as v
from syncledger.ledger.world import Link, World, latest_link
from syncledger.projections.document import iso

from ..inputs import BadInputError, shown
from ..output import one_line
from .sentences import (
    MAX_READS,
    MAX_REF,
    Clock,
    Index,
    Lookup,
    Names,
    action_sentence,
    capital,
    decision_sentence,
    inferred,
    observed_in,
    people,
    person,
)

Event = v.Action | v.Decided

# ----------------------------------------------------------------------------------------------- references


def check_ref_text(ref: str) -> None:
    """A reference no index could hold is bad input before any look-up: longer than any id, spaces around or
    inside that no id has, or text no back end stores (NUL, surrogates)."""
    if len(ref) > MAX_REF or " ".join(ref.split()) != ref or v.text_problem(ref) is not None:
        raise BadInputError(f"{shown(ref)} is not a reference: use crm:<record> or outlook:<user>/<item>")


def check_ref(ref: str, index: Index) -> None:
    """An unknown or malformed reference is bad input; the message suggests the closest known ones."""
    check_ref_text(ref)
    well_formed = ref.startswith(("crm:", "user:")) or (ref.startswith("outlook:") and "/" in ref)
    if well_formed and index.known(ref):
        return
    close = suggestions(ref, index)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    if not well_formed:
        raise BadInputError(f"{shown(ref)} is not a reference: use crm:<record> or outlook:<user>/<item>{hint}")
    raise BadInputError(f"unknown reference {shown(ref)}{hint}")


def check_user(world: World, name: str) -> None:
    """An unknown user is bad input; the message names the known ones (the first ten)."""
    if name not in world.users:
        known = ", ".join(list(world.users)[:10]) + (", ..." if len(world.users) > 10 else "")
        raise BadInputError(one_line(f"unknown user {shown(name)} (known: {known or 'none'})"))


def suggestions(ref: str, index: Index, limit: int = 3) -> list[str]:
    """Known references close to `ref`: the same one in another case, the same id elsewhere, then by spelling."""
    known = [r for r in index.touched if r.startswith(("crm:", "outlook:"))]
    tail = ref.rpartition("/")[2].rpartition(":")[2]
    found = [r for r in known if r.lower() == ref.lower()]
    found += [r for r in known if r.rpartition("/")[2].rpartition(":")[2] == tail]
    found += difflib.get_close_matches(ref, known, n=limit + 2, cutoff=0.6)
    # every reference is read from a list that is not sealed: those suggested must have (checked) events
    return list(itertools.islice((r for r in dict.fromkeys(found) if r != ref and index.known(r)), limit))


# ----------------------------------------------------------------------------------------------- the chain


@dataclass(frozen=True)
class Step:
    """One link of the chain: a user action or a decision, with its sentence."""

    position: int
    at: datetime | None
    actor: str
    event: str
    rule: str | None
    cause: int | None
    sentence: str

    def document(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "at": iso(self.at),
            "actor": self.actor,
            "event": self.event,
            "rule": self.rule,
            "cause": self.cause,
            "sentence": self.sentence,
        }


@dataclass(frozen=True)
class Explanation:
    """Why an item is in its present state: one sentence on the state, the rule of the last decision about it,
    and the chain of events from the user actions to it, oldest first."""

    ref: str
    exists: bool
    type: str | None
    now: str
    rule: str | None
    link: dict[str, Any] | None
    steps: list[Step]
    label: str | None = None  # its fullname or subject

    def document(self) -> dict[str, Any]:
        return {**present(self), "chain": [step.document() for step in self.steps]}


def present(answer: Any) -> dict[str, Any]:
    """The part of a `why` document that says where the item is now: the short answer's and the story's alike."""
    return {
        "ref": answer.ref,
        "label": answer.label,
        "exists": answer.exists,
        "type": answer.type,
        "now": answer.now,
        "rule": answer.rule,
        "link": answer.link,
    }


class _Reading:
    """An item's own events, read once each (a lookup costs the item's events, never a scan of the ledger)."""

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self.cache: dict[int, Event | None] = {}

    def __call__(self, position: int) -> Event | None:
        if position not in self.cache:
            self.cache[position] = self.lookup(position)
        return self.cache[position]


def causes(position: int, read: Lookup, index: Index) -> set[int]:
    """The event at `position` and every event it was caused by, back to the user action that started it: a
    decision names its cause; an offline operation replayed on going online also names the OFFLINE-QUEUE that
    held it and the going online."""
    found: set[int] = set()
    next_position: int | None = position
    while next_position and next_position not in found:
        event = read(next_position)
        if event is None:
            break
        found.add(next_position)
        if not isinstance(event, v.Decided):
            break
        if any(isinstance(e, fx.SettleOperation) for e in event.effects):
            held = read(event.cause + 1)
            if isinstance(held, v.Decided) and held.rule == "OFFLINE-QUEUE" and held.cause == event.cause:
                found.add(event.cause + 1)
            online = _user_event_before(index, event.actor, next_position)
            if online is not None:
                found.add(online)
        next_position = event.cause if event.cause < next_position else None
    return found


def _user_event_before(index: Index, user: str, position: int) -> int | None:
    """The user's own latest event (sync, online, option...) before `position`: for a replay, going online."""
    return index.latest_before([(f"user:{user}", position)])[0]  # not every event of the user: a lookup


def steps_of(positions: set[int], read: Lookup, names: Names) -> list[Step]:
    """The events at `positions` as sentences, oldest first, the date said once and whenever it changes."""
    events = [(p, e) for p in sorted(positions) if (e := read(p)) is not None]
    for _, event in events:
        names.learn(event)
    clock = Clock()
    steps = []
    for position, event in events:
        when = clock.at(event.at)
        if isinstance(event, v.Decided):
            sentence = decision_sentence(event, names, when, position=position, cause=read(event.cause))
            steps.append(Step(position, event.at, event.actor, "decision", event.rule, event.cause, sentence))
        else:
            sentence = action_sentence(event, names, when)
            steps.append(Step(position, event.at, event.user_name, event.do, None, None, sentence))
    return steps


def explain(ref: str, world: World, index: Index, lookup: Lookup) -> Explanation:
    """Why `ref` (a known reference: see `check_ref`) is in its present state."""
    read = _Reading(lookup)
    names = Names(world, index, read)
    positions: set[int] = set()
    last = index.last_decision(ref)
    if last is not None:
        positions |= causes(last[0], read, index)
    kind, _, name = ref.partition(":")
    if kind == "outlook":
        user, _, item = name.partition("/")
        owner = world.users.get(user)
        exists = owner is not None and item in owner.items
        link = latest_link(world, user, item)
        if link is not None and link.state == "linked":
            positions |= causes(link.position, read, index)
        removal = None if exists else removal_position(ref, index, read)
        if removal is not None:
            positions |= causes(removal, read, index)
        now = _item_now(ref, user, item, exists, link, removal, names, read, index)
        kind_of = names.item_type(user, item)
        link_doc = _link_document(link)
    elif kind == "crm":
        exists = name in world.records
        buried = None if exists else world.past.record(name)
        removal = buried.changed if buried is not None else None
        if removal is not None:
            positions |= causes(removal, read, index)
        now = _record_now(name, world, removal, names, read)
        kind_of = names.record_type(name)
        link_doc = None
    else:
        exists, kind_of, link_doc = name in world.users, None, None
        now = _user_now(name, world)
    if not positions:  # no decision: the user actions that made it and last changed it
        touched = index.touched.get(ref, [])
        positions = {touched[0], touched[-1]} if touched else set()
    positions |= _discrepancies_after(ref, min(positions, default=0), index, read)
    steps = steps_of(positions, read, names)
    label = names.label(ref) if kind in ("crm", "outlook") else None
    return Explanation(ref, exists, kind_of, now, last[1] if last else None, link_doc, steps, label)


DISCREPANCY_LOOK = 500  # the latest events of a reference that `why` reads to show its discrepancies in place


def _discrepancies_after(ref: str, first: int, index: Index, read: Lookup) -> set[int]:
    """The discrepancies recorded about `ref` since the chain began (SOURCES.md: `why` shows them in place, after
    the decision they contradict): a lead, not a cause."""
    touched = [p for p in index.touched.get(ref, []) if p > first][-DISCREPANCY_LOOK:]
    return {p for p in touched if isinstance(read(p), v.DiscrepancyFound)}


def _link_document(link: Link | None) -> dict[str, Any] | None:
    if link is None:
        return None
    return {
        "record": link.record,
        "state": link.state,
        "origin": link.origin,
        "rule": link.rule,
        "position": link.position,
    }


def removal_position(ref: str, index: Index, read: Lookup) -> int | None:
    """The position of the event that took an Outlook item out of its user's Outlook (None if not found)."""
    user, _, item = ref.removeprefix("outlook:").partition("/")
    for position in reversed(index.touched.get(ref, [])[-MAX_READS:]):
        event = read(position)
        if isinstance(event, v.OutlookItemDeleted):
            return position
        if isinstance(event, v.Decided) and any(
            isinstance(e, fx.DeleteItem) and e.user == user and e.item == item for e in event.effects
        ):
            return position
    return None


def _how(position: int, read: Lookup, names: Names, clock: Clock, since: bool = False) -> str:
    """When and how an event happened: `on 2 March 2026 at 09:04 (at Alice's sync; FILTER-CREATE)`."""
    event = read(position)
    if event is None:
        return f"at position {position}"
    when = clock.at(event.at, since)
    if not isinstance(event, v.Decided):
        return f"{when} ({action_sentence(event, names)})"
    if event.rule == "BASELINE":
        cause = read(event.cause)
        context = observed_in(cause if isinstance(cause, v.BaselineObserved) else None, event.at)
    elif event.actor.startswith("sync:"):
        kind = "server-side sync cycle" if event.decided_by == "server_side" else "sync"
        at_sync = read(event.sync) if event.sync is not None else None
        context = f"at {person(event.actor[5:])}'s {kind}{inferred(at_sync, ', ', '')}"
    elif any(isinstance(e, fx.SettleOperation) for e in event.effects):
        context = f"when {person(event.actor)} went online"
    else:
        cause = read(event.cause)
        context = f"when {action_sentence(cause, names)}" if isinstance(cause, v.Action) else "at once"
    return f"{when} ({context}; {event.rule})"


def _item_now(
    ref: str,
    user: str,
    item: str,
    exists: bool,
    link: Link | None,
    removal: int | None,
    names: Names,
    read: Lookup,
    index: Index,
) -> str:
    label = capital(names.item(user, item))
    where = f"{person(user)}'s Outlook"
    clock = Clock()
    if not exists:
        if removal is None:
            return f"{label} is not in {where}."
        event = read(removal)
        if isinstance(event, v.Action):
            return f"{label} is no longer in {where}: {person(user)} deleted it {clock.at(event.at)}."
        return f"{label} is no longer in {where}: it was deleted {_how(removal, read, names, clock)}."
    touched = index.touched.get(ref, [])
    if link is None:
        since = f" since {_how(touched[0], read, names, clock, since=True)}" if touched else ""
        return f"{label} is in {where}{since} and has never been linked to CRM."
    record = f"CRM {names.record(link.record)}"
    if link.state != "linked":
        ended = _how(link.position, read, names, clock)
        return f"{label} is in {where}, no longer linked to CRM: its link to {record} ended {ended}."
    first = read(touched[0]) if touched and touched[0] < link.position else None
    if first is not None:
        there = clock.at(first.at, since=True)
        linked = _how(link.position, read, names, clock, since=True)
        return f"{label} is in {where} since {there}, linked to {record} since {linked}."
    return f"{label} is in {where}, linked to {record}, since {_how(link.position, read, names, clock, since=True)}."


def _record_now(record_id: str, world: World, removal: int | None, names: Names, read: Lookup) -> str:
    label = f"CRM {names.record(record_id)}"
    record = world.records.get(record_id)
    if record is None:
        event = read(removal) if removal is not None else None
        if isinstance(event, v.Action):
            return f"{label} is no longer in CRM: {person(event.user_name)} deleted it {Clock().at(event.at)}."
        if event is not None and removal is not None:
            return f"{label} is no longer in CRM: it was deleted {_how(removal, read, names, Clock())}."
        return f"{label} is not in CRM."
    facts = [f"owner {person(record.owner)}", record.state]
    if record.shared_with:
        facts.append(f"shared with {people(list(record.shared_with))}")
    if record.regarding:
        facts.append(f"Regarding {names.record(record.regarding)}")
    links = list(world.links_to.get(record_id, {}).values())
    linked = [f"{person(k.user)}'s {names.item(k.user, k.item)} ({k.rule})" for k in links[:5]]
    if len(links) > 5:
        linked.append(f"{len(links) - 5} more")
    where = f"linked to {', '.join(linked)}" if linked else "linked to no Outlook item"
    return f"{label} is in CRM ({', '.join(facts)}), {where}; created {_how(record.created, read, names, Clock())}."


def _user_now(name: str, world: World) -> str:
    user = world.users.get(name)
    if user is None:
        return f"{person(name)} is not a user."
    waiting = len(user.pending)
    if user.sync_method == "server_side":
        return (
            f"{person(name)} synchronises server-side (sync_method server_side), with sync filter "
            f"{user.sync_filter} and {waiting} operation{'' if waiting == 1 else 's'} waiting for the next cycle."
        )
    return (
        f"{person(name)} is {'online' if user.online else 'offline'}, with sync filter {user.sync_filter} and "
        f"{waiting} operation{'' if waiting == 1 else 's'} waiting for the next sync."
    )
