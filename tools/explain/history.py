"""An item's history: every event that touched it on either side and its link, what each changed (field: old ->
new) and, for decisions, the rule behind them, grouped by the sync that decided them. `build` is pure: events in,
entries out; `load_history` reads only the events the item index files under the item and its link partners."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from syncledger.ledger import effects as fx
from syncledger.ledger import vocabulary as v
from syncledger.ledger.rules import RULES
from syncledger.ledger.values import Fields
from syncledger.ledger.vocabulary import Recorded
from syncledger.projections.document import iso
from syncledger.projections.reader import Reader

from ..inputs import Point
from .sentences import Names, decision_sentence, describe_action, inferred

Bound = Point  # a position, or a time
Values = dict[str, Any]  # one item's or record's properties, flattened: "owner", "fields.phone", ...

RECORD_CHANGES = (fx.CreateRecord, fx.ChangeRecord, fx.DeleteRecord)
DO_OF = {cls: do for do, cls in v.ACTION_CLASSES.items()}  # the `do:` of each action class


@dataclass(frozen=True)
class PropertyChange:
    """One property of one side that an event changed; `old`/`new` are None where there was no value."""

    side: str  # "crm", "outlook" or "link"
    ref: str
    field: str  # "exists", "link", "owner", "state", "fields.<name>", ...
    old: Any
    new: Any


@dataclass(frozen=True)
class SyncPoint:
    """Where a group of decisions was taken: a user's sync, or the user going online (replay, then a sync)."""

    position: int
    at: datetime
    user: str
    kind: str  # "sync", "online" (offline operations replayed) or "online-sync" (GO-ONLINE-SYNC)
    method: str = "outlook_client"  # of the decisions taken there: a server_side user's sync is a cycle
    inferred_note: str = ""  # ` (inferred at a 15m cycle boundary)` for a sync an import inferred (`inferred`)

    @property
    def title(self) -> str:
        kind = "server-side sync cycle" if self.method == "server_side" else "sync"
        return {
            "sync": f"{self.user}'s {kind}{self.inferred_note}",
            "online": f"{self.user} went online: offline operations replayed",
            "online-sync": f"{self.user}'s sync on going online (GO-ONLINE-SYNC)",
        }[self.kind]


@dataclass(frozen=True)
class Entry:
    """One event of the history, as people and scripts read it."""

    position: int
    at: datetime
    actor: str
    side: str  # the lane: "crm" or "outlook" for user actions, "link" for decisions
    event: str  # the action's `do`, or "decision"
    summary: str
    changes: tuple[PropertyChange, ...] = ()
    rule: str | None = None
    sentence: str | None = None
    source: str | None = None
    cause: int | None = None
    reason: str | None = None
    sync: int | None = None  # the position of the sync point that decided it
    queued_for: tuple[str, ...] = ()  # users whose next sync this event waits for
    method: str | None = None  # for a decision: the synchronisation method whose rules decided it


@dataclass
class History:
    ref: str
    entries: list[Entry]
    syncs: dict[int, SyncPoint] = field(default_factory=dict)
    label: str | None = None  # the item's fullname or subject, shown next to its id

    def groups(self) -> list[tuple[SyncPoint | None, list[Entry]]]:
        """Runs of entries decided at the same sync point (None: between syncs), in order."""
        runs: list[tuple[SyncPoint | None, list[Entry]]] = []
        for entry in self.entries:
            point = self.syncs.get(entry.sync) if entry.sync is not None else None
            if runs and runs[-1][0] is point:
                runs[-1][1].append(entry)
            else:
                runs.append((point, [entry]))
        return runs

    def rules(self) -> list[str]:
        return [e.rule for e in self.entries if e.rule is not None]


# --------------------------------------------------------------------------------------------- references


def is_item_ref(ref: str) -> bool:
    """History is for items: `crm:<record>` or `outlook:<user>/<item>`."""
    return ref.startswith("crm:") or (ref.startswith("outlook:") and "/" in ref)


def partner_refs(ref: str, events: Iterable[Recorded]) -> list[str]:
    """The other ends of every link the item ever had: the records of an Outlook item, the copies of a record."""
    partners: dict[str, None] = {}
    for _, event in events:
        if not isinstance(event, v.Decided):
            continue
        for effect in event.effects:
            if not isinstance(effect, fx.LinkItem):
                continue
            item_ref, record_ref = v.outlook_ref(effect.user, effect.item), v.crm_ref(effect.record)
            if ref == item_ref:
                partners[record_ref] = None
            elif ref == record_ref:
                partners[item_ref] = None
    return list(partners)


