"""The fold: one event changes the world. No rules are evaluated here: decisions carry their effects.

The same function serves the write side (the state the engine decides from), rebuilds and time travel.

The strings the present keeps are shared, not copied: a fold from stored events decodes each event's strings
afresh, so a user's name, a type, a state or a rule would otherwise be one string per record, item and link that
names it, and a record's or an item's id one more per link (a third of a large present's memory, measured). The
names and words are interned (`world.interned`); ids are taken from the record or item the world already holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import singledispatch

from . import effects as fx
from . import vocabulary as v
from .values import FieldValue
from .world import Item, Link, Pending, Record, User, World, note_unlinked
from .world import interned as intern


def evolve(world: World, event: v.Action | v.Decided, position: int) -> None:
    """Apply the event recorded at `position` to the world, in place."""
    world.position = position
    world.at = event.at
    if isinstance(event, v.Action) and event.id is not None:
        world.past.add_action(event.id, position)
    _FOLDS.get(type(event), _apply)(event, world, position)
    for q in event.queued:
        world.users[q.user].pending.append(Pending.of(q, event.when))


@singledispatch
def _apply(event: object, world: World, position: int) -> None:
    raise TypeError(f"no fold for {type(event).__name__}")


@_apply.register
def _(e: v.UserAdded, world: World, position: int) -> None:
    name = intern(e.user)  # the string every record, item and link of the user shares
    world.users[name] = User(name, e.sync_filter, e.delete_untracked_email_in_crm)
    if e.sync_method is not None:
        world.users[name].sync_method = e.sync_method


@_apply.register
def _(e: v.OptionChanged, world: World, position: int) -> None:
    setattr(world.users[e.user], e.name, e.value)


@_apply.register
def _(e: v.OrgOptionChanged, world: World, position: int) -> None:
    setattr(world, e.name, e.value)


@_apply.register
def _(e: v.OutlookItemCreated, world: World, position: int) -> None:
    _new_item(world, e.user, Item(e.item, intern(e.type), _given(e.fields), e.start, changed=position))


@_apply.register
def _(e: v.OutlookItemEdited, world: World, position: int) -> None:
    item = _item(world, e.user, e.item, position)
    _set_fields(item.fields, e.fields)
    if e.start is not None:
        item.start = e.start


@_apply.register
def _(e: v.OutlookTaskCompleted, world: World, position: int) -> None:
    _item(world, e.user, e.item, position).completed = True


@_apply.register
def _(e: v.OutlookItemDeleted, world: World, position: int) -> None:
    user = world.users[e.user]
    _delete_item(world, e.user, e.item, position)
    link = user.links_by_item.get(e.item)
    if link is not None:  # the link stays until the sync decides; FILTER-SKIP-DELETED remembers
        _removed_by(world, e.user, link.record, position)


@_apply.register(v.OutlookItemTracked)
@_apply.register(v.OutlookRegardingSet)
@_apply.register(v.BaselineObserved)
def _(e: v.Action, world: World, position: int) -> None:
    """Tracking changes nothing by itself: its consequences are decisions (TRACK-*, SET-REGARDING); a baseline
    neither: the BASELINE decisions that follow it set what it observed."""


@_apply.register
def _(e: v.OutlookItemUntracked, world: World, position: int) -> None:
    _removed_by(world, e.user, world.users[e.user].links_by_item[e.item].record, position)


@_apply.register
def _(e: v.SyncRequested, world: World, position: int) -> None:
    world.users[e.user].pending.clear()


@_apply.register
def _(e: v.WentOffline, world: World, position: int) -> None:
    world.users[e.user].online = False


@_apply.register
def _(e: v.WentOnline, world: World, position: int) -> None:
    world.users[e.user].online = True


@_apply.register
def _(e: v.CrmRecordCreated, world: World, position: int) -> None:
    owner = intern(e.owner or e.actor)
    record = Record(e.record, intern(e.type), owner, "active", _given(e.fields), start=e.start, regarding=e.regarding)
    _add_record(world, record, position)


@_apply.register
def _(e: v.CrmRecordEdited, world: World, position: int) -> None:
    record = _record(world, e.record, position)
    _set_fields(record.fields, e.fields)
    if e.start is not None:
        record.start = e.start
    if e.regarding is not None:
        record.regarding = e.regarding or None  # "": cleared


@_apply.register
def _(e: v.DiscrepancyFound, world: World, position: int) -> None:
    """Recorded for the reader (a lead); the state stays as it was."""


@_apply.register
def _(e: v.ItemAliased, world: World, position: int) -> None:
    """Another name of an item: references and later imports resolve it; the item itself does not change."""
    user = world.users[e.user]
    item = user.items.get(e.item)
    user.aliases[e.alias] = item.id if item is not None else e.item
    user.copies.pop(e.item, None)
    world.changed_aliases[(e.user, e.alias)] = None


@_apply.register(v.CrmActivityCompleted)
@_apply.register(v.CrmActivityCanceled)
@_apply.register(v.CrmContactDeactivated)
@_apply.register(v.CrmContactActivated)
def _(e: v.CrmActivityCompleted, world: World, position: int) -> None:
    _record(world, e.record, position).state = v.STATE_AFTER[e.do]


@_apply.register
def _(e: v.CrmRecordDeleted, world: World, position: int) -> None:
    _delete_record(world, e.record, position)


@_apply.register
def _(e: v.CrmRecordAssigned, world: World, position: int) -> None:
    record = _record(world, e.record, position)
    before = world.users[record.owner]
    before.owned.pop(record.id, None)
    record.owner = intern(e.to)
    world.users[e.to].owned[record.id] = None
    note_unlinked(world, before, record.id)
    note_unlinked(world, world.users[e.to], record.id)


@_apply.register
def _(e: v.CrmRecordShared, world: World, position: int) -> None:
    record = _record(world, e.record, position)
    record.shared_with[intern(e.with_)] = None
    world.users[e.with_].shared[record.id] = None
    note_unlinked(world, world.users[e.with_], record.id)


@_apply.register
def _(e: v.CrmRecordUnshared, world: World, position: int) -> None:
    record = _record(world, e.record, position)
    del record.shared_with[e.with_]
    world.users[e.with_].shared.pop(record.id, None)
    note_unlinked(world, world.users[e.with_], record.id)


@_apply.register
def _(e: v.Decided, world: World, position: int) -> None:
    for effect in e.effects:
        _EFFECTS.get(type(effect), _effect)(effect, world, position, e.rule)


# ------------------------------------------------------------------------------------------------ effects


@singledispatch
def _effect(effect: object, world: World, position: int, rule: str) -> None:
    raise TypeError(f"no fold for effect {type(effect).__name__}")


@_effect.register
def _(f: fx.CreateRecord, world: World, position: int, rule: str) -> None:
    shared = dict.fromkeys(map(intern, f.shared_with or ()))
    record = Record(
        f.record, intern(f.type), intern(f.owner), intern(f.state), _given(f.fields), shared, f.regarding, f.start
    )
    _add_record(world, record, position)
    for name in shared:
        world.users[name].shared[record.id] = None
        note_unlinked(world, world.users[name], record.id)


@_effect.register
def _(f: fx.ChangeRecord, world: World, position: int, rule: str) -> None:
    if f.keeps_skip is not None:  # the pusher's own removal still stands after its push (RULES-SSS.md)
        world.records[f.record].removed_by[intern(f.keeps_skip)] = position
    record = _record(world, f.record, position)
    _set_fields(record.fields, f.fields)
    if f.start is not None:
        record.start = f.start
    if f.state is not None:
        record.state = intern(f.state)
    if f.regarding is not None:
        record.regarding = f.regarding


@_effect.register
def _(f: fx.DeleteRecord, world: World, position: int, rule: str) -> None:
    _delete_record(world, f.record, position)


@_effect.register
def _(f: fx.CreateItem, world: World, position: int, rule: str) -> None:
    _new_item(world, f.user, Item(f.item, intern(f.type), _given(f.fields), f.start, f.completed, position))
    if rule == "FILTER-CREATE" and world.at is not None:  # a copy the mailbox audit may log under another id
        world.users[f.user].copies[f.item] = world.at


@_effect.register
def _(f: fx.ReplaceItem, world: World, position: int, rule: str) -> None:
    item = _item(world, f.user, f.item, position)
    item.fields = _given(f.fields)
    item.start = f.start
    item.completed = f.completed


@_effect.register
def _(f: fx.DeleteItem, world: World, position: int, rule: str) -> None:
    _delete_item(world, f.user, f.item, position)


@_effect.register
def _(f: fx.LinkItem, world: World, position: int, rule: str) -> None:
    user = world.users[f.user]
    item, record = user.items.get(f.item), world.records.get(f.record)
    item_id = item.id if item is not None else f.item
    record_id = record.id if record is not None else f.record
    origin, rule = intern(f.origin), intern(rule)
    link = Link(user.name, item_id, record_id, origin, "linked", rule, position, f.in_filter, made=position)
    user.links_by_item[item_id] = link
    world.links_to.setdefault(record_id, {})[user.name] = link
    world.changed_links[(f.user, f.item)] = None
    note_unlinked(world, user, record_id)


@_effect.register
def _(f: fx.UnlinkItem, world: World, position: int, rule: str) -> None:
    user = world.users[f.user]
    link = user.links_by_item.pop(f.item)
    by_user = world.links_to[f.record]
    del by_user[f.user]
    if not by_user:
        del world.links_to[f.record]
    link.state, link.rule, link.position = "unlinked", intern(rule), position
    world.past.add_link(link)
    world.changed_links[(f.user, f.item)] = None
    note_unlinked(world, user, f.record)


@_effect.register
def _(f: fx.NoteFilter, world: World, position: int, rule: str) -> None:
    world.users[f.user].links_by_item[f.item].in_filter = f.in_filter
    world.changed_links[(f.user, f.item)] = None


@_effect.register
def _(f: fx.SettleOperation, world: World, position: int, rule: str) -> None:
    pending = world.users[f.user].pending
    pending[:] = [p for p in pending if p.cause != f.cause]


@_effect.register
def _(f: fx.ClearPending, world: World, position: int, rule: str) -> None:
    world.users[f.user].pending.clear()


# singledispatch registers each fold by its annotation; the fold looks it up by the exact type, because the
# dispatch wrapper costs more than most folds do (every event class is a leaf: no subclass needs dispatching)
_FOLDS = {kind: fold for kind, fold in _apply.registry.items() if kind is not object}
_EFFECTS = {kind: fold for kind, fold in _effect.registry.items() if kind is not object}


# ------------------------------------------------------------------------------------------------ helpers
# Records and items change only through these, which note what changed for the next checkpoint (`World.changed_*`;
# links note theirs above)


def _given(fields: Mapping[str, FieldValue]) -> dict[str, FieldValue]:
    """A new record's or item's fields: a field given as null is not there (SOURCES.md: null removes the field)."""
    return {name: value for name, value in fields.items() if value is not None}


def _set_fields(fields: dict[str, FieldValue], changes: Mapping[str, FieldValue]) -> None:
    """An edit's fields: each set to its value, or removed where the edit gives null (a cleared column)."""
    for name, value in changes.items():
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value


