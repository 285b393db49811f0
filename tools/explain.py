"""`why`: the chain from user actions to an item's present state, told as a person would tell it: names
capitalised, items with their type, times of day (the date when it changes), each decision with its rule, the
condition that held, and the rule's source."""

from __future__ import annotations

import difflib
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from ledger import vocabulary as v
from ledger.rules import RULES, SOURCES
from ledger.world import Link, Record, World
from projections.document import iso

from .inputs import BadInput

Event = v.Action | v.Decided


class Index(Protocol):
    """The item index as the read side serves it (`projections.reader.StoredIndex`, `projections.index.ItemIndex`)."""

    @property
    def touched(self) -> Mapping[str, list[int]]: ...

    def last_decision(self, ref: str) -> tuple[int, str] | None: ...

    def known(self, ref: str) -> bool: ...


Lookup = Callable[[int], "v.Action | v.Decided | None"]

TYPE_WORDS = {"email": "e-mail", "phonecall": "phone call"}
RULE_TYPES = {"CONTACT": "contact", "APPT": "appointment", "TASK": "task"}
SHORT_SOURCES = {  # the full titles are in `syncledger rules`; a sentence needs only enough to find them
    "seed": "the white paper's table",
    "DEL": 'Microsoft docs, "Delete records that have been tracked"',
    "H4": 'CRM help, "Synchronizing information"',
    "OFF": 'Microsoft docs, "Work offline"',
    "SSS": 'Microsoft Learn, "Synchronization logic"',
    "B11": "a CRM 2011 book",
    "3P": "CRM consultants' blogs",
}
OFFLINE_OPERATIONS = {
    "outlook.update": "edit",
    "outlook.complete": "completion",
    "outlook.track": "tracking",
    "outlook.set_regarding": "Set Regarding",
}
MAX_REF = 420  # "outlook:" + a user name and an item id of at most 200 characters each
MAX_READS = 64  # how far back `why` walks one item's own events before giving up on a detail


# ----------------------------------------------------------------------------------------------- words


def one_line(message: str, limit: int = 500) -> str:
    """A message safe to print: lone surrogates (undecodable bytes) escaped, the middle of a long one elided."""
    text = message.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) <= limit:
        return text
    head = (limit - 3) * 2 // 3
    return f"{text[:head]}...{text[head + 3 - limit :]}"


def shown(value: str, limit: int = 80) -> str:
    """A value from outside, quoted for a message: `'crm:c1'`, or `'crm:xxxx...xx'` if it is long."""
    return f"'{one_line(value, limit)}'"


def person(name: str) -> str:
    """A user name as a person says it: alice -> Alice; an id such as u0042 or j.smith stays as it is."""
    return name[:1].upper() + name[1:] if name.isalpha() else name


def people(names: list[str]) -> str:
    """`Bob`, `Bob and Carol`, `Bob, Carol, Dan and 2 others`."""
    said = [person(n) for n in dict.fromkeys(names)]
    if len(said) > 4:
        said = [*said[:3], f"{len(said) - 3} others"]
    return said[0] if len(said) == 1 else f"{', '.join(said[:-1])} and {said[-1]}"


def type_word(kind: str | None) -> str | None:
    return TYPE_WORDS.get(kind, kind) if kind else None


def changes_text(fields: dict[str, Any], start: datetime | None = None) -> str:
    parts = [f"{k}: {one_line(str(value), 40)}" for k, value in fields.items()]
    return ", ".join(parts + ([f"start: {iso(start)}"] if start else [])) or "no change"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


class Clock:
    """Says times in UTC as a person would: the date at the first mention and whenever it changes, then only
    the time of day."""

    def __init__(self) -> None:
        self.day: date | None = None

    def at(self, t: datetime | None, since: bool = False) -> str:
        """`on 2 March 2026 at 09:04`, then `at 11:15` on the same day; with `since`, without the prepositions."""
        if t is None:
            return ""
        t = t.astimezone(UTC)
        clock = t.strftime("%H:%M:%S" if t.second else "%H:%M")
        if t.date() == self.day:
            return clock if since else f"at {clock}"
        self.day = t.date()
        return f"{t.day} {t:%B %Y} at {clock}" if since else f"on {t.day} {t:%B %Y} at {clock}"


