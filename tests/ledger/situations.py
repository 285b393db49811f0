"""The situations the rule tests start from, shared by tests/ledger/test_rules.py (which rule decides, and what it
changes) and tests/ledger/test_facts.py (what the rule read): each test changes one with `dataclasses.replace`."""

from __future__ import annotations

from datetime import UTC, datetime

from syncledger.ledger.rules import OutlookRemoval, QueuedCrmChange

SYNC = datetime(2026, 3, 2, 11, 15, tzinfo=UTC)  # the time of the sync that decides

# bob's contact c1, deleted in CRM; alice's copy was in her filter, from a sync (CONTACT-DEL-CRM-NONOWNER)
DELETED_CONTACT = QueuedCrmChange(
    family="contact",
    record_exists=False,
    owned_at_deletion=False,
    started_after_sync=False,
    copy_completed=False,
    in_filter_now=False,
    in_filter_before=True,
    origin="synced",
    user="alice",
    item="c1",
    record="c1",
    owner="bob",
    fields={"name": "Ann"},
    sync_at=SYNC,
)

# alice deleted her copy of her own active appointment a1, which starts after the sync (APPT-DEL-OUTLOOK-OWNER)
DELETED_APPOINTMENT = OutlookRemoval(
    untrack=False,
    family="appointment",
    record_exists=True,
    user_owns=True,
    record_state="active",
    starts_after_sync=True,
    designated=False,
    user="alice",
    item="a1",
    record="a1",
    owner="alice",
    start=datetime(2026, 3, 5, 10, tzinfo=UTC),
    sync_at=SYNC,
)
