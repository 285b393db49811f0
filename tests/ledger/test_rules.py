"""The rule table as data, and the pure functions that pick a rule at sync time."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from syncledger.ledger import rules
from syncledger.ledger.rules import RULES, Change, Outcome, Removal

SPEC = Path(__file__).resolve().parents[3] / "shared" / "spec" / "RULES.md"


def test_every_rule_of_the_spec_is_in_the_table_with_its_timing() -> None:
    if not SPEC.exists():
        pytest.skip(f"the spec is not beside the project ({SPEC})")
    text = SPEC.read_text()
    spec_ids = set(re.findall(r"^\| ([A-Z][A-Z-]+[A-Z]) \|", text, flags=re.M)) - {"ID"}
    assert spec_ids <= set(RULES), f"missing from the rule table: {sorted(spec_ids - set(RULES))}"
    assert len(spec_ids) == 31


def test_every_rule_has_a_condition_an_effect_a_confidence_and_a_source_or_is_a_decision() -> None:
    for rule in RULES.values():
        assert rule.when and rule.then
        assert rule.confidence in ("stated", "stated (3rd party)", "inferred", "decision")
        assert rule.sources or rule.confidence == "decision", rule.id
        assert all(s in rules.SOURCES for s in rule.sources)
        assert rule.timing in ("immediate", "queued")


DELETED_CONTACT = Change(
    family="contact",
    record_exists=False,
    owned_at_deletion=False,
    started_after_sync=False,
    copy_completed=False,
    in_filter_now=False,
    in_filter_before=True,
    origin="synced",
)
LIVE = replace(DELETED_CONTACT, record_exists=True, in_filter_now=True)


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (DELETED_CONTACT, "CONTACT-DEL-CRM-NONOWNER"),
        (replace(DELETED_CONTACT, owned_at_deletion=True), "CONTACT-DEL-CRM-OWNER"),
        (replace(DELETED_CONTACT, family="appointment", started_after_sync=True), "APPT-DEL-CRM-FUTURE"),
        (replace(DELETED_CONTACT, family="appointment"), "APPT-DEL-CRM-PAST"),
        (replace(DELETED_CONTACT, family="task"), "TASK-DEL-CRM-OPEN"),
        (replace(DELETED_CONTACT, family="task", copy_completed=True), "TASK-DEL-CRM-DONE"),
        (replace(DELETED_CONTACT, family="email", owned_at_deletion=True), "EMAIL-DEL-CRM"),
        (LIVE, "CRM-EDIT-PULL"),
        (replace(LIVE, in_filter_now=False), "FILTER-LEAVE-SYNCED"),
        (replace(LIVE, in_filter_now=False, origin="tracked"), "FILTER-LEAVE-TRACKED"),
        (replace(LIVE, in_filter_now=False, in_filter_before=False, origin="tracked"), "CRM-EDIT-PULL"),
    ],
)
def test_a_crm_change_is_decided_by_the_first_rule_that_applies(change: Change, rule: str) -> None:
    assert rules.decide_change(change).id == rule


DELETION = Removal(
    untrack=False,
    family="appointment",
    record_exists=True,
    user_owns=True,
    record_state="active",
    starts_after_sync=True,
    designated=False,
)


@pytest.mark.parametrize(
    ("removal", "rule"),
    [
        (DELETION, "APPT-DEL-OUTLOOK-OWNER"),
        (replace(DELETION, user_owns=False), "APPT-DEL-OUTLOOK-KEEP"),
        (replace(DELETION, starts_after_sync=False), "APPT-DEL-OUTLOOK-KEEP"),
        (replace(DELETION, record_state="completed"), "APPT-DEL-OUTLOOK-KEEP"),
        (replace(DELETION, record_exists=False), "DELETED-BOTH-SIDES"),
        (replace(DELETION, family="task"), "TASK-DEL-OUTLOOK-OPEN"),
        (replace(DELETION, family="task", record_state="canceled"), "TASK-DEL-OUTLOOK-DONE"),
        (replace(DELETION, family="contact"), "CONTACT-DEL-OUTLOOK"),
        (replace(DELETION, family="email"), "EMAIL-DEL-OUTLOOK"),
        (replace(DELETION, untrack=True, family="email"), "EMAIL-UNTRACK-KEEP"),
        (replace(DELETION, untrack=True, family="email", designated=True), "EMAIL-UNTRACK-DELETE"),
        (replace(DELETION, untrack=True, record_exists=False, family="email", designated=True), "EMAIL-UNTRACK-DELETE"),
        (replace(DELETION, untrack=True, family="contact", designated=True), "UNTRACK-ITEM"),
    ],
)
def test_an_outlook_removal_is_decided_by_the_first_rule_that_applies(removal: Removal, rule: str) -> None:
    assert rules.decide_removal(removal).id == rule


def test_untrack_item_deletes_only_what_the_user_owns_and_designated() -> None:
    assert RULES["UNTRACK-ITEM"].outcome is Outcome.DELETE_RECORD_IF_OWNED_AND_DESIGNATED


@pytest.mark.parametrize("crm_type", ["task", "phonecall", "letter", "fax"])
def test_task_like_activities_follow_the_task_rules(crm_type: str) -> None:
    assert rules.family(crm_type) == "task"