class Names:
    """How items and records are called: `contact c1`, `e-mail m1`; types come from the world, from events
    seen, or from the item's first event in the index."""

    def __init__(self, world: World | None = None, index: Index | None = None, read: Lookup | None = None):
        self.world = world
        self.index = index
        self.read = read
        self.types: dict[str, str] = {}  # ref -> type

    def learn(self, event: Event) -> None:
        """Remember the types an event names (items created, records created by a decision)."""
        if isinstance(event, v.OutlookItemCreated):
            self.types[v.outlook_ref(event.user, event.item)] = event.type
        elif isinstance(event, v.CrmRecordCreated):
            self.types[v.crm_ref(event.record)] = event.type
        elif isinstance(event, v.Decided):
            for effect in event.effects:
                if isinstance(effect, v.ItemCreated):
                    self.types[v.outlook_ref(effect.user, effect.item)] = effect.type
                elif isinstance(effect, v.RecordCreated):
                    self.types[v.crm_ref(effect.record)] = effect.type

    def record_type(self, record: str) -> str | None:
        world = self.world
        found = world and (world.records.get(record) or world.deleted.get(record))
        return found.type if found else self._first_event_type(v.crm_ref(record))

    def item_type(self, user: str, item: str) -> str | None:
        owner = self.world.users.get(user) if self.world else None
        if owner is not None and item in owner.items:
            return owner.items[item].type
        return self._first_event_type(v.outlook_ref(user, item))

    def _first_event_type(self, ref: str) -> str | None:
        """The type named by the event that created the thing (one read, remembered)."""
        if ref not in self.types and self.index is not None and self.read is not None:
            first = self.index.touched.get(ref)
            event = self.read(first[0]) if first else None
            if event is not None:
                self.learn(event)
        return self.types.get(ref)

    def record(self, record: str, hint: str | None = None) -> str:
        return f"{type_word(self.record_type(record) or hint) or 'record'} {record}"

    def item(self, user: str, item: str, hint: str | None = None) -> str:
        kind = self.item_type(user, item) or (v.outlook_type_of(hint) if hint else None)
        return f"{type_word(kind) or 'item'} {item}"


def rule_note(rule_id: str) -> str:
    """`RULE-ID; source: ...`, the short form of the rule's sources."""
    rule = RULES.get(rule_id)
    if rule is None:
        return f"{rule_id}, a rule this version does not know"
    sources = "; ".join(SHORT_SOURCES.get(s, SOURCES[s]) for s in rule.sources) or "this project's own decision"
    return f"{rule.id}; source: {sources}"


# ----------------------------------------------------------------------------------------------- actions


def action_sentence(e: v.Action, names: Names, when: str = "") -> str:
    """One sentence for a user action, e.g. `Bob deleted contact c1 in CRM at 11:00`."""
    who = person(e.user_name)
    a: Any = e
    item = (lambda: names.item(e.user_name, a.item)) if hasattr(a, "item") else None
    record = (lambda: names.record(a.record)) if getattr(a, "record", None) else None
    body = {
        "user.add": lambda: f"{who} was added as a user (sync filter: {a.sync_filter})",
        "option": lambda: (
            f"{who} changed the sync filter to {a.value}"
            if a.name == "sync_filter"
            else f"{who} turned {'on' if a.value else 'off'} deleting untracked e-mails in CRM"
        ),
        "outlook.create": lambda: (
            f"e-mail {a.item} arrived in {who}'s Outlook"
            if a.type == "email"
            else f"{who} created {type_word(a.type)} {a.item} in Outlook"
        ),
        "outlook.update": lambda: f"{who} edited {item()} in Outlook ({changes_text(a.fields, a.start)})",
        "outlook.complete": lambda: f"{who} marked {item()} completed in Outlook",
        "outlook.delete": lambda: f"{who} deleted {item()} in Outlook",
        "outlook.track": lambda: f"{who} tracked {item()} in CRM" + (f" as record {a.record}" if a.record else ""),
        "outlook.untrack": lambda: (
            f"{who} untracked {item()}"
            + {None: "", True: ", asking to delete it in CRM", False: ", asking to keep it in CRM"}[a.delete_in_crm]
        ),
        "outlook.set_regarding": lambda: f"{who} set Regarding of {item()} to {names.record(a.regarding)}",
        "crm.create": lambda: (
            f"{who} created {type_word(a.type)} {a.record} in CRM"
            + (f" for {person(a.owner)}" if a.owner and a.owner != a.actor else "")
        ),
        "crm.update": lambda: f"{who} edited {record()} in CRM ({changes_text(a.fields, a.start)})",
        "crm.complete": lambda: f"{who} completed {record()} in CRM",
        "crm.cancel": lambda: f"{who} canceled {record()} in CRM",
        "crm.deactivate": lambda: f"{who} deactivated {record()} in CRM",
        "crm.activate": lambda: f"{who} activated {record()} in CRM",
        "crm.delete": lambda: f"{who} deleted {record()} in CRM",
        "crm.assign": lambda: f"{who} assigned {record()} to {person(a.to)} in CRM",
        "crm.share": lambda: f"{who} shared {record()} with {person(a.with_)} in CRM",
        "crm.unshare": lambda: f"{who} stopped sharing {record()} with {person(a.with_)} in CRM",
        "sync": lambda: f"{who} synchronised",
        "offline": lambda: f"{who}'s Outlook went offline",
        "online": lambda: f"{who}'s Outlook went online",
    }[e.do]()
    return _capital(f"{body} {when}".strip())


