"""The import of a real organisation's exports is staged as an import of action lines is (tools/transfer.py
`Stager`): its rows wait on disk, its staged events and the staged world's past in a staging file, and it
publishes in one transaction. A bad last row, found once the staging file holds the staged events and past,
appends nothing; judged with the staging file in use, it decides and reports the same as in memory; killed with
SIGKILL at any moment, while it judges or while it publishes, it has published nothing or everything, on SQLite
and on PostgreSQL."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from syncledger.ledger.application import Ledger
from syncledger.ledger.store import EventStore
from syncledger.projections.document import state_document
from syncledger.projections.reader import open_reader
from syncledger.tools import transfer
from syncledger.tools.perf.audits import csv_text, dv, organisation, page, render, small_org
from syncledger.tools.sources.errors import SourceError
from syncledger.tools.sources.importer import read_inputs, run_import
from tests.conftest import Locations

HERE = Path(__file__).resolve().parents[1]
UNKNOWN = "99999999-9999-4999-8999-999999999999"

# the child: a source import that kills itself (SIGKILL: no clean-up of any kind) as it judges the k-th row, or
# as it asks for the k-th page to publish (the pages before it are inserted in the open transaction by then)
_CHILD = """
import os, signal, sys
from syncledger.projections.reader import open_reader
from syncledger.tools import transfer
from syncledger.tools.sources import judge
from syncledger.tools.sources.importer import read_inputs, run_import

location, where, k, people, *files = sys.argv[1:]
k = int(k)
transfer.PAGE, transfer.SPILL, transfer.FOLLOW, transfer.PAST_EVERY = 40, 30, 200, 100

def die():
    os.kill(os.getpid(), signal.SIGKILL)

real_pages, real_judge = transfer.Staging.pages, judge.Judge._judge
judged = [0]

def pages(self):
    for n, page in enumerate(real_pages(self)):
        if where == "publish" and n == k:
            die()
        yield page

def judging(self, row):
    judged[0] += 1
    if where == "judge" and judged[0] == k:
        die()
    return real_judge(self, row)

transfer.Staging.pages = pages
judge.Judge._judge = judging
run_import(open_reader(location).ledger, read_inputs(people, [(f, None) for f in files]))
"""


def _exports(folder: Path, seed: int, steps: int, bad_last_row: bool = False) -> tuple[str, list[str]]:
    """A random organisation's exports: four Dataverse pages and a mailbox CSV (newest first); with
    `bad_last_row`, the last page ends with a row of a CRM user people.yaml does not name, after every other."""
    rows, mails = render(organisation(seed, steps), seed)
    if bad_last_row:
        last = max([r["createdon"] for r in rows] + [m["CreationTime"] + "Z" for m in mails])
        rows.append(dv(10**11, 2, "contact", rows[0]["_objectid_value"], last.replace("Z", ".9Z"), UNKNOWN))
    (folder / "people.yaml").write_text(small_org().people)
    files = []
    size = -(-len(rows) // 4)
    for n in range(0, len(rows), size):
        path = folder / f"audits-{n // size}.json"
        path.write_text(page(rows[n : n + size], next_link=n + size < len(rows)))
        files.append(str(path))
    (folder / "m365.csv").write_text(csv_text(list(reversed(mails))))
    return str(folder / "people.yaml"), [*files, str(folder / "m365.csv")]


def _small_stages(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Spill to the staging file every 30 events, stop following past 200, move the past every 100: what a
    large import does, at a size a test can afford. The list counts the moves of the past."""
    moves: list[int] = []
    real = transfer.move_past

    def move(world, staging):  # type: ignore[no-untyped-def]
        moves.append(world.position)
        real(world, staging)

    monkeypatch.setattr(transfer, "PAGE", 40)
    monkeypatch.setattr(transfer, "SPILL", 30)
    monkeypatch.setattr(transfer, "FOLLOW", 200)
    monkeypatch.setattr(transfer, "PAST_EVERY", 100)
    monkeypatch.setattr(transfer, "move_past", move)
    return moves


def test_judged_through_the_staging_file_it_decides_and_reports_as_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    people, files = _exports(tmp_path, seed=5, steps=900)
    given = [(f, None) for f in files]
    plain = Ledger()
    plain_report = run_import(plain, read_inputs(people, given))
    assert plain.world.position < transfer.FOLLOW  # the default thresholds: all of it in memory until published
    moves = _small_stages(monkeypatch)
    location = str(tmp_path / "staged.db")
    staged = open_reader(location).ledger
    staged_report = run_import(staged, read_inputs(people, given))
    assert len(moves) >= 5  # the staged world's past moved to the staging file again and again
    assert staged_report.document() == plain_report.document()
    again = open_reader(location)
    assert state_document(again.world) == state_document(plain.world)
    assert [e for _, e in again.ledger.events()] == [e for _, e in plain.events()]
    again.close()


def test_a_bad_last_row_found_after_the_staging_file_took_over_appends_nothing(
    stored: Locations, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moves = _small_stages(monkeypatch)
    people, files = _exports(tmp_path, seed=8, steps=700, bad_last_row=True)
    location = stored.new()
    assert location is not None
    ledger = open_reader(location).ledger
    with pytest.raises(SourceError) as refused:
        run_import(ledger, read_inputs(people, [(f, None) for f in files]))
    assert moves  # it was found after the past had moved to the staging file
    last_page = json.loads(Path(files[3]).read_text())["value"]
    assert refused.value.file == files[3] and refused.value.row == len(last_page)
    assert f"unknown CRM user '{UNKNOWN}'" in str(refused.value)
    store = EventStore(location)
    assert store.last_position() == 0
    store.close()
    assert ledger.world.position == 0


def test_a_source_import_killed_while_it_judges_or_publishes_has_published_nothing_or_everything(
    stored: Locations, tmp_path: Path
) -> None:
    people, files = _exports(tmp_path, seed=11, steps=300)
    given = [(f, None) for f in files]
    clean = Ledger()
    report = run_import(clean, read_inputs(people, given))
    expected = state_document(clean.world)
    rng = random.Random(20261205)
    outcomes = set()
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    env.pop("SYNCLEDGER_DB", None)
    for where in ["judge", "publish"] * 3:
        location = stored.new()
        assert location is not None
        k = rng.randrange(1, report.rows if where == "judge" else clean.world.position // 40 + 2)
        child = subprocess.run(
            [sys.executable, "-c", _CHILD, location, where, str(k), people, *files],
            env=env,
            capture_output=True,
            timeout=600,
        )
        assert child.returncode in (0, -9), child.stderr.decode()
        store = EventStore(location)
        after = store.last_position()
        store.close()
        if child.returncode == -9:
            assert after == 0, f"killed at {where} {k}: published {after} events of an import"
            outcomes.add("nothing")
        else:
            outcomes.add("everything")
            assert after == clean.world.position
        reader = open_reader(location)
        run_import(reader.ledger, read_inputs(people, given))  # completes it, or finds it all there
        reader.close()
        again = open_reader(location)
        assert state_document(again.world) == expected
        again.close()
    assert "nothing" in outcomes
