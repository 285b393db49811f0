"""Server-side synchronization (method `server_side`): the rows of RULES-SSS.md. A rule both methods follow is
the same row object as in `outlook_client` (same ID, same sources); the rows that differ have IDs of their own,
starting `SSS-`. Order matters as in `outlook_client`: within one kind of situation the first row that applies
decides.
"""

from __future__ import annotations

from ..effects import ChangeRecord, Effect
from ..vocabulary import Facts
from . import outlook_client as oc
from .situations import MailboxEdit, OutlookRemoval, QueuedCrmChange
from .table import Rule, RuleSet, iso, row

METHOD = "server_side"

_SHARED = oc.OUTLOOK_CLIENT.rules


def _shared(*ids: str) -> tuple[Rule, ...]:
    return tuple(_SHARED[i] for i in ids)


def _push(e: MailboxEdit) -> tuple[Effect, ...]:
    if e.audit_only:  # edits known only from an audit log carry no values: nothing to change in CRM
        return ()
    return (
        ChangeRecord(
            record=e.record,
            fields=e.fields,
            start=e.start,
            state="completed" if e.completes else None,
            keeps_skip=e.user if e.keeps_skip else None,
        ),
    )


def _closed(e: MailboxEdit) -> bool:
    return e.family == "appointment" and e.record_state in ("completed", "canceled")


# ------------------------------------------------------------------------------------------ facts
# What each SSS row read of its situation, recorded on its decision (`Decided.facts`), under the names the
# outlook_client rows use where the meaning is the same (`owner`, `record_state`, `owner_at_deletion`...).


def _mailbox_edit_facts(e: MailboxEdit) -> Facts:
    """SSS-EXCHANGE-EDIT-*: whether the record exists, its state at the cycle, and for a push the merged edits
    (the names of the edited fields, whose values the decision's change holds; the start; a completion)."""
    facts: Facts = {"record_exists": e.record_exists, "family": e.family}
    if not e.record_exists:
        return facts
    facts["record_state"] = e.record_state
    if not _closed(e):
        facts["edited_fields"] = ", ".join(sorted(e.fields))
        if e.start is not None:
            facts["edited_start"] = iso(e.start)
        facts["completes"] = e.completes
        if e.audit_only:
            facts["audit_only"] = True
    return facts


def _removal_facts(r: OutlookRemoval) -> Facts:
    """SSS-CONTACT-DEL-EXCHANGE-*, SSS-TASK-DEL-EXCHANGE: the owner at the cycle (and for a task its state,
    which server-side sync does not heed but which the Outlook client would have)."""
    facts = oc.removal_of(r)
    if r.record_exists:
        facts |= oc.ownership(r)
        if r.family == "task":
            facts["record_state"] = r.record_state
    return facts


def _appointment_deletion_facts(c: QueuedCrmChange) -> Facts:
    """SSS-APPT-DEL-CRM-*: the owner at the deletion (the organizer), and the start at the deletion against the
    cycle's time."""
    return oc.crm_deletion_facts(c, reads_owner=True)


def _filter_leave_facts(c: QueuedCrmChange) -> Facts:
    """SSS-FILTER-LEAVE(-UNLINK): what FILTER-LEAVE-* read (filter membership before and now, with what it is read
    from), and the organisation option at the cycle."""
    return oc.crm_change_facts(c) | {"distinct_logical_deletes": c.distinct_logical_deletes}


# ------------------------------------------------------------------------------------------ immediate
# Tracking, Set Regarding and untracking are immediate, as with the Outlook client; edits and completions are not
# (they queue for the cycle: SSS-EXCHANGE-EDIT-*), and there is no offline queue.

IMMEDIATE_RULES = _shared("TRACK-EMAIL", "TRACK-ITEM", "SET-REGARDING", "EDIT-ORPHAN", "UNTRACK-LINK")

# ------------------------------------------------------------------------------------------ step 1
# The user's mailbox changes reaching CRM: queued edits and completions, then deletions and untracks.

MAILBOX_EDIT_RULES = (
    row(
        "SSS-EXCHANGE-EDIT-ORPHAN",
        "queued",
        "a linked item was edited or completed in the mailbox since the last cycle, but its CRM record no longer "
        "exists",
        "nothing reaches CRM; the edit stays in the mailbox; the queued deletion decides in step 2",
        "decision",
        "",
        about="item",
        situation=MailboxEdit,
        applies=lambda e: not e.record_exists,
        reason=lambda e: f"CRM record '{e.record}' no longer exists",
        facts=_mailbox_edit_facts,
    ),
    row(
        "SSS-EXCHANGE-EDIT-CLOSED",
        "queued",
        "a linked item was edited in the mailbox since the last cycle, and its CRM record is an appointment in "
        "state completed or canceled",
        "nothing reaches CRM; the mailbox keeps its edit until a later CRM change of the record overwrites it",
        "stated",
        "SYNC",
        situation=MailboxEdit,
        applies=_closed,
        reason=lambda e: f"CRM appointment '{e.record}' is {e.record_state}",
        facts=_mailbox_edit_facts,
    ),
    row(
        "SSS-EXCHANGE-EDIT-PUSH",
        "queued",
        "a linked item was edited or completed in the mailbox since the last cycle (several edits: one decision, "
        "the union of the edited fields with their last values), and its CRM record exists and is not a "
        "completed or canceled appointment",
        "the CRM record takes the edited fields only (and state completed for a completion); a field changed on "
        "both sides between two cycles ends with the mailbox's value, because step 1 runs before step 2",
        "stated",
        "SYNC",
        situation=MailboxEdit,
        applies=lambda e: True,
        effects=_push,
        facts=_mailbox_edit_facts,
    ),
)

