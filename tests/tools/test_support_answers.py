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