def belongs(ref: str, event: v.Action | v.Decided) -> bool:
    """Whether a partner's event is part of this item's history. A record is shared: for an Outlook item, the
    record's decisions about other users' copies are noise unless they changed the record itself."""
    if ref.startswith("crm:") or not isinstance(event, v.Decided) or ref in event.about:
        return True
    return any(isinstance(effect, RECORD_CHANGES) for effect in event.effects)


# --------------------------------------------------------------------------------------------- sync points


def sync_user(event: v.Action | v.Decided) -> str | None:
    """The user whose sync (or going online) took this decision, if a sync took it."""
    if not isinstance(event, v.Decided):
        return None
    if event.actor.startswith("sync:"):
        return event.actor.removeprefix("sync:")
    settled = [e.user for e in event.effects if isinstance(e, fx.SettleOperation)]  # an offline operation replayed
    return settled[0] if settled else None


def sync_point_positions(
    events: Iterable[Recorded], before: Callable[[list[tuple[str, int]]], list[int | None]]
) -> dict[int, int]:
    """For each decision taken by a sync, the position of its sync point: the user's own event just before it
    (the sync, the going online, or GO-ONLINE-SYNC), which `before` finds for many (`user:<name>`, position)
    at once in the index (`StoredIndex.latest_before`), not from every event of the user."""
    decided = [(position, user) for position, event in events if (user := sync_user(event)) is not None]
    found = before([(f"user:{user}", position) for position, user in decided])
    return {position: point for (position, _), point in zip(decided, found, strict=True) if point is not None}


def sync_point(position: int, event: v.Action | v.Decided) -> SyncPoint | None:
    """The sync point an event marks, if it marks one."""
    if isinstance(event, v.SyncRequested):
        return SyncPoint(position, event.when, event.user, "sync", inferred_note=inferred(event))
    if isinstance(event, v.WentOnline):
        return SyncPoint(position, event.when, event.user, "online")
    if isinstance(event, v.Decided) and event.rule == "GO-ONLINE-SYNC":
        return SyncPoint(position, event.at, event.actor, "online-sync")
    return None


# --------------------------------------------------------------------------------------------- the local fold


