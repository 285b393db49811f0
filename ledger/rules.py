"""The rule table: every synchronisation rule as data (ID, timing, condition, effect, confidence, source), and
the small pure functions that pick the rule for a queued operation at sync time.

`syncledger rules` prints this table; it is the project's documentation of behaviour. IDs never change
meaning: a rule found wrong is retired and replaced by a new ID.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from .sources import SOURCES
from .vocabulary import TASK_LIKE


class Outcome(Enum):
    """What a queued rule does to the two stores and the link."""

    DELETE_RECORD = "the CRM record is deleted and the link ends"
    END_LINK = "the CRM record is kept and the link ends"
    KEEP = "nothing changes (the link had already ended)"
    DELETE_RECORD_IF_OWNED_AND_DESIGNATED = "the CRM record is deleted if the user owns it and designated it"
    DELETE_RECORD_IF_EXISTS = "the CRM record is deleted if it still exists"
    DELETE_ITEM = "the Outlook item is deleted and the link ends"
    UNLINK_ITEM = "the Outlook item is kept and the link ends"
    PULL = "the Outlook item takes the CRM record's current values"
    CREATE_ITEM = "an Outlook copy is created and linked"
    NOTHING = "nothing is done"
    IMMEDIATE = "applied when the action is appended"


@dataclass(frozen=True, slots=True)
class Removal:
    """The user's own Outlook deletion or untrack, seen at the user's sync (step 1)."""

    untrack: bool
    family: str  # contact, appointment, task (every task-like type) or email
    record_exists: bool
    user_owns: bool  # at sync time
    record_state: str  # at sync time, or at deletion if gone
    starts_after_sync: bool
    designated: bool


@dataclass(frozen=True, slots=True)
class Change:
    """Queued CRM changes of one record with an active link, seen at the user's sync (step 2)."""

    family: str
    record_exists: bool
    owned_at_deletion: bool
    started_after_sync: bool  # the start the record had at its deletion, compared with the sync time
    copy_completed: bool
    in_filter_now: bool
    in_filter_before: bool
    origin: str


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    timing: str  # "immediate" or "queued"
    when: str
    then: str
    confidence: str  # stated, stated (3rd party), inferred, decision
    sources: tuple[str, ...]
    about: str  # what `why` finds the decision under: "both", "item", "user" or "none"
    applies: Callable[[Removal], bool] | Callable[[Change], bool] | None = None
    outcome: Outcome = Outcome.IMMEDIATE

    @property
    def sentence(self) -> str:
        return f"When {self.when}: {self.then}."

    @property
    def source_text(self) -> str:
        return "; ".join(SOURCES[s].title for s in self.sources) or "this project's own decision"


def _r(
    id: str,
    timing: str,
    when: str,
    then: str,
    confidence: str,
    sources: str,
    about: str = "both",
    applies: Callable[..., bool] | None = None,
    outcome: Outcome = Outcome.IMMEDIATE,
) -> Rule:
    return Rule(id, timing, when, then, confidence, tuple(sources.split()), about, applies, outcome)


