"""The Dynamics CRM client for Outlook (method `outlook_client`): the rows of RULES.md, each with the situation
it answers, when it applies, and what it changes.

Within one kind of situation the first row that applies decides, so a row may count on the rows above it
having not applied; rows that `syncledger rules` prints in another order than they are tried exclude each
other instead.
"""

from __future__ import annotations

from ..effects import (
    ChangeRecord,
    ClearPending,
    CreateItem,
    CreateRecord,
    DeleteItem,
    DeleteRecord,
    Effect,
    LinkItem,
    NoteFilter,
    ReplaceItem,
    UnlinkItem,
)
from ..vocabulary import Facts
from .situations import (
    FilterEntry,
    GoingOnline,
    OfflineOperation,
    OfflineReplay,
    OutlookEdit,
    OutlookRemoval,
    QueuedCrmChange,
    Tracking,
    Untracking,
)
from .table import RuleSet, iso, row

METHOD = "outlook_client"


# ------------------------------------------------------------------------------------------ effects
# What the rows change, as small functions of their situation.


def _track(t: Tracking) -> tuple[Effect, ...]:
    state = "completed" if t.completed else "active"
    return (
        CreateRecord(record=t.record, type=t.type, owner=t.user, state=state, fields=t.fields, start=t.start),
        LinkItem(user=t.user, item=t.item, record=t.record, origin="tracked", in_filter=t.in_filter),
    )


def _push(e: OutlookEdit) -> tuple[Effect, ...]:
    if e.kind == "complete":
        return (ChangeRecord(record=e.record, state="completed"),)
    return (ChangeRecord(record=e.record, fields=e.fields, start=e.start),)


def _offline_conflict(r: OfflineReplay) -> str | None:
    """Why a queued offline operation can no longer be applied, or None if it can."""
    if not r.item_exists:
        return f"item '{r.item}' was deleted before {r.user} went online"
    if r.queued_record is not None and r.kind != "track":
        if r.linked_record is None:
            return f"the link of '{r.item}' to '{r.queued_record}' ended before {r.user} went online"
        if r.linked_record != r.queued_record:
            return f"'{r.item}' is now linked to '{r.linked_record}', not '{r.queued_record}'"
        if not r.queued_record_exists:
            return f"CRM record '{r.queued_record}' was deleted before {r.user} went online"
    if r.kind == "set_regarding" and not r.regarding_exists:
        return f"the Regarding record '{r.regarding}' was deleted before {r.user} went online"
    if r.kind == "track":
        if r.linked_record is not None:
            return f"item '{r.item}' is already linked to '{r.linked_record}'"
        if r.queued_record is not None and r.queued_record_used:
            return f"record id '{r.queued_record}' was used in CRM meanwhile"
    return None


def designation(u: Untracking) -> bool:
    """UNTRACK-LINK: whether the untrack designates the CRM record for deletion, fixed at the untrack."""
    if u.delete_in_crm is not None:
        return u.delete_in_crm
    return u.is_email and u.email_option


# The effects below are server_side's too (its own rows delete, unlink and end links the same way).


def unlink(s: OutlookRemoval | QueuedCrmChange) -> UnlinkItem:
    return UnlinkItem(user=s.user, item=s.item, record=s.record)


def end_link(s: OutlookRemoval | QueuedCrmChange) -> tuple[Effect, ...]:
    """The link ends; the CRM record and the Outlook copy are both kept."""
    return (unlink(s),)


def delete_record_and_end_link(r: OutlookRemoval) -> tuple[Effect, ...]:
    return (DeleteRecord(record=r.record), unlink(r)) if r.record_exists else (unlink(r),)


def _delete_record_if_exists(r: OutlookRemoval) -> tuple[Effect, ...]:
    return (DeleteRecord(record=r.record),) if r.record_exists else ()


def _delete_record_if_owned_and_designated(r: OutlookRemoval) -> tuple[Effect, ...]:
    return _delete_record_if_exists(r) if r.user_owns and r.designated else ()


def delete_copy(c: QueuedCrmChange) -> tuple[Effect, ...]:
    return (DeleteItem(user=c.user, item=c.item), unlink(c))


def _pull(c: QueuedCrmChange) -> tuple[Effect, ...]:
    return (
        ReplaceItem(user=c.user, item=c.item, fields=c.fields, start=c.start, completed=c.completed),
        NoteFilter(user=c.user, item=c.item, in_filter=c.in_filter_now),
    )