class _Sides:
    """The running values of the item's records, Outlook items and links, folded from its own events only."""

    def __init__(self) -> None:
        self.records: dict[str, Values] = {}
        self.items: dict[str, Values] = {}  # by outlook ref
        self.links: dict[str, str] = {}  # outlook ref -> "record (origin)", active links only

    def snapshot(self, refs: Iterable[str]) -> dict[tuple[str, str], Values]:
        shot: dict[tuple[str, str], Values] = {}
        for ref in refs:
            if ref.startswith("crm:"):
                shot[("crm", ref)] = _exists(self.records.get(ref))
            else:
                shot[("outlook", ref)] = _exists(self.items.get(ref))
                shot[("link", ref)] = {"link": self.links.get(ref)}
        return shot

    @staticmethod
    def sides_of(event: v.Action | v.Decided) -> set[str]:
        """The records and Outlook items (by ref) `apply` may change for this event: every one it changes is
        named by the event's or an effect's `record`, or its `user` and `item`; the rest stay as they were."""
        refs: set[str] = set()
        for part in event.effects if isinstance(event, v.Decided) else (event,):
            values = part.__dict__  # pydantic's attribute lookup is slow
            record, user, item = values.get("record"), values.get("user"), values.get("item")
            if isinstance(record, str):
                refs.add(v.crm_ref(record))
            if isinstance(user, str) and isinstance(item, str):
                refs.add(v.outlook_ref(user, item))
        return refs

    def apply(self, event: v.Action | v.Decided) -> None:
        if isinstance(event, v.Decided):
            for effect in event.effects:
                self._effect(effect)
        elif isinstance(event, v.CrmRecordCreated):
            owner = event.owner or event.actor
            self.records[v.crm_ref(event.record)] = _record(event.type, owner, "active", event.fields, event.start)
        elif isinstance(event, v.CrmRecordDeleted):
            self.records.pop(v.crm_ref(event.record), None)
        elif isinstance(event, CRM_CHANGES) and (record := self.records.get(v.crm_ref(event.record))):
            _crm_change(record, event)
        elif isinstance(event, v.OutlookItemCreated):
            self.items[v.outlook_ref(event.user, event.item)] = _item(event.type, event.fields, event.start, False)
        elif isinstance(event, v.OutlookItemDeleted):
            self.items.pop(v.outlook_ref(event.user, event.item), None)
        elif isinstance(event, v.OutlookItemEdited) and (item := self.items.get(v.outlook_ref(event.user, event.item))):
            _merge(item, event.fields, event.start)
        elif isinstance(event, v.OutlookTaskCompleted) and (
            item := self.items.get(v.outlook_ref(event.user, event.item))
        ):
            item["completed"] = True

    def _effect(self, effect: object) -> None:
        if isinstance(effect, fx.CreateRecord):
            values = _record(effect.type, effect.owner, effect.state, effect.fields, effect.start)
            values["shared_with"] = sorted(effect.shared_with or ())
            values["regarding"] = effect.regarding
            self.records[v.crm_ref(effect.record)] = values
        elif isinstance(effect, fx.ChangeRecord) and (record := self.records.get(v.crm_ref(effect.record))):
            _merge(record, effect.fields, effect.start)
            if effect.state is not None:
                record["state"] = effect.state
            if effect.regarding is not None:
                record["regarding"] = effect.regarding
        elif isinstance(effect, fx.DeleteRecord):
            self.records.pop(v.crm_ref(effect.record), None)
        elif isinstance(effect, (fx.CreateItem, fx.ReplaceItem)):
            item_ref = v.outlook_ref(effect.user, effect.item)
            kind = effect.type if isinstance(effect, fx.CreateItem) else self.items.get(item_ref, {}).get("type")
            self.items[item_ref] = _item(kind, effect.fields, effect.start, effect.completed)
        elif isinstance(effect, fx.DeleteItem):
            self.items.pop(v.outlook_ref(effect.user, effect.item), None)
        elif isinstance(effect, fx.LinkItem):
            self.links[v.outlook_ref(effect.user, effect.item)] = f"{effect.record} ({effect.origin})"
        elif isinstance(effect, fx.UnlinkItem):
            self.links.pop(v.outlook_ref(effect.user, effect.item), None)


def _record(kind: str, owner: str, state: str, fields: Fields, start: datetime | None) -> Values:
    return {"type": kind, "owner": owner, "state": state, "start": iso(start), "regarding": None, "shared_with": []} | {
        f"fields.{k}": value for k, value in fields.items()
    }


def _item(kind: str | None, fields: Fields, start: datetime | None, completed: bool) -> Values:
    done = {"completed": completed} if kind == "task" else {}  # only tasks show completion in Outlook
    return {"type": kind, "start": iso(start), **done} | {f"fields.{k}": value for k, value in fields.items()}


def _merge(values: Values, fields: Fields, start: datetime | None) -> None:
    values.update({f"fields.{k}": value for k, value in fields.items()})
    if start is not None:
        values["start"] = iso(start)


STATE_AFTER = {
    v.CrmActivityCompleted: "completed",
    v.CrmActivityCanceled: "canceled",
    v.CrmContactDeactivated: "inactive",
    v.CrmContactActivated: "active",
}
CrmChange = (
    v.CrmRecordEdited
    | v.CrmActivityCompleted
    | v.CrmActivityCanceled
    | v.CrmContactDeactivated
    | v.CrmContactActivated
    | v.CrmRecordAssigned
    | v.CrmRecordShared
    | v.CrmRecordUnshared
)
CRM_CHANGES = CrmChange.__args__


def _crm_change(record: Values, a: CrmChange) -> None:
    """A CRM action that changes an existing record (its creation and deletion are handled by the caller)."""
    if isinstance(a, v.CrmRecordEdited):
        _merge(record, a.fields, a.start)
    elif isinstance(a, v.CrmRecordAssigned):
        record["owner"] = a.to
    elif isinstance(a, v.CrmRecordShared):
        record["shared_with"] = sorted({*record["shared_with"], a.with_})
    elif isinstance(a, v.CrmRecordUnshared):
        record["shared_with"] = sorted(set(record["shared_with"]) - {a.with_})
    else:
        record["state"] = STATE_AFTER[type(a)]


def _exists(values: Values | None) -> Values:
    return {"exists": False} if values is None else {"exists": True, **values}


