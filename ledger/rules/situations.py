"""The questions the engine puts to a rule table: each a situation made of plain values, gathered from the state
at the time the rule is applied. A rule decides from these alone, so each rule can be tested without a store.

Ids the engine has to pick (a new record's, a new copy's) come in the situation too: picking one needs every id
ever used, which is the state's business, not the rule's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..values import FieldValue
from ..vocabulary import TASK_LIKE

Values = dict[str, FieldValue]


# ----------------------------------------------------------------------------------------- immediate


@dataclass(frozen=True, slots=True)
class Tracking:
    """A user tracks an Outlook item (or sets Regarding on an untracked e-mail): its CRM record is to be made."""

    user: str
    item: str
    record: str  # the id the CRM record gets
    type: str  # the item's Outlook type
    completed: bool
    fields: Values = field(default_factory=dict)
    start: datetime | None = None
    in_filter: bool = False  # whether the new record is in the user's filter


@dataclass(frozen=True, slots=True)
class OutlookEdit:
    """A user saves an edit to a linked Outlook item: new fields or start, a completion, or a Regarding."""

    kind: str  # "update", "complete" or "set_regarding"
    user: str
    item: str
    record: str  # the linked CRM record
    record_exists: bool
    fields: Values = field(default_factory=dict)
    start: datetime | None = None
    regarding: str | None = None


@dataclass(frozen=True, slots=True)
class Untracking:
    """A user untracks a linked item."""

    user: str
    item: str
    record: str
    delete_in_crm: bool | None  # as the untrack gave it, if it did
    is_email: bool
    email_option: bool  # the user's option delete_untracked_email_in_crm at the untrack


@dataclass(frozen=True, slots=True)
class OfflineOperation:
    """An immediate operation (a track, a Set Regarding, an edit of a linked item) by an offline user."""

    user: str
    item: str


@dataclass(frozen=True, slots=True)
class OfflineReplay:
    """A queued offline operation, about to be replayed as the user goes online: can it still be applied?"""

    user: str
    item: str
    kind: str  # "track", "set_regarding", "update" or "complete"
    item_exists: bool
    queued_record: str | None  # the record the operation was queued on (for a track: the id asked for)
    linked_record: str | None  # the record the item is linked to now
    queued_record_exists: bool
    queued_record_used: bool  # the id was ever used in CRM (a track asking for an id)
    regarding: str | None = None
    regarding_exists: bool = True


@dataclass(frozen=True, slots=True)
class GoingOnline:
    """An offline user goes online."""

    user: str


# ----------------------------------------------------------------------------------------- a sync


@dataclass(frozen=True, slots=True)
class OutlookRemoval:
    """The user's own Outlook deletion or untrack, seen at the user's sync (step 1)."""

    untrack: bool
    family: str  # contact, appointment, task (every task-like type) or email
    record_exists: bool
    user_owns: bool  # at sync time
    record_state: str  # at sync time, or at deletion if gone
    starts_after_sync: bool
    designated: bool
    user: str = ""
    item: str = ""
    record: str = ""
    # what a decision records as its facts (the booleans above are read from these)
    owner: str = ""  # at sync time, or at deletion if gone
    start: datetime | None = None  # the record's start, likewise
    sync_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class QueuedCrmChange:
    """Queued CRM changes of one record with an active link, seen at the user's sync (step 2)."""

    family: str
    record_exists: bool
    owned_at_deletion: bool
    started_after_sync: bool  # the start the record had at its deletion, compared with the sync time
    copy_completed: bool
    in_filter_now: bool
    in_filter_before: bool
    origin: str
    user: str = ""
    item: str = ""
    record: str = ""
    distinct_logical_deletes: bool = False  # the organisation option at the sync (server_side only)
    # the record's current values, which a pulled copy takes (when it exists)
    fields: Values = field(default_factory=dict)
    start: datetime | None = None
    completed: bool = False
    # what a decision records as its facts (the booleans above are read from these)
    owner: str = ""  # now, or at deletion if gone
    state: str = ""  # likewise
    sync_at: datetime | None = None
    sync_filter: str = ""  # the user's option at the sync
    shared_with_user: bool = False  # now, or at deletion if gone


@dataclass(frozen=True, slots=True)
class FilterEntry:
    """A CRM record in the user's filter with no active link to it, seen at the user's sync (step 3)."""

    user: str
    record: str
    item: str | None  # the id a copy gets; None when skipped (picking one looks through every id ever used)
    type: str  # the copy's Outlook type
    skipped: bool  # the user removed their copy and the record has not changed in CRM since
    # the values a copy takes (left out when skipped)
    fields: Values = field(default_factory=dict)
    start: datetime | None = None
    completed: bool = False
    # what a decision records as its facts (left out when skipped)
    owner: str = ""
    sync_filter: str = ""
    shared_with_user: bool = False


def family(crm_type: str) -> str:
    """The rules speak of contacts, appointments, tasks (every task-like activity) and e-mails."""
    return "task" if crm_type in TASK_LIKE else crm_type


# ----------------------------------------------------------------------------------------- server-side sync


@dataclass(frozen=True, slots=True)
class MailboxEdit:
    """A server_side user's queued edits and completions of one linked mailbox item, seen at the user's cycle
    (step 1): the union of the edited fields with their last values, the last start, and whether any completed."""

    user: str
    item: str
    record: str
    record_exists: bool
    family: str
    record_state: str  # at the cycle (or at the deletion, if gone)
    fields: Values = field(default_factory=dict)
    start: datetime | None = None
    completes: bool = False
    keeps_skip: bool = False  # the user removed their copy and the record had not changed since: the push keeps that
    audit_only: bool = False  # every edit is known only by which properties changed (SOURCES.md): no CRM change
