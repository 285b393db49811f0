"""`verify` on events changed behind the ledger's back and sealed again: before it checks, it brings the read models
up to date, folding the store's rows as they are (not validated again), and what stops that is left to the checks
to report. Each change below stops it in another way (found by changing each field of each kind of event in turn);
each is a finding at its position (exit 1), never a crash. And an error of the program itself while catching up is
not taken for damaged data: it is an internal error (exit 70), not an "ok"."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from syncledger.ledger.seal import seal, unwrap, wrap
from syncledger.projections.projector import Projector
from syncledger.projections.reader import open_reader
from syncledger.tools.cli import load_commands
from syncledger.tools.cli.app import app
from tests import randomwalk
from tests.changes import dropping, setting

Run = Callable[..., subprocess.CompletedProcess[str]]


def _ledger(tmp_path: Path) -> str:
    location = str(tmp_path / "ledger.db")
    reader = open_reader(location, checkpoint_every=40)
    for action in randomwalk.actions(5, 40):
        reader.ledger.append([action])
    reader.close()
    return location


def _append_changed(location: str, do: str, change: Callable[[dict[str, Any]], None]) -> int:
    """A copy of the last stored `do` action, changed, appended after the last event and sealed into the chain as
    the ledger would seal it (it has no seal key): only validating it shows what is wrong."""
    import sqlite3

    with sqlite3.connect(location) as db:
        rows = db.execute("SELECT originator_version, topic, state FROM stored_events ORDER BY originator_version")
        stored = [(int(p), t, bytes(s)) for p, t, s in rows]
        topic, payload = next(
            (t, unwrap(s)[2]) for _, t, s in reversed(stored) if orjson.loads(unwrap(s)[2])["do"] == do
        )
        data = orjson.loads(payload)
        change(data)
        position, changed = stored[-1][0] + 1, orjson.dumps(data)
        sealed = wrap(seal(unwrap(stored[-1][2])[1], position, topic, changed, None), changed, False)
        db.execute(
            "INSERT INTO stored_events (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
            ("syncledger", position, topic, sealed),
        )
    return position


# (the kind of action copied, the change, the check that reports it)
CHANGES = {
    "no-time": ("crm.create", dropping("at"), "time"),  # AssertionError: the ledger stamps every action
    "no-kind": ("crm.create", dropping("do"), "decode"),  # KeyError
    "id-a-number": ("crm.create", setting("id", 0), "decode"),  # TypeError
    "fields-a-text": ("crm.update", setting("fields", "x"), "decode"),  # ValueError
    "option-unknown": ("option", setting("name", "x"), "decode"),  # AttributeError: a user has no option 'x'
}


@pytest.mark.parametrize("name", list(CHANGES))
def test_an_event_changed_and_sealed_again_is_a_finding_not_a_crash(name: str, tmp_path: Path, run_cli: Run) -> None:
    do, change, check = CHANGES[name]
    location = _ledger(tmp_path)
    position = _append_changed(location, do, change)
    done = run_cli("verify", "--json", "--db", location)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    found = [(f["position"], f["check"]) for f in json.loads(done.stdout)["findings"]]
    assert (position, check) in found, found


@pytest.mark.parametrize("error", [AttributeError, TypeError])
def test_an_error_of_the_program_while_catching_up_is_not_taken_for_damaged_data(
    error: type[Exception], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both are raised by damaged data too (above), so the catch-up lets them through; but the checks then find the
    events sound, so they are raised again, not reported as "ok" over read models left behind (as an AttributeError
    was)."""
    location = _ledger(tmp_path)

    def catch_up_with_a_bug(self: Projector, progress: Any = None) -> Any:
        raise error("a bug")

    monkeypatch.setattr(Projector, "catch_up", catch_up_with_a_bug)
    load_commands("verify")
    result = CliRunner().invoke(app, ["verify", "--db", location])
    assert isinstance(result.exception, error), result.output