def _diff(before: dict[tuple[str, str], Values], after: dict[tuple[str, str], Values]) -> list[PropertyChange]:
    """What changed between two snapshots. A created side lists its values; a deleted one only that it went."""
    changes: list[PropertyChange] = []
    for key, new in after.items():
        side, ref = key
        old = before[key]
        gone = old.get("exists") and not new.get("exists")
        for name in [*old, *(k for k in new if k not in old)]:
            if old.get(name) != new.get(name) and not (gone and name != "exists"):
                if name == "exists" or new.get(name) not in (None, []) or old.get(name) not in (None, []):
                    changes.append(PropertyChange(side, ref, name, old.get(name), new.get(name)))
    return changes


# --------------------------------------------------------------------------------------------- building


def build(
    ref: str,
    events: Iterable[Recorded],
    points: Mapping[int, v.Action | v.Decided] | None = None,
    sync_of: Mapping[int, int] | None = None,
    since: Bound | None = None,
    until: Bound | None = None,
) -> History:
    """The history of `ref` from its own events and its partners' (in order), cut to [since, until]. `points`
    holds the sync-point events by position and `sync_of` the sync point of each decision (see
    `sync_point_positions`); values are folded from the first event, so old values are right after a cut."""
    points, sync_of = points or {}, sync_of or {}
    recorded = sorted(events, key=lambda r: r[0])
    family = [ref, *partner_refs(ref, recorded)]
    sides = _Sides()
    names = Names()  # the types the events name, so that an action reads as in why and preview: `contact c1`
    history = History(ref, [])
    # a decision's cause, where it is among these events, is told as `why` tells it (the baseline's file, which
    # operation an offline conflict dropped)
    causes = {position: event for position, event in recorded if isinstance(event, v.Action)}
    for position, event in recorded:
        names.learn(event)
        if not belongs(ref, event):
            continue
        changed = sides.sides_of(event)
        local = [r for r in family if r in changed]  # the others cannot change: not snapshotted for each event
        before = sides.snapshot(local)
        sides.apply(event)
        if not _within(position, event.when, since, until):
            continue
        changes = tuple(_diff(before, sides.snapshot(local)))
        sync = sync_of.get(position)
        if sync is not None and sync in points:
            point = sync_point(sync, points[sync])
            if point is not None:
                if isinstance(event, v.Decided) and event.decided_by != point.method:
                    point = replace(point, method=event.decided_by)
                history.syncs[sync] = point
            else:
                sync = None
        cause = causes.get(event.cause) if isinstance(event, v.Decided) else None
        history.entries.append(_entry(position, event, changes, sync, family, names, cause))
    return history


def _entry(
    position: int,
    event: v.Action | v.Decided,
    changes: tuple[PropertyChange, ...],
    sync: int | None,
    family: list[str],
    names: Names,
    cause: v.Action | None = None,
) -> Entry:
    queued_for = tuple(dict.fromkeys(q.user for q in event.queued if _concerns(q, family)))
    if isinstance(event, v.Decided):
        rule = RULES.get(event.rule)
        return Entry(
            position,
            event.at,
            event.actor,
            "link",
            "decision",
            (
                decision_sentence(event, names, cause=cause)
                if rule
                else f"{event.rule} (a rule this version does not know)"
            ),
            changes,
            rule=event.rule,
            sentence=rule.sentence if rule else None,
            source=rule.source_text if rule else None,
            cause=event.cause,
            reason=event.reason,
            sync=sync,
            queued_for=queued_for,
            method=event.decided_by,
        )
    do = DO_OF[type(event)]
    side = do.partition(".")[0] if do.startswith(("crm.", "outlook.")) else "user"
    summary = describe_action(event, names)
    return Entry(position, event.when, event.user_name, side, do, summary, changes, queued_for=queued_for)


def show_value(value: Any) -> str:
    """A changed value for people: "-" for none, yes/no, lists joined, an empty text quoted."""
    if value is None or value == []:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value) if value != "" else '""'


def change_line(change: PropertyChange) -> str:
    """`crm:c1 fields.phone: 555-0100 -> 555-0199`, or `crm:c1 created` / `deleted`."""
    if change.field == "exists":
        return f"{change.ref} {'created' if change.new else 'deleted'}"
    return f"{change.ref} {change.field}: {show_value(change.old)} -> {show_value(change.new)}"


def _concerns(queued: v.Queued, family: list[str]) -> bool:
    return any(
        ref in family
        for ref in (
            v.crm_ref(queued.record) if queued.record else None,
            v.outlook_ref(queued.user, queued.item) if queued.item else None,
        )
    )