def _create_copy(f: FilterEntry) -> tuple[Effect, ...]:
    assert f.item is not None, "a copy to create has its id"
    return (
        CreateItem(user=f.user, item=f.item, type=f.type, fields=f.fields, start=f.start, completed=f.completed),
        LinkItem(user=f.user, item=f.item, record=f.record, origin="synced", in_filter=True),
    )


# ------------------------------------------------------------------------------------------ facts
# What each row read of its situation, recorded on its decision (`Decided.facts`): `why` tells them as they were
# at the decision, whatever changed since. Times are ISO 8601 text; names are as declared.


def _tracking_facts(t: Tracking) -> Facts:
    return {"type": t.type, "completed": t.completed, "in_filter": t.in_filter}


def _edit_facts(e: OutlookEdit) -> Facts:
    return {"record_exists": e.record_exists}


def _untracking_facts(u: Untracking) -> Facts:
    facts: Facts = {"delete_in_crm": u.delete_in_crm, "is_email": u.is_email}
    if u.is_email and u.delete_in_crm is None:
        facts["delete_untracked_email_in_crm"] = u.email_option  # the option, as it was at the untrack
    facts["designated"] = designation(u)
    return facts


def _replay_facts(r: OfflineReplay) -> Facts:
    facts: Facts = {"operation": r.kind, "item_exists": r.item_exists, "queued_record": r.queued_record}
    facts["linked_record"] = r.linked_record
    if r.queued_record is not None and r.kind != "track":
        facts["queued_record_exists"] = r.queued_record_exists
    if r.kind == "track":
        facts["queued_record_used"] = r.queued_record_used
    if r.kind == "set_regarding":
        facts["regarding"] = r.regarding
        facts["regarding_exists"] = r.regarding_exists
    return facts


def crm_deletion_facts(c: QueuedCrmChange, *, reads_owner: bool = False) -> Facts:
    """What a CRM deletion's row read: for a contact (and with `reads_owner`, which server_side's appointment rows
    give, for any record) the owner at the deletion; for an appointment its start at the deletion against the
    sync's time; for a task whether the Outlook copy was completed."""
    facts: Facts = {"record_exists": c.record_exists, "family": c.family}
    if c.family == "contact" or reads_owner:
        facts["owner_at_deletion"] = c.owner
        facts["owned_at_deletion"] = c.owned_at_deletion
    if c.family == "appointment":
        facts["start_at_deletion"] = iso(c.start)
        facts["sync_at"] = iso(c.sync_at)
        facts["starts_after_sync"] = c.started_after_sync
    elif c.family == "task":
        facts["copy_completed"] = c.copy_completed
    return facts


def crm_change_facts(c: QueuedCrmChange) -> Facts:
    return {
        "origin": c.origin,
        "in_filter_before": c.in_filter_before,
        "in_filter_now": c.in_filter_now,
        "owner": c.owner,
        "state": c.state,
        "shared_with_user": c.shared_with_user,
        "sync_filter": c.sync_filter,
    }


def _filter_entry_facts(f: FilterEntry) -> Facts:
    return {"owner": f.owner, "shared_with_user": f.shared_with_user, "sync_filter": f.sync_filter}


def removal_of(r: OutlookRemoval) -> Facts:
    """What every removal's row read first: an untrack or a deletion, of what, and whether the record exists."""
    return {"untrack": r.untrack, "family": r.family, "record_exists": r.record_exists}


def ownership(r: OutlookRemoval) -> Facts:
    return {"owner": r.owner, "user_owns": r.user_owns}


def _removal_facts(r: OutlookRemoval) -> Facts:
    facts = removal_of(r)
    if r.untrack:
        facts["designated"] = r.designated
        if r.family != "email":
            facts |= ownership(r)
    elif r.record_exists and r.family == "appointment":
        facts |= ownership(r)
        facts["record_state"] = r.record_state
        facts["start"] = iso(r.start)
        facts["sync_at"] = iso(r.sync_at)
        facts["starts_after_sync"] = r.starts_after_sync
    elif r.record_exists and r.family == "task":
        facts["record_state"] = r.record_state
    return facts


# ------------------------------------------------------------------------------------------ immediate

