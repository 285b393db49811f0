"""Checks of an action against the current state: what SCENARIOS.md says is refused, with one-line reasons.

A refused action raises `RefusedError`; nothing is appended. Checks read the world and never change it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import singledispatch

from . import vocabulary as v
from .world import Item, Record, User, World, item_id_used, queued_track, record_id_used


class RefusedError(ValueError):
    """The action is not valid in the ledger's current state; the message says why in one line."""


def check(world: World, action: v.Action) -> None:
    if world.at is not None and action.at is not None and action.at < world.at:
        raise RefusedError(f"time goes backwards from {_clock(world.at, action.at)} to {_clock(action.at, world.at)}")
    held = world.past.action(action.id) if action.id is not None else None
    if held is not None:
        raise RefusedError(f"action id '{action.id}' is already in the ledger (at position {held})")
    _check(action, world)


def _clock(t: datetime, other: datetime) -> str:
    return (
        t.strftime("%H:%M:%S" if t.second or other.second else "%H:%M") if t.date() == other.date() else t.isoformat()
    )


@singledispatch
def _check(action: v.Action, world: World) -> None:
    raise TypeError(f"no check for {type(action).__name__}")


# ------------------------------------------------------------------------------------------- look-ups


def user(world: World, name: str) -> User:
    found = world.users.get(name)
    if found is None:
        known = ", ".join(sorted(world.users)) or "none yet"
        raise RefusedError(f"unknown user '{name}' (declared: {known})")
    return found


def record(world: World, record_id: str) -> Record:
    found = world.records.get(record_id)
    if found is None:
        if world.past.record(record_id) is not None:
            raise RefusedError(f"unknown record '{record_id}' (it was deleted in CRM)")
        raise RefusedError(f"unknown record '{record_id}'")
    return found


def item(world: World, name: str, item_id: str) -> Item:
    found = user(world, name).items.get(item_id)
    if found is None:
        if world.past.item_deleted(name, item_id):
            raise RefusedError(f"unknown item '{item_id}' in {name}'s Outlook (it was deleted)")
        raise RefusedError(f"unknown item '{item_id}' in {name}'s Outlook")
    return found


def _nameable(what: str, name: str) -> None:
    """A new id or name must be one a reference can name: `why` and `history` take references on one line, with
    no tab, line break or other white space but single spaces inside (`tools.explain.why.check_ref_text`)."""
    if " ".join(name.split()) != name:
        raise RefusedError(
            f"{what} {name!r} holds a tab, a line break or white space around it, which no reference can name"
        )


def _start_only_for_appointments(start: datetime | None, kind: str, what: str) -> None:
    if start is not None and kind != "appointment":
        raise RefusedError(f"start is only for appointments, not {kind} {what}")


# ------------------------------------------------------------------------------------------- users


@_check.register
def _(a: v.UserAdded, world: World) -> None:
    if a.user in world.users:
        raise RefusedError(f"user '{a.user}' is already declared")
    _nameable("a user name", a.user)
    if "/" in a.user:  # outlook:<user>/<item> would name two items at once: user a's b/c and user a/b's c
        raise RefusedError(f"a user name cannot hold '/' (references name items as outlook:<user>/<item>): '{a.user}'")


@_check.register
def _(a: v.OptionChanged, world: World) -> None:
    user(world, a.user)
    if a.name == "sync_filter" and a.value not in v.SYNC_FILTERS:
        raise RefusedError(f"option sync_filter takes owned or owned_and_shared, not {a.value!r}")
    if a.name == "delete_untracked_email_in_crm" and not isinstance(a.value, bool):
        raise RefusedError(f"option delete_untracked_email_in_crm takes true or false, not {a.value!r}")
    if a.name == "sync_method":
        _method_change(world.users[a.user], a.value)


