"""The words of `why`, `history` and `preview`: one sentence per user action and per decision, told as a person
would tell it (names capitalised, items with their type, times of day, each decision with its rule, the
condition that held, and a short source)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from syncledger.ledger import effects as fx
from syncledger.ledger import vocabulary as v
from syncledger.ledger.rules import RULES
from syncledger.ledger.sources import SOURCES
from syncledger.ledger.world import Record, World, known_record
from syncledger.projections.document import iso

from ..output import one_line
from .labels import label, label_of

Event = v.Action | v.Decided


class Index(Protocol):
    """The item index as the read side serves it (`projections.reader.StoredIndex`, `projections.index.ItemIndex`)."""

    @property
    def touched(self) -> Mapping[str, list[int]]: ...

    def last_decision(self, ref: str) -> tuple[int, str] | None: ...

    def known(self, ref: str) -> bool: ...

    def latest_before(self, pairs: Sequence[tuple[str, int]]) -> list[int | None]:
        """For each (reference, position), the last position before it that touched the reference."""
        ...


Lookup = Callable[[int], "v.Action | v.Decided | None"]

TYPE_WORDS = {"email": "e-mail", "phonecall": "phone call"}
RULE_TYPES = {"CONTACT": "contact", "APPT": "appointment", "TASK": "task"}
OFFLINE_OPERATIONS = {
    "outlook.update": "edit",
    "outlook.complete": "completion",
    "outlook.track": "tracking",
    "outlook.set_regarding": "Set Regarding",
}
MAX_REF = 420  # "outlook:" + a user name and an item id of at most 200 characters each
MAX_READS = 64  # how far back `why` walks one item's own events before giving up on a detail


# ----------------------------------------------------------------------------------------------- words


def person(name: str) -> str:
    """A user name as it was declared: `alice` stays `alice`, so that what a sentence names is what a command
    takes (`--user alice`, `outlook:alice/c1`), also at the start of a sentence."""
    return name


def people(names: list[str]) -> str:
    """`bob`, `bob and carol`, `bob, carol, dan and 2 others`."""
    said = [person(n) for n in dict.fromkeys(names)]
    if len(said) > 4:
        said = [*said[:3], f"{len(said) - 3} others"]
    return said[0] if len(said) == 1 else f"{', '.join(said[:-1])} and {said[-1]}"


def counted(number: int, noun: str) -> str:
    """`1 sync point`, `2 sync points`, `0 events`."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def type_word(kind: str | None) -> str | None:
    return TYPE_WORDS.get(kind, kind) if kind else None


def changes_text(fields: dict[str, Any], start: datetime | None = None, regarding: str | None = None) -> str:
    """An edit's changes: each field's new value (`cleared` where it was given as null, which removes it), the
    start, and an e-mail's regarding record (`""`: cleared)."""
    parts = [f"{k}: {'cleared' if value is None else one_line(str(value), 40)}" for k, value in fields.items()]
    parts += [f"start: {iso(start)}"] if start else []
    parts += [f"regarding: {one_line(regarding, 40) if regarding else 'cleared'}"] if regarding is not None else []
    return ", ".join(parts) or "no change"