IMMEDIATE_RULES = (
    row(
        "TRACK-EMAIL",
        "immediate",
        "a user tracks an Outlook e-mail",
        "a CRM e-mail activity is created (owner: the user; fields copied) and linked, origin tracked",
        "stated",
        "H4",
        situation=Tracking,
        applies=lambda t: t.type == "email",
        effects=_track,
        facts=_tracking_facts,
    ),
    row(
        "TRACK-ITEM",
        "immediate",
        "a user tracks an Outlook contact, appointment or task",
        "the CRM record is created (owner: the user; fields and start copied; state completed if the task is "
        "completed) and linked, origin tracked",
        "stated",
        "H4",
        situation=Tracking,
        applies=lambda t: True,
        effects=_track,
        facts=_tracking_facts,
    ),
    row(
        "SET-REGARDING",
        "immediate",
        "a user sets Regarding on an Outlook e-mail to an existing CRM record",
        "the e-mail is tracked first if it is not (as TRACK-EMAIL), and the CRM e-mail's regarding is set",
        "stated",
        "H4",
        situation=OutlookEdit,
        applies=lambda e: e.record_exists and e.kind == "set_regarding",
        effects=lambda e: (ChangeRecord(record=e.record, regarding=e.regarding),),
        facts=_edit_facts,
    ),
    row(
        "OUTLOOK-EDIT-PUSH",
        "immediate",
        "a user saves an edit to a linked Outlook item (fields, start, or completing a task)",
        "the CRM record takes the edited fields only (and state completed)",
        "stated",
        "H4",
        situation=OutlookEdit,
        applies=lambda e: e.record_exists and e.kind in ("update", "complete"),
        effects=_push,
        facts=_edit_facts,
    ),
    row(
        "EDIT-ORPHAN",
        "immediate",
        "a user (online) edits, completes or sets Regarding on a linked Outlook item whose CRM record no longer exists",
        "the edit stays in Outlook; no CRM effect; the queued deletion decides at the next sync",
        "decision",
        "",
        about="item",
        situation=OutlookEdit,
        applies=lambda e: not e.record_exists,
        reason=lambda e: f"CRM record '{e.record}' no longer exists",
        facts=_edit_facts,
    ),
    row(
        "UNTRACK-LINK",
        "immediate",
        "a user untracks a linked item (online or offline)",
        "the link ends at once; the user's designation is delete_in_crm if given, else for e-mails the option "
        "delete_untracked_email_in_crm at that moment, else false; the CRM side is decided at the next sync",
        "stated",
        "seed DEL",
        situation=Untracking,
        applies=lambda u: True,
        effects=lambda u: (UnlinkItem(user=u.user, item=u.item, record=u.record),),
        facts=_untracking_facts,
    ),
    row(
        "OFFLINE-QUEUE",
        "immediate",
        "an immediate operation by an offline user",
        "it is queued, and replayed in order when the user goes online",
        "stated",
        "OFF",
        about="item",
        situation=OfflineOperation,
        applies=lambda o: True,
    ),
    row(
        "OFFLINE-CONFLICT",
        "immediate",
        "a queued offline operation can no longer be applied when the user goes online (the item is gone; the "
        "link it was queued on has ended or points to another record; the record is gone; the Regarding record "
        "is gone; the record id asked for was used meanwhile)",
        "it is dropped, and the decision records why; going online is never refused",
        "decision",
        "",
        about="item",
        situation=OfflineReplay,
        applies=lambda r: _offline_conflict(r) is not None,
        reason=_offline_conflict,
        facts=_replay_facts,
    ),
    row(
        "GO-ONLINE-SYNC",
        "immediate",
        "an offline user goes online",
        "the queued offline operations are replayed in order (an edit pushes only its own fields), then a sync runs",
        "stated",
        "OFF H4",
        about="user",
        situation=GoingOnline,
        applies=lambda g: True,
        effects=lambda g: (ClearPending(user=g.user),),
    ),
)

# ------------------------------------------------------------------------------------------ step 2
# CRM changes reaching Outlook. The first row whose condition holds decides.

