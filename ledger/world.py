"""The state the ledger decides from: the CRM store, every user's Outlook store, the links and the queues.

Plain mutable dataclasses, evolved in place by `ledger.evolve` (a fold over millions of events cannot afford a
copy per event). Everything here is derived from events alone; the queries at the bottom are pure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from .vocabulary import TASK_LIKE, FieldValue, OfflineAction, Queued


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
    changed: int = 0  # position of its latest CRM change (FILTER-SKIP-DELETED compares with it)


@dataclass(slots=True)
class Item:
    id: str
    type: str
    fields: dict[str, FieldValue] = field(default_factory=dict)
    start: datetime | None = None
    completed: bool = False


@dataclass(slots=True)
class Link:
    user: str
    item: str
    record: str
    origin: str
    state: str  # "linked" or "unlinked"
    rule: str
    position: int
    in_filter: bool  # was the record in the user's filter at the last sync (or when linked)


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
    used_item_ids: set[str] = field(default_factory=set)
    links_by_item: dict[str, Link] = field(default_factory=dict)  # active links only
    pending: list[Pending] = field(default_factory=list)
    removed: dict[str, int] = field(default_factory=dict)  # record -> position of the user's delete/untrack
    owned: dict[str, None] = field(default_factory=dict)  # records the user owns (an ordered set)
    shared: dict[str, None] = field(default_factory=dict)  # records shared with the user


@dataclass(slots=True)
class World:
    position: int = 0
    at: datetime | None = None
    users: dict[str, User] = field(default_factory=dict)
    records: dict[str, Record] = field(default_factory=dict)
    deleted: dict[str, Record] = field(default_factory=dict)  # each deleted record as it was at its deletion
    links: list[Link] = field(default_factory=list)  # every link ever made, in order
    links_to: dict[str, dict[str, Link]] = field(default_factory=dict)  # record -> user -> active link
    # action id -> position: what the write side needs to refuse a reused id; not part of the state itself
    action_ids: dict[str, int] = field(default_factory=dict, compare=False, repr=False)


# ----------------------------------------------------------------------------------------- pure queries


def record_id_used(world: World, record_id: str) -> bool:
    """Ids are never reused in CRM: every id ever used belongs to a live record or to a deleted one."""
    return record_id in world.records or record_id in world.deleted


def active_link(world: World, user: str, record: str) -> Link | None:
    return world.links_to.get(record, {}).get(user)


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
    """FILTER-SKIP-DELETED: the user removed their copy and the record has not changed in CRM since."""
    removed = user.removed.get(record.id)
    return removed is not None and removed > record.changed


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
