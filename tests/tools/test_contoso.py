"""The Contoso sample (../shared/fixtures/contoso): its README says, row by row, what the ledger should record.
Run as a user would, through the real command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.shared import SHARED, same_as_shared

CONTOSO = Path(__file__).resolve().parents[1] / "fixtures" / "contoso"  # the spec's sample, as the repository keeps it

LINDA, QBR, TASK, KEN = (
    "0b7c4f9e-8a31-4d2b-9a57-1c2d3e4f5a61",
    "7d1e2f3a-5b6c-4d7e-8f90-a1b2c3d4e5f6",
    "9a8b7c6d-1e2f-4a3b-8c4d-5e6f7a8b9c0d",
    "4f6e5d4c-3b2a-4918-8776-655443322110",
)
FILES = ("baseline.json", "dataverse-audits.json", "m365-audit.csv")


@pytest.fixture()
def contoso(tmp_path: Path, run_cli: Any) -> tuple[Path, dict[str, Any]]:
    for name in ("people.yaml", *FILES):  # the repository's copy, which is the shared sample's where that is here
        (tmp_path / name).write_bytes(same_as_shared(CONTOSO / name, SHARED / "fixtures" / "contoso" / name))
    db = tmp_path / "contoso.db"
    result = run_cli("import", "--people", "people.yaml", *FILES, "--json", "--db", db)
    assert result.returncode == 0, result.stderr
    return db, json.loads(result.stdout)


def _events(run_cli: Any, db: Path) -> list[dict[str, Any]]:
    exported = run_cli("export", "--db", db).stdout.splitlines()
    return [json.loads(line) for line in exported]


def test_the_report(contoso: tuple[Path, dict[str, Any]]) -> None:
    _, report = contoso
    assert report == {
        "files": [
            {"name": "baseline.json", "kind": "baseline", "rows": 1, "incomplete": False},
            {"name": "dataverse-audits.json", "kind": "dataverse", "rows": 9, "incomplete": False},
            {"name": "m365-audit.csv", "kind": "m365", "rows": 7, "incomplete": False},
        ],
        "rows": 17,
        "appended": {
            "baseline": 1,
            "crm.assign": 1,
            "crm.complete": 1,
            "crm.create": 1,
            "crm.delete": 1,
            "crm.share": 1,
            "crm.update": 1,
            "discrepancy": 1,
            "outlook.create": 1,
            "outlook.delete": 1,
            "outlook.update": 1,
            "sync": 8,
            "user.add": 2,
        },
        "skipped": {
            "another record type": 1,  # the sign-in
            "another table": 1,  # the account
            "made by synchronisation": 2,  # the sync caller's task update, the sync client's task update
            "no change": 1,  # Bob saves Ken Ito unchanged
            "later stage of a deletion": 1,  # Alice empties Deleted Items
        },
        "first_seen": 0,
        "aliases": 0,
        "syncs_inferred": 8,
        "pending_at_end": {"alice": 0, "bob": 0},
        "discrepancies": 1,
        "baseline_unlinked": 0,
        "window": ["2026-03-01T00:00:00Z", "2026-03-07T17:00:00Z"],
    }


def test_the_ledger_records_what_the_readme_says_row_by_row(contoso: tuple[Path, dict[str, Any]], run_cli: Any) -> None:
    db, _ = contoso
    history = run_cli("history", f"crm:{LINDA}", "--json", "--db", db)
    assert history.returncode == 0, history.stderr
    decided = {}
    for ref in (f"crm:{LINDA}", f"crm:{QBR}", f"crm:{TASK}", f"crm:{KEN}", "outlook:alice/AAMkAGI2TG93AAA1"):
        doc = json.loads(run_cli("history", ref, "--json", "--db", db).stdout)
        for event in (e for group in doc["groups"] for e in group["events"]):
            if event["rule"]:
                decided[(event["at"][5:16], event["rule"])] = event["actor"]
    expected = {
        ("03-04T09:05", "FILTER-CREATE"): "sync:bob",  # Bob creates Ken Ito; his sync at 09:05
        ("03-05T10:05", "FILTER-CREATE"): "sync:bob",  # Alice assigns Linda to Bob; Bob's sync 10:05
        ("03-05T10:15", "FILTER-LEAVE-SYNCED"): "sync:alice",  # Alice's sync 10:15 deletes her copy
        ("03-05T11:05", "CRM-EDIT-PULL"): "sync:bob",  # Bob changes Linda's phone
        ("03-06T08:15", "DELETED-BOTH-SIDES"): "sync:alice",  # the QBR appointment, deleted on both sides
        ("03-06T09:35", "CRM-EDIT-PULL"): "sync:bob",  # the task completed in CRM reaches Bob's mailbox
        ("03-06T10:05", "CRM-EDIT-PULL"): "sync:bob",  # Ken Ito shared with Alice: nothing for her (owned)
        ("03-07T10:05", "SSS-EXCHANGE-EDIT-PUSH"): "sync:bob",  # Bob's body edit of the task
    }
    assert {k: a for k, a in decided.items() if k[1] != "BASELINE"} == expected
    actions = [(e["at"][5:16], e["do"], e.get("source", {}).get("system")) for e in _events(run_cli, db)]
    assert [a for a in actions if a[1] not in ("sync", "user.add", "baseline")] == [
        ("03-04T09:00", "crm.create", "dataverse"),
        ("03-05T10:00", "crm.assign", "dataverse"),
        ("03-05T10:20", "discrepancy", "m365"),
        ("03-05T11:00", "crm.update", "dataverse"),
        ("03-06T08:00", "crm.delete", "dataverse"),
        ("03-06T08:12", "outlook.delete", "m365"),
        ("03-06T09:30", "crm.complete", "dataverse"),
        ("03-06T10:00", "crm.share", "dataverse"),
        ("03-06T14:00", "outlook.create", "m365"),
        ("03-07T10:00", "outlook.update", "m365"),
    ]
    syncs = [(e["at"][5:16], e["user"]) for e in _events(run_cli, db) if e["do"] == "sync"]
    assert syncs == [
        ("03-04T09:05", "bob"),
        ("03-05T10:05", "bob"),
        ("03-05T10:15", "alice"),
        ("03-05T11:05", "bob"),
        ("03-06T08:15", "alice"),
        ("03-06T09:35", "bob"),
        ("03-06T10:05", "bob"),
        ("03-07T10:05", "bob"),
    ]


def test_the_state_at_the_end(contoso: tuple[Path, dict[str, Any]], run_cli: Any) -> None:
    db, _ = contoso
    state = json.loads(run_cli("state", "--json", "--db", db).stdout)
    assert set(state["crm"]) == {LINDA, TASK, KEN}  # the QBR appointment is deleted
    assert state["crm"][LINDA]["owner"] == "bob" and state["crm"][LINDA]["fields"]["telephone1"] == "+44 20 7946 0000"
    assert state["crm"][TASK]["state"] == "completed" and state["crm"][KEN]["shared_with"] == ["alice"]
    assert state["outlook"]["alice"] == {}  # Linda left her filter, the QBR was deleted on both sides
    bob = state["outlook"]["bob"]
    assert bob[LINDA]["fields"]["telephone1"] == "+44 20 7946 0000" and bob[LINDA]["link"]["record"] == LINDA
    assert bob[KEN]["link"]["record"] == KEN and bob["AAMkAGI2TG93AAT1"]["completed"] is True
    assert bob["AAMkAGI2TG93AAE1"]["type"] == "email" and not bob["AAMkAGI2TG93AAE1"].get("link")  # not tracked


def test_the_discrepancy_in_why_history_and_discrepancies(contoso: tuple[Path, dict[str, Any]], run_cli: Any) -> None:
    db, _ = contoso
    listed = json.loads(run_cli("discrepancies", "--json", "--db", db).stdout)
    assert len(listed) == 1
    found = listed[0]
    assert found["row"] == {"file": "m365-audit.csv", "row": 1, "id": "m365:6a1b2c3d-0001-4000-8000-000000000001"}
    assert found["action"]["do"] == "outlook.update" and found["action"]["changed"] == ["BusinessTelephoneNumber"]
    assert found["decision"]["rule"] == "FILTER-LEAVE-SYNCED" and found["decision"]["at"] == "2026-03-05T10:15:00Z"
    why = run_cli("why", "outlook:alice/AAMkAGI2TG93AAA1", "--db", db).stdout
    assert (
        "FILTER-LEAVE-SYNCED" in why
        and "Discrepancy" in why
        and why.index("FILTER-LEAVE-SYNCED") < why.index("Discrepancy")
    )
    assert "from the Dataverse audit, row 2 of dataverse-audits.json" in why
    history = run_cli("history", "outlook:alice/AAMkAGI2TG93AAA1", "--db", db).stdout
    assert "Discrepancy" in history and "from the mailbox audit, row 1 of m365-audit.csv" in history
    # the sync that deleted the copy was inferred, not recorded: the fact the discrepancy turns on, said wherever
    # the sync is (SOURCES.md: provenance in why and history, text, JSON and HTML)
    inferred = "inferred at a 15m cycle boundary"
    assert f"deleted on 5 March 2026 at 10:15 (at alice's sync, {inferred}; FILTER-LEAVE-SYNCED)" in why
    assert f"At alice's sync at 10:15 ({inferred})" in why
    assert f"alice's sync ({inferred})  @13" in history
    document = json.loads(run_cli("history", "outlook:alice/AAMkAGI2TG93AAA1", "--json", "--db", db).stdout)
    assert [g["sync"]["title"] for g in document["groups"] if g.get("sync")] == [f"alice's sync ({inferred})"]
    html = db.parent / "alice.html"
    assert run_cli("history", "outlook:alice/AAMkAGI2TG93AAA1", "--html", html, "--db", db).returncode == 0
    assert f"alice&#x27;s sync ({inferred})" in html.read_text(encoding="utf-8")


def test_importing_again_appends_nothing_and_convert_gives_the_same_ledger(
    contoso: tuple[Path, dict[str, Any]], run_cli: Any, tmp_path: Path
) -> None:
    db, _ = contoso
    before = run_cli("export", "--db", db).stdout
    again = json.loads(run_cli("import", "--people", "people.yaml", *FILES, "--json", "--db", db).stdout)
    assert again["appended"] == {} and again["skipped"]["duplicate"] == 11
    assert run_cli("export", "--db", db).stdout == before
    converted = run_cli("convert", "--people", "people.yaml", *FILES)
    assert converted.returncode == 0, converted.stderr
    (tmp_path / "c.jsonl").write_text(converted.stdout)
    assert run_cli("import", "c.jsonl", "--db", tmp_path / "c.db").returncode == 0
    assert run_cli("export", "--db", tmp_path / "c.db").stdout == before
    assert run_cli("state", "--json", "--db", tmp_path / "c.db").stdout == run_cli("state", "--json", "--db", db).stdout


def test_bad_input_appends_nothing_whatever_else_the_command_was_given(
    contoso: tuple[Path, dict[str, Any]], run_cli: Any, tmp_path: Path
) -> None:
    fresh = tmp_path / "fresh.db"
    (tmp_path / "broken.csv").write_text("CreationDate,UserIds,Operations,AuditData\n2026-03-08,x,Update,{oops\n")
    result = run_cli("import", "--people", "people.yaml", *FILES, "broken.csv", "--db", fresh)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "broken.csv row 1: AuditData is not valid JSON" in result.stderr
    assert not fresh.exists()
    (tmp_path / "people2.yaml").write_text(
        (tmp_path / "people.yaml").read_text().replace("bob@contoso.com", "robert@contoso.com")
    )
    result = run_cli("import", "--people", "people2.yaml", *FILES, "--db", fresh)
    assert (
        result.returncode == 2
        and "unknown mailbox 'bob@contoso.com' in 3 rows (first: m365-audit.csv row 3)" in result.stderr
    )
    assert run_cli("export", "--db", fresh).stdout == ""  # the ledger it opened holds nothing
    result = run_cli("import", "--people", "people.yaml", "missing.json", "--db", fresh)
    assert result.returncode == 2 and "missing.json: cannot read it" in result.stderr
    result = run_cli("import", "--people", "people.yaml", "--from", "m365", "dataverse-audits.json", "--db", fresh)
    assert result.returncode == 2 and "has no AuditData column" in result.stderr


def test_every_record_and_item_extracts_to_a_scenario_that_passes(
    contoso: tuple[Path, dict[str, Any]], run_cli: Any, tmp_path: Path
) -> None:
    db, _ = contoso
    state = json.loads(run_cli("state", "--json", "--db", db).stdout)
    refs = [f"crm:{r}" for r in (LINDA, QBR, TASK, KEN)]  # the QBR appointment is deleted: it extracts too
    refs += [f"outlook:{user}/{item}" for user, items in state["outlook"].items() for item in items]
    refs += ["outlook:alice/AAMkAGI2TG93AAA1", "outlook:alice/RgAAAAB1"]  # deleted items
    for ref in refs:
        extracted = run_cli("extract", ref, "--db", db)
        assert extracted.returncode == 0, (ref, extracted.stderr)
        (tmp_path / "ticket.yaml").write_text(extracted.stdout)
        ran = run_cli("run", tmp_path / "ticket.yaml")
        assert ran.returncode == 0, (ref, ran.stdout, ran.stderr)


def test_whatif_on_the_imported_sample_infers_syncs_again_and_judges_the_discrepancy_again(
    contoso: tuple[Path, dict[str, Any]], run_cli: Any
) -> None:
    """SOURCES.md: whatif drops the moved users' inferred syncs, infers them again at the target method's cycle,
    and judges the discrepancy rows again under the other rules."""
    db, _ = contoso
    result = run_cli("whatif", "--method", "outlook_client", "--json", "--db", db)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    replay = found["whatif"]
    assert replay["discrepancies_judged"] == 1
    assert sum(replay["dropped"].values()) == 8  # every inferred sync of both users (bob moves 5m -> 15m)
    assert 0 < replay["inferred_syncs"] < 8  # alice's at the same 15m boundaries, bob's merged into fewer
    (skipped,) = found["skipped"]
    assert skipped["id"] == "m365:6a1b2c3d-0001-4000-8000-000000000001" and "still refused" in skipped["reason"]

    # Alice on server-side sync: Bob's deletion of her QBR appointment (she organizes it, it starts on 10 March)
    # reaches her mailbox at her 08:05 cycle (SSS-APPT-DEL-CRM-ORGANIZER), before her own deletion at 08:12,
    # which is then skipped; the appointment ends deleted on both sides, so nothing ends differently.
    moved = json.loads(run_cli("whatif", "--method", "server_side", "--user", "alice", "--json", "--db", db).stdout)
    assert moved["differences"] == []
    reasons = {s["id"]: s["reason"] for s in moved["skipped"]}
    assert "RgAAAAB1" in reasons["m365:6a1b2c3d-0001-4000-8000-000000000002"]
    assert run_cli("verify", "--db", db).returncode == 0