def _method_change(found: User, value: object) -> None:
    """RULES-SSS.md: a change of method is an administrator's switch between two syncs."""
    if value not in v.SYNC_METHODS:
        raise RefusedError(f"option sync_method takes outlook_client or server_side, not {value!r}")
    if value == found.sync_method:
        return  # the value it has: accepted like any option
    if not found.online:
        raise RefusedError(f"user '{found.name}' is offline: sync first, then change sync_method to {value}")
    if found.pending:
        count = len(found.pending)
        raise RefusedError(
            f"user '{found.name}' has {count} pending operation{'s' if count != 1 else ''}: "
            f"sync first, then change sync_method to {value}"
        )


@_check.register
def _(a: v.OrgOptionChanged, world: World) -> None:
    user(world, a.actor)


def _not_server_side(found: User, verb: str) -> None:
    if found.sync_method == "server_side":
        raise RefusedError(
            f"{verb} is refused for user '{found.name}', who synchronises server-side (sync_method server_side): "
            "the mailbox is on the server, so there is no offline queue"
        )


@_check.register
def _(a: v.SyncRequested, world: World) -> None:
    if not user(world, a.user).online:
        raise RefusedError(f"user '{a.user}' is offline and cannot synchronise")


@_check.register
def _(a: v.WentOffline, world: World) -> None:
    _not_server_side(user(world, a.user), "offline")
    if not world.users[a.user].online:
        raise RefusedError(f"user '{a.user}' is already offline")


@_check.register
def _(a: v.WentOnline, world: World) -> None:
    _not_server_side(user(world, a.user), "online")
    if world.users[a.user].online:
        raise RefusedError(f"user '{a.user}' is already online")


# ------------------------------------------------------------------------------------------- Outlook


@_check.register
def _(a: v.OutlookItemCreated, world: World) -> None:
    owner = user(world, a.user)
    _nameable("item id", a.item)
    if item_id_used(world, owner.name, a.item):
        raise RefusedError(f"item id '{a.item}' is already used in {a.user}'s Outlook")
    if a.item in owner.aliases:  # ids and aliases are unique among every one used in a store (SOURCES.md)
        raise RefusedError(f"item id '{a.item}' already names an item in {a.user}'s Outlook (as its alias)")
    _start_only_for_appointments(a.start, a.type, f"'{a.item}'")


@_check.register
def _(a: v.OutlookItemEdited, world: World) -> None:
    found = item(world, a.user, a.item)
    _start_only_for_appointments(a.start, found.type, f"'{a.item}'")


@_check.register
def _(a: v.OutlookTaskCompleted, world: World) -> None:
    found = item(world, a.user, a.item)
    if found.type != "task":
        raise RefusedError(f"outlook.complete takes a task, not {found.type} '{a.item}'")
    if found.completed:
        raise RefusedError(f"task '{a.item}' is already completed in {a.user}'s Outlook")


@_check.register
def _(a: v.OutlookItemDeleted, world: World) -> None:
    item(world, a.user, a.item)


@_check.register
def _(a: v.OutlookItemTracked, world: World) -> None:
    item(world, a.user, a.item)
    owner = world.users[a.user]
    link = owner.links_by_item.get(a.item)
    if link is not None:
        raise RefusedError(f"item '{a.item}' is already linked to CRM record '{link.record}'")
    if queued_track(owner, a.item):
        raise RefusedError(f"item '{a.item}' is already being tracked (queued while {a.user} is offline)")
    if a.record is not None and record_id_used(world, a.record):
        raise RefusedError(f"record id '{a.record}' is already used in CRM")


@_check.register
def _(a: v.OutlookItemUntracked, world: World) -> None:
    item(world, a.user, a.item)
    if a.item not in world.users[a.user].links_by_item:
        raise RefusedError(f"item '{a.item}' is not linked, so it cannot be untracked")


@_check.register
def _(a: v.OutlookRegardingSet, world: World) -> None:
    found = item(world, a.user, a.item)
    if found.type != "email":
        raise RefusedError(f"outlook.set_regarding takes an e-mail, not {found.type} '{a.item}'")
    record(world, a.regarding)


# ------------------------------------------------------------------------------------------- CRM


