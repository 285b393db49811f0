"""The state the ledger decides from: the CRM store, every user's Outlook store, the active links and the
queues (the present), and what is over (`ledger.past`).

Plain mutable dataclasses, evolved in place by `ledger.evolve` (a fold over millions of events cannot afford a
copy per event). Everything here is derived from events alone; the queries at the bottom are pure. The present
stays the size of the organisation however long the ledger grows; only the past grows, and it is append-only.
"""

from __future__ import annotations

import bisect
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .past import Past, made
from .values import FieldValue
from .vocabulary import TASK_LIKE, OfflineAction, Queued


@dataclass(slots=True)
class Record:
    id: str
    type: str
    owner: str
    state: str = "active"
    fields: dict[str, FieldValue] = field(default_factory=dict)
    shared_with: dict[str, None] = field(default_factory=dict)  # an ordered set
    regarding: str | None = None
    start: datetime | None = None
    created: int = 0  # position of the event that created it
    changed: int = 0  # position of its latest CRM change (FILTER-SKIP-DELETED compares with it); or its deletion
    removed_by: dict[str, int] = field(default_factory=dict)  # user -> position of their Outlook delete/untrack


@dataclass(slots=True)
class Item:
    id: str
    type: str
    fields: dict[str, FieldValue] = field(default_factory=dict)
    start: datetime | None = None
    completed: bool = False
    changed: int = 0  # position of its latest change in this store (its creation, an edit, its completion)


@dataclass(slots=True)
class Link:
    user: str
    item: str
    record: str
    origin: str
    state: str  # "linked" or "unlinked"
    rule: str  # of the decision that made it, then of the one that ended it
    position: int  # of that decision
    in_filter: bool  # was the record in the user's filter at the last sync (or when linked)
    made: int  # position of the decision that made it: links are listed in this order


@dataclass(slots=True)
class Pending:
    operation: str
    record: str | None
    item: str | None
    cause: int
    at: datetime
    designated: bool | None = None
    replay: OfflineAction | None = None  # the offline action to replay when the user goes online

    @classmethod
    def of(cls, queued: Queued, at: datetime) -> Pending:
        return cls(queued.operation, queued.record, queued.item, queued.cause, at, queued.designated, queued.replay)


@dataclass(slots=True)
class User:
    name: str
    sync_filter: str = "owned"
    delete_untracked_email_in_crm: bool = False
    online: bool = True
    items: dict[str, Item] = field(default_factory=dict)
    links_by_item: dict[str, Link] = field(default_factory=dict)  # active links only
    pending: list[Pending] = field(default_factory=list)
    owned: dict[str, None] = field(default_factory=dict)  # records the user owns (an ordered set)
    shared: dict[str, None] = field(default_factory=dict)  # records shared with the user
    sync_method: str = "outlook_client"  # or "server_side" (RULES-SSS.md): which rule set decides for the user
    # the mailbox audit's other names of items (SOURCES.md: aliases, set by `alias` actions): alias -> item, for
    # every alias ever recorded in this store (a reference to a deleted item's alias still names it)
    aliases: dict[str, str] = field(default_factory=dict)
    # the copies FILTER-CREATE made that are still here without an alias: item -> when made (what an alias may name)
    copies: dict[str, datetime] = field(default_factory=dict)
    # derived, for the filter's reconciliation at each sync (`ledger.engine`): the records the user owns or has
    # shared with them, but email, with no active link of theirs; None until a sync first asks (`unlinked_of`),
    # then kept by the fold (`note_unlinked`). Never stored, and not part of a user's equality: a world decoded
    # from a checkpoint has not computed it yet
    unlinked: set[str] | None = field(default=None, compare=False)


@dataclass(slots=True)
class World:
    position: int = 0
    at: datetime | None = None
    distinct_logical_deletes: bool = False  # the organisation option (RULES-SSS.md), for server_side users
    users: dict[str, User] = field(default_factory=dict)
    records: dict[str, Record] = field(default_factory=dict)
    links_to: dict[str, dict[str, Link]] = field(default_factory=dict)  # record -> user -> active link
    past: Past = field(default_factory=Past)
    # not state: the records, items and links (by user and item) the fold made, changed or ended since the
    # projector last wrote a checkpoint of this world (it empties them), so that the next can hold only those
    changed_records: dict[str, None] = field(default_factory=dict, compare=False, repr=False)
    changed_items: dict[tuple[str, str], None] = field(default_factory=dict, compare=False, repr=False)
    changed_links: dict[tuple[str, str], None] = field(default_factory=dict, compare=False, repr=False)
    changed_aliases: dict[tuple[str, str], None] = field(default_factory=dict, compare=False, repr=False)


def forget_changes(world: World) -> None:
    """A checkpoint of the world was written (or none will be): start noting changes afresh."""
    world.changed_records.clear()
    world.changed_items.clear()
    world.changed_links.clear()
    world.changed_aliases.clear()


def interned(value: Any) -> Any:
    """A name or a word (a user's name, a type, a state, an origin, a rule) as the one string the process keeps of
    it (`sys.intern`), so that a large present holds one copy of each, not one per record, item and link that
    names it (a fold from stored events decodes each event's strings afresh). Anything but a plain string (stored
    data changed behind the ledger's back) is returned as it is, to meet the checks it met before."""
    return sys.intern(value) if type(value) is str else value


# ----------------------------------------------------------------------------------------- pure queries


