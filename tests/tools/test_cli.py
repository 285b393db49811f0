"""The command line end to end: do, state, why, rules, demo, as a user would run them."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from syncledger.ledger.rules import RULES

Run = Callable[..., subprocess.CompletedProcess[str]]
SHARE_THEN_DELETE = Path(__file__).resolve().parents[1] / "scenarios" / "share-then-delete.yaml"


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    return result.stderr


def test_do_appends_an_action_and_its_consequences(tmp_path: Path, run_cli: Run) -> None:
    db = tmp_path / "l.db"
    for args in (
        ["user.add", "user=alice"],
        ["outlook.create", "user=alice", "item=m1", "type=email", "fields.subject=Quote 42", "fields.phone=0555"],
    ):
        assert run_cli("do", *args, "--at", "2026-03-02T09:00:00Z", "--db", db).returncode == 0
    result = run_cli("do", "outlook.track", "user=alice", "item=m1", "--db", db, "--json")
    assert result.returncode == 0, result.stderr
    events = json.loads(result.stdout)
    assert [e["do"] for e in events] == ["outlook.track", "decision"] and events[1]["rule"] == "TRACK-EMAIL"
    doc = json.loads(run_cli("state", "--json", "--db", db).stdout)
    assert doc["crm"]["m1"]["fields"] == {"subject": "Quote 42", "phone": "0555"}  # field values stay text
    assert doc["outlook"]["alice"]["m1"]["link"] == {"record": "m1", "state": "linked", "origin": "tracked"}


def test_do_refuses_bad_input_in_one_line_and_appends_nothing(tmp_path: Path, run_cli: Run) -> None:
    db = tmp_path / "l.db"
    run_cli("do", "user.add", "user=alice", "--db", db)
    before = run_cli("state", "--json", "--db", db).stdout
    assert (
        "unknown type 'spaceship' (valid: contact, appointment, task, email, phonecall, letter, fax)"
        in _one_error_line(run_cli("do", "crm.create", "actor=alice", "record=c1", "type=spaceship", "--db", db))
    )
    assert "unknown action" in _one_error_line(run_cli("do", "crm.explode", "record=c1", "--db", db))
    assert "not key=value" in _one_error_line(run_cli("do", "sync", "alice", "--db", db))
    assert "no time zone" in _one_error_line(
        run_cli("do", "sync", "user=alice", "--at", "2026-03-02T09:00", "--db", db)
    )
    assert "goes backwards" in _one_error_line(
        run_cli("do", "sync", "user=alice", "--at", "2020-01-01T00:00:00Z", "--db", db)
    )
    assert run_cli("state", "--json", "--db", db).stdout == before


def test_state_at_a_position_and_at_a_time_and_for_one_user(tmp_path: Path, run_cli: Run) -> None:
    db = tmp_path / "l.db"
    assert run_cli("run", SHARE_THEN_DELETE, "--db", db).returncode == 0
    at9 = json.loads(run_cli("state", "--position", "9", "--json", "--db", db).stdout)
    assert at9["position"] == 9 and at9["crm"] == {}
    assert [p["operation"] for p in at9["pending"]["alice"]] == ["crm.delete"]
    by_time = json.loads(run_cli("state", "--at", "2026-03-02T11:00:00Z", "--json", "--db", db).stdout)
    assert by_time == at9
    alice = json.loads(run_cli("state", "--user", "alice", "--json", "--db", db).stdout)
    assert set(alice["outlook"]) == {"alice"} and all(k["user"] == "alice" for k in alice["links"])
    assert "outside the ledger" in _one_error_line(run_cli("state", "--position", "999", "--db", db))
    assert "not both" in _one_error_line(
        run_cli("state", "--position", "1", "--at", "2026-03-02T11:00:00Z", "--db", db)
    )
    text = run_cli("state", "--db", db).stdout
    assert "CONTACT-DEL-CRM-OWNER" in text and "bob's Outlook" in text


def test_why_names_the_rule_its_cause_and_its_sentence(tmp_path: Path, run_cli: Run) -> None:
    db = tmp_path / "l.db"
    run_cli("run", SHARE_THEN_DELETE, "--db", db)
    result = run_cli("why", "outlook:alice/c1", "--short", "--json", "--db", db)
    chain = json.loads(result.stdout)["chain"]
    assert [(s["event"], s["rule"]) for s in chain] == [("crm.delete", None), ("decision", "CONTACT-DEL-CRM-NONOWNER")]
    assert "CONTACT-DEL-CRM-NONOWNER" in chain[1]["sentence"] and "source:" in chain[1]["sentence"]
    whole = json.loads(run_cli("why", "outlook:alice/c1", "--json", "--db", db).stdout)["chain"]
    assert [(s["event"], s["rule"]) for s in whole] == [
        ("crm.share", None),
        ("decision", "FILTER-CREATE"),
        ("crm.delete", None),
        ("decision", "CONTACT-DEL-CRM-NONOWNER"),
    ]
    text = run_cli("why", "outlook:bob/c1", "--db", db).stdout
    assert "CONTACT-DEL-CRM-OWNER" in text and "deleted" in text
    assert "did you mean crm:c1" in _one_error_line(run_cli("why", "crm:c2", "--db", db))
    assert "not a reference" in _one_error_line(run_cli("why", "c1", "--db", db))


def test_reading_commands_refuse_a_missing_ledger(tmp_path: Path, run_cli: Run) -> None:
    assert "no ledger at" in _one_error_line(run_cli("state", "--db", tmp_path / "nowhere.db"))
    assert not (tmp_path / "nowhere.db").exists()


def test_rules_prints_the_whole_table_from_the_code(run_cli: Run) -> None:
    rows = json.loads(run_cli("rules", "--json").stdout)
    assert [r["id"] for r in rows] == list(RULES)
    assert all(RULES[r["id"]].then == r["then"] for r in rows)
    assert "FILTER-SKIP-DELETED" in run_cli("rules").stdout


def test_demo_writes_a_fresh_ledger_and_explains_one_item(tmp_path: Path, run_cli: Run) -> None:
    for _ in range(2):  # a second demo replaces the first instead of appending to it
        result = run_cli("demo")
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "syncledger-demo.db").exists()
    assert "CONTACT-DEL-CRM-NONOWNER" in result.stdout and "alice's Outlook" in result.stdout
    doc = json.loads(run_cli("state", "--json", "--db", tmp_path / "syncledger-demo.db").stdout)
    assert doc["position"] == 39


def test_usage_errors_are_one_line_with_status_2(run_cli: Run) -> None:
    assert "No such command" in _one_error_line(run_cli("frobnicate"))
    assert "--position" in _one_error_line(run_cli("state", "--position", "x"))
