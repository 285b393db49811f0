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
