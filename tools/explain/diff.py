"""What changed between two states of the ledger: CRM records and Outlook items created, deleted or changed
(property by property, old -> new), links made or ended, users added or changed. `diff_worlds` is pure: two
worlds in, changes out; `diff_between` reads the two points and finds the event that made each change."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from itertools import chain
from typing import Any, TypeVar

from syncledger.ledger import vocabulary as v
from syncledger.ledger.past import made as made_order
from syncledger.ledger.world import Item, Link, Record, User, World, links
from syncledger.projections import glimpse
from syncledger.projections.document import iso
from syncledger.projections.reader import Reader

from ..inputs import BadInputError, Point
from .history import History, load_histories, load_history
from .sentences import Lookup
from .why import removal_position

T = TypeVar("T")
# a diff over at most this many events reads them to learn what they touched and compares only that; a longer one
# compares both states whole (reading the events would cost more than comparing the present)
WINDOW_READ = 50_000
Values = dict[str, Any]  # one thing's properties, flattened and JSON-ready: "owner", "fields.phone", ...


@dataclass(frozen=True)
class Difference:
    """One thing that changed: `fields` maps each property that differs to (old, new), None where absent."""

    side: str  # "crm", "outlook", "link" or "user"
    ref: str  # crm:<record>, outlook:<user>/<item> (a link's is its Outlook item's), user:<name>
    kind: str  # created, deleted, changed; for links made, ended; for users added, changed
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    record: str | None = None  # for links: the CRM end, crm:<record>

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"side": self.side, "ref": self.ref, "change": self.kind}
        if self.record is not None:
            doc["record"] = self.record
        doc["fields"] = {name: {"old": old, "new": new} for name, (old, new) in self.fields.items()}
        return doc


def record_values(record: Record) -> Values:
    values: Values = {
        "type": record.type,
        "owner": record.owner,
        "state": record.state,
        "shared_with": sorted(record.shared_with),
        "regarding": record.regarding,
        "start": iso(record.start),
    }
    return values | {f"fields.{name}": value for name, value in record.fields.items()}


def item_values(item: Item) -> Values:
    values: Values = {"type": item.type, "completed": item.completed, "start": iso(item.start)}
    return values | {f"fields.{name}": value for name, value in item.fields.items()}


def user_values(user: User) -> Values:
    return {
        "sync_filter": user.sync_filter,
        "delete_untracked_email_in_crm": user.delete_untracked_email_in_crm,
        "online": user.online,
        "pending": len(user.pending),
    }


def diff_worlds(
    before: World, after: World, in_order: bool = False, touched: Collection[str] | None = None
) -> list[Difference]:
    """Everything that differs from `before` to `after`: CRM, each user's Outlook, the links, the users.
    `in_order`: two points of one ledger, `before` not after `after`; then only the links active at either point
    or ended between them are read, not every link the ledger ever ended. `touched`: the references the events
    between the two points touched (`projections.index.refs_in`); then only those records, items and their links
    are compared (every user still is): nothing else can differ, so the values compared are the window's, not
    the whole present's."""
    wanted = None if touched is None else touched.__contains__
    changes = _compare("crm", before.records, after.records, record_values, v.crm_ref, wanted)
    for name in dict.fromkeys([*before.users, *after.users]):
        old, new = before.users.get(name), after.users.get(name)
        changes += _compare(
            "outlook",
            old.items if old else {},
            new.items if new else {},
            item_values,
            partial(v.outlook_ref, name),
            wanted,
        )
    old_links, new_links = _links_to_compare(before, after) if in_order else (links(before), links(after))
    if touched is not None:
        old_links, new_links = _touching(old_links, touched), _touching(new_links, touched)
    changes += _links(old_links, new_links)
    changes += _compare("user", before.users, after.users, user_values, lambda name: f"user:{name}", None, "added")
    return changes


def _touching(found: list[Link], touched: Collection[str]) -> list[Link]:
    """The links whose Outlook item or CRM record was touched."""
    return [k for k in found if v.outlook_ref(k.user, k.item) in touched or v.crm_ref(k.record) in touched]


def _compare(
    side: str,
    before: Mapping[str, T],
    after: Mapping[str, T],
    values: Callable[[T], Values],
    ref: Callable[[str], str],
    wanted: Callable[[str], bool] | None = None,
    created: str = "created",
) -> list[Difference]:
    """The differences of one kind of thing, in the order of `before`'s keys then `after`'s new ones; only of
    those whose reference is `wanted`, if given."""
    changes = []
    keys = chain(before, (key for key in after if key not in before))
    for key in keys if wanted is None else (key for key in keys if wanted(ref(key))):
        old, new = before.get(key), after.get(key)
        if old is None and new is not None:
            changes.append(Difference(side, ref(key), created, {k: (None, x) for k, x in _set(values(new))}))
        elif new is None and old is not None:
            changes.append(Difference(side, ref(key), "deleted", {k: (x, None) for k, x in _set(values(old))}))
        elif old is not None and new is not None:
            differs = _differences(values(old), values(new))
            if differs:
                changes.append(Difference(side, ref(key), "changed", differs))
    return changes


