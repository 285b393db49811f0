"""What a support engineer reads (issue 14): diff blames the event that made each change, time defaults that
follow the ledger, hints that name the ledger in use, messages that print values literally and say what is
wrong, and tables that read well. Each test goes through the real `syncledger` command."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]

# Bob edits a contact shared with Alice (@7), her sync pulls it (@9); he assigns it to her (@10), her sync (@12).
EDITED = """\
title: Bob edits and assigns a contact shared with Alice
start: 2026-03-02T09:00:00Z
users:
  alice: {sync_filter: owned_and_shared}
  bob: {}
steps:
  - {do: crm.create, actor: bob, record: c1, type: contact, fields: {fullname: Jane Doe}}
  - {do: crm.share, actor: bob, record: c1, with: alice}
  - {do: sync, user: alice}
  - {do: crm.update, actor: bob, record: c1, fields: {phone: "555"}}
  - {do: sync, user: alice}
  - {do: crm.assign, actor: bob, record: c1, to: alice}
  - {do: sync, user: alice}
"""


def _ledger(run_cli: Run, tmp_path: Path, text: str = EDITED, name: str = "t") -> Path:
    scenario, db = tmp_path / f"{name}.yaml", tmp_path / f"{name}.db"
    scenario.write_text(text, encoding="utf-8")
    result = run_cli("run", scenario, "--db", db)
    assert result.returncode == 0, result.stdout + result.stderr
    return db


def _refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("syncledger: "), result.stderr
    return lines[0]


# ------------------------------------------------------------------------------------------------ 2: diff


def test_diff_names_the_event_that_changed_each_field_not_the_last_one_about_the_item(
    run_cli: Run, tmp_path: Path
) -> None:
    db = _ledger(run_cli, tmp_path)
    result = run_cli("diff", "5", "12", "--json", "--db", db)
    assert result.returncode == 0, result.stderr
    record = next(c for c in json.loads(result.stdout)["changes"] if c["ref"] == "crm:c1")
    assert record["by_field"]["fields.phone"] == {"position": 7, "event": "crm.update", "rule": None}
    assert record["by_field"]["owner"] == {"position": 10, "event": "crm.assign", "rule": None}
    assert record["by"]["position"] == 10  # the latest change, never the CRM-EDIT-PULL at @12
    text = run_cli("diff", "5", "9", "--db", db).stdout
    row = next(line for line in text.splitlines() if line.startswith("crm:c1 "))
    assert row.rstrip().endswith("@7 crm.update"), row
    text = run_cli("diff", "5", "12", "--db", db).stdout
    row = next(line for line in text.splitlines() if line.startswith("crm:c1 "))
    assert "fields.phone @7 crm.update" in row and "owner @10 crm.assign" in row, row


@pytest.mark.parametrize(
    "args",
    [
        ("diff", "9", "5"),
        ("diff", "2026-03-02T09:06:00Z", "2026-03-02T09:02:00Z"),
        ("export", "--from", "12", "--to", "3"),
        ("export", "--from", "2026-03-02T09:06:00Z", "--to", "2026-03-02T09:02:00Z"),
    ],
)
def test_a_reversed_range_is_refused(args: tuple[str, ...], run_cli: Run, tmp_path: Path) -> None:
    db = _ledger(run_cli, tmp_path)
    result = run_cli(*args, "--db", db)
    assert "after" in _refused(result) and result.stdout == ""


# ------------------------------------------------------------------------------------------------ 4: time

# Carol's copy of Bob's appointment of 10 March 2020 is deleted in CRM on 2 March 2020: her next sync, at the
# ledger's time, deletes her copy (it starts after the sync); at the machine's clock (years later) it would keep it.
APPOINTMENT = """\
title: Bob deletes an appointment that starts next week
start: 2020-03-02T09:00:00Z
users:
  bob: {}
  carol: {sync_filter: owned_and_shared}
steps:
  - {do: crm.create, actor: bob, record: a1, type: appointment, start: 2020-03-10T10:00:00Z, fields: {subject: Review}}
  - {do: crm.share, actor: bob, record: a1, with: carol}
  - {do: sync, user: carol}
  - {do: crm.delete, actor: bob, record: a1}