def describe_action(e: v.Action, names: Names | None = None) -> str:
    """One sentence for a user action, without its time (for tables that show the time in a column)."""
    return action_sentence(e, names or Names())


# ----------------------------------------------------------------------------------------------- decisions


@dataclass
class _Say:
    """The pieces a decision's sentence is made of, in the past tense or, for a preview, the conditional."""

    d: v.Decided
    names: Names
    would: bool
    position: int | None
    cause: Event | None

    def was(self, past: str, conditional: str) -> str:
        return conditional if self.would else past

    @property
    def user_name(self) -> str:
        for ref in self.d.about:
            if ref.startswith("outlook:"):
                return ref[8:].partition("/")[0]
        return self.d.actor.removeprefix("sync:")

    @property
    def user(self) -> str:
        return person(self.user_name)

    @property
    def record_id(self) -> str | None:
        return next((ref[4:] for ref in self.d.about if ref.startswith("crm:")), None)

    @property
    def hint(self) -> str | None:
        """The type the rule's ID names (CONTACT-..., APPT-..., TRACK-EMAIL), for items no longer anywhere."""
        return "email" if "EMAIL" in self.d.rule else RULE_TYPES.get(self.d.rule.partition("-")[0])

    @property
    def item(self) -> str:
        ref = next((r for r in self.d.about if r.startswith("outlook:")), None)
        if ref is None:
            return "the item"
        user, _, item = ref[8:].partition("/")
        record = self.record_id
        return self.names.item(user, item, (record and self.names.record_type(record)) or self.hint)

    @property
    def record(self) -> str:
        record = self.record_id
        return f"CRM {self.names.record(record, self.hint)}" if record else "its CRM record"

    @property
    def deletes_record(self) -> bool:
        return any(isinstance(e, v.RecordDeleted) for e in self.d.effects)

    def kept_record(self) -> Record | None:
        """The kept record, if nothing changed it since the decision (so its values are the ones decided on)."""
        world, record = self.names.world, self.record_id
        found = world.records.get(record) if world and record else None
        return found if found is not None and self.position is not None and found.changed < self.position else None

    def deleted_item(self) -> str:
        return f"{self.item} {self.was('was', 'would be')} deleted from {self.user}'s Outlook"

    def kept_item(self) -> str:
        return f"{self.user}'s {self.item} {self.was('was', 'would be')} kept and unlinked"

    def kept(self) -> str:
        return f"{self.record} {self.was('was kept', 'would be kept')} and the link {self.was('ended', 'would end')}"

    def deleted(self) -> str:
        return f"{self.record} {self.was('was', 'would be')} deleted"

    def start_of_deleted(self) -> str:
        world, record = self.names.world, self.record_id
        found = world.deleted.get(record) if world and record else None
        if found is None:
            return ""
        return f" (its start: {iso(found.start)})" if found.start else " (it has no start time)"


def _set_regarding(s: _Say) -> str:
    change = next((e for e in s.d.effects if isinstance(e, v.RecordChanged)), None)
    regarding = s.names.record(change.regarding) if change and change.regarding else "the chosen record"
    if any(isinstance(e, v.RecordCreated) for e in s.d.effects):
        return f"{s.user}'s {s.item} {s.was('was', 'would be')} tracked as {s.record}, Regarding {regarding}"
    return f"{s.record} {s.was('was', 'would be')} set Regarding {regarding}"