def _set(values: Values) -> Iterable[tuple[str, Any]]:
    """The properties that have a value (an empty list or None says nothing worth printing)."""
    return ((k, x) for k, x in values.items() if x not in (None, []))


def _differences(old: Values, new: Values) -> dict[str, tuple[Any, Any]]:
    return {k: (old.get(k), new.get(k)) for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)}


def _links_to_compare(before: World, after: World) -> tuple[list[Link], list[Link]]:
    """For two points of one ledger in order: the links that can differ, as `links(world)` lists them, those
    active at either point and those that ended between them, each key with the link it had before (a link that
    ended earlier is the same at both points: reading every one would cost the ledger's past, not the change).
    A link made since the earlier point to an item that point did not have has nothing before it: item ids are
    never reused in one Outlook and a deleted item is never linked again, so the item is new, and the archive is
    not asked (a process's first question about an owner's ended links checks the owner's whole bucket of them
    first: 1/256 of every ended link, about 26 ms at 10^7 events from a warm page cache)."""
    old = _active(before)
    new = sorted([*_active(after), *after.past.ended_links_between(before.position)], key=made_order)
    known = {(k.user, k.item, k.record) for k in old}
    for k in new:
        if (k.user, k.item, k.record) not in known:
            owner = before.users.get(k.user)
            if owner is None or k.item not in owner.items:
                continue
            earlier = before.past.last_link(k.user, k.item)
            if earlier is not None and earlier.record == k.record:
                old.append(earlier)
                known.add((k.user, k.item, k.record))
    return sorted(old, key=made_order), new


def _active(world: World) -> list[Link]:
    return [k for by_user in world.links_to.values() for k in by_user.values()]


def _links(before: list[Link], after: list[Link]) -> list[Difference]:
    """Links made, ended, or made and ended (between two points of one ledger: it was not there at the first and
    is an ended link at the second). A link is one (user, item, record): item ids are never reused in one
    Outlook."""
    old = {(k.user, k.item, k.record): k for k in before}
    new = {(k.user, k.item, k.record): k for k in after}
    changes = []
    for key in dict.fromkeys([*old, *new]):
        a, b = old.get(key), new.get(key)
        was = a is not None and a.state == "linked"
        now = b is not None and b.state == "linked"
        briefly = a is None and b is not None and not now  # made and ended between the two points
        if was == now and not briefly:
            continue
        user, item, record = key
        fields = _differences(_link_values(a), _link_values(b))
        kind = "made and ended" if briefly else "made" if now else "ended"
        changes.append(Difference("link", v.outlook_ref(user, item), kind, fields, v.crm_ref(record)))
    return changes


def _link_values(link: Link | None) -> Values:
    if link is None:
        return {}
    return {"state": link.state, "origin": link.origin, "rule": link.rule, "position": link.position}


# ----------------------------------------------------------------------------------------------- between two points


@dataclass(frozen=True)
class Diff:
    """The changes from one point of the ledger to another, each with the event that made it (or None)."""

    start: int
    end: int
    before: World
    after: World
    changes: list[Difference]
    by: list[dict[str, Any] | None]
    by_field: list[dict[str, dict[str, Any]]]  # per change: for each property, the event that last changed it

    def document(self) -> dict[str, Any]:
        rows = zip(self.changes, self.by, self.by_field, strict=True)
        return {
            "from": {"position": self.start, "at": iso(self.before.at)},
            "to": {"position": self.end, "at": iso(self.after.at)},
            "changes": [c.document() | {"by": found, "by_field": fields} for c, found, fields in rows],
        }


def position_of(point: Point, reader: Reader) -> int:
    """The position a point names: itself (inside the ledger), or the last event at or before a time."""
    if isinstance(point, int):
        last = reader.last_position()  # a diff of two past points decodes no present
        if point > last:
            raise BadInputError(f"position {point} is outside the ledger (0..{last})")
        return point
    return reader.position_at_time(point)