"""


def test_preview_without_at_decides_at_the_ledgers_time_and_says_so(run_cli: Run, tmp_path: Path) -> None:
    db = _ledger(run_cli, tmp_path, APPOINTMENT)
    doc = json.loads(run_cli("preview", "carol", "--json", "--db", db).stdout)
    assert doc["at"] == "2020-03-02T09:03:00Z" and doc["at_from"] == "ledger"
    assert [d["rule"] for d in doc["decisions"]] == ["APPT-DEL-CRM-FUTURE"]
    text = run_cli("preview", "carol", "--db", db).stdout
    assert "2020-03-02T09:03:00Z: the time of the ledger's last event" in text
    later = json.loads(run_cli("preview", "carol", "--at", "2020-03-11T00:00:00Z", "--json", "--db", db).stdout)
    assert later["at_from"] == "given" and [d["rule"] for d in later["decisions"]] == ["APPT-DEL-CRM-PAST"]


def test_do_without_at_warns_when_the_clock_is_far_from_the_ledger(run_cli: Run, tmp_path: Path) -> None:
    db = _ledger(run_cli, tmp_path, APPOINTMENT)
    result = run_cli("do", "crm.create", "actor=bob", "record=c9", "type=contact", "--db", db)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "no --at" in lines[0] and "2020-03-02T09:03:00Z" in lines[0], lines
    first = run_cli("do", "user.add", "user=bob")
    assert first.returncode == 0 and first.stderr == ""  # a first action in a new ledger: nothing to be far from
    close = run_cli("do", "crm.create", "actor=bob", "record=c8", "type=contact")
    assert close.returncode == 0 and close.stderr == ""


# ------------------------------------------------------------------------------------------------ 6: messages


def test_values_that_look_like_markup_print_literally(run_cli: Run, tmp_path: Path) -> None:
    assert "[seed]" in run_cli("rules").stdout
    db = tmp_path / "[x].db"
    result = run_cli("demo", "--db", db)
    assert result.returncode == 0, result.stderr
    assert f"(ledger written to {db})" in result.stdout
    done = run_cli("do", "crm.create", "actor=bob", "record=[b]c9", "type=contact", "--db", db)
    assert "contact [b]c9" in done.stdout, done.stdout


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (
            ("crm.update", "actor=bob", "recrod=c1"),
            "crm.update: unknown key 'recrod' (valid: actor, record, fields, start, regarding)",
        ),
        (("option", "user=alice", "name=sync_filter", "value=ownd"), "sync_filter must be owned or owned_and_shared"),
        (("option", "user=alice", "name=delete_untracked_email_in_crm", "value=x"), "must be true or false"),
    ],
)
def test_a_bad_verb_argument_says_what_is_wrong(
    pairs: tuple[str, ...], message: str, run_cli: Run, tmp_path: Path
) -> None:
    db = _ledger(run_cli, tmp_path)
    line = _refused(run_cli("do", *pairs, "--db", db))
    assert message in line and "literal[" not in line, line


CHECKED = """\
title: a check that cannot be right
users: {alice: {}, bob: {}}
steps:
  - {do: crm.create, actor: bob, record: c1, type: contact}
  - {do: crm.share, actor: bob, record: c1, with: alice}
  - expect: CHECK
"""


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (
            "{outlook: {alice: {c1: {owner: bob}}}}",
            "unknown key 'owner' in a check of an Outlook item (valid: type, linked, completed, start, fields)",
        ),
        ("{crm: {c1: {state: linkedX}}}", "'linkedX' (valid: active, inactive, completed, canceled)"),
        ("{crm: {c1: {type: spaceship}}}", "'spaceship' (valid: contact"),
        ("{links: [{user: alice, state: linkedX}]}", "'linkedX' (valid: linked, unlinked)"),
        ("{crm: {c1: gone}}", "a check of a CRM record is absent or a mapping of type, owner"),
        ("{crm: {c1: {owner: zed}}}", "crm.c1.owner: unknown user 'zed'"),
        ("{crm: {c1: {shared_with: [alice, zed]}}}", "unknown user 'zed'"),
        ("{links: [{user: zed}]}", "unknown user 'zed'"),
        ("{why: {'outlook:zed/c1': null}}", "unknown user 'zed'"),
        ("{why: {'crm:': null}}", "'crm:' is not a reference"),
        ("{why: {'outlook:alice': CONTACT-DEL-CRM-OWNER}}", "'outlook:alice' is not a reference"),
    ],
)
@pytest.mark.parametrize("where", ["memory", "sqlite"])
def test_a_check_that_cannot_be_right_is_bad_input_everywhere(
    check: str, message: str, where: str, run_cli: Run, tmp_path: Path
) -> None:
    scenario = tmp_path / "check.yaml"
    scenario.write_text(CHECKED.replace("CHECK", check), encoding="utf-8")
    db = ("--db", tmp_path / "c.db") if where == "sqlite" else ()
    line = _refused(run_cli("run", scenario, *db))
    assert message in line, line
    assert "step 3" in line and "literal[" not in line, line
    if db:  # nothing of the file was appended (the ledger may not even exist)
        state = run_cli("state", "--json", *db)
        assert state.returncode == 2 or json.loads(state.stdout)["crm"] == {}


def test_a_url_that_is_not_a_ledger_is_refused_not_taken_as_a_file(run_cli: Run, tmp_path: Path) -> None:
    for args in (("state",), ("do", "user.add", "user=alice"), ("demo",), ("run", tmp_path / "x.yaml")):
        (tmp_path / "x.yaml").write_text("title: x\nusers: {alice: {}}\n", encoding="utf-8")
        line = _refused(run_cli(*args, "--db", "mysql://root@127.0.0.1/crm"))
        assert "mysql:// is not a ledger location" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.yaml"]  # no file named mysql:, nothing else


@pytest.mark.parametrize("schema", ["", "?schema=s1"])
def test_an_unreachable_postgresql_fails_with_one_line(schema: str, run_cli: Run) -> None:
    line = _refused(run_cli("state", "--db", f"postgresql://postgres@127.0.0.1:9/test{schema}"))
    assert "127.0.0.1" in line and "after 30" not in line, line


# ------------------------------------------------------------------------------------------------ 7: polish

OFFLINE = """\
title: Alice goes offline with nothing else in the ledger
start: 2026-03-02T09:00:00Z
users:
  alice: {}
  Bob: {}