def _edit_push(s: _Say) -> str:
    change = next((e for e in s.d.effects if isinstance(e, v.RecordChanged)), None)
    if change is not None and change.state == "completed":
        return f"{s.record} {s.was('was', 'would be')} marked completed, as in {s.user}'s Outlook"
    edit = changes_text(change.fields, change.start) if change else "the edit"
    return f"{s.record} {s.was('took', 'would take')} {s.user}'s edit ({edit})"


def _untrack_link(s: _Say) -> str:
    designated = next((q.designated for q in s.d.queued), None)
    choice = "with" if designated else "without"
    return (
        f"the link between {s.user}'s {s.item} and {s.record} {s.was('ended', 'would end')}, {choice} deletion in "
        f"CRM designated; what happens to the record is decided at {s.user}'s next sync"
    )


def _offline_queue(s: _Say) -> str:
    operation = next((q.operation for q in s.d.queued), "")
    what = OFFLINE_OPERATIONS.get(operation.removeprefix("offline:"), "operation")
    return f"{s.user} was offline, so the {what} of {s.item} {s.was('waited', 'would wait')} until {s.user} went online"


def _offline_conflict(s: _Say) -> str:
    what = OFFLINE_OPERATIONS.get(s.cause.do, "operation") if s.cause is not None else "operation"
    return f"{s.user}'s {what} of {s.item}, queued offline, {s.was('was', 'would be')} dropped because {s.d.reason}"


def _appointment_kept(s: _Say) -> str:
    record = s.kept_record()
    if record is None:
        why = f"it was not an active appointment of {s.user}'s starting after the sync"
    elif record.owner != s.user_name:
        why = f"{person(record.owner)}, not {s.user}, owns it"
    elif record.state != "active":
        why = f"it is {record.state}"
    else:
        why = f"it does not start after the sync (its start: {iso(record.start) or 'none'})"
    return f"{s.kept()} because {why}"


def _task_kept(s: _Say) -> str:
    record = s.kept_record()
    return f"{s.kept()} because it was {record.state if record else 'completed or canceled'} in CRM"


def _untrack_item(s: _Say) -> str:
    if s.deletes_record:
        return f"{s.deleted()} because {s.user} owned it and designated it for deletion when untracking"
    asked = getattr(s.cause, "delete_in_crm", None)
    why = (
        f"{s.user} did not designate it for deletion when untracking"
        if not asked
        else f"{s.user} designated it for deletion but did not own it"
    )
    return f"{s.record} {s.was('was', 'would be')} kept because {why}"