def capital(text: str) -> str:
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
        self.labels: dict[str, str] = {}  # ref -> fullname or subject, as the events that made it gave it

    def learn(self, event: Event) -> None:
        """Remember the types and labels an event names (items created, records created by a decision)."""
        if isinstance(event, v.OutlookItemCreated):
            self._made(v.outlook_ref(event.user, event.item), event.type, event.fields)
        elif isinstance(event, v.BaselineObserved):
            for r in event.document.records:
                self._made(v.crm_ref(r.id), r.type, r.fields)
            for user, items in event.document.items.items():
                for i in items:
                    self._made(v.outlook_ref(user, i.id), i.type, i.fields)
        elif isinstance(event, v.CrmRecordCreated):
            self._made(v.crm_ref(event.record), event.type, event.fields)
        elif isinstance(event, v.Decided):
            for effect in event.effects:
                if isinstance(effect, fx.CreateItem):
                    self._made(v.outlook_ref(effect.user, effect.item), effect.type, effect.fields)
                elif isinstance(effect, fx.CreateRecord):
                    self._made(v.crm_ref(effect.record), effect.type, effect.fields)

    def _made(self, ref: str, kind: str, fields: Mapping[str, object]) -> None:
        self.types[ref] = kind
        found = label_of(fields)
        if found is not None:
            self.labels.setdefault(ref, found)

    def label(self, ref: str) -> str | None:
        """The item's or record's label (`fullname`, `subject`): as it is now, else as it was made."""
        self._first_event_type(ref)  # reads the event that made it, once, if nothing here knows it yet
        return label(ref, self.world, self.labels)

    def record_type(self, record: str) -> str | None:
        world = self.world
        found = known_record(world, record) if world else None
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
    if rule.confidence == "observed":
        return f"{rule.id}; source: what the organisation reported, not a decision"
    sources = "; ".join(SOURCES[s].short for s in rule.sources) or "this project's own decision"
    return f"{rule.id}; source: {sources}"


# ----------------------------------------------------------------------------------------------- actions


def action_sentence(e: v.Action, names: Names, when: str = "") -> str:
    """One sentence for a user action, e.g. `Bob deleted contact c1 in CRM at 11:00`."""
    who = person(e.user_name)
    a: Any = e

    def item() -> str:  # called only by the sentences of actions on an item
        return names.item(e.user_name, a.item)

    def record() -> str:  # called only by the sentences of actions on a record
        return names.record(a.record)

    body = {
        "user.add": lambda: (
            f"{who} was added as a user (sync filter: {a.sync_filter}"
            + (f"; sync method: {METHOD_WORDS[a.sync_method]})" if a.sync_method else ")")
        ),
        "option": lambda: (
            f"{who} changed the sync filter to {a.value}"
            if a.name == "sync_filter"
            else f"{who}'s sync method was set to {METHOD_WORDS.get(a.value, a.value)}"
            if a.name == "sync_method"
            else f"{who} turned {'on' if a.value else 'off'} deleting untracked e-mails in CRM"
        ),
        "org.option": lambda: (
            f"{who} turned {'on' if a.value else 'off'} the organisation option {a.name} (logical deletes kept "
            f"apart from physical ones in server-side sync)"
        ),
        "outlook.create": lambda: (
            f"e-mail {a.item} arrived in {who}'s Outlook"
            if a.type == "email"
            else f"{who} created {type_word(a.type)} {a.item} in Outlook"
        ),
        "outlook.update": lambda: (
            f"{who} edited {item()} in Outlook ({', '.join(a.changed) or 'no property named'}: "
            "the audit log has no values)"
            if a.changed is not None and not a.fields and a.start is None
            else f"{who} edited {item()} in Outlook ({changes_text(a.fields, a.start)})"
        ),
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
        "crm.update": lambda: f"{who} edited {record()} in CRM ({changes_text(a.fields, a.start, a.regarding)})",
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
        "baseline": lambda: f"{_baseline_counts(a.document)} {_were(a.document)} {observed_in(a)}",
        "discrepancy": lambda: _discrepancy(a, names),
        "alias": lambda: f"{item()} is {a.alias} in {who}'s mailbox audit",
    }[e.do]()
    text = f"{body} {when}".strip()
    if e.do not in ("baseline", "discrepancy"):
        text += provenance(getattr(e, "source", None))
    return text if text.startswith(who) else capital(text)


_SYSTEMS = {"dataverse": "the Dataverse audit", "m365": "the mailbox audit"}


