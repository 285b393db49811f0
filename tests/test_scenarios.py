"""Every scenario file, run through the real `syncledger run` (one parametrised test), and the rule coverage."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from syncledger.ledger.rules import RULES
from tests.shared import SHARED, digest, shared_scenarios

HERE = Path(__file__).resolve().parent
OWN = sorted((HERE / "scenarios").glob("*.yaml"))
SHARED_DIR = SHARED / "scenarios"
SHARED_FILES = sorted(SHARED_DIR.glob("*.yaml"))
DEMO = HERE.parent / "tools" / "scenarios" / "demo.yaml"

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.mark.parametrize("path", [*OWN, *SHARED_FILES, DEMO], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_scenario_passes_through_the_real_command(path: Path, run_cli: Run) -> None:
    result = run_cli("run", path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok "), result.stdout


def test_every_rule_has_a_scenario_of_its_own() -> None:
    names = {p.name for p in OWN}

    def own_file(rule: str) -> str:  # a server-side rule's scenarios are named sss-*, like the others of SSS
        return f"{'sss-' if rule.startswith('SSS-') else ''}rule-{rule.lower()}.yaml"

    missing = [rule for rule in RULES if own_file(rule) not in names]
    assert not missing, f"rules without a scenario file: {missing}"


def test_the_shared_examples_are_kept_among_the_projects_scenarios() -> None:
    kept = shared_scenarios()  # the examples of ../shared/scenarios, by name and SHA-256
    assert len(kept) >= 6
    for name, sha in kept.items():
        assert digest(HERE / "scenarios" / name) == sha, f"tests/scenarios/{name} is not the shared example"
    if SHARED_DIR.is_dir():  # beside the shared folder (not in CI's clone): the list is the shared examples now
        assert {p.name: digest(p) for p in SHARED_FILES} == kept, "copy ../shared/scenarios again (and the list)"


def test_a_failed_check_exits_1_after_the_whole_scenario_ran_and_says_what_was_found(
    tmp_path: Path, run_cli: Run
) -> None:
    scenario = tmp_path / "wrong.yaml"
    scenario.write_text(
        "title: wrong on purpose\nusers: {alice: {}, bob: {}}\nsteps:\n"
        "  - {do: crm.create, actor: alice, record: c1, type: contact}\n"
        "  - expect: {crm: {c1: {owner: bob}}}\n"
        "  - {do: crm.delete, actor: alice, record: c1}\n"
        "expect: {crm: {c1: absent}, pending: {alice: 5}}\n"
    )
    result = run_cli("run", scenario)
    assert result.returncode == 1
    assert "step 2: crm.c1.owner: expected 'bob', found 'alice'" in result.stdout
    assert "expect: pending.alice: expected 5, found 1" in result.stdout  # the crm.create, queued for alice
    assert "crm.c1:" not in result.stdout.split("step 2")[1].split("\n", 1)[1]  # the final absent check held


def test_a_listed_null_is_checked_and_fails_where_the_property_has_a_value(tmp_path: Path, run_cli: Run) -> None:
    """`regarding: null` and `start: null` are checks like any other (SCENARIOS.md: listed properties are
    checked): they once passed whatever the state held."""
    scenario = tmp_path / "nulls.yaml"
    scenario.write_text(
        "title: nulls that do not hold\nstart: 2026-03-02T09:00:00Z\nusers: {alice: {}}\nsteps:\n"
        "  - {do: crm.create, actor: alice, record: a1, type: appointment, start: 2026-03-09T09:00:00Z}\n"
        "  - {do: outlook.create, user: alice, item: m1, type: email, fields: {subject: Quote}}\n"
        "  - {do: outlook.set_regarding, user: alice, item: m1, regarding: a1}\n"
        "  - {do: sync, user: alice}\n"
        "expect: {crm: {a1: {start: null}, m1: {regarding: null}}, outlook: {alice: {a1: {start: null}}}}\n"
    )
    result = run_cli("run", scenario)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "crm.a1.start: expected None, found 2026-03-09T09:00:00Z" in result.stdout
    assert "crm.m1.regarding: expected None, found 'a1'" in result.stdout
    assert "outlook.alice.a1.start: expected None, found 2026-03-09T09:00:00Z" in result.stdout


def test_several_files_give_the_worst_status(tmp_path: Path, run_cli: Run) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [{do: sync, user: ghost}]\n")
    result = run_cli("run", SHARED_FILES[0] if SHARED_FILES else OWN[0], bad)
    assert result.returncode == 2
    assert result.stdout.startswith("ok ")
    assert result.stderr.count("\n") == 1 and "step 1: unknown user 'ghost'" in result.stderr


def test_json_prints_one_state_document_per_file(run_cli: Run) -> None:
    result = run_cli("run", "--json", OWN[0], OWN[1])
    assert result.returncode == 0, result.stderr
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    keys = {"position", "at", "users", "org", "crm", "outlook", "links", "pending"}
    assert len(docs) == 2 and all(set(d) == keys for d in docs)


def test_a_file_appended_to_a_ledger_checks_decisions_stored_before_it_and_its_own(
    tmp_path: Path, run_cli: Run
) -> None:
    db = tmp_path / "l.db"
    assert run_cli("run", HERE / "scenarios" / "share-then-delete.yaml", "--db", db).returncode == 0
    later = tmp_path / "later.yaml"
    later.write_text(
        "title: later\nstart: 2026-03-03T09:00:00Z\nusers: {carol: {}}\nsteps:\n"
        "  - {do: outlook.create, user: carol, item: m9, type: email}\n"
        "  - {do: outlook.track, user: carol, item: m9}\n"
        "expect:\n  why: {outlook:alice/c1: CONTACT-DEL-CRM-NONOWNER, crm:m9: TRACK-EMAIL, crm:nothing: null}\n"
    )
    result = run_cli("run", later, "--db", db)
    assert result.returncode == 0, result.stdout + result.stderr
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        "title: wrong\nstart: 2026-03-04T09:00:00Z\nusers: {dave: {}}\n"
        "expect: {why: {outlook:alice/c1: FILTER-CREATE}}\n"
    )
    failed = run_cli("run", wrong, "--db", db)
    assert failed.returncode == 1 and "found 'CONTACT-DEL-CRM-NONOWNER'" in failed.stdout
