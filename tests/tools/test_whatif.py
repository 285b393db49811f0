"""`syncledger whatif` end to end, through the real command on scenario-built SQLite ledgers whose what-if answer
RULES-SSS.md gives: the differences and their rule pairs, the skipped actions, `--at`, `--user`, `--org`, the JSON
shape, bad input, and that nothing is appended. The rewriting is also tested on its own (pure)."""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger
from syncledger.projections.reader import open_reader
from syncledger.tools.explain.whatif import Imported, Question, Rewriter, Side, answer, cycle_of, next_boundary
from syncledger.tools.inputs import parse_action
from syncledger.tools.perf.generate import write_lines
from syncledger.tools.transfer import import_actions
from tests.strategies import histories

Run = Callable[..., subprocess.CompletedProcess[str]]


def _ledger(run_cli: Run, tmp_path: Path, text: str, name: str = "t") -> Path:
    scenario = tmp_path / f"{name}.yaml"
    scenario.write_text(text)
    db = tmp_path / f"{name}.db"
    result = run_cli("run", scenario, "--db", db)
    assert result.returncode == 0, result.stdout + result.stderr
    return db


def _whatif(run_cli: Run, db: Path, *args: object) -> dict[str, Any]:
    result = run_cli("whatif", *args, "--json", "--db", db)
    assert result.returncode == 0, result.stdout + result.stderr
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def _difference(found: dict[str, Any], ref: str) -> dict[str, Any]:
    matches = [d for d in found["differences"] if d["ref"] == ref]
    assert len(matches) == 1, f"{ref} not among {[d['ref'] for d in found['differences']]}"
    return matches[0]