_BODIES: dict[str, Callable[[_Say], str]] = {
    "TRACK-EMAIL": lambda s: (
        f"{s.record} {s.was('was', 'would be')} created from {s.user}'s {s.item} and linked to it, owned by {s.user}"
    ),
    "TRACK-ITEM": lambda s: (
        f"{s.record} {s.was('was', 'would be')} created from {s.user}'s {s.item} and linked to it, owned by {s.user}"
    ),
    "SET-REGARDING": _set_regarding,
    "OUTLOOK-EDIT-PUSH": _edit_push,
    "EDIT-ORPHAN": lambda s: (
        f"the edit {s.was('stayed', 'would stay')} in {s.user}'s Outlook only: {s.d.reason}; "
        f"the deletion is decided at {s.user}'s next sync"
    ),
    "UNTRACK-LINK": _untrack_link,
    "OFFLINE-QUEUE": _offline_queue,
    "OFFLINE-CONFLICT": _offline_conflict,
    "GO-ONLINE-SYNC": lambda s: (
        f"{s.user}'s offline operations {s.was('were', 'would be')} replayed, then a sync {s.was('ran', 'would run')}"
    ),
    "FILTER-CREATE": lambda s: (
        f"a copy of {s.record} {s.was('was', 'would be')} created in {s.user}'s Outlook as "
        f"{s.item} and linked, because the record is in {s.user}'s sync filter and {s.user} had no linked copy"
    ),
    "CRM-EDIT-PULL": lambda s: (
        f"{s.user}'s {s.item} {s.was('took', 'would take')} the current values of "
        f"{s.record}, because the record had changed in CRM"
    ),
    "CONTACT-DEL-CRM-NONOWNER": lambda s: (
        f"{s.deleted_item()} because {s.record} was deleted and {s.user} was not its owner when it was deleted"
    ),
    "CONTACT-DEL-CRM-OWNER": lambda s: (
        f"{s.kept_item()} because {s.record} was deleted and {s.user} was its owner when it was deleted"
    ),
    "APPT-DEL-CRM-FUTURE": lambda s: (
        f"{s.deleted_item()} because {s.record} was deleted and starts after the sync{s.start_of_deleted()}"
    ),
    "APPT-DEL-CRM-PAST": lambda s: (
        f"{s.kept_item()} because {s.record} was deleted and does not start after the sync{s.start_of_deleted()}"
    ),
    "TASK-DEL-CRM-OPEN": lambda s: (
        f"{s.deleted_item()} because {s.record} was deleted and {s.user}'s copy was not completed"
    ),
    "TASK-DEL-CRM-DONE": lambda s: f"{s.kept_item()} because {s.record} was deleted and {s.user}'s copy was completed",
    "EMAIL-DEL-CRM": lambda s: f"{s.kept_item()} because {s.record} was deleted (e-mails stay in Outlook)",
    "FILTER-LEAVE-SYNCED": lambda s: (
        f"{s.deleted_item()} because {s.record} left {s.user}'s sync filter and the copy came from a sync"
    ),
    "FILTER-LEAVE-TRACKED": lambda s: (
        f"{s.user}'s {s.item} {s.was('stayed', 'would stay')} linked and "
        f"{s.was('took', 'would take')} the current values of {s.record}: the record left {s.user}'s sync filter, "
        f"but {s.user} had tracked the item"
    ),
    "DELETED-BOTH-SIDES": lambda s: (
        f"the link between {s.user}'s {s.item} and {s.record} "
        f"{s.was('ended', 'would end')}; nothing else to do, because both were deleted"
    ),
    "EMAIL-DEL-OUTLOOK": lambda s: f"{s.kept()}: deleting a tracked e-mail in Outlook never deletes it in CRM",
    "CONTACT-DEL-OUTLOOK": lambda s: f"{s.kept()}: deleting a contact in Outlook never deletes it in CRM",
    "EMAIL-UNTRACK-KEEP": lambda s: (
        f"{s.record} {s.was('was', 'would be')} kept because {s.user} did not designate it for deletion when untracking"
    ),
    "EMAIL-UNTRACK-DELETE": lambda s: (
        f"{s.deleted()} because {s.user} designated it for deletion when untracking"
        if s.deletes_record
        else f"nothing more {s.was('was', 'would be')} done: {s.user} designated {s.record} for deletion when "
        f"untracking, but it was already deleted"
    ),
    "APPT-DEL-OUTLOOK-OWNER": lambda s: (
        f"{s.deleted()} because {s.user} owned it, it was active and it starts after the sync"
    ),
    "APPT-DEL-OUTLOOK-KEEP": _appointment_kept,
    "TASK-DEL-OUTLOOK-OPEN": lambda s: f"{s.deleted()} because it was still open there",
    "TASK-DEL-OUTLOOK-DONE": _task_kept,
    "UNTRACK-ITEM": _untrack_item,
}


def decision_sentence(
    d: v.Decided,
    names: Names,
    when: str = "",
    *,
    position: int | None = None,
    cause: Event | None = None,
    would: bool = False,
) -> str:
    """One sentence for a decision: where it was taken, what it did and why, and its rule with its source."""
    say = _Say(d, names, would, position, cause)
    when = f" {when}" if when else ""
    if d.actor.startswith("sync:"):
        context = f"At {say.user}'s {'next ' if would else ''}sync{when}"
    elif d.rule == "GO-ONLINE-SYNC" or any(isinstance(e, v.Settled) for e in d.effects):  # replays on going online
        context = f"When {say.user} {'goes' if would else 'went'} online{when}"
    else:
        context = "At once"
    body = _BODIES.get(d.rule, lambda s: RULES[d.rule].then if d.rule in RULES else "a decision was recorded")(say)
    others = [q.user for q in d.queued if q.user != say.user_name]
    if others:
        body += f", which {'would queue' if would else 'queued'} the change for the next sync of {people(others)}"
    text = body if d.rule == "OFFLINE-QUEUE" else f"{context}, {body}"
    return f"{_capital(text)} ({rule_note(d.rule)})"