def diff_between(reader: Reader, start: Point, end: Point) -> Diff:
    """What changed from `start` to `end`, and which event made each change; `BadInputError` if `start` is after
    `end` (answering would show the events outside the range as if undone)."""
    a, b = position_of(start, reader), position_of(end, reader)
    if a > b:
        raise BadInputError(f"A (@{a}) is after B (@{b}): give the earlier point first")
    if b - a <= WINDOW_READ:
        # only the records and items the events between the two points name can differ (the fold changes no
        # others): the worlds need hold no others (for a 1,000-user organisation, decoding both whole was most of a
        # diff), and only those are compared
        only = glimpse.touched(event for _, event in reader.ledger.store.read(a, b))
        touched = {v.crm_ref(r) for r in only.records}
        touched.update(v.outlook_ref(user, item) for user, items in only.items.items() for item in items)
        before, after = reader.world_holding(a, only), reader.world_holding(b, only)
    else:
        touched, before, after = None, reader.world_at(a), reader.world_at(b)
    changes = diff_worlds(before, after, in_order=True, touched=touched)
    # what explains the changes, read for all of them at once (a few statements, not a few for each change): the
    # histories of the changed records and items within the two points, every changed reference's index rows,
    # and the events those name
    histories = load_histories(reader, [c.ref for c in changes if _by_fields(c)], a + 1, b)
    # within the window only: a user's changes (an option, a sync) would otherwise read every span of their rows
    inside = reader.index.positions_between((c.ref for c in changes), a, b)
    named = {e.position for history in histories.values() for e in history.entries}
    for change in changes:
        positions = inside.get(change.ref, [])
        named.update(positions[:1] + positions[-1:])
    read = _Prefetched(reader, named)
    by_field = [fields_changed_by(change, a, b, reader, histories.get(change.ref), read) for change in changes]
    by = [
        changed_by(c, a, b, reader, after, fields, read, inside.get(c.ref, []))
        for c, fields in zip(changes, by_field, strict=True)
    ]
    return Diff(a, b, before, after, changes, by, by_field)


class _Prefetched:
    """The events at the given positions, read at once; any other read when asked for."""

    def __init__(self, reader: Reader, positions: set[int]) -> None:
        self.reader, self.events = reader, dict(reader.events(positions))

    def __call__(self, position: int) -> v.Action | v.Decided | None:
        found = self.events.get(position)
        return found if found is not None else self.reader.event(position)


def _by_fields(change: Difference) -> bool:
    """Whether the change is explained field by field (`fields_changed_by`): a changed record or item."""
    return change.kind == "changed" and change.side in ("crm", "outlook")


def _inside(touched: list[int], a: int, b: int) -> list[int]:
    return touched[bisect_right(touched, a) : bisect_right(touched, b)]


def changed_by(
    change: Difference,
    a: int,
    b: int,
    reader: Reader,
    world_b: World,
    fields: dict[str, dict[str, Any]] | None = None,
    read: Lookup | None = None,
    inside: list[int] | None = None,
) -> dict[str, Any] | None:
    """The event between the two points that made the change: what a support engineer looks up next. For a
    changed record or item, the latest of the events that made its field changes (`fields`). `read` reads an
    event (`reader.event` if not given); `inside`: the positions after `a` up to `b` that touched the reference,
    if they were read already."""
    if fields:
        return max(fields.values(), key=lambda found: found["position"])
    read = read or reader.event
    if inside is None:
        inside = _inside(reader.index.touched.get(change.ref, []), a, b)
    position: int | None
    if change.side == "link":
        position = change.fields.get("position", (None, None))[1]
    elif change.kind in ("created", "added"):
        position = inside[0] if inside else None
    elif change.kind == "deleted" and change.side == "crm":
        gone = world_b.past.record(change.ref[4:])
        position = gone.changed if gone is not None else None
    elif change.kind == "deleted":
        position = removal_position(change.ref, reader.index, read)
    else:
        position = inside[-1] if inside else None
    return _event_found(position, read)


def _event_found(position: int | None, read: Lookup) -> dict[str, Any] | None:
    event = read(position) if position else None
    if event is None:
        return None
    return {"position": position, "event": event.do, "rule": event.rule if isinstance(event, v.Decided) else None}


def fields_changed_by(
    change: Difference, a: int, b: int, reader: Reader, history: History | None = None, read: Lookup | None = None
) -> dict[str, dict[str, Any]]:
    """For each property of a changed record or item, the last event in (a, b] that changed it. Not the last
    event about the item: a sync that pulled Bob's edit into Alice's Outlook did not change the CRM record.
    `history`: the item's history from a + 1 to b, if read already (`load_histories`)."""
    if not _by_fields(change):
        return {}
    last: dict[str, int] = {}
    if history is None:
        history = load_history(reader, change.ref, a + 1, b)
    for entry in history.entries:
        for made in entry.changes:
            if made.ref == change.ref and made.side == change.side and made.field in change.fields:
                last[made.field] = entry.position
    found = {name: _event_found(position, read or reader.event) for name, position in last.items()}
    return {name: event for name, event in found.items() if event is not None}