IMMEDIATE_RULES = (
    _r(
        "TRACK-EMAIL",
        "immediate",
        "a user tracks an Outlook e-mail",
        "a CRM e-mail activity is created (owner: the user; fields copied) and linked, origin tracked",
        "stated",
        "H4",
    ),
    _r(
        "TRACK-ITEM",
        "immediate",
        "a user tracks an Outlook contact, appointment or task",
        "the CRM record is created (owner: the user; fields and start copied; state completed if the task is "
        "completed) and linked, origin tracked",
        "stated",
        "H4",
    ),
    _r(
        "SET-REGARDING",
        "immediate",
        "a user sets Regarding on an Outlook e-mail to an existing CRM record",
        "the e-mail is tracked first if it is not (as TRACK-EMAIL), and the CRM e-mail's regarding is set",
        "stated",
        "H4",
    ),
    _r(
        "OUTLOOK-EDIT-PUSH",
        "immediate",
        "a user saves an edit to a linked Outlook item (fields, start, or completing a task)",
        "the CRM record takes the edited fields only (and state completed)",
        "stated",
        "H4",
    ),
    _r(
        "EDIT-ORPHAN",
        "immediate",
        "a user (online) edits, completes or sets Regarding on a linked Outlook item whose CRM record no longer exists",
        "the edit stays in Outlook; no CRM effect; the queued deletion decides at the next sync",
        "decision",
        "",
        about="item",
    ),
    _r(
        "UNTRACK-LINK",
        "immediate",
        "a user untracks a linked item (online or offline)",
        "the link ends at once; the user's designation is delete_in_crm if given, else for e-mails the option "
        "delete_untracked_email_in_crm at that moment, else false; the CRM side is decided at the next sync",
        "stated",
        "seed DEL",
    ),
    _r(
        "OFFLINE-QUEUE",
        "immediate",
        "an immediate operation by an offline user",
        "it is queued, and replayed in order when the user goes online",
        "stated",
        "OFF",
        about="item",
    ),
    _r(
        "OFFLINE-CONFLICT",
        "immediate",
        "a queued offline operation can no longer be applied when the user goes online (the item is gone; the "
        "link it was queued on has ended or points to another record; the record is gone; the Regarding record "
        "is gone; the record id asked for was used meanwhile)",
        "it is dropped, and the decision records why; going online is never refused",
        "decision",
        "",
        about="item",
    ),
    _r(
        "GO-ONLINE-SYNC",
        "immediate",
        "an offline user goes online",
        "the queued offline operations are replayed in order (an edit pushes only its own fields), then a sync runs",
        "stated",
        "OFF H4",
        about="user",
    ),
)

# Step 2: CRM changes reaching Outlook. The first row whose condition holds decides.
CRM_CHANGE_RULES = (
    _r(
        "CONTACT-DEL-CRM-NONOWNER",
        "queued",
        "a linked CRM contact was deleted and the user was not its owner at the deletion",
        "the Outlook contact is deleted",
        "stated",
        "seed DEL",
        applies=lambda c: not c.record_exists and c.family == "contact" and not c.owned_at_deletion,
        outcome=Outcome.DELETE_ITEM,
    ),
    _r(
        "CONTACT-DEL-CRM-OWNER",
        "queued",
        "a linked CRM contact was deleted and the user was its owner at the deletion",
        "the Outlook contact is kept and unlinked",
        "stated",
        "seed DEL",
        applies=lambda c: not c.record_exists and c.family == "contact",
        outcome=Outcome.UNLINK_ITEM,
    ),
    _r(
        "APPT-DEL-CRM-FUTURE",
        "queued",
        "a linked CRM appointment was deleted and its CRM start (at the deletion) is after the sync time",
        "the Outlook appointment is deleted",
        "stated",
        "seed DEL",
        applies=lambda c: not c.record_exists and c.family == "appointment" and c.started_after_sync,
        outcome=Outcome.DELETE_ITEM,
    ),
    _r(
        "APPT-DEL-CRM-PAST",
        "queued",
        "a linked CRM appointment was deleted and its CRM start is not after the sync time (or it has none)",
        "the Outlook appointment is kept and unlinked",
        "stated",
        "seed DEL",
        applies=lambda c: not c.record_exists and c.family == "appointment",
        outcome=Outcome.UNLINK_ITEM,
    ),
    _r(
        "TASK-DEL-CRM-OPEN",
        "queued",
        "a linked CRM task (or phone call, letter, fax) was deleted and the Outlook copy is not completed at sync time",
        "the Outlook task is deleted",
        "stated",
        "seed B11",
        applies=lambda c: not c.record_exists and c.family == "task" and not c.copy_completed,
        outcome=Outcome.DELETE_ITEM,
    ),
    _r(
        "TASK-DEL-CRM-DONE",
        "queued",
        "a linked CRM task (or phone call, letter, fax) was deleted and the Outlook copy is completed at sync time",
        "the Outlook task is kept and unlinked",
        "stated",
        "seed B11",
        applies=lambda c: not c.record_exists and c.family == "task",
        outcome=Outcome.UNLINK_ITEM,
    ),
    _r(
        "EMAIL-DEL-CRM",
        "queued",
        "a linked CRM e-mail was deleted",
        "the Outlook e-mail is kept and unlinked",
        "stated",
        "seed DEL",
        applies=lambda c: not c.record_exists and c.family == "email",
        outcome=Outcome.UNLINK_ITEM,
    ),
    _r(
        "FILTER-LEAVE-SYNCED",
        "queued",
        "a record with an active link was in the user's filter before and is not now (assigned to another user, "
        "unshared, deactivated, the filter narrowed), and the copy's origin is synced",
        "the Outlook copy is deleted",
        "stated (3rd party)",
        "3P SSS",
        applies=lambda c: not c.in_filter_now and c.origin == "synced",
        outcome=Outcome.DELETE_ITEM,
    ),
    _r(
        "FILTER-LEAVE-TRACKED",
        "queued",
        "a record with an active link was in the user's filter before and is not now, and the copy's origin is tracked",
        "the copy stays linked and takes the record's current values",
        "stated (3rd party)",
        "3P",
        applies=lambda c: not c.in_filter_now and c.in_filter_before,
        outcome=Outcome.PULL,
    ),
    _r(
        "CRM-EDIT-PULL",
        "queued",
        "a record with an active link changed in CRM, and it is in the user's filter or the copy's origin is "
        "tracked (and FILTER-LEAVE-TRACKED does not apply)",
        "the Outlook copy takes the record's current values (fields, start, completion)",
        "stated",
        "H4",
        applies=lambda c: True,
        outcome=Outcome.PULL,
    ),
)

