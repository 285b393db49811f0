"""`why` names the facts the server-side rows read (RULES-SSS.md), one family of SSS rows per test, through the
real `syncledger` command on the ledgers of the rule scenarios in tests/scenarios: the recorded facts (JSON) as
the scenario sets them up, and the words the story tells them in."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

Run = Callable[..., subprocess.CompletedProcess[str]]
SCENARIOS = Path(__file__).parent.parent / "scenarios"


def _ledger(run_cli: Run, tmp_path: Path, name: str) -> Path:
    db = tmp_path / f"{name}.db"
    result = run_cli("run", SCENARIOS / f"{name}.yaml", "--db", db)
    assert result.returncode == 0, result.stdout + result.stderr
    return db


def _decision(run_cli: Run, db: Path, ref: str, rule: str) -> tuple[dict[str, Any], str]:
    """The story's (last) decision by `rule` about `ref`, and the story's text."""
    found = run_cli("why", ref, "--json", "--db", db)
    text = run_cli("why", ref, "--db", db)
    assert found.returncode == 0 and text.returncode == 0, found.stderr + text.stderr
    steps = [s for s in json.loads(found.stdout)["chain"] if s["rule"] == rule]
    assert steps, (ref, rule)
    assert f"It read: {steps[-1]['read']}." in text.stdout
    return steps[-1], text.stdout


def test_mailbox_edits_name_the_merged_fields_the_state_at_the_cycle_and_a_deleted_record(
    run_cli: Run, tmp_path: Path
) -> None:
    db = _ledger(run_cli, tmp_path, "sss-rule-sss-exchange-edit-push")
    push, text = _decision(run_cli, db, "outlook:alice/t1", "SSS-EXCHANGE-EDIT-PUSH")
    assert push["facts"] == {
        "record_exists": True,
        "family": "task",
        "record_state": "active",
        "edited_fields": "subject",
        "completes": True,
    }
    assert "alice's mailbox edits since the last cycle, merged: field (subject) and a completion" in text
    assert "CRM task t1 was active at the cycle" in text
    closed, text = _decision(
        run_cli,
        _ledger(run_cli, tmp_path, "sss-rule-sss-exchange-edit-closed"),
        "outlook:alice/a1",
        "SSS-EXCHANGE-EDIT-CLOSED",
    )
    assert closed["facts"] == {"record_exists": True, "family": "appointment", "record_state": "completed"}
    assert "It read: CRM appointment a1 was completed at the cycle." in text
    orphan, text = _decision(
        run_cli,
        _ledger(run_cli, tmp_path, "sss-rule-sss-exchange-edit-orphan"),
        "outlook:alice/c1",
        "SSS-EXCHANGE-EDIT-ORPHAN",
    )
    assert orphan["facts"] == {"record_exists": False, "family": "contact"}
    assert "had been deleted" in orphan["read"]


def test_a_mailbox_contact_deletion_names_the_owner_at_the_cycle(run_cli: Run, tmp_path: Path) -> None:
    keep, text = _decision(
        run_cli,
        _ledger(run_cli, tmp_path, "sss-rule-sss-contact-del-exchange-keep"),
        "outlook:alice/c1",
        "SSS-CONTACT-DEL-EXCHANGE-KEEP",
    )
    assert keep["facts"]["owner"] == "bob" and keep["facts"]["user_owns"] is False
    assert "It read: bob, not alice, owned CRM contact c1 at the cycle." in text
    owner, text = _decision(
        run_cli,
        _ledger(run_cli, tmp_path, "sss-rule-sss-contact-del-exchange-owner"),
        "crm:c1",
        "SSS-CONTACT-DEL-EXCHANGE-OWNER",
    )
    assert owner["facts"]["owner"] == "alice" and owner["facts"]["user_owns"] is True
    assert "It read: alice owned CRM contact c1 at the cycle." in text


def test_a_mailbox_task_deletion_names_the_state_and_owner_it_did_not_heed(run_cli: Run, tmp_path: Path) -> None:
    db = _ledger(run_cli, tmp_path, "sss-rule-sss-task-del-exchange")
    task, text = _decision(run_cli, db, "crm:t1", "SSS-TASK-DEL-EXCHANGE")
    assert task["facts"]["record_state"] == "completed" and task["facts"]["owner"] == "alice"
    assert "It read: alice owned CRM task t1 at the cycle; CRM task t1 was completed at the cycle." in text
    call, text = _decision(run_cli, db, "crm:p1", "SSS-TASK-DEL-EXCHANGE")
    assert call["facts"]["record_state"] == "active" and call["facts"]["owner"] == "bob"
    assert "bob, not alice, owned CRM phone call p1 at the cycle" in text


def test_a_crm_appointment_deletion_names_the_organizer_and_the_start_against_the_cycle(
    run_cli: Run, tmp_path: Path
) -> None:
    db = _ledger(run_cli, tmp_path, "sss-rule-sss-appt-del-crm-keep")
    attendee, text = _decision(run_cli, db, "outlook:alice/a1", "SSS-APPT-DEL-CRM-KEEP")
    assert attendee["facts"] == {
        "record_exists": False,
        "family": "appointment",
        "owner_at_deletion": "bob",
        "owned_at_deletion": False,
        "start_at_deletion": "2026-03-09T10:00:00Z",
        "sync_at": "2026-03-02T10:30:00Z",
        "starts_after_sync": True,
    }
    assert "It read: bob, not alice, owned CRM appointment a1 when it was deleted;" in text
    assert "the cycle ran 2 March 2026 at 10:30, before that start" in text
    assert "kept and unlinked because CRM appointment a1 was deleted and bob, not alice, organized it" in text
    past, text = _decision(run_cli, db, "outlook:bob/a2", "SSS-APPT-DEL-CRM-KEEP")
    assert past["facts"]["owned_at_deletion"] is True and past["facts"]["starts_after_sync"] is False
    assert "bob owned CRM appointment a2 when it was deleted" in text
    assert "the cycle ran 2 March 2026 at 10:31, not before that start" in text
    assert "deleted and it does not start after the cycle (its start: 2026-03-02T10:00:00Z)" in text
    organizer, text = _decision(run_cli, db, "outlook:bob/a1", "SSS-APPT-DEL-CRM-ORGANIZER")
    assert organizer["facts"]["owner_at_deletion"] == "bob" and organizer["facts"]["starts_after_sync"] is True
    assert "It read: bob owned CRM appointment a1 when it was deleted;" in text


def test_a_record_leaving_the_filter_names_distinct_logical_deletes_and_the_membership(
    run_cli: Run, tmp_path: Path
) -> None:
    unlink, text = _decision(
        run_cli,
        _ledger(run_cli, tmp_path, "sss-rule-sss-filter-leave-unlink"),
        "outlook:alice/c1",
        "SSS-FILTER-LEAVE-UNLINK",
    )
    facts = unlink["facts"]
    assert facts["distinct_logical_deletes"] is True and (facts["in_filter_before"], facts["in_filter_now"]) == (
        True,
        False,
    )
    assert facts["shared_with_user"] is False and facts["owner"] == "bob"
    assert "It read: CRM contact c1 was in alice's sync filter before and was not at this cycle" in text
    assert "the organisation option distinct_logical_deletes was on" in text
    assert "not shared with alice" in text
    db = _ledger(run_cli, tmp_path, "sss-rule-sss-filter-leave")
    leave, text = _decision(run_cli, db, "outlook:alice/o1", "SSS-FILTER-LEAVE")
    assert leave["facts"]["distinct_logical_deletes"] is False and leave["facts"]["origin"] == "tracked"
    assert "alice's copy came from alice tracking it; the organisation option distinct_logical_deletes was off" in text