def provenance(source: Any) -> str:
    """Where an imported action came from, in one short phrase (`, from the Dataverse audit, row 3 of
    audits.json`); nothing for an action typed with `do`, `run` or plain action lines."""
    if not isinstance(source, dict) or not source.get("system"):
        return ""
    system = source["system"]
    if system == "inferred":
        return f" (inferred at a {source.get('cycle', '')} cycle boundary: the logs do not record syncs)".replace(
            "a  cycle", "a cycle"
        )
    where = _SYSTEMS.get(system, str(system))
    row = f", row {source['row']} of {source['file']}" if source.get("row") is not None and source.get("file") else ""
    seen = "first seen in" if source.get("first_seen") else "from"
    return f" ({seen} {where}{row})"


def inferred(sync: Any, before: str = " (", after: str = ")") -> str:
    """`inferred at a 15m cycle boundary`, between `before` and `after`, for a sync an import inferred (SOURCES.md:
    the logs do not record syncs); nothing for any other event: what tells an assumed sync from an observed one."""
    source = getattr(sync, "source", None)
    if not isinstance(source, dict) or source.get("system") != "inferred":
        return ""
    cycle = f"a {source['cycle']}" if source.get("cycle") else "a"
    return f"{before}inferred at {cycle} cycle boundary{after}"


def _discrepancy(a: Any, names: Names) -> str:
    action = dict(a.action)
    try:
        refused = describe_action(v.ACTION_ADAPTER.validate_python(action), names)
    except Exception:  # a discrepancy's action is kept as the row gave it: say it plainly if it no longer parses
        refused = str(action.get("do"))
    decision = a.decision
    behind = (
        f"; it contradicts {decision.rule} at #{decision.position} "
        f"({decision.at.astimezone(UTC).strftime('%m-%d %H:%M')})"
        if decision is not None
        else ""
    )
    return f"discrepancy: {_lower_first(refused)}, which the ledger refuses ({a.refusal}){behind}"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:1].isupper() and text[1:2].islower() else text


def observed_in(baseline: v.Action | None, at: datetime | None = None) -> str:
    """`observed in the baseline of 2026-03-01, from baseline.json` (the file when the baseline names one)."""
    when = (baseline.when if baseline is not None else at) or datetime.min
    source = getattr(baseline, "source", None) or {}
    file = f", from {source['file']}" if source.get("file") else ""
    return f"observed in the baseline of {when.astimezone(UTC).date().isoformat()}{file}"


def _baseline_counts(document: v.BaselineDocument) -> str:
    items = sum(len(its) for its in document.items.values())
    records, links = counted(len(document.records), "record"), counted(len(document.links), "link")
    return f"{records}, {counted(items, 'Outlook item')} and {links}"


def _were(document: v.BaselineDocument) -> str:
    things = len(document.records) + sum(map(len, document.items.values())) + len(document.links)
    return "was" if things == 1 else "were"


METHOD_WORDS = {
    "outlook_client": "the Outlook client (outlook_client)",
    "server_side": "server-side sync (server_side)",
}


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
    facts: v.Facts | None = None  # the facts the decision recorded, when the sentence is to tell them exactly

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
        return any(isinstance(e, fx.DeleteRecord) for e in self.d.effects)

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
        found = world.past.record(record) if world and record else None
        if found is None:
            return ""
        return f" (its start: {iso(found.start)})" if found.start else " (it has no start time)"


def _set_regarding(s: _Say) -> str:
    change = next((e for e in s.d.effects if isinstance(e, fx.ChangeRecord)), None)
    regarding = s.names.record(change.regarding) if change and change.regarding else "the chosen record"
    if any(isinstance(e, fx.CreateRecord) for e in s.d.effects):
        return f"{s.user}'s {s.item} {s.was('was', 'would be')} tracked as {s.record}, Regarding {regarding}"
    return f"{s.record} {s.was('was', 'would be')} set Regarding {regarding}"


def _edit_push(s: _Say) -> str:
    change = next((e for e in s.d.effects if isinstance(e, fx.ChangeRecord)), None)
    if change is not None and change.state == "completed":
        if change.fields or change.start:
            edit = f"{s.user}'s edit ({changes_text(change.fields, change.start)})"
            done = s.was(f"took {edit} and was", f"would take {edit} and be")
            return f"{s.record} {done} marked completed, as in {s.user}'s Outlook"
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