CRM_CHANGE_RULES = (
    row(
        "CONTACT-DEL-CRM-NONOWNER",
        "queued",
        "a linked CRM contact was deleted and the user was not its owner at the deletion",
        "the Outlook contact is deleted",
        "stated",
        "seed DEL",
        situation=QueuedCrmChange,
        applies=lambda c: not c.record_exists and c.family == "contact" and not c.owned_at_deletion,
        effects=delete_copy,
        facts=crm_deletion_facts,
    ),
    row(
        "CONTACT-DEL-CRM-OWNER",
        "queued",
        "a linked CRM contact was deleted and the user was its owner at the deletion",
        "the Outlook contact is kept and unlinked",
        "stated",
        "seed DEL",
        situation=QueuedCrmChange,
        applies=lambda c: not c.record_exists and c.family == "contact",
        effects=end_link,
        facts=crm_deletion_facts,
    ),
    row(
        "APPT-DEL-CRM-FUTURE",
        "queued",
        "a linked CRM appointment was deleted and its CRM start (at the deletion) is after the sync time",
        "the Outlook appointment is deleted",
        "stated",
        "seed DEL",
        situation=QueuedCrmChange,
        applies=lambda c: not c.record_exists and c.family == "appointment" and c.started_after_sync,
        effects=delete_copy,
        facts=crm_deletion_facts,
    ),
    row(
        "APPT-DEL-CRM-PAST",
        "queued",
        "a linked CRM appointment was deleted and its CRM start is not after the sync time (or it has none)",
        "the Outlook appointment is kept and unlinked",
        "stated",
        "seed DEL",
        situation=QueuedCrmChange,
        applies=lambda c: not c.record_exists and c.family == "appointment",
        effects=end_link,
        facts=crm_deletion_facts,
    ),
    row(
        "TASK-DEL-CRM-OPEN",
        "queued",
        "a linked CRM task (or phone call, letter, fax) was deleted and the Outlook copy is not completed at sync time",
        "the Outlook task is deleted",
        "stated",
        "seed B11",
        situation=QueuedCrmChange,
        applies=lambda c: not c.record_exists and c.family == "task" and not c.copy_completed,
        effects=delete_copy,
        facts=crm_deletion_facts,
    ),
    row(
        "TASK-DEL-CRM-DONE",
        "queued",
        "a linked CRM task (or phone call, letter, fax) was deleted and the Outlook copy is completed at sync time",
        "the Outlook task is kept and unlinked",
        "stated",
        "seed B11",
        situation=QueuedCrmChange,
        applies=lambda c: not c.record_exists and c.family == "task",
        effects=end_link,
        facts=crm_deletion_facts,
    ),
    row(
        "EMAIL-DEL-CRM",
        "queued",
        "a linked CRM e-mail was deleted",
        "the Outlook e-mail is kept and unlinked",
        "stated",
        "seed DEL",
        situation=QueuedCrmChange,
        applies=lambda c: not c.record_exists and c.family == "email",
        effects=end_link,
        facts=crm_deletion_facts,
    ),
    row(
        "FILTER-LEAVE-SYNCED",
        "queued",
        "a record with an active link was in the user's filter before and is not now (assigned to another user, "
        "unshared, deactivated, the filter narrowed), and the copy's origin is synced",
        "the Outlook copy is deleted",
        "stated (3rd party)",
        "3P SSS",
        situation=QueuedCrmChange,
        applies=lambda c: not c.in_filter_now and c.origin == "synced",
        effects=delete_copy,
        facts=crm_change_facts,
    ),
    row(
        "FILTER-LEAVE-TRACKED",
        "queued",
        "a record with an active link was in the user's filter before and is not now, and the copy's origin is tracked",
        "the copy stays linked and takes the record's current values",
        "stated (3rd party)",
        "3P",
        situation=QueuedCrmChange,
        applies=lambda c: not c.in_filter_now and c.in_filter_before,
        effects=_pull,
        facts=crm_change_facts,
    ),
    row(
        "CRM-EDIT-PULL",
        "queued",
        "a record with an active link changed in CRM, and it is in the user's filter or the copy's origin is "
        "tracked (and FILTER-LEAVE-TRACKED does not apply)",
        "the Outlook copy takes the record's current values (fields, start, completion)",
        "stated",
        "H4",
        situation=QueuedCrmChange,
        applies=lambda c: True,
        effects=_pull,
        facts=crm_change_facts,
    ),
)

# ------------------------------------------------------------------------------------------ step 3
# Reconciliation of the user's filter.

FILTER_RULES = (
    row(
        "FILTER-CREATE",
        "queued",
        "a CRM record is in the user's filter and the user has no active link to it",
        "an Outlook copy is created (contact, appointment, or task for task-like types; fields, start, "
        "completion copied), linked, origin synced",
        "stated",
        "H4",
        situation=FilterEntry,
        applies=lambda f: not f.skipped,
        effects=_create_copy,
        facts=_filter_entry_facts,
    ),
    row(
        "FILTER-SKIP-DELETED",
        "queued",
        "a CRM record is in the user's filter without an active link, but the user deleted or untracked their "
        "copy in Outlook and the record has not changed in CRM since",
        "no copy is created, and no decision is recorded; the first CRM change after it lets FILTER-CREATE "
        "bring the record back as a new item",
        "decision",
        "3P MAP",  # MAP: RULES-SSS.md's further source (the mapping remembers an item deleted in Exchange)
        about="none",
        situation=FilterEntry,
        applies=lambda f: f.skipped,
    ),
)

