"""The baseline through the real command line: an action line from a baseline file, what `why`, `history` (text,
JSON, HTML) and `rules` say of it (SOURCES.md "The baseline")."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from syncledger.ledger.rules import rule_set

Run = Callable[..., subprocess.CompletedProcess[str]]
REPO = Path(__file__).resolve().parents[2]
CONTOSO = REPO / "tests" / "fixtures" / "contoso" / "baseline.json"  # the spec's sample, as the repository keeps it
SAID = "observed in the baseline of 2026-03-01, from baseline.json"


@pytest.fixture
def db(run_cli: Run, tmp_path: Path) -> Path:
    document = json.loads(CONTOSO.read_text())
    users = [{"id": f"people:{u}", "at": document["at"], "do": "user.add", "user": u} for u in ("alice", "bob")]
    source = {"system": "baseline", "file": "baseline.json"}
    lines = [*users, {"do": "baseline", "document": document, "source": source}]
    path = tmp_path / "actions.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    ledger = tmp_path / "l.db"
    result = run_cli("import", path, "--db", ledger)
    assert result.returncode == 0, result.stderr
    return ledger


def test_why_says_what_the_baseline_set_and_which_file_it_came_from(run_cli: Run, db: Path) -> None:
    text = run_cli("why", "outlook:alice/RgAA", "--db", db).stdout
    assert text.startswith("outlook:alice/RgAAAAB1 (QBR Contoso)\n")
    record = "7d1e2f3a-5b6c-4d7e-8f90-a1b2c3d4e5f6"
    assert f"linked to CRM appointment {record} since 00:00 ({SAID}; BASELINE)." in text
    assert (
        f"CRM appointment 7d1e2f3a-5b6c-4d7e-8f90-a1b2c3d4e5f6 was {SAID} (owned by alice, active), linked to "
        "alice's appointment RgAAAAB1 (synced) (BASELINE; source: what the organisation reported, not a decision)"
    ) in text
    found = json.loads(run_cli("why", "crm:9a8b", "--json", "--db", db).stdout)
    assert found["rule"] == "BASELINE" and found["label"] == "Send proposal"
    assert [step["event"] for step in found["chain"]] == ["baseline", "decision"]
    assert all(SAID in step["sentence"] for step in found["chain"])


def test_history_in_text_json_and_html_says_where_it_came_from(run_cli: Run, db: Path, tmp_path: Path) -> None:
    page = tmp_path / "h.html"
    text = run_cli("history", "crm:0b7c", "--html", page, "--db", db).stdout
    assert f"3 records, 3 Outlook items and 3 links were {SAID}" in text
    assert "crm:0b7c4f9e-8a31-4d2b-9a57-1c2d3e4f5a61 created" in text and "BASELINE" in text
    document = json.loads(run_cli("history", "crm:0b7c", "--json", "--db", db).stdout)
    events = [e for group in document["groups"] for e in group["events"]]
    assert [e["event"] for e in events] == ["baseline", "decision"]
    assert SAID in events[0]["summary"] and events[1]["rule"] == "BASELINE"
    assert events[1]["source"] == "what the organisation reported: not a decision"
    assert SAID in page.read_text()


def test_the_rule_table_lists_baseline_as_observed(run_cli: Run) -> None:
    rules = json.loads(run_cli("rules", "--json").stdout)
    baseline = next(r for r in rules if r["id"] == "BASELINE")
    assert (baseline["timing"], baseline["confidence"], baseline["sources"]) == ("observed", "observed", [])
    assert "BASELINE  observed, observed (what the organisation reported)" in run_cli("rules").stdout


def test_a_baselined_ledger_verifies_and_exports_to_the_same_state(run_cli: Run, db: Path, tmp_path: Path) -> None:
    assert run_cli("verify", "--db", db).returncode == 0
    exported = tmp_path / "out.jsonl"
    exported.write_text(run_cli("export", "--db", db).stdout)
    copy = tmp_path / "copy.db"
    assert run_cli("import", exported, "--db", copy).returncode == 0
    state = [json.loads(run_cli("state", "--json", "--db", d).stdout) for d in (db, copy)]
    assert state[0] == state[1] and len(state[0]["links"]) == 3


@pytest.mark.parametrize("method", ["outlook_client", "server_side"])
def test_each_method_s_rule_table_lists_baseline_too(run_cli: Run, method: str) -> None:
    """A baseline is recorded whatever method its users have: one method's table lists every rule that can
    appear in the ledger of users of that method, BASELINE (observed) included, as text and as JSON."""
    rows = json.loads(run_cli("rules", "--method", method, "--json").stdout)
    ids = [r["id"] for r in rows]
    assert ids == [*rule_set(method).rules, "BASELINE"]
    baseline = rows[-1]
    assert (baseline["timing"], baseline["confidence"], baseline["sources"]) == ("observed", "observed", [])
    text = run_cli("rules", "--method", method).stdout
    assert "BASELINE  observed, observed (what the organisation reported)" in text
    assert "methods none: observed the same under every method" in text