def _baseline(s: _Say) -> str:
    """BASELINE: what the baseline set, with where it came from."""
    created = next((e for e in s.d.effects if isinstance(e, fx.CreateRecord)), None)
    copies = [e for e in s.d.effects if isinstance(e, fx.LinkItem)]
    where = observed_in(s.cause if isinstance(s.cause, v.BaselineObserved) else None, s.d.at)
    if created is None:
        items = [e for e in s.d.effects if isinstance(e, fx.CreateItem)]
        first = items[0] if items else None
        what = f"{person(first.user)}'s {s.names.item(first.user, first.item)}" if first else "an Outlook item"
        return f"{what} {s.was('was', 'would be')} {where}, linked to no CRM record"
    facts = [f"owned by {person(created.owner)}", created.state]
    if created.shared_with:
        facts.append(f"shared with {people(list(created.shared_with))}")
    linked = [f"{person(k.user)}'s {s.names.item(k.user, k.item)} ({k.origin})" for k in copies[:5]]
    if len(copies) > 5:
        linked.append(f"{len(copies) - 5} more")
    link_text = f"linked to {', '.join(linked)}" if linked else "linked to no Outlook item"
    return f"{s.record} {s.was('was', 'would be')} {where} ({', '.join(facts)}), {link_text}"


def _offline_conflict(s: _Say) -> str:
    what = OFFLINE_OPERATIONS.get(s.cause.do, "operation") if s.cause is not None else "operation"
    return f"{s.user}'s {what} of {s.item}, queued offline, {s.was('was', 'would be')} dropped because {s.d.reason}"


def _appointment_kept(s: _Say) -> str:
    facts = s.facts or {}
    if "owner" in facts and "record_state" in facts:  # as the rule read them at the sync
        owner, state, start = str(facts["owner"]), facts["record_state"], facts.get("start")
        if owner != s.user_name:
            why = f"{person(owner)}, not {s.user}, owns it"
        elif state != "active":
            why = f"it is {state}"
        else:
            why = f"it does not start after the sync (its start: {start or 'none'})"
        return f"{s.kept()} because {why}"
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
    if s.facts and "record_state" in s.facts:  # as the rule read it at the sync
        return f"{s.kept()} because it was {s.facts['record_state']} in CRM"
    record = s.kept_record()
    return f"{s.kept()} because it was {record.state if record else 'completed or canceled'} in CRM"


