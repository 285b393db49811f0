"""Property: a random organisation's actions, rendered as the exports an administrator would give (Dataverse
audit pages and a mailbox audit CSV, with noise), import as exactly those actions; convert's output imports to
the same state; and an import killed with SIGKILL is completed by running it again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger
from syncledger.projections.document import state_document
from syncledger.tools.actionlines import to_line
from syncledger.tools.sources.importer import read_inputs, run_import
from syncledger.tools.transfer import import_actions

from .sources.render import ORG_PEOPLE, csv_text, organisation, page, render

KEYS = ("at", "do", "actor", "user", "record", "item", "type", "owner", "fields", "start", "to", "with", "changed")


def _files(folder: Path, seed: int, steps: int, pages: int = 3) -> list[tuple[str, str | None]]:
    actions = organisation(seed, steps)
    rows, mails = render(actions, seed)
    (folder / "people.yaml").write_text(ORG_PEOPLE)
    files = []
    size = max(1, -(-len(rows) // pages))
    for n in range(0, len(rows), size):  # pages, as the Web API returns them (the last one without a nextLink)
        path = folder / f"audits-{n // size}.json"
        path.write_text(page(rows[n : n + size], next_link=n + size < len(rows)))
        files.append((str(path), None))
    csv_path = folder / "m365.csv"
    csv_path.write_text(csv_text(list(reversed(mails)), "powershell" if seed % 2 else "purview"))  # newest first
    files.append((str(csv_path), None))
    (folder / "expected.json").write_text(json.dumps(actions))
    return files


def _plain(action: dict[str, Any]) -> dict[str, Any]:
    return {k: action[k] for k in KEYS if k in action and action[k] not in ({}, None)}


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10**6), steps=st.integers(1, 120))
def test_a_random_organisation_rendered_as_exports_imports_as_its_own_actions(
    tmp_path_factory: Any, seed: int, steps: int
) -> None:
    folder = tmp_path_factory.mktemp("org")
    files = _files(folder, seed, steps)
    expected = json.loads((folder / "expected.json").read_text())
    ledger = Ledger()
    report = run_import(ledger, read_inputs(str(folder / "people.yaml"), files))
    got = []
    for _, e in ledger.events():
        if isinstance(e, v.Action) and e.do not in ("user.add", "sync", "alias"):
            got.append(_plain(v.dump(e)))
    assert got == [_plain(a) for a in expected]
    assert report.discrepancies == 0 and report.first_seen == 0
    assert (
        sum(report.skipped.values()) + sum(n for k, n in report.appended.items() if k not in ("user.add", "sync"))
        == report.rows
    )

    lines: list[bytes] = []
    converted = Ledger()
    run_import(
        converted,
        read_inputs(str(folder / "people.yaml"), files),
        append=False,
        collect=lambda a: lines.append(to_line(a)),
    )
    assert converted.world.position == 0  # convert appends nothing
    again = Ledger()
    import_actions(again, lines)
    assert state_document(again.world) == state_document(ledger.world)


def _cli(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: val for k, val in os.environ.items() if k != "SYNCLEDGER_DB"}
    return subprocess.run(
        [sys.executable, "-m", "syncledger", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_an_import_from_the_sources_killed_with_sigkill_is_completed_by_running_it_again(tmp_path: Path) -> None:
    files = [f for f, _ in _files(tmp_path, 7, 2500, pages=4)]
    args = ["import", "--people", tmp_path / "people.yaml", *files]
    clean = _cli(*args, "--db", tmp_path / "clean.db", cwd=tmp_path)
    assert clean.returncode == 0, clean.stderr
    state = _cli("state", "--json", "--db", tmp_path / "clean.db", cwd=tmp_path).stdout
    for run in range(3):
        db = tmp_path / f"killed{run}.db"
        env = {k: val for k, val in os.environ.items() if k != "SYNCLEDGER_DB"}
        importing = subprocess.Popen(
            [sys.executable, "-m", "syncledger", *map(str, args), "--db", str(db)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 300
        while importing.poll() is None and time.monotonic() < deadline and not _stored(db):
            time.sleep(0.002)
        time.sleep(0.01 * run)
        importing.send_signal(signal.SIGKILL)
        importing.wait()
        assert _cli("verify", "--db", db, cwd=tmp_path).returncode in (0, 2)  # 2: killed before any ledger
        again = _cli(*args, "--db", db, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert _cli("state", "--json", "--db", db, cwd=tmp_path).stdout == state
        assert _cli("verify", "--db", db, cwd=tmp_path).returncode == 0


def _stored(db: Path) -> int:
    import sqlite3
    from contextlib import closing

    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1)) as reader:
            return int(reader.execute("SELECT count(*) FROM stored_events").fetchone()[0])
    except sqlite3.Error:
        return 0
