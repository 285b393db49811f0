"""`why` names the facts the server-side rows read (RULES-SSS.md), one decision per case, through the real
`syncledger` command on the ledgers of the rule scenarios in tests/scenarios: the recorded facts (JSON) as the
scenario sets them up, and the words the story tells them in."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]
SCENARIOS = Path(__file__).parent.parent / "scenarios"


@dataclass(frozen=True)
class Case:
    """The (last) decision by `rule` in the story of `ref`, on the ledger of `scenario` (tests/scenarios/NAME.yaml):
    its facts (`facts` are some of them, or with `exact` all of them) and what the story says (`said`)."""

    scenario: str
    ref: str
    rule: str
    facts: dict[str, Any]
    said: tuple[str, ...] = ()
    exact: bool = False
    read: tuple[str, ...] = ()  # said in the decision's own "It read" sentence


CASES = {
    "edit-push": Case(
        "sss-rule-sss-exchange-edit-push",
        "outlook:alice/t1",
        "SSS-EXCHANGE-EDIT-PUSH",
        {
            "record_exists": True,
            "family": "task",
            "record_state": "active",
            "edited_fields": "subject",
            "completes": True,
        },
        (
            "alice's mailbox edits since the last cycle, merged: field (subject) and a completion",
            "CRM task t1 was active at the cycle",
        ),
        exact=True,
    ),
    "edit-closed": Case(
        "sss-rule-sss-exchange-edit-closed",
        "outlook:alice/a1",
        "SSS-EXCHANGE-EDIT-CLOSED",
        {"record_exists": True, "family": "appointment", "record_state": "completed"},
        ("It read: CRM appointment a1 was completed at the cycle.",),
        exact=True,
    ),
    "edit-orphan": Case(
        "sss-rule-sss-exchange-edit-orphan",
        "outlook:alice/c1",
        "SSS-EXCHANGE-EDIT-ORPHAN",
        {"record_exists": False, "family": "contact"},
        exact=True,
        read=("had been deleted",),
    ),
    "contact-keep": Case(
        "sss-rule-sss-contact-del-exchange-keep",
        "outlook:alice/c1",
        "SSS-CONTACT-DEL-EXCHANGE-KEEP",
        {"owner": "bob", "user_owns": False},
        ("It read: bob, not alice, owned CRM contact c1 at the cycle.",),
    ),
    "contact-owner": Case(
        "sss-rule-sss-contact-del-exchange-owner",
        "crm:c1",
        "SSS-CONTACT-DEL-EXCHANGE-OWNER",
        {"owner": "alice", "user_owns": True},
        ("It read: alice owned CRM contact c1 at the cycle.",),
    ),
    "task": Case(
        "sss-rule-sss-task-del-exchange",
        "crm:t1",
        "SSS-TASK-DEL-EXCHANGE",
        {"record_state": "completed", "owner": "alice"},
        ("It read: alice owned CRM task t1 at the cycle; CRM task t1 was completed at the cycle.",),
    ),
    "phone-call": Case(
        "sss-rule-sss-task-del-exchange",
        "crm:p1",
        "SSS-TASK-DEL-EXCHANGE",
        {"record_state": "active", "owner": "bob"},
        ("bob, not alice, owned CRM phone call p1 at the cycle",),
    ),
    "appointment-attendee": Case(
        "sss-rule-sss-appt-del-crm-keep",
        "outlook:alice/a1",
        "SSS-APPT-DEL-CRM-KEEP",
        {
            "record_exists": False,
            "family": "appointment",
            "owner_at_deletion": "bob",
            "owned_at_deletion": False,
            "start_at_deletion": "2026-03-09T10:00:00Z",
            "sync_at": "2026-03-02T10:30:00Z",
            "starts_after_sync": True,
        },
        (
            "It read: bob, not alice, owned CRM appointment a1 when it was deleted;",
            "the cycle ran 2 March 2026 at 10:30, before that start",
            "kept and unlinked because CRM appointment a1 was deleted and bob, not alice, organized it",
        ),
        exact=True,
    ),
    "appointment-past": Case(
        "sss-rule-sss-appt-del-crm-keep",
        "outlook:bob/a2",
        "SSS-APPT-DEL-CRM-KEEP",
        {"owned_at_deletion": True, "starts_after_sync": False},
        (
            "bob owned CRM appointment a2 when it was deleted",
            "the cycle ran 2 March 2026 at 10:31, not before that start",
            "deleted and it does not start after the cycle (its start: 2026-03-02T10:00:00Z)",
        ),
    ),
    "appointment-organizer": Case(
        "sss-rule-sss-appt-del-crm-keep",
        "outlook:bob/a1",
        "SSS-APPT-DEL-CRM-ORGANIZER",
        {"owner_at_deletion": "bob", "starts_after_sync": True},
        ("It read: bob owned CRM appointment a1 when it was deleted;",),
    ),
    "filter-leave-unlink": Case(
        "sss-rule-sss-filter-leave-unlink",
        "outlook:alice/c1",
        "SSS-FILTER-LEAVE-UNLINK",
        {
            "distinct_logical_deletes": True,
            "in_filter_before": True,
            "in_filter_now": False,
            "shared_with_user": False,
            "owner": "bob",
        },
        (
            "It read: CRM contact c1 was in alice's sync filter before and was not at this cycle",
            "the organisation option distinct_logical_deletes was on",
            "not shared with alice",
        ),
    ),
    "filter-leave": Case(
        "sss-rule-sss-filter-leave",
        "outlook:alice/o1",
        "SSS-FILTER-LEAVE",
        {"distinct_logical_deletes": False, "origin": "tracked"},
        ("alice's copy came from alice tracking it; the organisation option distinct_logical_deletes was off",),
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_why_names_what_the_server_side_row_read(case: Case, run_cli: Run, tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    ran = run_cli("run", SCENARIOS / f"{case.scenario}.yaml", "--db", db)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    found = run_cli("why", case.ref, "--json", "--db", db)
    text = run_cli("why", case.ref, "--db", db)
    assert found.returncode == 0 and text.returncode == 0, found.stderr + text.stderr
    steps = [s for s in json.loads(found.stdout)["chain"] if s["rule"] == case.rule]
    assert steps, (case.ref, case.rule)
    step = steps[-1]
    assert f"It read: {step['read']}." in text.stdout  # the JSON's sentence is the text's
    facts = step["facts"]
    assert (facts if case.exact else {k: facts.get(k) for k in case.facts}) == case.facts
    for words in case.said:
        assert words in text.stdout, words
    for words in case.read:
        assert words in step["read"], words