def _organizer_kept(s: _Say) -> str:
    """SSS-APPT-DEL-CRM-KEEP: which of its two reasons held, from the facts the decision recorded if it did."""
    facts = s.facts or {}
    if "owner_at_deletion" in facts:  # as the rule read them at the cycle
        owner, start = str(facts["owner_at_deletion"]), facts.get("start_at_deletion")
        if owner != s.user_name:
            why = f"{person(owner)}, not {s.user}, organized it"
        else:
            why = f"it does not start after the cycle ({f'its start: {start}' if start else 'it has no start time'})"
        return f"{s.kept_item()} because {s.record} was deleted and {why}"
    return (
        f"{s.kept_item()} because {s.record} was deleted and {s.user} did not organize it or it does not start "
        f"after the cycle{s.start_of_deleted()}"
    )


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
    "BASELINE": _baseline,
    # server-side synchronization (RULES-SSS.md)
    "SSS-EXCHANGE-EDIT-PUSH": _edit_push,
    "SSS-EXCHANGE-EDIT-CLOSED": lambda s: (
        f"{s.user}'s edit of {s.item} {s.was('did', 'would')} not reach {s.record}: {s.d.reason}; the mailbox keeps "
        f"the edit until a CRM change of the record reaches it"
    ),
    "SSS-EXCHANGE-EDIT-ORPHAN": lambda s: (
        f"the edit {s.was('stayed', 'would stay')} in {s.user}'s mailbox only: {s.d.reason}; the deletion is "
        f"decided in the same cycle"
    ),
    "SSS-CONTACT-DEL-EXCHANGE-OWNER": lambda s: f"{s.deleted()} because {s.user} deleted it in the mailbox and owns it",
    "SSS-CONTACT-DEL-EXCHANGE-KEEP": lambda s: (
        f"{s.kept()} because {s.user} deleted it in the mailbox but does not own it"
    ),
    "SSS-TASK-DEL-EXCHANGE": lambda s: (
        f"{s.deleted()} because {s.user} deleted it in the mailbox (server-side sync deletes it whatever its state)"
        if s.deletes_record
        else f"the link between {s.user}'s {s.item} and {s.record} {s.was('ended', 'would end')}"
    ),
    "SSS-APPT-DEL-CRM-ORGANIZER": lambda s: (
        f"{s.deleted_item()} because {s.record} was deleted, {s.user} organized it, and it starts after the "
        f"cycle{s.start_of_deleted()}"
    ),
    "SSS-APPT-DEL-CRM-KEEP": _organizer_kept,
    "SSS-FILTER-LEAVE": lambda s: (
        f"{s.deleted_item()} because {s.record} left {s.user}'s sync filter (a logical delete: "
        f"distinct_logical_deletes is off), whatever the copy's origin"
    ),
    "SSS-FILTER-LEAVE-UNLINK": lambda s: (
        f"{s.kept_item()} because {s.record} left {s.user}'s sync filter and distinct_logical_deletes is on"
    ),
}


def decision_sentence(
    d: v.Decided,
    names: Names,
    when: str = "",
    *,
    position: int | None = None,
    cause: Event | None = None,
    would: bool = False,
    exact: bool = False,
    sync: Event | None = None,
) -> str:
    """One sentence for a decision: where it was taken, what it did and why, and its rule with its source. With
    `exact`, the facts the decision recorded (if it did) are told instead of the present state's; with `sync` (the
    event of the sync it was taken at), whether that sync was inferred by an import, not recorded."""
    say = _Say(d, names, would, position, cause, d.facts if exact else None)
    when = f" {when}" if when else ""
    if d.actor.startswith("sync:"):
        kind = "server-side sync cycle" if d.decided_by == "server_side" else "sync"
        context = f"At {say.user}'s {'next ' if would else ''}{kind}{when}{inferred(sync)}"
    elif d.rule == "GO-ONLINE-SYNC" or any(isinstance(e, fx.SettleOperation) for e in d.effects):  # going online
        context = f"When {say.user} {'goes' if would else 'went'} online{when}"
    else:
        context = "At once"
    body = _BODIES[d.rule](say) if d.rule in _BODIES else _rule_effect(d.rule)
    others = [q.user for q in d.queued if q.user != say.user_name]
    if others:
        body += f", which {'would queue' if would else 'queued'} the change for the next sync of {people(others)}"
    text = body if d.rule in ("OFFLINE-QUEUE", "BASELINE") else f"{context}, {body}"
    return f"{text if text.startswith(say.user) else capital(text)} ({rule_note(d.rule)})"


def _rule_effect(rule_id: str) -> str:
    """A decision whose rule has no sentence of its own: the rule table's effect, if this version knows it."""
    return RULES[rule_id].then if rule_id in RULES else "a decision was recorded"


def describe_decision(d: v.Decided, names: Names | None = None) -> str:
    """One sentence for a decision, without its time (for tables that show the time in a column)."""
    return decision_sentence(d, names or Names())


# ----------------------------------------------------------------------------------------------- facts


def _time_words(value: object) -> str:
    """A fact's ISO time as a person says it: `10 March 2026 at 10:00` (UTC)."""
    if not isinstance(value, str):
        return "none"
    try:
        return Clock().at(datetime.fromisoformat(value), since=True)
    except ValueError:
        return value


