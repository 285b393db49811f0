"""Action lines in and out, through the real command: export then import into an empty ledger gives the same state,
importing twice appends nothing, a crash while publishing appends nothing (a second import appends all), and a bad
or refused line appends nothing and names its line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger
from syncledger.ledger.store import EventStore
from syncledger.projections.document import state_document
from syncledger.projections.reader import open_reader
from syncledger.tools import scenarios, transfer
from syncledger.tools.actionlines import BadLineError, parse_line, read_lines, to_line
from syncledger.tools.transfer import import_actions
from tests import randomwalk

Run = Callable[..., subprocess.CompletedProcess[str]]
HERE = Path(__file__).resolve().parents[1]
SCENARIOS = HERE / "scenarios"
ROUND_TRIPS = [
    "share-then-delete",
    "appointment-deleted-in-crm",
    "email-delete-in-outlook",
    "email-untrack-designated",
    "offline-edit-wins",
    "task-completed-before-sync",
    "rule-go-online-sync",
    "offline-conflict-record-id-used",
    "ids-retrack-email",
]


def _state(db: Path, run_cli: Run) -> dict[str, Any]:
    result = run_cli("state", "--json", "--db", db)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def _random_actions(seed: int, count: int) -> list[v.Action]:
    return [a.model_copy(update={"id": f"rw-{n}"}) for n, a in enumerate(randomwalk.actions(seed, count), 1)]


def _scenario_actions(name: str) -> list[v.Action]:
    actions = [step.action for step in scenarios.load(str(SCENARIOS / f"{name}.yaml")).steps if step.action]
    return [a.model_copy(update={"id": f"s-{n}"}) for n, a in enumerate(actions, 1)]


def _write(path: Path, actions: list[v.Action]) -> Path:
    path.write_bytes(b"".join(to_line(a) for a in actions))
    return path


def _in_memory_state(actions: list[v.Action]) -> dict[str, Any]:
    ledger = Ledger()
    for action in actions:
        ledger.append([action])
    return state_document(ledger.world)


# ----------------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", ROUND_TRIPS)
def test_export_then_import_into_an_empty_ledger_gives_the_same_state(name: str, tmp_path: Path, run_cli: Run) -> None:
    original, copy = tmp_path / "original.db", tmp_path / "copy.db"
    assert run_cli("run", SCENARIOS / f"{name}.yaml", "--db", original).returncode == 0
    exported = run_cli("export", "--db", original)
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert lines and all(list(line)[:3] == ["id", "at", "do"] for line in lines)
    assert not any("queued" in line or line["do"] == "decision" for line in lines)
    (tmp_path / "actions.jsonl").write_text(exported.stdout)
    assert run_cli("import", tmp_path / "actions.jsonl", "--db", copy).returncode == 0
    assert _state(copy, run_cli) == _state(original, run_cli)


def test_a_random_ledger_round_trips_and_a_second_import_appends_nothing(tmp_path: Path, run_cli: Run) -> None:
    actions = _random_actions(seed=11, count=400)
    lines = _write(tmp_path / "actions.jsonl", actions)
    first, copy = tmp_path / "first.db", tmp_path / "copy.db"
    imported = json.loads(run_cli("import", lines, "--json", "--db", first).stdout)
    assert imported["appended"] == imported["lines"] == len(actions) and imported["skipped"] == 0
    state = _state(first, run_cli)
    assert state == _in_memory_state(actions), "import decides exactly as appending one by one"
    again = json.loads(run_cli("import", lines, "--json", "--db", first).stdout)
    assert (again["appended"], again["skipped"], again["events"]) == (0, len(actions), 0)
    assert _state(first, run_cli) == state
    exported = run_cli("export", "--db", first).stdout
    assert exported.encode() == lines.read_bytes(), "export gives back the lines it was given"
    (tmp_path / "exported.jsonl").write_text(exported)
    run_cli("import", tmp_path / "exported.jsonl", "--db", copy)
    assert _state(copy, run_cli) == state


def test_importing_a_longer_file_appends_only_the_new_lines(tmp_path: Path, run_cli: Run) -> None:
    actions = _scenario_actions("share-then-delete")
    db = tmp_path / "l.db"
    run_cli("import", _write(tmp_path / "part.jsonl", actions[:4]), "--db", db)
    found = json.loads(run_cli("import", _write(tmp_path / "all.jsonl", actions), "--json", "--db", db).stdout)
    assert (found["skipped"], found["appended"]) == (4, len(actions) - 4)
    assert _state(db, run_cli) == _in_memory_state(actions)
    text = run_cli("import", tmp_path / "all.jsonl", "--db", db).stdout
    assert (
        text
        == f"Nothing to import: all {len(actions)} actions of {tmp_path / 'all.jsonl'} are in the ledger already.\n"
    )


def test_a_crash_while_publishing_appends_nothing_and_a_second_import_appends_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    actions = _random_actions(seed=5, count=300)
    lines = [to_line(a) for a in actions]
    location = str(tmp_path / "crash.db")
    ledger = open_reader(location).ledger
    import_actions(ledger, lines[:50])
    before = ledger.store.last_position()
    monkeypatch.setattr(transfer, "PAGE", 40)
    monkeypatch.setattr(transfer, "SPILL", 30)
    real_pages = transfer.Staging.pages

    def pages_then_crash(self: transfer.Staging) -> Any:
        for n, page in enumerate(real_pages(self)):
            if n == 3:  # three pages are inserted in the transaction by now
                raise KeyboardInterrupt("the power went out")
            yield page

    monkeypatch.setattr(transfer.Staging, "pages", pages_then_crash)
    with pytest.raises(KeyboardInterrupt):
        import_actions(ledger, lines)
    assert EventStore(location).last_position() == before, "nothing of the interrupted publish is stored"
    monkeypatch.setattr(transfer.Staging, "pages", real_pages)
    found = import_actions(open_reader(location).ledger, lines)
    assert (found.skipped, found.appended) == (50, len(actions) - 50)
    assert state_document(open_reader(location).world) == _in_memory_state(actions)


def test_standard_input_is_read_for_a_dash(tmp_path: Path) -> None:
    actions = _scenario_actions("email-delete-in-outlook")
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    env.pop("SYNCLEDGER_DB", None)
    result = subprocess.run(
        [sys.executable, "-m", "syncledger", "import", "-", "--json", "--db", str(tmp_path / "l.db")],
        input=b"".join(to_line(a) for a in actions),
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["file"] == "standard input" and found["appended"] == len(actions)


def test_export_from_and_to_take_positions_or_times_both_inclusive(tmp_path: Path, run_cli: Run) -> None:
    db = tmp_path / "l.db"
    run_cli("import", _write(tmp_path / "all.jsonl", _scenario_actions("share-then-delete")), "--db", db)
    positions = {p: e for p, e in EventStore(str(db)).read() if isinstance(e, v.Action)}

    def ids(*args: str) -> list[str]:
        result = run_cli("export", *args, "--db", db)
        assert result.returncode == 0, result.stderr
        return [json.loads(line)["id"] for line in result.stdout.splitlines()]

    assert ids("--from", "3", "--to", "9") == [e.id for p, e in positions.items() if 3 <= p <= 9]
    eleven, nine = datetime(2026, 3, 2, 11, tzinfo=UTC), datetime(2026, 3, 2, 9, tzinfo=UTC)
    late = [e.id for e in positions.values() if e.when >= eleven]
    assert ids("--from", "2026-03-02T11:00:00Z") == late and late
    assert ids("--to", "2026-03-02T09:00:00Z") == [e.id for e in positions.values() if e.when <= nine]
    assert "nor a position" in _one_error_line(run_cli("export", "--from", "soon", "--db", db))


# ----------------------------------------------------------------------------------------------- refusals

GOOD = [
    '{"id": "n1", "at": "2026-03-02T12:00:00Z", "do": "crm.create", "actor": "bob", "record": "c7", "type": "task"}',
    '{"id": "n2", "at": "2026-03-02T12:01:00Z", "do": "crm.update", "actor": "bob", "record": "c7", '
    '"fields": {"subject": "Call"}}',
]
BAD = {
    "not JSON": (['{"id": "n3", "at": '], "line 3: not valid JSON"),
    "not an object": (["[1, 2]"], "line 3: an action line is a JSON object with a 'do' key, not list"),
    "unknown action": (
        ['{"id": "n3", "at": "2026-03-02T12:02:00Z", "do": "crm.explode", "actor": "bob", "record": "c7"}'],
        "line 3: unknown action 'crm.explode'",
    ),
    "no id": (['{"at": "2026-03-02T12:02:00Z", "do": "sync", "user": "bob"}'], "line 3: missing key 'id'"),
    "internal key": (
        ['{"id": "n3", "at": "2026-03-02T12:02:00Z", "do": "sync", "user": "bob", "queued": []}'],
        "line 3: unknown key 'queued'",
    ),
    "refused by the ledger": (
        ["", '{"id": "n3", "at": "2026-03-02T12:02:00Z", "do": "crm.delete", "actor": "bob", "record": "zz"}'],
        "line 4: unknown record 'zz'",
    ),
    "a number as the time": (
        ['{"id": "n3", "at": 4102444800, "do": "sync", "user": "bob"}'],
        "line 3: at must be text, not a number",
    ),
    "null as the id": (
        ['{"id": null, "at": "2026-03-02T12:02:00Z", "do": "sync", "user": "bob"}'],
        "line 3: id must be text, not null",
    ),
    "time going backwards": (
        ['{"id": "n3", "at": "2026-03-02T08:00:00Z", "do": "sync", "user": "bob"}'],
        "line 3: time goes backwards",
    ),
    "same id, other content, in the ledger": (
        ['{"id": "s-5", "at": "2026-03-02T09:02:00Z", "do": "sync", "user": "bob"}'],
        "line 3: action id 's-5' is already in the ledger (position 5) with different content (user differ)",
    ),
    "same id, other content, in the file": (
        ['{"id": "n1", "at": "2026-03-02T12:02:00Z", "do": "sync", "user": "bob"}'],
        "line 3: action id 'n1' is also on line 1 with different content",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_line_is_refused_with_its_number_and_nothing_is_appended(case: str, tmp_path: Path, run_cli: Run) -> None:
    db = tmp_path / "l.db"
    run_cli("import", _write(tmp_path / "base.jsonl", _scenario_actions("share-then-delete")), "--db", db)
    before = _state(db, run_cli)
    extra, problem = BAD[case]
    lines = tmp_path / "bad.jsonl"
    lines.write_text("\n".join([*GOOD, *extra]) + "\n")
    assert f"bad.jsonl: {problem}" in _one_error_line(run_cli("import", lines, "--db", db))
    assert _state(db, run_cli) == before


def test_the_first_bad_line_is_named_even_if_a_later_one_is_not_json(tmp_path: Path, run_cli: Run) -> None:
    db = tmp_path / "l.db"
    run_cli("import", _write(tmp_path / "base.jsonl", _scenario_actions("share-then-delete")), "--db", db)
    refused = '{"id": "n2", "at": "2026-03-02T12:01:00Z", "do": "crm.delete", "actor": "bob", "record": "zz"}'
    lines = tmp_path / "bad.jsonl"
    lines.write_text("\n".join([GOOD[0], refused, GOOD[1], "{not json"]) + "\n")
    assert "bad.jsonl: line 2: unknown record 'zz'" in _one_error_line(run_cli("import", lines, "--db", db))
    changed = '{"id": "s-3", "at": "2026-03-02T09:00:00Z", "do": "crm.create", "actor": "bob", "record": "c1", '
    changed += '"type": "task"}'  # s-3 created a contact
    lines.write_text("\n".join([GOOD[0], changed, refused]) + "\n")
    assert "line 2: action id 's-3' is already in the ledger" in _one_error_line(run_cli("import", lines, "--db", db))


def test_a_missing_file_is_one_line(tmp_path: Path, run_cli: Run) -> None:
    assert "cannot read nowhere.jsonl: No such file or directory" in _one_error_line(
        run_cli("import", "nowhere.jsonl", "--db", tmp_path / "l.db")
    )


def test_action_lines_parse_and_format_without_the_ledger() -> None:
    line = b'{"id":"a-1","at":"2026-03-02T11:00:00Z","do":"crm.share","actor":"bob","record":"c1","with":"alice"}'
    action = parse_line(1, line)
    assert to_line(action) == line + b"\n"
    with pytest.raises(BadLineError, match="line 7: missing key 'at'"):
        parse_line(7, b'{"id": "x", "do": "sync", "user": "bob"}')
    with pytest.raises(BadLineError, match=r"line 2: unknown key 'k+\.\.\.k+' \(valid: user\)$") as refused:
        parse_line(
            2, b'{"id": "x", "at": "2026-03-02T11:00:00Z", "do": "sync", "user": "bob", "' + b"k" * 100_000 + b'": 1}'
        )
    assert len(str(refused.value)) < 600
    assert [n for n, _ in read_lines([b"\xef\xbb\xbf" + line, b"  \n", line.replace(b"a-1", b"a-2")])] == [1, 3]