steps:
  - {do: crm.create, actor: Bob, record: c1, type: contact, fields: {fullname: Jane Doe}}
  - {do: offline, user: alice}
"""


def test_state_says_none_for_empty_tables_and_who_is_offline(run_cli: Run, tmp_path: Path) -> None:
    db = _ledger(run_cli, tmp_path, OFFLINE)
    text = run_cli("state", "--db", db).stdout
    assert "Links: none" in text and "alice's Outlook: none" in text, text
    users = text.split("Users\n", 1)[1].split("CRM\n", 1)[0].splitlines()[1:]  # the rows of the Users table
    assert {line.split()[0]: line.split()[1] for line in users} == {"alice": "offline", "Bob": "online"}, text
    doc = json.loads(run_cli("state", "--json", "--db", db).stdout)
    assert doc["users"]["alice"]["offline"] is True and doc["users"]["Bob"]["offline"] is False


def test_user_names_as_declared_and_one_wording_in_history_and_preview(run_cli: Run, tmp_path: Path) -> None:
    db = _ledger(run_cli, tmp_path, APPOINTMENT.replace("bob", "bob.s"))
    history = run_cli("history", "outlook:carol/a1", "--db", db).stdout
    assert "History of outlook:carol/a1 (Review): 4 events, 1 sync point\n" in history, history  # singular
    deleted = "bob.s deleted appointment a1 in CRM"
    assert deleted in history and "Carol" not in history, history
    preview = json.loads(run_cli("preview", "carol", "--json", "--db", db).stdout)
    assert preview["decisions"][0]["cause_sentence"].startswith(deleted), preview
    assert "from carol's Outlook" in preview["decisions"][0]["sentence"], preview


def test_run_of_several_files_ends_with_a_total(run_cli: Run, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(EDITED, encoding="utf-8")
    bad.write_text(EDITED + "  - expect: {pending: {alice: 7}}\n", encoding="utf-8")
    result = run_cli("run", good, bad, good, tmp_path / "missing.yaml")
    assert result.returncode == 2
    assert result.stdout.splitlines()[-1] == "4 files: 2 ok, 1 failed, 1 refused (bad input)", result.stdout
    assert "files:" not in run_cli("run", good).stdout  # one file: its own line says it all


# ------------------------------------------------------------------------------------------------ 5: newcomers


def test_hints_of_demo_and_why_name_the_ledger_in_use(run_cli: Run, tmp_path: Path) -> None:
    db = tmp_path / "my ledger.db"
    demo = run_cli("demo", "--db", db)
    quoted = f"'{db}'"
    assert f"syncledger why outlook:alice/c1 --db {quoted}" in demo.stdout, demo.stdout
    assert f"syncledger history outlook:alice/c1 --db {quoted}" in demo.stdout, demo.stdout
    why = run_cli("why", "outlook:alice/c1", "--db", db).stdout
    assert f"syncledger history outlook:alice/c1 --db {quoted}" in why, why
    missing = _refused(run_cli("state", "--db", tmp_path / "none.db"))
    assert f"syncledger demo --db {tmp_path / 'none.db'}" in missing, missing