def _an(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _fact_value(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return one_line(str(value), 80)


def _mailbox_edits_words(f: dict[str, Any], user: str) -> str:
    """A server-side push's merged mailbox edits (SSS-EXCHANGE-EDIT-PUSH), popped from the facts `f`."""
    fields, start = str(f.pop("edited_fields")), f.pop("edited_start", None)
    completes, audit_only = f.pop("completes", False), f.pop("audit_only", False)
    if audit_only:
        return f"{user}'s mailbox edits since the last cycle were known only from an audit log, without values"
    edited = [f"{'fields' if ', ' in fields else 'field'} ({fields})"] if fields else []
    if start is not None:
        edited.append(f"the start ({_time_words(start)})")
    if completes:
        edited.append("a completion")
    told = ", ".join(edited[:-1]) + f" and {edited[-1]}" if len(edited) > 1 else "".join(edited) or "nothing"
    return f"{user}'s mailbox edits since the last cycle, merged: {told}"


def facts_sentence(d: v.Decided, names: Names) -> str | None:
    """What the decision's rule read of its situation, as the decision recorded it (`Decided.facts`), in words:
    `contact o1 was in alice's sync filter before and was not at this sync (owner bob, active...)`. None when
    it recorded none (decisions before facts were recorded, and rules that read nothing worth telling). Facts
    this version has no words for (another rule table's) are told as `name: value`."""
    if not d.facts:
        return None
    s = _Say(d, names, False, None, None)
    f = dict(d.facts)
    user, record, item = s.user, s.record, s.item
    parts: list[str] = []
    has = f.__contains__
    cycle = d.decided_by == "server_side"  # a server-side sync cycle reads what a sync would
    sync = "cycle" if cycle else "sync"
    for quiet in ("family", "untrack", "is_email", "user_owns", "owned_at_deletion"):
        f.pop(quiet, None)  # said by the rule's ID, or by the facts they were read from
    if has("in_filter") and has("type"):  # tracking
        kind, completed, in_filter = f.pop("type"), f.pop("completed", False), f.pop("in_filter")
        parts.append(
            f"{user}'s item was {_an(type_word(str(kind)) or 'item')}{' marked completed' if completed else ''}, "
            f"and the new record {'was' if in_filter else 'was not'} in {user}'s sync filter"
        )
    if has("operation"):  # an offline operation replayed on going online
        what = OFFLINE_OPERATIONS.get(f"outlook.{f.pop('operation')}", "operation")
        replay = [f"the {what} was queued offline"]
        queued = f.pop("queued_record", None)
        if queued is not None:
            replay[0] += f" on CRM {names.record(str(queued))}"
        if has("item_exists"):
            gone = not f.pop("item_exists")
            replay.append(f"{item} was {'no longer' if gone else 'still'} in {user}'s Outlook")
        if has("linked_record"):
            linked = f.pop("linked_record")
            replay.append(f"it was linked to CRM {names.record(str(linked))}" if linked else "it was not linked")
        if has("queued_record_exists"):
            replay.append(f"that record {'still existed' if f.pop('queued_record_exists') else 'had been deleted'}")
        if has("queued_record_used"):
            used = f.pop("queued_record_used")
            replay.append(f"the record id {'had' if used else 'had not'} been used in CRM meanwhile")
        if has("regarding_exists"):
            regarding = f.pop("regarding", None)
            exists = f.pop("regarding_exists")
            replay.append(
                f"the Regarding record {regarding or ''} {'still existed' if exists else 'had been deleted'}".replace(
                    "  ", " "
                )
            )
        parts.append(f"when {user} went online: " + ", ".join(replay))
    if has("delete_in_crm"):  # an untrack
        asked = f.pop("delete_in_crm")
        parts.append(
            {
                None: f"{user}'s untrack did not say whether to delete the record in CRM",
                True: f"{user} asked to delete the record in CRM when untracking",
                False: f"{user} asked to keep the record in CRM when untracking",
            }.get(asked if isinstance(asked, bool) else None, f"delete_in_crm: {_fact_value(asked)}")
        )
    if has("delete_untracked_email_in_crm"):
        on = f.pop("delete_untracked_email_in_crm")
        parts.append(f"{user}'s option delete_untracked_email_in_crm was {'on' if on else 'off'} at the untrack")
    if has("designated"):
        parts.append(f"deletion in CRM was {'' if f.pop('designated') else 'not '}designated at the untrack")
    if has("owner_at_deletion"):
        owner = str(f.pop("owner_at_deletion"))
        not_user = "" if owner == s.user_name else f", not {user},"
        parts.append(f"{person(owner)}{not_user} owned {record} when it was deleted")
    if has("start_at_deletion"):
        start = f.pop("start_at_deletion")
        parts.append(
            f"{record} started {_time_words(start)} when it was deleted" if start else f"{record} had no start"
        )
    if has("copy_completed"):
        parts.append(f"{user}'s copy was {'' if f.pop('copy_completed') else 'not '}completed at the {sync}")
    if has("in_filter_before") and has("in_filter_now"):
        before, now = f.pop("in_filter_before"), f.pop("in_filter_now")
        parts.append(
            f"{record} was {'' if before else 'not '}in {user}'s sync filter before and "
            f"{'still was' if before and now else 'was' if now else 'was not'} at this {sync}"
        )
    if has("origin"):
        tracked = f.pop("origin") == "tracked"
        parts.append(f"{user}'s copy came from {user + ' tracking it' if tracked else 'a sync'}")
    if has("distinct_logical_deletes"):  # server-side sync: the organisation option at the cycle
        on = f.pop("distinct_logical_deletes")
        parts.append(f"the organisation option distinct_logical_deletes was {'on' if on else 'off'}")
    if has("edited_fields"):  # server-side sync: the mailbox edits merged into one push
        parts.append(_mailbox_edits_words(f, user))
    if cycle and has("owner") and "user_owns" in d.facts:  # the owner the cycle read (a mailbox deletion)
        owner = str(f.pop("owner"))
        not_user = "" if owner == s.user_name else f", not {user},"
        parts.append(f"{person(owner)}{not_user} owned {record} at the cycle")
    if cycle and has("record_state"):
        parts.append(f"{record} was {f.pop('record_state')} at the cycle")
    if has("record_exists"):
        exists = f.pop("record_exists")
        told = {"owner_at_deletion", "start_at_deletion"} & set(d.facts)  # a deletion in CRM, already said
        if exists and cycle:
            told = {"record_state", "user_owns"} & set(d.facts)  # its owner or state at the cycle, already said
        if not told:
            parts.append(f"{record} {'still existed' if exists else 'had been deleted'}")
    state = [f"owner {person(str(f.pop('owner')))}"] if has("owner") else []
    for key in ("state", "record_state"):
        if has(key):
            state.append(str(f.pop(key)))
    if has("start"):
        state.append(f"start {_time_words(f.pop('start'))}" if d.facts.get("start") else "no start")
    if has("shared_with_user"):
        shared = f.pop("shared_with_user")
        if shared or d.facts.get("owner") != s.user_name:  # an owner's own record: sharing does not matter
            state.append(f"{'' if shared else 'not '}shared with {user}")
    if has("sync_filter"):
        state.append(f"{user}'s sync filter {f.pop('sync_filter')}")
    if state:
        parts.append(f"{record}: {', '.join(state)}")
    if has("starts_after_sync") and has("sync_at"):
        after, at = f.pop("starts_after_sync"), f.pop("sync_at")
        parts.append(f"the {sync} ran {_time_words(at)}, {'before' if after else 'not before'} that start")
    parts += [f"{key}: {_fact_value(value)}" for key, value in f.items()]  # facts this version has no words for
    return "; ".join(parts) or None