def _record(world: World, record_id: str, position: int) -> Record:
    """The record, about to change in CRM at `position`."""
    record = world.records[record_id]
    record.changed = position
    world.changed_records[record_id] = None
    return record


def _add_record(world: World, record: Record, position: int) -> None:
    record.created = record.changed = position
    world.records[record.id] = record
    world.changed_records[record.id] = None
    world.users[record.owner].owned[record.id] = None
    note_unlinked(world, world.users[record.owner], record.id)


def _removed_by(world: World, user: str, record_id: str, position: int) -> None:
    """FILTER-SKIP-DELETED remembers who removed their copy of a record (a record deleted in CRM needs no memory:
    its id is never used again)."""
    record = world.records.get(record_id)
    if record is not None:
        record.removed_by[intern(user)] = position
        world.changed_records[record_id] = None


def _delete_record(world: World, record_id: str, position: int) -> None:
    record = world.records.pop(record_id)
    record.changed = position
    world.changed_records[record_id] = None
    world.past.add_record(record)
    world.users[record.owner].owned.pop(record_id, None)
    note_unlinked(world, world.users[record.owner], record_id)
    for name in record.shared_with:
        world.users[name].shared.pop(record_id, None)
        note_unlinked(world, world.users[name], record_id)


def _item(world: World, user: str, item_id: str, position: int) -> Item:
    """The item, about to change in the user's Outlook at `position`."""
    item = world.users[user].items[item_id]
    item.changed = position
    world.changed_items[(user, item_id)] = None
    return item


def _new_item(world: World, user: str, item: Item) -> None:
    world.users[user].items[item.id] = item
    world.changed_items[(user, item.id)] = None


def _delete_item(world: World, user: str, item_id: str, position: int) -> None:
    del world.users[user].items[item_id]
    world.users[user].copies.pop(item_id, None)
    world.changed_items[(user, item_id)] = None
    world.past.add_item(user, item_id, position)