# Step 3: reconciliation of the user's filter.
FILTER_RULES = (
    _r(
        "FILTER-CREATE",
        "queued",
        "a CRM record is in the user's filter and the user has no active link to it",
        "an Outlook copy is created (contact, appointment, or task for task-like types; fields, start, "
        "completion copied), linked, origin synced",
        "stated",
        "H4",
        outcome=Outcome.CREATE_ITEM,
    ),
    _r(
        "FILTER-SKIP-DELETED",
        "queued",
        "a CRM record is in the user's filter without an active link, but the user deleted or untracked their "
        "copy in Outlook and the record has not changed in CRM since",
        "no copy is created, and no decision is recorded; the first CRM change after it lets FILTER-CREATE "
        "bring the record back as a new item",
        "decision",
        "3P",
        about="none",
        outcome=Outcome.NOTHING,
    ),
)

# Step 1: the user's own Outlook deletions and untracks reaching CRM.
OUTLOOK_REMOVAL_RULES = (
    _r(
        "DELETED-BOTH-SIDES",
        "queued",
        "a user deleted a linked Outlook item and its CRM record was deleted too before the sync",
        "the link ends; nothing else to do (the queued CRM deletion is dropped)",
        "decision",
        "",
        applies=lambda r: not r.untrack and not r.record_exists,
        outcome=Outcome.END_LINK,
    ),
    _r(
        "EMAIL-DEL-OUTLOOK",
        "queued",
        "a user deleted a linked Outlook e-mail",
        "the CRM e-mail is kept; the link ends",
        "stated",
        "seed DEL",
        applies=lambda r: not r.untrack and r.family == "email",
        outcome=Outcome.END_LINK,
    ),
    _r(
        "CONTACT-DEL-OUTLOOK",
        "queued",
        "a user deleted a linked Outlook contact",
        "the CRM contact is kept; the link ends",
        "stated",
        "DEL B11",
        applies=lambda r: not r.untrack and r.family == "contact",
        outcome=Outcome.END_LINK,
    ),
    _r(
        "APPT-DEL-OUTLOOK-OWNER",
        "queued",
        "a user deleted a linked Outlook appointment that the user owns in CRM, which is active and starts "
        "after the sync time",
        "the CRM appointment is deleted",
        "stated (3rd party)",
        "B11 SSS",
        applies=lambda r: (
            not r.untrack
            and r.family == "appointment"
            and r.user_owns
            and r.record_state == "active"
            and r.starts_after_sync
        ),
        outcome=Outcome.DELETE_RECORD,
    ),
    _r(
        "APPT-DEL-OUTLOOK-KEEP",
        "queued",
        "a user deleted a linked Outlook appointment that the user does not own in CRM, or that is completed, "
        "canceled or does not start after the sync time",
        "the CRM appointment is kept; the link ends",
        "stated (3rd party)",
        "B11 SSS",
        applies=lambda r: not r.untrack and r.family == "appointment",
        outcome=Outcome.END_LINK,
    ),
    _r(
        "TASK-DEL-OUTLOOK-OPEN",
        "queued",
        "a user deleted a linked Outlook task whose CRM record is active",
        "the CRM record is deleted",
        "stated (3rd party)",
        "B11 SSS",
        applies=lambda r: not r.untrack and r.family == "task" and r.record_state == "active",
        outcome=Outcome.DELETE_RECORD,
    ),
    _r(
        "TASK-DEL-OUTLOOK-DONE",
        "queued",
        "a user deleted a linked Outlook task whose CRM record is completed or canceled",
        "the CRM record is kept; the link ends",
        "stated (3rd party)",
        "B11",
        applies=lambda r: not r.untrack and r.family == "task",
        outcome=Outcome.END_LINK,
    ),
    _r(
        "EMAIL-UNTRACK-DELETE",
        "queued",
        "a user untracked an e-mail and designated deletion",
        "the CRM e-mail is deleted (if it still exists)",
        "stated",
        "seed DEL",
        applies=lambda r: r.untrack and r.family == "email" and r.designated,
        outcome=Outcome.DELETE_RECORD_IF_EXISTS,
    ),
    _r(
        "EMAIL-UNTRACK-KEEP",
        "queued",
        "a user untracked an e-mail and did not designate deletion",
        "the CRM e-mail is kept",
        "stated",
        "seed DEL",
        applies=lambda r: r.untrack and r.family == "email",
        outcome=Outcome.KEEP,
    ),
    _r(
        "UNTRACK-ITEM",
        "queued",
        "a user untracked a contact, appointment or task",
        "the CRM record is deleted only if the user owns it and designated deletion; otherwise kept",
        "stated",
        "DEL",
        applies=lambda r: r.untrack,
        outcome=Outcome.DELETE_RECORD_IF_OWNED_AND_DESIGNATED,
    ),
)

RULES: dict[str, Rule] = {r.id: r for r in (*IMMEDIATE_RULES, *FILTER_RULES, *CRM_CHANGE_RULES, *OUTLOOK_REMOVAL_RULES)}


def family(crm_type: str) -> str:
    """The rules speak of contacts, appointments, tasks (every task-like activity) and e-mails."""
    return "task" if crm_type in TASK_LIKE else crm_type


def decide_removal(removal: Removal) -> Rule:
    """Step 1: the rule for one of the user's own Outlook deletions or untracks."""
    return _first(OUTLOOK_REMOVAL_RULES, removal)


def decide_change(change: Change) -> Rule:
    """Step 2: the rule for the queued CRM changes of one record the user has an active link to."""
    return _first(CRM_CHANGE_RULES, change)


def _first(rows: tuple[Rule, ...], situation: Removal | Change) -> Rule:
    for row in rows:
        assert row.applies is not None
        if row.applies(situation):  # type: ignore[arg-type]
            return row
    raise LookupError(f"no rule applies to {situation}")  # the last row of each table always applies