def _pairs(found: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {p["pair"]: (p["differ"], p["items"]) for p in found["summary"]}


def _head(run_cli: Run, db: Path) -> str:
    result = run_cli("head", "--db", db)
    assert result.returncode == 0, result.stderr
    return result.stdout


REASSIGNED = """
title: Alice tracks a contact of hers; it is reassigned to Bob
start: 2026-03-02T09:00:00Z
users:
  alice: {}
  bob: {}
steps:
  - {do: outlook.create, user: alice, item: o1, type: contact, fields: {fullname: Sam Lee}}
  - {do: outlook.track, user: alice, item: o1}
  - {do: sync, user: alice}
  - {at: 2026-03-02T10:00:00Z, do: crm.assign, actor: bob, record: o1, to: bob}
  - {at: 2026-03-02T11:00:00Z, do: sync, user: alice}
expect:
  outlook: {alice: {o1: {linked: o1}}}
  why: {outlook:alice/o1: FILTER-LEAVE-TRACKED}
"""


def test_a_reassigned_tracked_contact_would_have_left_the_old_owners_mailbox(run_cli: Run, tmp_path: Path) -> None:
    db = _ledger(run_cli, tmp_path, REASSIGNED)
    found = _whatif(run_cli, db, "--method", "server_side")
    item = _difference(found, "outlook:alice/o1")
    assert item["change"] == "deleted instead of kept"
    assert item["ledger"]["linked"] == "o1" and item["whatif"] is None
    ledger, whatif = item["decisions"]["ledger"], item["decisions"]["whatif"]
    assert set(ledger) == set(whatif) == {"rule", "at", "by", "reason", "cause"}
    assert (ledger["rule"], whatif["rule"]) == ("FILTER-LEAVE-TRACKED", "SSS-FILTER-LEAVE")
    assert ledger["at"] == whatif["at"] == "2026-03-02T11:00:00Z"
    assert ledger["cause"]["do"] == whatif["cause"]["do"] == "crm.assign"
    assert [d["ref"] for d in found["differences"]] == ["outlook:alice/o1"]  # CRM keeps the contact either way
    assert _pairs(found)["FILTER-LEAVE-TRACKED -> SSS-FILTER-LEAVE"][0] == 1
    text = run_cli("whatif", "--method", "server_side", "--db", db).stdout
    assert "outlook:alice/o1: deleted instead of kept" in text
    assert "FILTER-LEAVE-TRACKED -> SSS-FILTER-LEAVE: 1 differ (1 deleted instead of kept)" in text


def test_with_distinct_logical_deletes_the_copy_is_kept_and_unlinked(run_cli: Run, tmp_path: Path) -> None:
    db = _ledger(run_cli, tmp_path, REASSIGNED)
    found = _whatif(run_cli, db, "--method", "server_side", "--org", "distinct_logical_deletes=true")
    assert found["org"] == {"distinct_logical_deletes": True}
    item = _difference(found, "outlook:alice/o1")
    assert item["change"] == "unlinked instead of linked"
    assert item["whatif"]["linked"] is None and item["whatif"]["fields.fullname"] == "Sam Lee"
    assert item["decisions"]["whatif"]["rule"] == "SSS-FILTER-LEAVE-UNLINK"


def test_org_replaces_the_ledgers_own_org_option(run_cli: Run, tmp_path: Path) -> None:
    text = REASSIGNED.replace(
        "  - {do: sync, user: alice}\n",
        "  - {do: sync, user: alice}\n  - {do: org.option, actor: bob, name: distinct_logical_deletes, value: true}\n",
        1,
    )
    db = _ledger(run_cli, tmp_path, text)
    kept = _whatif(run_cli, db, "--method", "server_side")  # the ledger's own option holds
    assert _difference(kept, "outlook:alice/o1")["decisions"]["whatif"]["rule"] == "SSS-FILTER-LEAVE-UNLINK"
    replaced = _whatif(run_cli, db, "--method", "server_side", "--org", "distinct_logical_deletes=false")
    assert _difference(replaced, "outlook:alice/o1")["decisions"]["whatif"]["rule"] == "SSS-FILTER-LEAVE"
    assert "org.option distinct_logical_deletes (given with --org)" in replaced["whatif"]["dropped"]


APPOINTMENT = """
title: Bob organises a meeting shared with Alice; Alice deletes it in CRM
start: 2026-03-02T09:00:00Z
users:
  alice: {sync_filter: owned_and_shared}
  bob: {}
steps:
  - {do: crm.create, actor: bob, record: a1, type: appointment, start: 2026-03-09T10:00:00Z, fields: {subject: Review}}
  - {do: crm.share, actor: bob, record: a1, with: alice}
  - {do: sync, user: alice}
  - {do: sync, user: bob}
  - {at: 2026-03-02T10:00:00Z, do: crm.delete, actor: alice, record: a1}
  - {do: sync, user: alice}
  - {do: sync, user: bob}
expect:
  outlook: {alice: {a1: absent}, bob: {a1: absent}}
"""


def test_an_appointment_deleted_in_crm_by_a_non_organizer_stays_in_her_mailbox(run_cli: Run, tmp_path: Path) -> None:
    db = _ledger(run_cli, tmp_path, APPOINTMENT)
    found = _whatif(run_cli, db, "--method", "server_side")
    item = _difference(found, "outlook:alice/a1")
    assert item["change"] == "kept instead of deleted"
    assert item["ledger"] is None and item["whatif"]["linked"] is None
    pair = (item["decisions"]["ledger"]["rule"], item["decisions"]["whatif"]["rule"])
    assert pair == ("APPT-DEL-CRM-FUTURE", "SSS-APPT-DEL-CRM-KEEP")
    assert item["decisions"]["whatif"]["cause"]["do"] == "crm.delete"
    assert [d["ref"] for d in found["differences"]] == ["outlook:alice/a1"]  # the organizer's copy goes either way
    pairs = _pairs(found)
    assert pairs["APPT-DEL-CRM-FUTURE -> SSS-APPT-DEL-CRM-KEEP"][0] == 1
    assert pairs["APPT-DEL-CRM-FUTURE -> SSS-APPT-DEL-CRM-ORGANIZER"][0] == 0  # listed with no difference


TASK = """
title: Alice completes a task of hers in Outlook, then deletes it there
start: 2026-03-02T09:00:00Z
users:
  alice: {}
steps:
  - {do: crm.create, actor: alice, record: t1, type: task, fields: {subject: Call back}}
  - {do: sync, user: alice}
  - {do: outlook.complete, user: alice, item: t1}
  - {do: outlook.delete, user: alice, item: t1}
  - {do: sync, user: alice}
expect:
  crm: {t1: {state: completed}}
"""


def test_a_completed_task_deleted_in_outlook_would_have_been_deleted_in_crm(run_cli: Run, tmp_path: Path) -> None:
    db = _ledger(run_cli, tmp_path, TASK)
    found = _whatif(run_cli, db, "--method", "server_side")
    record = _difference(found, "crm:t1")
    assert record["change"] == "deleted instead of kept"
    assert record["ledger"]["state"] == "completed" and record["whatif"] is None
    pair = (record["decisions"]["ledger"]["rule"], record["decisions"]["whatif"]["rule"])
    assert pair == ("TASK-DEL-OUTLOOK-DONE", "SSS-TASK-DEL-EXCHANGE")
    assert _pairs(found)["TASK-DEL-OUTLOOK-DONE -> SSS-TASK-DEL-EXCHANGE"][0] == 1


SHARED = """
title: Alice deletes in Outlook a (completed) task or contact of hers she shares with Bob; then both synchronise
start: 2026-03-02T09:00:00Z
users:
  alice: {}
  bob: {sync_filter: owned_and_shared}
steps:
  - {do: crm.create, actor: alice, record: t1, type: TYPE, fields: {subject: T}}
  - {do: crm.share, actor: alice, record: t1, with: bob}
  - {do: crm.complete, actor: alice, record: t1}
  - {do: sync, user: alice}
  - {do: sync, user: bob}
  - {do: outlook.delete, user: alice, item: t1}
  - {do: sync, user: alice}
  - {do: sync, user: bob}
"""


@pytest.mark.parametrize(
    "kind, ledger_rule, whatif_rule",
    [
        ("task", "TASK-DEL-OUTLOOK-DONE", "SSS-TASK-DEL-EXCHANGE"),
        ("contact", "CONTACT-DEL-OUTLOOK", "SSS-CONTACT-DEL-EXCHANGE-OWNER"),
    ],
)
def test_the_decision_named_for_a_deleted_record_is_the_one_that_deleted_it(
    run_cli: Run, tmp_path: Path, kind: str, ledger_rule: str, whatif_rule: str
) -> None:
    """In the what-if, Alice's cycle deletes the shared record; Bob's cycle after it decides about the record too
    (his copy is kept or deleted), but did not delete it: the difference is Alice's deletion, and so is its pair."""
    text = SHARED.replace("TYPE", kind)
    if kind == "contact":  # a contact is not completed: Alice owns it, and deletes it
        text = text.replace("  - {do: crm.complete, actor: alice, record: t1}\n", "")
    db = _ledger(run_cli, tmp_path, text)
    found = _whatif(run_cli, db, "--method", "server_side")  # the command spills its notes to a file
    record = _difference(found, "crm:t1")
    assert record["change"] == "deleted instead of kept"
    decisions = record["decisions"]
    assert (decisions["ledger"]["rule"], decisions["whatif"]["rule"]) == (ledger_rule, whatif_rule)
    assert decisions["whatif"]["by"] == "sync:alice"
    assert _pairs(found)[f"{ledger_rule} -> {whatif_rule}"][0] == 1
    reader = open_reader(str(db))
    try:
        in_memory = answer(reader.ledger.store.read(), Question("server_side")).document()
    finally:
        reader.close()
    assert json.dumps(in_memory["differences"]) == json.dumps(found["differences"])


EDITED_THEN_PULLED = """
title: Alice edits a tracked contact that has left her filter; Bob edits it in CRM after
start: 2026-03-02T09:00:00Z
users:
  alice: {}
  bob: {}
steps:
  - {do: outlook.create, user: alice, item: o1, type: contact, fields: {fullname: Ann}}
  - {do: outlook.track, user: alice, item: o1}
  - {do: crm.assign, actor: alice, record: o1, to: bob}
  - {at: 2026-03-02T12:00:00Z, do: sync, user: alice}
  - {id: alice-edit, do: outlook.update, user: alice, item: o1, fields: {fullname: Ann Lee}}
  - {id: bob-edit, do: crm.update, actor: bob, record: o1, fields: {telephone1: "5"}}
  - {do: sync, user: alice}
expect:
  crm: {o1: {fields: {fullname: Ann Lee, telephone1: "5"}}}
  why: {outlook:alice/o1: CRM-EDIT-PULL}
"""


def test_a_field_that_differs_is_explained_by_the_edit_that_set_it_not_by_a_later_action(
    run_cli: Run, tmp_path: Path
) -> None:
    """Under server-side sync Alice's copy left with the record (SSS-FILTER-LEAVE), so her edit is skipped; Bob's
    later CRM edit reached her copy in the ledger only (CRM-EDIT-PULL) but set nothing that differs: the record's
    fullname differs because of Alice's edit, pushed in the ledger and never made in the what-if."""
    db = _ledger(run_cli, tmp_path, EDITED_THEN_PULLED)
    found = _whatif(run_cli, db, "--method", "server_side")
    record = _difference(found, "crm:o1")
    assert record["properties"] == ["fields.fullname"]
    ledger_side = record["decisions"]["ledger"]
    assert (ledger_side["rule"], ledger_side["cause"]["id"]) == ("OUTLOOK-EDIT-PUSH", "alice-edit")
    assert record["decisions"]["whatif"] is None or record["decisions"]["whatif"]["cause"]["id"] != "bob-edit"
    assert record["skipped"] == ["alice-edit"]  # listed where it made the difference, not only under the item
    assert "alice-edit" in [s["id"] for s in found["skipped"]]
    assert _pairs(found)["OUTLOOK-EDIT-PUSH -> (none)"][0] == 1


SERVER_SIDE = """
title: Alice synchronises server-side; she deletes a completed task of hers in her mailbox
start: 2026-03-02T09:00:00Z
users:
  alice: {sync_method: server_side}
  bob: {}
steps:
  - {do: crm.create, actor: bob, record: t1, type: task, owner: alice, fields: {subject: Send quote}}
  - {do: crm.complete, actor: bob, record: t1}
  - {do: sync, user: alice}
  - {do: outlook.delete, user: alice, item: t1}
  - {do: sync, user: alice}
expect:
  crm: {t1: absent}
"""


def test_the_reverse_moving_a_server_side_user_back_to_the_outlook_client(run_cli: Run, tmp_path: Path) -> None:
    db = _ledger(run_cli, tmp_path, SERVER_SIDE)
    found = _whatif(run_cli, db, "--method", "outlook_client")
    record = _difference(found, "crm:t1")
    assert record["change"] == "kept instead of deleted" and record["whatif"]["state"] == "completed"
    pair = (record["decisions"]["ledger"]["rule"], record["decisions"]["whatif"]["rule"])
    assert pair == ("SSS-TASK-DEL-EXCHANGE", "TASK-DEL-OUTLOOK-DONE")
    text = run_cli("whatif", "--method", "outlook_client", "--db", db).stdout
    assert "1 record or item ends differently:" in text and "crm:t1: kept instead of deleted" in text
    assert _whatif(run_cli, db, "--method", "server_side")["differences"] == []  # her own method: nothing differs


OFFLINE = """
title: Alice works offline; Bob deletes the contact she edits meanwhile
start: 2026-03-02T09:00:00Z
users:
  alice: {}
  bob: {sync_filter: owned_and_shared}
steps:
  - {do: outlook.create, user: alice, item: o1, type: contact, fields: {fullname: Sam Lee}}
  - {do: outlook.track, user: alice, item: o1}
  - {do: crm.create, actor: bob, record: c2, type: contact, fields: {fullname: Kim Ray}}
  - {do: offline, user: alice}
  - {at: 2026-03-02T10:00:00Z, do: outlook.update, user: alice, item: o1, fields: {phone: "200"}}
  - {at: 2026-03-02T10:30:00Z, do: outlook.create, user: alice, item: o2, type: contact, fields: {fullname: Jo}}
  - {at: 2026-03-02T11:00:00Z, do: online, user: alice}
  - {at: 2026-03-02T11:00:00Z, do: crm.delete, actor: bob, record: o1}
  - {at: 2026-03-02T12:00:00Z, do: outlook.update, user: alice, item: o2, fields: {fullname: Jo Ann}}
  - {at: 2026-03-02T12:30:00Z, do: offline, user: alice}
  - {at: 2026-03-02T13:00:00Z, do: outlook.delete, user: alice, item: o2}
"""


def test_offline_actions_take_effect_when_outlook_reconnects_and_refused_ones_are_skipped(
    run_cli: Run, tmp_path: Path
) -> None:
    db = _ledger(run_cli, tmp_path, OFFLINE)
    found = _whatif(run_cli, db, "--method", "server_side")
    assert found["whatif"]["dropped"] == {
        "offline (no offline queue with server_side)": 2,
        "online (no offline queue with server_side)": 1,
    }
    assert found["whatif"]["retimed"] == 2  # the edit and the creation, both at 11:00
    skipped = {s["do"]: s for s in found["skipped"]}
    # the edit reaches the mailbox at 11:00, after Bob's deletion at 11:00: its CRM record is gone by then, but the
    # item is still there, so it is carried out; the deletion made offline at 13:00 never reaches the mailbox
    assert set(skipped) == {"outlook.delete"}
    assert "never reconnects" in skipped["outlook.delete"]["reason"]
    assert skipped["outlook.delete"]["at"] == "2026-03-02T13:00:00Z"
    item = _difference(found, "outlook:alice/o2")
    assert item["change"] == "kept instead of deleted"
    assert item["skipped"] == [skipped["outlook.delete"]["id"]]
    # the headline counts every user action of the ledger, the dropped offline and online ones too
    exported = run_cli("export", "--db", db)
    assert exported.returncode == 0, exported.stderr
    text = run_cli("whatif", "--method", "server_side", "--db", db).stdout
    assert f"the ledger's {len(exported.stdout.splitlines())} user actions replayed" in text


def test_an_action_the_other_rules_refuse_is_skipped_with_its_reason(run_cli: Run, tmp_path: Path) -> None:
    # under server_side Alice's reassigned copy is deleted, so her later edit of it names an item that is gone
    edit = "  - {at: 2026-03-02T12:00:00Z, do: outlook.update, user: alice, item: o1, fields: {phone: '1'}}\n"
    text = REASSIGNED.split("expect:")[0] + edit
    db = _ledger(run_cli, tmp_path, text)
    found = _whatif(run_cli, db, "--method", "server_side")
    assert [(s["do"], s["user"], s["at"]) for s in found["skipped"]] == [
        ("outlook.update", "alice", "2026-03-02T12:00:00Z")
    ]
    assert "unknown item 'o1' in alice's Outlook (it was deleted)" in found["skipped"][0]["reason"]
    assert _difference(found, "outlook:alice/o1")["skipped"] == [found["skipped"][0]["id"]]
    text = run_cli("whatif", "--method", "server_side", "--db", db).stdout
    assert "Skipped (1)" in text and "unknown item 'o1'" in text


def test_at_stops_both_histories_there_and_names_what_has_not_reached_the_mailbox_by_then(
    run_cli: Run, tmp_path: Path
) -> None:
    db = _ledger(run_cli, tmp_path, OFFLINE)
    found = _whatif(run_cli, db, "--method", "server_side", "--at", "2026-03-02T10:30:00Z")
    assert found["ledger"]["at"] == "2026-03-02T10:30:00Z" and found["whatif"]["at"] == "2026-03-02T09:02:00Z"
    assert [(s["do"], s["at"]) for s in found["skipped"]] == [
        ("outlook.update", "2026-03-02T10:00:00Z"),
        ("outlook.create", "2026-03-02T10:30:00Z"),
    ]
    assert all("alice's Outlook has not reconnected by 2026-03-02T10:30:00Z" in s["reason"] for s in found["skipped"])
    assert {d["ref"]: d["change"] for d in found["differences"]} == {
        "outlook:alice/o1": "different fields",
        "outlook:alice/o2": "never there instead of there",
    }
    phone = _difference(found, "outlook:alice/o1")
    assert phone["properties"] == ["fields.phone"] and phone["ledger"]["fields.phone"] == "200"
    assert "fields.phone" not in phone["whatif"]


def test_at_compares_both_histories_as_of_that_time(run_cli: Run, tmp_path: Path) -> None:
    db = _ledger(run_cli, tmp_path, REASSIGNED)
    before = _whatif(run_cli, db, "--method", "server_side", "--at", "2026-03-02T10:30:00Z")
    assert before["differences"] == [] and before["at"] == "2026-03-02T10:30:00Z"
    assert before["ledger"]["at"] == "2026-03-02T10:00:00Z"  # the last event at or before --at
    after = _whatif(run_cli, db, "--method", "server_side", "--at", "2026-03-02T11:00:00Z")
    assert [d["ref"] for d in after["differences"]] == ["outlook:alice/o1"]


def test_user_moves_only_the_users_named_and_the_others_keep_their_offline_queue(run_cli: Run, tmp_path: Path) -> None:
    db = _ledger(run_cli, tmp_path, OFFLINE)
    bob = _whatif(run_cli, db, "--method", "server_side", "--user", "bob")
    assert bob["users"] == ["bob"] and bob["differences"] == [] and bob["skipped"] == []
    assert bob["whatif"]["retimed"] == 0 and bob["whatif"]["dropped"] == {}
    alice = _whatif(run_cli, db, "--method", "server_side", "--user", "alice")
    assert alice["users"] == ["alice"] and alice["whatif"]["retimed"] == 2
    assert [d["ref"] for d in alice["differences"]] == ["outlook:alice/o2"]


def test_user_moves_only_the_users_named(run_cli: Run, tmp_path: Path) -> None:
    db = _ledger(run_cli, tmp_path, APPOINTMENT)
    bob_only = _whatif(run_cli, db, "--method", "server_side", "--user", "bob")
    assert bob_only["users"] == ["bob"] and bob_only["differences"] == []  # Bob organises: his copy goes anyway
    assert _pairs(bob_only)["APPT-DEL-CRM-FUTURE -> SSS-APPT-DEL-CRM-ORGANIZER"] == (0, 2)
    alice = _whatif(run_cli, db, "--method", "server_side", "--user", "alice")
    assert alice["users"] == ["alice"] and [d["ref"] for d in alice["differences"]] == ["outlook:alice/a1"]


def test_the_json_is_one_object_with_the_differences_the_skipped_actions_and_the_summary(
    run_cli: Run, tmp_path: Path
) -> None:
    db = _ledger(run_cli, tmp_path, OFFLINE)
    found = _whatif(run_cli, db, "--method", "server_side")
    assert set(found) == {
        "method",
        "users",
        "org",
        "at",
        "ledger",
        "whatif",
        "appended",
        "differences",
        "skipped",
        "summary",
    }
    assert found["method"] == "server_side" and found["users"] == ["alice", "bob"] and found["appended"] is False
    assert set(found["differences"][0]) == {
        "ref",
        "change",
        "properties",
        "ledger",
        "whatif",
        "decisions",
        "last_decisions",
        "skipped",
    }
    assert found["differences"][0]["decisions"] == {"ledger": None, "whatif": None}  # o2: no rule ever decided
    assert set(found["summary"][0]) == {"pair", "ledger_rule", "whatif_rule", "items", "differ", "changes"}
    assert found["ledger"] == {"position": _head_position(run_cli, db), "at": "2026-03-02T13:00:00Z"}
    assert found["skipped"][0] == {
        "id": found["skipped"][0]["id"],
        "at": "2026-03-02T13:00:00Z",
        "do": "outlook.delete",
        "user": "alice",
        "reason": "made while offline; alice's Outlook never reconnects",
    }


def _head_position(run_cli: Run, db: Path) -> int:
    return int(_head(run_cli, db).split(":")[0])


def test_whatif_appends_nothing(run_cli: Run, tmp_path: Path) -> None:
    db = _ledger(run_cli, tmp_path, OFFLINE)
    head = _head(run_cli, db)
    for args in (["--method", "server_side"], ["--method", "outlook_client", "--user", "alice"]):
        assert run_cli("whatif", *args, "--db", db).returncode == 0
    assert _head(run_cli, db) == head
    assert run_cli("verify", "--db", db).returncode == 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--method", "client"], "--method takes outlook_client or server_side, not 'client'"),
        (["--method", "server_side", "--user", "carol"], "unknown user 'carol' (declared: alice, bob)"),
        (["--method", "server_side", "--org", "distinct_logical_deletes"], "--org takes NAME=VALUE"),
        (["--method", "server_side", "--org", "sync_filter=owned"], "--org 'sync_filter': unknown organisation option"),
        (["--method", "server_side", "--org", "distinct_logical_deletes=yes"], "takes true or false, not 'yes'"),
        (["--method", "server_side", "--at", "yesterday"], "--at 'yesterday' is not an ISO 8601 time"),
        (["--method", "server_side", "--at", "2099-01-01T00:00:00Z"], "a typo? give --future"),
        (["--user", "alice"], "Missing option '--method'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(run_cli: Run, tmp_path: Path, args: list[str], says: str) -> None:
    db = _ledger(run_cli, tmp_path, REASSIGNED)
    head = _head(run_cli, db)
    result = run_cli("whatif", *args, "--db", db)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert says in result.stderr
    assert _head(run_cli, db) == head


def test_no_ledger_is_refused_and_none_is_created(run_cli: Run, tmp_path: Path) -> None:
    result = run_cli("whatif", "--method", "server_side", "--db", tmp_path / "none.db")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert not (tmp_path / "none.db").exists()


# ------------------------------------------------------------------------------------------- the same method


def test_the_users_own_method_changes_nothing_on_a_generated_organisation(run_cli: Run, tmp_path: Path) -> None:
    lines = run_cli("generate", "--users", "12", "--days", "2", "--seed", "3").stdout
    (tmp_path / "org.jsonl").write_text(lines)
    db = tmp_path / "org.db"
    assert run_cli("import", tmp_path / "org.jsonl", "--db", db).returncode == 0
    found = _whatif(run_cli, db, "--method", "outlook_client")
    assert found["differences"] == [] and found["skipped"] == []
    assert found["summary"] and all(p["ledger_rule"] == p["whatif_rule"] and p["differ"] == 0 for p in found["summary"])
    text = run_cli("whatif", "--method", "outlook_client", "--db", db).stdout
    assert "No record or item ends differently." in text


def test_every_event_of_a_side_goes_back_to_its_user_action_and_each_mark_says_what_it_set() -> None:
    """A side notes each event's cause (a decision's: the user action behind the decision it goes back to), so
    that a later decision caused by it finds it; and each decision's mark says what it did to each item it is
    about: a deletion is `removed`, a creation is not, an edit names its fields."""
    out = io.BytesIO()
    write_lines(out, 6, 30, 2, 1_500)
    ledger = Ledger()
    import_actions(ledger, out.getvalue().splitlines(keepends=True))
    side = Side()
    events = list(ledger.events())
    for position, event in events:
        side.fold(position, event)
    assert set(side.notes.causes) == {0, *(p for p, _ in events)}
    decided = {ref: marks for ref, _, marks in side.notes.decided()}
    seen = {"removed": 0, "created": 0, "fields": 0}
    for position, event in events:
        if not isinstance(event, v.Decided):
            continue
        assert side.notes.cause(position) == side.notes.cause(event.cause)
        for effect in event.effects:
            ref = v.crm_ref(effect.record) if effect.kind.startswith("record.") else None  # type: ignore[union-attr]
            if effect.kind.startswith("item."):
                ref = v.outlook_ref(effect.user, effect.item)  # type: ignore[union-attr]
            if ref is None or ref not in event.about:
                continue
            mark = next(m for m in decided[ref] if m.at == event.at and m.rule == event.rule)
            if effect.kind in ("record.deleted", "item.deleted"):
                assert mark.removed, (position, ref)
                seen["removed"] += 1
            elif effect.kind in ("record.created", "item.created"):
                assert not mark.removed and "exists" in mark.changed
                seen["created"] += 1
            elif effect.kind == "record.changed" and effect.fields:  # type: ignore[union-attr]
                assert {f"fields.{f}" for f in effect.fields} <= mark.changed  # type: ignore[union-attr]
                seen["fields"] += 1
    assert all(seen.values()), seen


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(max_actions=60), st.sampled_from(v.SYNC_METHODS))
def test_replaying_with_each_users_own_method_changes_nothing(actions: list[v.Action], method: str) -> None:
    """Random histories mixing both methods (switches and org options included): the users who are on `method`
    from their declaration to the end, moved to it, change nothing; every pair is X -> X, 0 differ."""
    ledger = Ledger()
    ledger.append(actions)
    events = list(ledger.events())
    methods: dict[str, set[str]] = {}
    for action in actions:
        if isinstance(action, v.UserAdded):
            methods[action.user] = {action.sync_method or "outlook_client"}
        elif isinstance(action, v.OptionChanged) and action.name == "sync_method":
            methods[action.user].add(str(action.value))
    on_it = frozenset(user for user, used in methods.items() if used == {method})
    found = answer(events, Question(method, on_it))
    assert found.differences == [] and found.skipped == []
    assert all(p.ledger_rule == p.whatif_rule and p.differ == 0 for p in found.summary)


# ------------------------------------------------------------------------------------------- rewriting (pure)


def _action(raw: dict[str, Any]) -> v.Action:
    return parse_action({**raw, "at": datetime.fromisoformat(raw["at"]).replace(tzinfo=UTC)})


def test_rewriting_for_server_side() -> None:
    stream = [
        {"id": "1", "at": "2026-03-02T09:00:00", "do": "user.add", "user": "alice"},
        {"id": "2", "at": "2026-03-02T09:00:00", "do": "user.add", "user": "bob"},
        {
            "id": "3",
            "at": "2026-03-02T09:00:00",
            "do": "option",
            "user": "alice",
            "name": "sync_method",
            "value": "outlook_client",
        },
        {"id": "4", "at": "2026-03-02T09:01:00", "do": "offline", "user": "alice"},
        {
            "id": "5",
            "at": "2026-03-02T09:02:00",
            "do": "outlook.create",
            "user": "alice",
            "item": "o1",
            "type": "contact",
        },
        {
            "id": "6",
            "at": "2026-03-02T09:02:00",
            "do": "outlook.create",
            "user": "alice",
            "item": "m1",
            "type": "email",
        },
        {
            "id": "7",
            "at": "2026-03-02T09:03:00",
            "do": "crm.create",
            "actor": "alice",
            "record": "c1",
            "type": "contact",
        },
        {"id": "8", "at": "2026-03-02T09:04:00", "do": "online", "user": "alice"},
        {"id": "9", "at": "2026-03-02T09:04:00", "do": "sync", "user": "bob"},
        {"id": "10", "at": "2026-03-02T09:05:00", "do": "sync", "user": "alice"},
    ]
    rewriter = Rewriter(Question("server_side"))
    out: list[v.Action] = []
    for raw in stream:
        out += rewriter.feed(_action(raw))
    due, never = rewriter.finish(None)
    out += due
    assert never == []
    assert [(a.id, a.at.strftime("%H:%M") if a.at else None) for a in out] == [
        ("1", "09:00"),
        ("2", "09:00"),
        ("6", "09:02"),
        ("7", "09:03"),
        ("9", "09:04"),
        ("5", "09:04"),  # made offline: when Outlook reconnected, after every other action at 09:04
        ("10", "09:05"),
    ]
    assert {a.user: a.sync_method for a in out if isinstance(a, v.UserAdded)} == {
        "alice": "server_side",
        "bob": "server_side",
    }
    assert rewriter.dropped == {
        "their own option sync_method": 1,
        "offline (no offline queue with server_side)": 1,
        "online (no offline queue with server_side)": 1,
    }


def test_rewriting_moves_only_the_chosen_users_and_leaves_the_rest_as_it_is() -> None:
    stream = [
        {"id": "1", "at": "2026-03-02T09:00:00", "do": "user.add", "user": "alice"},
        {"id": "2", "at": "2026-03-02T09:00:00", "do": "user.add", "user": "bob"},
        {"id": "3", "at": "2026-03-02T09:01:00", "do": "offline", "user": "bob"},
        {"id": "4", "at": "2026-03-02T09:02:00", "do": "online", "user": "bob"},
    ]
    rewriter = Rewriter(Question("server_side", frozenset({"alice"})))
    out = [a for raw in stream for a in rewriter.feed(_action(raw))]
    assert [a.id for a in out] == ["1", "2", "3", "4"]
    assert [getattr(a, "sync_method", None) for a in out[:2]] == ["server_side", None]
    same = Rewriter(Question("outlook_client"))
    assert [a for raw in stream for a in same.feed(_action(raw))] == [_action(raw) for raw in stream]


def test_an_encrypted_ledger_without_its_key_is_one_line(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventsourcing.cipher import AESCipher

    monkeypatch.setenv("SYNCLEDGER_CIPHER_KEY", AESCipher.create_key(32))
    db = _ledger(run_cli, tmp_path, REASSIGNED)
    assert run_cli("whatif", "--method", "server_side", "--db", db).returncode == 0
    monkeypatch.delenv("SYNCLEDGER_CIPHER_KEY")
    result = run_cli("whatif", "--method", "server_side", "--db", db)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "SYNCLEDGER_CIPHER_KEY" in result.stderr and "Traceback" not in result.stderr


IMPORTED = [
    {"id": "people:alice", "at": "2026-03-02T09:00:00Z", "do": "user.add", "user": "alice"},
    {"id": "people:bob", "at": "2026-03-02T09:00:00Z", "do": "user.add", "user": "bob"},
    {
        "id": "dv-1",
        "at": "2026-03-02T09:01:00Z",
        "do": "crm.create",
        "actor": "bob",
        "record": "c1",
        "type": "contact",
        "owner": "alice",
        "fields": {"fullname": "Sam Lee"},
    },
    {"id": "dv-2", "at": "2026-03-02T09:07:00Z", "do": "crm.delete", "actor": "bob", "record": "c1"},
    {"id": "inferred:alice@2026-03-02T09:15:00Z", "at": "2026-03-02T09:15:00Z", "do": "sync", "user": "alice"},
]


def test_an_imported_ledgers_inferred_syncs_are_inferred_again_at_the_target_methods_cycle(
    run_cli: Run, tmp_path: Path
) -> None:
    """SOURCES.md: the moved users' inferred syncs are dropped and inferred again (server_side: every 5 minutes).
    At 15 minutes Alice's sync came after the contact was created and deleted: she never had a copy. Every 5
    minutes, a sync at 09:05 copies it and one at 09:10 decides its deletion (she owns it: kept, unlinked)."""
    lines = tmp_path / "imported.jsonl"
    lines.write_text("".join(json.dumps(line) + "\n" for line in IMPORTED))
    db = tmp_path / "imported.db"
    assert run_cli("import", lines, "--db", db).returncode == 0
    found = _whatif(run_cli, db, "--method", "server_side", "--user", "alice")
    assert found["whatif"]["inferred_syncs"] == 2
    assert found["whatif"]["dropped"] == {"inferred sync (inferred again at the server_side cycle)": 1}
    item = _difference(found, "outlook:alice/c1")
    assert item["change"] == "there instead of never there" and item["whatif"]["linked"] is None
    made, last = item["decisions"]["whatif"], item["last_decisions"]["whatif"]
    assert (made["rule"], made["at"]) == ("FILTER-CREATE", "2026-03-02T09:05:00Z")  # what made it
    assert (last["rule"], last["at"], last["by"]) == ("CONTACT-DEL-CRM-OWNER", "2026-03-02T09:10:00Z", "sync:alice")
    assert item["decisions"]["ledger"] is None
    # a ledger that was not imported keeps its syncs as they are; so does a user who is not moved
    assert _whatif(run_cli, db, "--method", "server_side", "--user", "bob")["whatif"]["inferred_syncs"] == 0


def test_cycle_boundaries_are_strictly_later_multiples_from_midnight() -> None:
    def t(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)

    five, seven = cycle_of(None, "server_side"), cycle_of("7m", "server_side")
    assert (five, cycle_of(None, "outlook_client"), cycle_of("2h", "outlook_client")) == (
        timedelta(minutes=5),
        timedelta(minutes=15),
        timedelta(hours=2),
    )
    assert next_boundary(t("2026-03-02T09:07:00"), five) == t("2026-03-02T09:10:00")
    assert next_boundary(t("2026-03-02T09:10:00"), five) == t("2026-03-02T09:15:00")  # a row at a boundary: the next
    assert next_boundary(t("2026-03-02T23:58:00"), seven) == t("2026-03-03T00:00:00")  # each day starts again


class _Discrepancy(v.Action):
    """A stand-in for the sources branch's discrepancy row (SOURCES.md), which this branch's vocabulary lacks: the
    refused action as `v.dump` wrote it, with the row's own id and time."""

    do: Literal["discrepancy"]  # type: ignore[assignment]
    action: dict[str, Any]
    refusal: str


def test_a_discrepancy_row_is_judged_again_as_its_refused_action() -> None:
    edit = _action({"id": "m365-7", "at": "2026-03-02T10:20:00", "do": "outlook.update", "user": "alice",
                    "item": "c1", "fields": {"phone": "1"}})  # fmt: skip
    row = _Discrepancy(do="discrepancy", id="m365-7", at=edit.at, action=v.dump(edit), refusal="unknown item")
    imported = Imported(Question("server_side"))
    assert imported.feed(row) == [edit]  # replayed under the other rules instead of the row
    assert imported.refusal(edit, "unknown item 'c1'").startswith("still refused under server_side (a discrepancy")
    plain = _action({"id": "x", "at": "2026-03-02T10:20:00", "do": "sync", "user": "alice"})
    assert imported.feed(plain) == [plain] and imported.refusal(plain, "why") == "why"