OUTLOOK_REMOVAL_RULES = (
    *_shared("DELETED-BOTH-SIDES", "EMAIL-DEL-OUTLOOK"),
    row(
        "SSS-CONTACT-DEL-EXCHANGE-OWNER",
        "queued",
        "a user deleted a linked contact in the mailbox and is the contact's owner at the cycle",
        "the CRM contact is deleted (whatever its state and sharing)",
        "stated",
        "SYNC",
        situation=OutlookRemoval,
        applies=lambda r: not r.untrack and r.family == "contact" and r.user_owns,
        effects=oc.delete_record_and_end_link,
        facts=_removal_facts,
    ),
    row(
        "SSS-CONTACT-DEL-EXCHANGE-KEEP",
        "queued",
        "a user deleted a linked contact in the mailbox and is not the contact's owner at the cycle",
        "the CRM contact is kept; the link ends",
        "stated",
        "SYNC",
        situation=OutlookRemoval,
        applies=lambda r: not r.untrack and r.family == "contact",
        effects=oc.end_link,
        facts=_removal_facts,
    ),
    *_shared("APPT-DEL-OUTLOOK-OWNER", "APPT-DEL-OUTLOOK-KEEP"),
    row(
        "SSS-TASK-DEL-EXCHANGE",
        "queued",
        "a user deleted a linked task (or phone call, letter, fax) in the mailbox",
        "the CRM record is deleted, whatever its state and owner",
        "stated",
        "SYNC",
        situation=OutlookRemoval,
        applies=lambda r: not r.untrack and r.family == "task",
        effects=oc.delete_record_and_end_link,
        facts=_removal_facts,
    ),
    *_shared("EMAIL-UNTRACK-DELETE", "EMAIL-UNTRACK-KEEP", "UNTRACK-ITEM"),
)

# ------------------------------------------------------------------------------------------ step 2
# CRM changes reaching the mailbox. Physical deletions first (per type), then logical deletes, then the pull.


def _left_filter(c: QueuedCrmChange) -> bool:
    return c.record_exists and not c.in_filter_now and c.in_filter_before


CRM_CHANGE_RULES = (
    *_shared("CONTACT-DEL-CRM-NONOWNER", "CONTACT-DEL-CRM-OWNER"),
    row(
        "SSS-APPT-DEL-CRM-ORGANIZER",
        "queued",
        "a linked CRM appointment was deleted, the user was its owner at the deletion (the organizer), and its "
        "start (at the deletion) is after the cycle's time",
        "the mailbox appointment is deleted",
        "stated",
        "SYNC",
        situation=QueuedCrmChange,
        applies=lambda c: (
            not c.record_exists and c.family == "appointment" and c.owned_at_deletion and c.started_after_sync
        ),
        effects=oc.delete_copy,
        facts=_appointment_deletion_facts,
    ),
    row(
        "SSS-APPT-DEL-CRM-KEEP",
        "queued",
        "a linked CRM appointment was deleted, and the user was not its owner at the deletion, or it does not "
        "start after the cycle's time (or has no start)",
        "the mailbox appointment is kept and unlinked",
        "stated",
        "SYNC",
        situation=QueuedCrmChange,
        applies=lambda c: not c.record_exists and c.family == "appointment",
        effects=oc.end_link,
        facts=_appointment_deletion_facts,
    ),
    *_shared("TASK-DEL-CRM-OPEN", "TASK-DEL-CRM-DONE", "EMAIL-DEL-CRM"),
    row(
        "SSS-FILTER-LEAVE",
        "queued",
        "a record with an active link was in the user's filter at the previous sync (or when linked) and is not "
        "now (assigned to another user, unshared, deactivated, the filter narrowed: a logical delete), and the "
        "organisation option distinct_logical_deletes is false",
        "the mailbox copy is deleted, whatever its origin (tracked or synced)",
        "stated",
        "SYNC ORG",
        situation=QueuedCrmChange,
        applies=lambda c: _left_filter(c) and not c.distinct_logical_deletes,
        effects=oc.delete_copy,
        facts=_filter_leave_facts,
    ),
    row(
        "SSS-FILTER-LEAVE-UNLINK",
        "queued",
        "the same, but distinct_logical_deletes is true",
        "the mailbox copy is kept as it is and unlinked; if the record comes back into the filter, FILTER-CREATE "
        "makes a new copy (<id>#2) beside the kept one",
        "stated",
        "ORG",
        situation=QueuedCrmChange,
        applies=_left_filter,
        effects=oc.end_link,
        facts=_filter_leave_facts,
    ),
    _SHARED["CRM-EDIT-PULL"],
)

# ------------------------------------------------------------------------------------------ step 3

FILTER_RULES = _shared("FILTER-CREATE", "FILTER-SKIP-DELETED")

SERVER_SIDE = RuleSet(
    METHOD, (*IMMEDIATE_RULES, *FILTER_RULES, *MAILBOX_EDIT_RULES, *CRM_CHANGE_RULES, *OUTLOOK_REMOVAL_RULES)
)