# ------------------------------------------------------------------------------------------ step 1
# The user's own Outlook deletions and untracks reaching CRM.

OUTLOOK_REMOVAL_RULES = (
    row(
        "DELETED-BOTH-SIDES",
        "queued",
        "a user deleted a linked Outlook item and its CRM record was deleted too before the sync",
        "the link ends; nothing else to do (the queued CRM deletion is dropped)",
        "decision",
        "",
        situation=OutlookRemoval,
        applies=lambda r: not r.untrack and not r.record_exists,
        effects=end_link,
        facts=_removal_facts,
    ),
    row(
        "EMAIL-DEL-OUTLOOK",
        "queued",
        "a user deleted a linked Outlook e-mail",
        "the CRM e-mail is kept; the link ends",
        "stated",
        "seed DEL",
        situation=OutlookRemoval,
        applies=lambda r: not r.untrack and r.family == "email",
        effects=end_link,
        facts=_removal_facts,
    ),
    row(
        "CONTACT-DEL-OUTLOOK",
        "queued",
        "a user deleted a linked Outlook contact",
        "the CRM contact is kept; the link ends",
        "stated",
        "DEL B11",
        situation=OutlookRemoval,
        applies=lambda r: not r.untrack and r.family == "contact",
        effects=end_link,
        facts=_removal_facts,
    ),
    row(
        "APPT-DEL-OUTLOOK-OWNER",
        "queued",
        "a user deleted a linked Outlook appointment that the user owns in CRM, which is active and starts "
        "after the sync time",
        "the CRM appointment is deleted",
        "stated (3rd party)",
        "B11 SSS",
        situation=OutlookRemoval,
        applies=lambda r: (
            not r.untrack
            and r.family == "appointment"
            and r.user_owns
            and r.record_state == "active"
            and r.starts_after_sync
        ),
        effects=delete_record_and_end_link,
        facts=_removal_facts,
    ),
    row(
        "APPT-DEL-OUTLOOK-KEEP",
        "queued",
        "a user deleted a linked Outlook appointment that the user does not own in CRM, or that is completed, "
        "canceled or does not start after the sync time",
        "the CRM appointment is kept; the link ends",
        "stated (3rd party)",
        "B11 SSS",
        situation=OutlookRemoval,
        applies=lambda r: not r.untrack and r.family == "appointment",
        effects=end_link,
        facts=_removal_facts,
    ),
    row(
        "TASK-DEL-OUTLOOK-OPEN",
        "queued",
        "a user deleted a linked Outlook task whose CRM record is active",
        "the CRM record is deleted",
        "stated (3rd party)",
        "B11 SSS",
        situation=OutlookRemoval,
        applies=lambda r: not r.untrack and r.family == "task" and r.record_state == "active",
        effects=delete_record_and_end_link,
        facts=_removal_facts,
    ),
    row(
        "TASK-DEL-OUTLOOK-DONE",
        "queued",
        "a user deleted a linked Outlook task whose CRM record is completed or canceled",
        "the CRM record is kept; the link ends",
        "stated (3rd party)",
        "B11",
        situation=OutlookRemoval,
        applies=lambda r: not r.untrack and r.family == "task",
        effects=end_link,
        facts=_removal_facts,
    ),
    row(
        "EMAIL-UNTRACK-DELETE",
        "queued",
        "a user untracked an e-mail and designated deletion",
        "the CRM e-mail is deleted (if it still exists)",
        "stated",
        "seed DEL",
        situation=OutlookRemoval,
        applies=lambda r: r.untrack and r.family == "email" and r.designated,
        effects=_delete_record_if_exists,
        facts=_removal_facts,
    ),
    row(
        "EMAIL-UNTRACK-KEEP",
        "queued",
        "a user untracked an e-mail and did not designate deletion",
        "the CRM e-mail is kept",
        "stated",
        "seed DEL",
        situation=OutlookRemoval,
        applies=lambda r: r.untrack and r.family == "email",
        facts=_removal_facts,
    ),
    row(
        "UNTRACK-ITEM",
        "queued",
        "a user untracked a contact, appointment or task",
        "the CRM record is deleted only if the user owns it and designated deletion; otherwise kept",
        "stated",
        "DEL",
        situation=OutlookRemoval,
        applies=lambda r: r.untrack,
        effects=_delete_record_if_owned_and_designated,
        facts=_removal_facts,
    ),
)

OUTLOOK_CLIENT = RuleSet(METHOD, (*IMMEDIATE_RULES, *FILTER_RULES, *CRM_CHANGE_RULES, *OUTLOOK_REMOVAL_RULES))