def describe_decision(d: v.Decided, names: Names | None = None) -> str:
    """One sentence for a decision, without its time (for tables that show the time in a column)."""
    return decision_sentence(d, names or Names())


# ----------------------------------------------------------------------------------------------- references


def check_ref(ref: str, index: Index) -> None:
    """An unknown or malformed reference is bad input; the message suggests the closest known ones."""
    if len(ref) > MAX_REF or one_line(ref, MAX_REF) != ref:  # longer than any id, or bytes that are not text
        raise BadInput(f"{shown(ref)} is not a reference: use crm:<record> or outlook:<user>/<item>")
    well_formed = ref.startswith(("crm:", "user:")) or (ref.startswith("outlook:") and "/" in ref)
    if well_formed and index.known(ref):
        return
    close = suggestions(ref, index)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    if not well_formed:
        raise BadInput(f"{shown(ref)} is not a reference: use crm:<record> or outlook:<user>/<item>{hint}")
    raise BadInput(f"unknown reference {shown(ref)}{hint}")


def suggestions(ref: str, index: Index, limit: int = 3) -> list[str]:
    """Known references close to `ref`: the same one in another case, the same id elsewhere, then by spelling."""
    known = [r for r in index.touched if not r.startswith("user:")]
    tail = ref.rpartition("/")[2].rpartition(":")[2]
    found = [r for r in known if r.lower() == ref.lower()]
    found += [r for r in known if r.rpartition("/")[2].rpartition(":")[2] == tail]
    found += difflib.get_close_matches(ref, known, n=limit, cutoff=0.6)
    return list(dict.fromkeys(r for r in found if r != ref))[:limit]


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

    def document(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "exists": self.exists,
            "type": self.type,
            "now": self.now,
            "rule": self.rule,
            "link": self.link,
            "chain": [step.document() for step in self.steps],
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
        if any(isinstance(e, v.Settled) for e in event.effects):
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
    positions = index.touched.get(f"user:{user}", [])
    at = bisect_left(positions, position)
    return positions[at - 1] if at else None


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
        link = _latest_link(world, user, item)
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
        removal = None if exists else (world.deleted[name].changed if name in world.deleted else None)
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
    steps = steps_of(positions, read, names)
    return Explanation(ref, exists, kind_of, now, last[1] if last else None, link_doc, steps)


def _latest_link(world: World, user: str, item: str) -> Link | None:
    owner = world.users.get(user)
    active = owner.links_by_item.get(item) if owner else None
    return active or next((k for k in reversed(world.links) if k.user == user and k.item == item), None)


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
            isinstance(e, v.ItemDeleted) and e.user == user and e.item == item for e in event.effects
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
    if event.actor.startswith("sync:"):
        context = f"at {person(event.actor[5:])}'s sync"
    elif any(isinstance(e, v.Settled) for e in event.effects):
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
    label = _capital(names.item(user, item))
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
    return (
        f"{person(name)} is {'online' if user.online else 'offline'}, with sync filter {user.sync_filter} and "
        f"{waiting} operation{'' if waiting == 1 else 's'} waiting for the next sync."
    )


# ----------------------------------------------------------------------------------------------- older entry points


def chain(ref: str, index: Index, lookup: Lookup, world: World | None = None) -> list[dict[str, Any]]:
    """The chain of `explain` as JSON-ready steps; without a world, only the last decision's causes."""
    if world is not None:
        return explain(ref, world, index, lookup).document()["chain"]
    read = _Reading(lookup)
    last = index.last_decision(ref)
    positions = causes(last[0], read, index) if last else set()
    return [step.document() for step in steps_of(positions, read, Names(None, index, read))]


def present_state(ref: str, world: World, index: Index | None = None, lookup: Lookup | None = None) -> str:
    """One sentence on where the item is now (the `now` of `explain` when the index is given)."""
    if index is not None and lookup is not None and index.known(ref):
        return explain(ref, world, index, lookup).now
    kind, _, name = ref.partition(":")
    if kind == "crm":
        return f"CRM record {name} is {'in CRM' if name in world.records else 'not in CRM'}."
    if kind == "outlook":
        user, _, item = name.partition("/")
        owner = world.users.get(user)
        here = owner is not None and item in owner.items
        return f"Item {item} is {'in' if here else 'not in'} {person(user)}'s Outlook."
    return _user_now(name, world)