def _within(position: int, at: datetime, since: Bound | None, until: Bound | None) -> bool:
    """Both bounds are inclusive; a bound is a position (int) or a time."""
    if isinstance(since, int) and position < since or isinstance(since, datetime) and at < since:
        return False
    return not (isinstance(until, int) and position > until or isinstance(until, datetime) and at > until)


# --------------------------------------------------------------------------------------------- reading


def load_history(reader: Reader, ref: str, since: Bound | None = None, until: Bound | None = None) -> History:
    """Read only the events the item index files under the item and its link partners, and the sync points
    of the decisions among them, then build the history (a lookup, not a scan of the ledger): a few statements
    however many events the item has, each reading many positions at once."""
    return load_histories(reader, [ref], since, until)[ref]


def load_histories(
    reader: Reader, refs: Iterable[str], since: Bound | None = None, until: Bound | None = None
) -> dict[str, History]:
    """`load_history` of many items (what `diff` explains its changes with), read together: each of its reads
    for every item at once, so the same few statements in all, not a few for each item."""
    index, wanted = reader.index, list(dict.fromkeys(refs))
    positions = index.positions_of(wanted)
    read = dict(reader.events({p for found in positions.values() for p in found}))
    own = {ref: [(p, read[p]) for p in positions[ref] if p in read] for ref in wanted}
    partners = {ref: partner_refs(ref, own[ref]) for ref in wanted}
    theirs = index.positions_of(partner for found in partners.values() for partner in found)
    read.update(reader.events({p for found in theirs.values() for p in found if p not in read}))
    events: dict[str, list[Recorded]] = {}
    for ref in wanted:
        seen = set(positions[ref])
        more = {p for partner in partners[ref] for p in theirs[partner] if p not in seen and p in read}
        events[ref] = own[ref] + [(p, read[p]) for p in sorted(more)]
    # the user actions that queued a decision about the item but are filed under no item (a sync filter changed,
    # an organisation option): why names them as causes, and the timeline shows them where they happened
    causes = {ref: _unfiled_causes(ref, events[ref]) for ref in wanted}
    read.update(reader.events({p for found in causes.values() for p in found if p not in read}))
    for ref in wanted:
        found = [(p, read[p]) for p in sorted(causes[ref]) if p in read and isinstance(read[p], v.Action)]
        if found:
            events[ref] = sorted([*events[ref], *found], key=lambda r: r[0])
    every = {position: event for found in events.values() for position, event in found}
    sync_of = sync_point_positions(sorted(every.items(), key=lambda r: r[0]), index.latest_before)
    points = dict(reader.events(set(sync_of.values())))
    return {ref: build(ref, events[ref], points, sync_of, since, until) for ref in wanted}


def _unfiled_causes(ref: str, events: list[Recorded]) -> set[int]:
    """The causes of the item's own decisions that are not among its events."""
    have = {p for p, _ in events}
    return {
        e.cause for _, e in events if isinstance(e, v.Decided) and belongs(ref, e) and e.cause and e.cause not in have
    }


# --------------------------------------------------------------------------------------------- JSON


def history_document(found: History, now: str, since: str | None, until: str | None) -> dict[str, Any]:
    return {
        "ref": found.ref,
        "label": found.label,
        "now": now,
        "since": since,
        "until": until,
        "count": len(found.entries),
        "groups": [
            {"sync": _point_document(point), "events": [_entry_document(e) for e in entries]}
            for point, entries in found.groups()
        ],
    }


def _point_document(point: SyncPoint | None) -> dict[str, Any] | None:
    if point is None:
        return None
    return {
        "position": point.position,
        "at": iso(point.at),
        "user": point.user,
        "kind": point.kind,
        "method": point.method,
        "title": point.title,
    }


def _entry_document(e: Entry) -> dict[str, Any]:
    return {
        "position": e.position,
        "at": iso(e.at),
        "actor": e.actor,
        "side": e.side,
        "event": e.event,
        "summary": e.summary,
        "changes": [
            {"side": c.side, "ref": c.ref, "field": c.field, "old": _plain(c.old), "new": _plain(c.new)}
            for c in e.changes
        ],
        "rule": e.rule,
        "sentence": e.sentence,
        "source": e.source,
        "cause": e.cause,
        "reason": e.reason,
        "sync": e.sync,
        "queued_for": list(e.queued_for),
        "method": e.method,
    }


def _plain(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else value
