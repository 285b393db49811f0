"""References by unique prefix and labels next to ids, through the real command line (SOURCES.md "Record and item
ids" and "Precise rules": prefixes)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

Run = Callable[..., subprocess.CompletedProcess[str]]

RECORDS = [
    {"id": "7d1e2f3a-5b6c", "type": "appointment", "owner": "alice", "fields": {"subject": "QBR Contoso"}},
    {"id": "7d1e9999-0000", "type": "contact", "owner": "alice", "fields": {"fullname": "Jane Doe"}},
    {"id": "ABCDef01", "type": "contact", "owner": "bob", "fields": {"fullname": "Ann Lee"}},
    {"id": "abcd", "type": "contact", "owner": "bob", "fields": {"fullname": "Exact Match"}},
    {"id": "QwErTyUiOpAs-1", "type": "contact", "owner": "bob", "fields": {"fullname": "Many Letters"}},
    {"id": "gone-1234", "type": "task", "owner": "bob", "fields": {"subject": "Deleted task"}},
    *({"id": f"many-{n:02}", "type": "contact", "owner": "bob"} for n in range(12)),
]
ITEMS = {
    "alice": [
        {"id": "RgAAAAB1", "type": "appointment", "fields": {"subject": "QBR Contoso"}},
        {"id": "rgAAAAB2", "type": "email", "fields": {"subject": "Lunch"}},
    ]
}
LINKS = [{"user": "alice", "item": "RgAAAAB1", "record": "7d1e2f3a-5b6c", "origin": "synced"}]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("refs")
    scenario = folder / "refs.yaml"
    scenario.write_text(
        yaml.safe_dump(
            {
                "title": "prefixes",
                "start": "2026-03-01T00:00:00Z",
                "users": {"alice": {}, "bob": {}},
                "baseline": {"records": RECORDS, "items": ITEMS, "links": LINKS},
                "steps": [{"do": "crm.delete", "actor": "bob", "record": "gone-1234"}],
            }
        )
    )
    path = folder / "l.db"
    result = subprocess.run(
        ["python", "-m", "syncledger", "run", str(scenario), "--db", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return path


def _why(run_cli: Run, db: Path, ref: str) -> dict[str, object]:
    result = run_cli("why", ref, "--json", "--db", db)
    assert result.returncode == 0, result.stderr
    found: dict[str, object] = json.loads(result.stdout)
    return found


def _refused(run_cli: Run, db: Path, *args: str) -> str:
    result = run_cli(*args, "--db", db)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


@pytest.mark.parametrize(
    ("typed", "full"),
    [
        ("crm:7d1e2", "crm:7d1e2f3a-5b6c"),
        ("crm:7D1E2F", "crm:7d1e2f3a-5b6c"),  # CRM ids ignore case (GUIDs)
        ("crm:abcdE", "crm:ABCDef01"),
        ("crm:abcd", "crm:abcd"),  # an exact id wins over the longer ids it starts
        ("crm:ABCD", "crm:abcd"),  # so does an exact id typed in another case
        ("crm:gone", "crm:gone-1234"),  # deleted records are still named
        ("crm:qwertyuiopas", "crm:QwErTyUiOpAs-1"),  # too many spellings to look up one by one: a scan
        ("outlook:alice/RgAA", "outlook:alice/RgAAAAB1"),
        ("outlook:alice/rgAA", "outlook:alice/rgAAAAB2"),  # Outlook ids keep their case
    ],
)
def test_a_unique_prefix_names_its_item_in_why_and_history(run_cli: Run, db: Path, typed: str, full: str) -> None:
    assert _why(run_cli, db, typed)["ref"] == full
    history = run_cli("history", typed, "--json", "--db", db)
    assert history.returncode == 0 and json.loads(history.stdout)["ref"] == full, history.stderr


def test_an_ambiguous_prefix_is_refused_with_its_candidates_and_their_labels(run_cli: Run, db: Path) -> None:
    line = _refused(run_cli, db, "why", "crm:7d1e")
    assert "ambiguous reference 'crm:7d1e'" in line and "2 references start with it" in line
    assert "crm:7d1e2f3a-5b6c (QBR Contoso)" in line and "crm:7d1e9999-0000 (Jane Doe)" in line
    assert "crm:abcd" not in line


def test_more_than_ten_candidates_are_cut_to_ten(run_cli: Run, db: Path) -> None:
    line = _refused(run_cli, db, "why", "crm:many")
    assert "more than 10 references start with it" in line
    assert line.count("crm:many-") == 10


def test_a_prefix_needs_four_characters_and_outlook_ids_keep_their_case(run_cli: Run, db: Path) -> None:
    assert "at least 4 characters" in _refused(run_cli, db, "why", "crm:7d1")
    assert "unknown reference 'outlook:alice/RGAA'" in _refused(run_cli, db, "why", "outlook:alice/RGAA")
    assert "unknown reference 'outlook:bob/RgAA'" in _refused(run_cli, db, "why", "outlook:bob/RgAA")
    assert "unknown reference 'crm:zzzz'" in _refused(run_cli, db, "why", "crm:zzzz")


def test_labels_stand_next_to_ids_in_why_history_html_and_state(run_cli: Run, db: Path, tmp_path: Path) -> None:
    why = run_cli("why", "crm:7d1e2", "--db", db).stdout
    assert why.startswith("crm:7d1e2f3a-5b6c (QBR Contoso)\n")
    assert _why(run_cli, db, "crm:gone")["label"] == "Deleted task"  # from the event that made it
    page = tmp_path / "h.html"
    history = run_cli("history", "outlook:alice/RgAA", "--html", page, "--db", db).stdout
    assert history.startswith("History of outlook:alice/RgAAAAB1 (QBR Contoso): ")
    assert "<h1>History of outlook:alice/RgAAAAB1 (QBR Contoso)</h1>" in page.read_text()
    state = run_cli("state", "--db", db).stdout
    assert "RgAAAAB1 (QBR Contoso)" in state and "7d1e2f3a-5b6c (QBR Contoso)" in state


def test_an_alias_resolves_to_its_item_and_is_one_candidate_with_it() -> None:
    """An `alias` action (the importers' mailbox id of an item a sync created) is filed under both names; a
    reference to the alias, exact or by prefix, names the item. (A stand-in event: the action is the importers'.)"""
    from types import SimpleNamespace

    from syncledger.projections.index import ItemIndex
    from syncledger.tools.explain.refs import resolve_ref

    index = ItemIndex()
    index.touched = {
        "outlook:alice/7d1e2f3a": [5],
        "outlook:alice/AAMkAGI2": [9],
        "outlook:alice/7d1e9999": [7],
        "outlook:alice/AAMkOther": [8],
    }
    alias = SimpleNamespace(do="alias", user="alice", item="7d1e2f3a", alias="AAMkAGI2")
    events = {9: alias, 5: SimpleNamespace(do="decision"), 7: SimpleNamespace(do="decision")}
    read = events.get
    assert resolve_ref("outlook:alice/AAMkAGI2", index, None, read) == "outlook:alice/7d1e2f3a"  # type: ignore[arg-type]
    assert resolve_ref("outlook:alice/AAMkAG", index, None, read) == "outlook:alice/7d1e2f3a"  # type: ignore[arg-type]
    index.touched["outlook:alice/AAMkAGI3"] = [9]  # a second alias of the same item: still one candidate
    events[9] = SimpleNamespace(do="alias", user="alice", item="7d1e2f3a", alias="AAMkAGI3")
    index.touched["outlook:alice/AAMkAGI2"] = [10]
    events[10] = alias
    assert resolve_ref("outlook:alice/AAMkAG", index, None, read) == "outlook:alice/7d1e2f3a"  # type: ignore[arg-type]