def record_id_used(world: World, record_id: str) -> bool:
    """Ids are never reused in CRM: every id ever used belongs to a live record or to a deleted one."""
    return record_id in world.records or world.past.record(record_id) is not None


def item_id_used(world: World, user: str, item: str) -> bool:
    """Ids are never reused in one Outlook store either: every id used is of a present or a deleted item."""
    return item in world.users[user].items or world.past.item_deleted(user, item)


def unalias(user: User, item: str) -> str:
    """The item an id names in the user's store: the item whose alias it is, else the id itself."""
    return user.aliases.get(item, item)


def known_record(world: World, record_id: str) -> Record | None:
    """The record as it is, or as it was when it was deleted."""
    return world.records.get(record_id) or world.past.record(record_id)


def links(world: World) -> list[Link]:
    """Every link ever made, active or ended, in the order they were made."""
    every = world.past.ended_links()
    every += (k for by_user in world.links_to.values() for k in by_user.values())
    every.sort(key=made)
    return every


def links_page(world: World, after: int, limit: int, user: str | None = None) -> tuple[list[Link], bool]:
    """A page of `links(world)` (of `user` only, if given): the first `limit` links made after `after`
    (`Link.made`), and whether more follow. Pages one after another give the whole list."""
    ended = world.past.ended_links_page(after, limit + 1, user)
    active = [
        k
        for by_user in world.links_to.values()
        for k in by_user.values()
        if k.made > after and (user is None or k.user == user)
    ]
    every = sorted([*ended, *active], key=made)
    return every[:limit], len(every) > limit


def link_pages(world: World, user: str | None = None, size: int = 10_000) -> Iterator[list[Link]]:
    """`links(world)` (of `user` only, if given) a page at a time: the ended links read from the archive a page
    (`size`) at a time, each merged with the active links made before the next page, so that every link the ledger
    ever made is never held at once (`state --links all` at 10^7 events held 700,000)."""
    active = sorted(
        (k for by_user in world.links_to.values() for k in by_user.values() if user is None or k.user == user),
        key=made,
    )
    taken, after = 0, 0
    while True:
        ended = world.past.ended_links_page(after, size, user)
        full = len(ended) == size
        upto = bisect.bisect_right(active, ended[-1].made, lo=taken, key=made) if full else len(active)
        yield sorted([*ended, *active[taken:upto]], key=made)
        if not full:
            return
        taken, after = upto, ended[-1].made


def latest_link(world: World, user: str, item: str) -> Link | None:
    """The item's active link, or else the one that ended last."""
    owner = world.users.get(user)
    active = owner.links_by_item.get(item) if owner else None
    return active or world.past.last_link(user, item)


def active_link(world: World, user: str, record: str) -> Link | None:
    return world.links_to.get(record, {}).get(user)


def _unlinked(world: World, user: User, record_id: str) -> bool:
    record = world.records.get(record_id)
    return (
        record is not None
        and record.type != "email"
        and (record_id in user.owned or record_id in user.shared)
        and user.name not in world.links_to.get(record_id, ())
    )


def unlinked_of(world: World, user: User) -> set[str]:
    """The user's records with no active link of theirs (`User.unlinked`), computed by a walk of every record
    they own or have shared with them the first time it is asked, then kept by the fold."""
    if user.unlinked is None:
        user.unlinked = {r for r in (*user.owned, *user.shared) if _unlinked(world, user, r)}
    return user.unlinked


def note_unlinked(world: World, user: User, record_id: str) -> None:
    """After a change to the user's records or links that concerns `record_id`: keep `User.unlinked` true of it."""
    if user.unlinked is None:
        return
    if _unlinked(world, user, record_id):
        user.unlinked.add(record_id)
    else:
        user.unlinked.discard(record_id)


def in_filter(record: Record | None, user: User) -> bool:
    """Whether the record is in the user's sync filter ("My Contacts", "My Tasks", "My Appointments")."""
    if record is None or record.type == "email":
        return False
    if record.type == "contact" and record.state != "active":
        return False
    if record.owner == user.name:
        return True
    return user.sync_filter == "owned_and_shared" and user.name in record.shared_with


def filter_users(world: World, record: Record) -> list[str]:
    """Every user who has the record in their filter."""
    names = [record.owner, *record.shared_with]
    return [n for n in dict.fromkeys(names) if n in world.users and in_filter(record, world.users[n])]


def skips_deleted(user: User, record: Record) -> bool:
    """FILTER-SKIP-DELETED: the user removed their copy and the record has not changed in CRM since. (Equal
    positions: a server-side push of the user's own edit, which does not lift their removal; `ChangeRecord`.)"""
    removed = record.removed_by.get(user.name)
    return removed is not None and removed >= record.changed


def shows_completed(record: Record) -> bool:
    """Outlook shows a task-like activity as completed exactly when CRM says completed or canceled."""
    return record.type in TASK_LIKE and record.state in ("completed", "canceled")


def fresh_id(natural: str, used: Callable[[str], bool]) -> str:
    """The natural id, or the first free `<id>#2`, `<id>#3`… if it was ever used in that store."""
    if not used(natural):
        return natural
    n = 2
    while used(f"{natural}#{n}"):
        n += 1
    return f"{natural}#{n}"


def queued_track(user: User, item: str) -> bool:
    """Whether a track or Set Regarding of the item waits offline (so it counts as being tracked)."""
    return any(
        p.item == item
        and (
            p.operation == "offline:outlook.track"
            or (p.operation == "offline:outlook.set_regarding" and p.record is None)
        )
        for p in user.pending
    )