@_check.register
def _(a: v.CrmRecordCreated, world: World) -> None:
    user(world, a.actor)
    if a.owner is not None:
        user(world, a.owner)
    _nameable("record id", a.record)
    if record_id_used(world, a.record):
        raise RefusedError(f"record id '{a.record}' is already used in CRM")
    _start_only_for_appointments(a.start, a.type, f"'{a.record}'")
    _regarding_only_for_emails(a.regarding, a.type, f"'{a.record}'")


@_check.register
def _(a: v.CrmRecordEdited, world: World) -> None:
    user(world, a.actor)
    found = record(world, a.record)
    _start_only_for_appointments(a.start, found.type, f"'{a.record}'")
    _regarding_only_for_emails(a.regarding, found.type, f"'{a.record}'")


def _regarding_only_for_emails(regarding: str | None, kind: str, what: str) -> None:
    if regarding is not None and kind != "email":
        raise RefusedError(f"regarding is only for e-mails, not {kind} {what}")


_STATE_CHANGES: dict[str, tuple[str, Callable[[str], bool]]] = {  # what each takes (the state: v.STATE_AFTER)
    "crm.complete": ("an activity", lambda t: t != "contact"),
    "crm.cancel": ("an activity", lambda t: t != "contact"),
    "crm.deactivate": ("a contact", lambda t: t == "contact"),
    "crm.activate": ("a contact", lambda t: t == "contact"),
}


@_check.register(v.CrmActivityCompleted)
@_check.register(v.CrmActivityCanceled)
@_check.register(v.CrmContactDeactivated)
@_check.register(v.CrmContactActivated)
def _(a: v.CrmActivityCompleted, world: World) -> None:
    user(world, a.actor)
    found = record(world, a.record)
    takes, accepts = _STATE_CHANGES[a.do]
    state = v.STATE_AFTER[a.do]
    if not accepts(found.type):
        raise RefusedError(f"{a.do} takes {takes}, not {found.type} '{a.record}'")
    if found.state == state:
        raise RefusedError(f"{found.type} '{a.record}' is already {state}")


@_check.register
def _(a: v.CrmRecordDeleted, world: World) -> None:
    user(world, a.actor)
    record(world, a.record)


@_check.register
def _(a: v.CrmRecordAssigned, world: World) -> None:
    user(world, a.actor)
    found = record(world, a.record)
    user(world, a.to)
    if found.owner == a.to:
        raise RefusedError(f"record '{a.record}' is already owned by {a.to}")


@_check.register
def _(a: v.CrmRecordShared, world: World) -> None:
    user(world, a.actor)
    found = record(world, a.record)
    user(world, a.with_)
    if found.owner == a.with_:
        raise RefusedError(f"{a.with_} owns record '{a.record}': sharing with the owner changes nothing")
    if a.with_ in found.shared_with:
        raise RefusedError(f"record '{a.record}' is already shared with {a.with_}")


@_check.register
def _(a: v.CrmRecordUnshared, world: World) -> None:
    user(world, a.actor)
    found = record(world, a.record)
    user(world, a.with_)
    if a.with_ not in found.shared_with:
        raise RefusedError(f"record '{a.record}' is not shared with {a.with_}")


# ------------------------------------------------------------------------------------------- imports


@_check.register
def _(a: v.DiscrepancyFound, world: World) -> None:
    """A discrepancy records what a real export showed; it changes nothing, so nothing in the state refuses it."""


@_check.register
def _(a: v.ItemAliased, world: World) -> None:
    """An alias names a copy FILTER-CREATE made that is still there without one (SOURCES.md: aliases), and no
    other id or alias of that store is it."""
    owner = user(world, a.user)
    if a.item not in owner.copies:
        if a.item in owner.items:
            what = "has an alias already" if a.item in owner.aliases.values() else "is not a copy FILTER-CREATE made"
            raise RefusedError(f"item '{a.item}' in {a.user}'s Outlook {what}")
        gone = item_id_used(world, owner.name, a.item)
        raise RefusedError(f"{'deleted' if gone else 'unknown'} item '{a.item}' in {a.user}'s Outlook")
    _nameable("alias", a.alias)
    if a.alias in owner.aliases or item_id_used(world, owner.name, a.alias):
        raise RefusedError(f"'{a.alias}' already names an item in {a.user}'s Outlook")


