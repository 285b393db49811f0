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
    assert SAID in events[1]["summary"]  # the decision names the file as `why` does, not only its cause
    assert f"CRM contact 0b7c4f9e-8a31-4d2b-9a57-1c2d3e4f5a61 was {SAID} (owned by alice, active)" in text
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


def test_do_baseline_takes_a_baseline_file(run_cli: Run, tmp_path: Path) -> None:
    """key=value pairs cannot write a baseline's lists of records, items and links: `do baseline --file` takes the
    document SOURCES.md describes, at its own time, and `why` names the file; importing it again adds nothing."""
    ledger = tmp_path / "d.db"
    for user in ("alice", "bob"):
        assert run_cli("do", "user.add", f"user={user}", "--at", "2026-02-28T00:00:00Z", "--db", ledger).returncode == 0
    done = run_cli("do", "baseline", "--file", CONTOSO, "--json", "--db", ledger)
    assert done.returncode == 0, done.stderr
    recorded = json.loads(done.stdout)
    assert recorded[0]["at"] == "2026-03-01T00:00:00Z" and recorded[0]["id"].startswith("baseline:")
    assert sum(1 for e in recorded if e.get("rule") == "BASELINE") >= 3
    assert SAID in run_cli("why", "outlook:alice/RgAAAAB1", "--db", ledger).stdout
    state = json.loads(run_cli("state", "--json", "--db", ledger).stdout)
    assert len(state["links"]) == 3
    path = tmp_path / "again.jsonl"
    source = {"system": "baseline", "file": "baseline.json", "row": 1}  # what `import baseline.json` records
    path.write_text(json.dumps({"do": "baseline", "document": json.loads(CONTOSO.read_text()), "source": source}))
    head = run_cli("head", "--db", ledger).stdout
    assert run_cli("import", path, "--db", ledger).returncode == 0
    assert run_cli("head", "--db", ledger).stdout == head  # the same document: the same id, a duplicate


def test_do_baseline_keeps_the_document_s_time_without_at(run_cli: Run, tmp_path: Path) -> None:
    ledger = tmp_path / "d.db"
    done = run_cli("do", "baseline", "document.at=2026-03-01T00:00:00Z", "--json", "--db", ledger)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["at"] == "2026-03-01T00:00:00Z"  # not stamped now
    late = run_cli("do", "baseline", "document.at=2026-03-01T00:00:00Z", "--at", "2026-03-02T00:00:00Z", "--db", ledger)
    assert late.returncode == 2 and "--at must be the document's at" in late.stderr


@pytest.mark.parametrize(
    ("content", "args", "problem"),
    [
        (None, (), "cannot read it"),
        ("[1,", (), "is not valid JSON"),
        ("[1]", (), "a baseline document is a JSON object"),
        ('{"at": "2026-03-01T00:00:00Z", "records": [{"id": "c1"}]}', (), "records"),
        ('{"at": "2026-03-01T00:00:00Z"}', ("document.at=2026-03-01T00:00:00Z",), "not both"),
        ('{"at": "2026-03-01T00:00:00Z"}', ("user=alice",), "not both"),
    ],
)
def test_do_baseline_file_bad_input_is_one_line_and_appends_nothing(
    run_cli: Run, tmp_path: Path, content: str | None, args: tuple[str, ...], problem: str
) -> None:
    path = tmp_path / "b.json"
    if content is not None:
        path.write_text(content)
    ledger = tmp_path / "d.db"
    assert run_cli("do", "user.add", "user=alice", "--at", "2026-02-28T00:00:00Z", "--db", ledger).returncode == 0
    head = run_cli("head", "--db", ledger).stdout
    result = run_cli("do", "baseline", *args, "--file", path, "--db", ledger)
    assert result.returncode == 2 and problem in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert run_cli("head", "--db", ledger).stdout == head
    other = run_cli("do", "sync", "user=alice", "--file", CONTOSO, "--db", ledger)
    assert other.returncode == 2 and "--file is for `do baseline` only" in other.stderr
