"""`syncledger extract REF`: a scenario that reproduces REF's end and `why`; `syncledger run` of it passes, for every
record and item of the demo ledger, of random organisations, and of ledgers that start from a baseline."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from syncledger.ledger import vocabulary as v
from syncledger.projections.reader import open_reader
from syncledger.tools import scenarios
from syncledger.tools.actionlines import to_line
from tests import randomwalk
from tests.strategies import histories

Run = Callable[..., subprocess.CompletedProcess[str]]
REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "tools" / "scenarios" / "demo.yaml"
RULE_BASELINE = REPO / "tests" / "scenarios" / "rule-baseline.yaml"
# the shared fixtures beside the repository (or beside the worktrees' folder, for a worktree)
CONTOSO = REPO / "tests" / "fixtures" / "contoso"  # the spec's sample organisation, as the repository keeps it


def _refs(db: Path) -> list[str]:
    """Every record and item the ledger ever held (deleted ones too), from its item index."""
    reader = open_reader(str(db))
    try:
        return sorted(r for r in reader.index.touched if r.startswith(("crm:", "outlook:")))
    finally:
        reader.close()


def _ledger(run_cli: Run, tmp_path: Path, scenario: Path) -> Path:
    db = tmp_path / "l.db"
    result = run_cli("run", scenario, "--db", db)
    assert result.returncode == 0, result.stdout + result.stderr
    return db


def _extract_and_run(run_cli: Run, tmp_path: Path, db: Path, ref: str) -> dict[str, object]:
    extracted = run_cli("extract", ref, "--db", db)
    assert extracted.returncode == 0, extracted.stderr
    ticket = tmp_path / f"{ref.replace('/', '_').replace(':', '_')}.yaml"
    ticket.write_text(extracted.stdout)
    result = run_cli("run", ticket)
    assert result.returncode == 0, f"{ref}:\n{extracted.stdout}\n{result.stdout}{result.stderr}"
    document: dict[str, object] = yaml.safe_load(extracted.stdout)
    return document


def test_every_record_and_item_of_the_demo_extracts_to_a_scenario_that_passes(run_cli: Run, tmp_path: Path) -> None:
    db = _ledger(run_cli, tmp_path, DEMO)
    refs = _refs(db)
    assert len(refs) >= 8
    for ref in refs:
        document = _extract_and_run(run_cli, tmp_path, db, ref)
        assert ref in str(document["title"])
        assert ref in document["expect"]["why"]  # type: ignore[index]


def test_the_extract_names_the_users_with_their_options_and_every_step_has_its_time(
    run_cli: Run, tmp_path: Path
) -> None:
    db = _ledger(run_cli, tmp_path, DEMO)
    document = _extract_and_run(run_cli, tmp_path, db, "outlook:alice/c1")
    assert document["title"] == "Extract of outlook:alice/c1 (Jane Doe)"
    assert document["users"] == {"alice": {"sync_filter": "owned_and_shared"}, "bob": {}}
    steps = document["steps"]
    assert isinstance(steps, list) and all("at" in step for step in steps)
    dos = [step["do"] for step in steps]
    # bob's share and deletion, alice's offline edit and going online, and both users' syncs
    assert dos == [
        "crm.create",
        "crm.share",
        "sync",
        "sync",
        "offline",
        "outlook.update",
        "online",
        "crm.delete",
        "sync",
        "sync",
    ]
    expect = document["expect"]
    assert expect["why"] == {  # type: ignore[index]
        "outlook:alice/c1": "CONTACT-DEL-CRM-NONOWNER",
        "crm:c1": "CONTACT-DEL-CRM-OWNER",
        "outlook:bob/c1": "CONTACT-DEL-CRM-OWNER",
    }
    assert expect["outlook"]["bob"]["c1"]["fields"] == {"fullname": "Jane Doe", "phone": "555-0100"}  # type: ignore[index]
    assert "baseline" not in document


def test_a_history_that_starts_in_a_baseline_extracts_with_just_what_it_needs(run_cli: Run, tmp_path: Path) -> None:
    db = _ledger(run_cli, tmp_path, RULE_BASELINE)
    document = _extract_and_run(run_cli, tmp_path, db, "outlook:bob/AAMkAGI2TG93AAB1")
    baseline = document["baseline"]
    assert isinstance(baseline, dict)
    assert [r["id"] for r in baseline["records"]] == ["0b7c4f9e"]
    assert baseline["items"] == {
        "alice": [{"id": "AAMkAGI2TG93AAA1", "type": "contact", "fields": {"fullname": "Linda Mitchell"}}],
        "bob": [{"id": "AAMkAGI2TG93AAB1", "type": "contact", "fields": {"fullname": "Linda Mitchell"}}],
    }
    assert {(k["user"], k["origin"]) for k in baseline["links"]} == {("alice", "tracked"), ("bob", "synced")}
    assert document["expect"]["why"]["outlook:bob/AAMkAGI2TG93AAB1"] == "FILTER-LEAVE-SYNCED"  # type: ignore[index]
    for ref in _refs(db):
        _extract_and_run(run_cli, tmp_path, db, ref)


def test_extract_takes_a_prefix_and_refuses_what_is_not_an_item(run_cli: Run, tmp_path: Path) -> None:
    db = _ledger(run_cli, tmp_path, RULE_BASELINE)
    assert _extract_and_run(run_cli, tmp_path, db, "crm:9A8B")["title"] == "Extract of crm:9a8b7c6d (Send proposal)"
    for ref, fragment in (("user:alice", "is not an item"), ("crm:nope", "unknown reference"), ("crm:0b7", "4")):
        refused = run_cli("extract", ref, "--db", db)
        assert refused.returncode == 2 and fragment in refused.stderr and refused.stderr.count("\n") == 1


def _passes_for_every_ref(tmp_path: Path, history: list[v.Action], name: str) -> int:
    """Append the history to a ledger file, extract every record and item and run each extract in memory
    (the functions `syncledger extract` and `syncledger run` call)."""
    db = tmp_path / f"{name}.db"
    reader = open_reader(str(db))
    try:
        reader.ledger.append(history)
        refs = sorted(r for r in reader.index.touched if r.startswith(("crm:", "outlook:")))
        for ref in refs:
            ticket = tmp_path / f"{name}.yaml"
            text = scenarios.extract(reader, ref).yaml()
            ticket.write_text(text)
            outcome = scenarios.run(scenarios.load(str(ticket)))
            assert not outcome.failures, f"{ref}:\n{text}\n{outcome.failures}"
        return len(refs)
    finally:
        reader.close()


@pytest.mark.parametrize(("seed", "mixed"), [(1, False), (2, False), (3, True), (4, True)])
def test_every_record_and_item_of_a_random_organisation_extracts_to_a_scenario_that_passes(
    tmp_path: Path, seed: int, mixed: bool
) -> None:
    """`mixed`: users on both synchronisation methods, switching between them, and the organisation option."""
    assert _passes_for_every_ref(tmp_path, list(randomwalk.actions(seed, 250, mixed)), f"walk{seed}") > 50


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories(max_actions=60))
def test_every_record_and_item_of_any_history_extracts_to_a_scenario_that_passes(
    tmp_path: Path, history: list[v.Action]
) -> None:
    (tmp_path / "h.db").unlink(missing_ok=True)
    _passes_for_every_ref(tmp_path, history, "h")


def test_random_organisation_through_the_real_command(run_cli: Run, tmp_path: Path) -> None:
    lines = tmp_path / "walk.jsonl"
    actions = list(randomwalk.actions(7, 200))
    lines.write_text("".join(to_line(a.model_copy(update={"id": f"a{n}"})).decode() for n, a in enumerate(actions)))
    db = tmp_path / "l.db"
    assert run_cli("import", lines, "--db", db).returncode == 0
    refs = _refs(db)
    hashed = [r for r in refs if "#" in r]
    for ref in [*refs[::10], *hashed[:3]]:  # a sample, and ids chosen as `<id>#n`
        _extract_and_run(run_cli, tmp_path, db, ref)


def test_the_contoso_sample_extracts_for_every_item(run_cli: Run, tmp_path: Path) -> None:
    people = CONTOSO / "people.yaml"
    db = tmp_path / "contoso.db"
    files = [CONTOSO / "baseline.json", CONTOSO / "dataverse-audits.json", CONTOSO / "m365-audit.csv"]
    imported = run_cli("import", "--people", people, *files, "--db", db)
    assert imported.returncode == 0, imported.stderr
    refs = _refs(db)
    assert refs
    for ref in refs:
        _extract_and_run(run_cli, tmp_path, db, ref)


SCENARIO_FILES = sorted((REPO / "tests" / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.name)
def test_every_record_and_item_of_every_scenario_file_extracts_to_a_scenario_that_passes(
    tmp_path: Path, path: Path
) -> None:
    db = tmp_path / "l.db"
    scenarios.run(scenarios.load(str(path)), str(db)).close()
    reader = open_reader(str(db))
    try:
        for ref in sorted(r for r in reader.index.touched if r.startswith(("crm:", "outlook:"))):
            ticket = tmp_path / "ticket.yaml"
            text = scenarios.extract(reader, ref).yaml()
            ticket.write_text(text)
            outcome = scenarios.run(scenarios.load(str(ticket)))
            assert not outcome.failures, f"{ref}:\n{text}\n{outcome.failures}"
    finally:
        reader.close()