# ------------------------------------------------------------------------------------------- the baseline

_STATES = {"contact": ("active", "inactive")}  # every other type is an activity
_ACTIVITY_STATES = ("active", "completed", "canceled")


@_check.register
def _(a: v.BaselineObserved, world: World) -> None:
    """SOURCES.md "Precise rules", Baseline: a document that could be the state before the first event."""
    doc = a.document
    if world.records or any(u.items for u in world.users.values()):
        raise RefusedError(
            "the ledger already has records or items: a baseline is the state before them, so it comes first"
        )
    records: dict[str, v.BaselineRecord] = {}
    for r in doc.records:
        where = f"baseline record '{r.id}'"
        _nameable(f"{where}: its id", r.id)
        if r.id in records:
            raise RefusedError(f"{where} is listed twice")
        if record_id_used(world, r.id):
            raise RefusedError(f"{where}: record id '{r.id}' is already used in CRM")
        records[r.id] = r
        _baseline_user(world, r.owner, f"{where}: owner")
        states = _STATES.get(r.type, _ACTIVITY_STATES)
        if r.state not in states:
            raise RefusedError(f"{where}: a {r.type} is {' or '.join(states)}, not {r.state}")
        _start_only_for_appointments(r.start, r.type, where.removeprefix("baseline "))
        if r.regarding is not None and r.type != "email":
            raise RefusedError(f"{where}: regarding is only for e-mails, not {r.type}")
        for name in r.shared_with:
            _baseline_user(world, name, f"{where}: shared_with")
            if name == r.owner:
                raise RefusedError(f"{where}: shared with its owner {name}")
        if len(set(r.shared_with)) != len(r.shared_with):
            raise RefusedError(f"{where}: shared_with names a user twice")
    for name, items in doc.items.items():
        _baseline_user(world, name, f"baseline items of '{name}'")
        seen: set[str] = set()
        for i in items:
            where = f"baseline item '{i.id}' of {name}"
            _nameable(f"{where}: its id", i.id)
            if i.id in seen:
                raise RefusedError(f"{where} is listed twice")
            seen.add(i.id)
            if item_id_used(world, name, i.id) or i.id in world.users[name].aliases:
                raise RefusedError(f"{where}: item id '{i.id}' is already used in {name}'s Outlook")
            _start_only_for_appointments(i.start, i.type, where.removeprefix("baseline "))
            if i.completed and i.type != "task":
                raise RefusedError(f"{where}: completed is only for tasks, not {i.type}")
    items_of = {name: {i.id: i for i in items} for name, items in doc.items.items()}
    linked_items: set[tuple[str, str]] = set()
    linked_records: set[tuple[str, str]] = set()
    for k in doc.links:
        where = f"baseline link of {k.user}'s '{k.item}' to '{k.record}'"
        _baseline_user(world, k.user, f"{where}: user")
        found = items_of.get(k.user, {}).get(k.item)
        if found is None:
            raise RefusedError(f"{where}: no item '{k.item}' among {k.user}'s items of the baseline")
        record = records.get(k.record)
        if record is None:
            raise RefusedError(f"{where}: no record '{k.record}' among the baseline's records")
        if v.outlook_type_of(record.type) != found.type:
            raise RefusedError(f"{where}: a {found.type} cannot be linked to a {record.type}")
        if (k.user, k.item) in linked_items:
            raise RefusedError(f"{where}: the item has another link in the baseline")
        if (k.user, k.record) in linked_records:
            raise RefusedError(f"{where}: {k.user} has another item linked to that record in the baseline")
        linked_items.add((k.user, k.item))
        linked_records.add((k.user, k.record))


def _baseline_user(world: World, name: str, where: str) -> None:
    if name not in world.users:
        known = ", ".join(sorted(world.users)) or "none yet"
        raise RefusedError(f"{where}: unknown user '{name}' (declare users before the baseline; declared: {known})")
