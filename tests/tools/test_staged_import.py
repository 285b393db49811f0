"""The staged import (tools/transfer.py): what an import checks is staged in a temporary file, not in memory, and
published in one transaction. Killed with SIGKILL at any moment, while it checks or while it publishes, it has
published nothing or everything, on SQLite and on PostgreSQL; a bad last line appends nothing; a lost race checks
the staged lines again; duplicates and lines the ledger holds are found wherever they were staged."""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger
from syncledger.ledger.store import EventStore
from syncledger.projections.document import state_document
from syncledger.projections.reader import open_reader
from syncledger.tools import transfer
from syncledger.tools.actionlines import BadLineError, to_line
from syncledger.tools.transfer import import_actions, import_parsed
from tests import randomwalk
from tests.conftest import Locations

HERE = Path(__file__).resolve().parents[1]

# the child: an import that kills itself (SIGKILL: no clean-up of any kind) at the k-th line it checks, or as it
# asks for the k-th page to publish (the pages before it are inserted in the open transaction by then)
_CHILD = """
import os, signal, sys
from syncledger.projections.reader import open_reader
from syncledger.tools import transfer
from syncledger.tools.actionlines import read_lines

location, where, k, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
transfer.PAGE, transfer.SPILL, transfer.FOLLOW = 40, 30, 200  # many pages; the read models stop following

def die():
    os.kill(os.getpid(), signal.SIGKILL)

real_pages = transfer.Staging.pages

def pages(self):
    for n, page in enumerate(real_pages(self)):
        if where == "publish" and n == k:
            die()
        yield page

transfer.Staging.pages = pages

def lines():
    with open(path, "rb") as source:
        for n, numbered in enumerate(read_lines(source)):
            if where == "stage" and n == k:
                die()
            yield numbered

transfer.import_parsed(open_reader(location).ledger, lines())
"""


def _actions(seed: int, count: int, prefix: str = "rw") -> list[v.Action]:
    return [a.model_copy(update={"id": f"{prefix}-{n}"}) for n, a in enumerate(randomwalk.actions(seed, count), 1)]


def _in_memory_state(actions: list[v.Action]) -> dict[str, Any]:
    ledger = Ledger()
    for action in actions:
        ledger.append([action])
    return state_document(ledger.world)


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    env.pop("SYNCLEDGER_DB", None)
    return env


def test_an_import_killed_while_it_checks_or_publishes_has_published_nothing_or_everything(
    stored: Locations, tmp_path: Path
) -> None:
    actions = _actions(seed=11, count=400)
    path = tmp_path / "org.jsonl"
    path.write_bytes(b"".join(to_line(a) for a in actions))
    clean = _in_memory_state(actions)
    rng = random.Random(20261204)
    outcomes = set()
    for where in ["stage", "publish"] * 4:
        location = stored.new()
        assert location is not None
        first = open_reader(location)
        import_actions(first.ledger, [to_line(a) for a in actions[:60]])  # already there
        first.close()  # each iteration closes what it opens: PostgreSQL counts its connections
        before = _last_position(location)
        pages = (before + 2 * len(actions)) // 40  # at most; a kill beyond the last page lets it finish
        k = rng.randrange(0, len(actions) if where == "stage" else pages + 2)
        child = subprocess.run(
            [sys.executable, "-c", _CHILD, location, where, str(k), str(path)],
            env=_env(),
            capture_output=True,
            timeout=600,
        )
        assert child.returncode in (0, -9), child.stderr.decode()
        after = _last_position(location)
        reader = open_reader(location)  # opens (the read models are not ahead of the events)
        if child.returncode == -9:
            assert after == before, f"killed at {where} {k}: published {after - before} events of an import"
            outcomes.add("nothing")
        else:
            outcomes.add("everything")
            assert state_document(reader.world) == clean
        found = import_actions(reader.ledger, [to_line(a) for a in actions])  # completes it
        reader.close()
        assert found.skipped + found.appended == len(actions)
        again = open_reader(location)
        assert state_document(again.world) == clean
        again.close()
    assert "nothing" in outcomes


def _last_position(location: str) -> int:
    store = EventStore(location)
    try:
        return store.last_position()
    finally:
        store.close()


def test_a_bad_last_line_appends_nothing(stored: Locations) -> None:
    actions = _actions(seed=3, count=300)
    location = stored.new()
    assert location is not None
    lines = [to_line(a) for a in actions] + [b'{"id": "x", "at": "2026-01-01T00:00:00Z", "do": "no such verb"}\n']
    ledger = open_reader(location).ledger
    with pytest.raises(BadLineError) as refused:
        import_actions(ledger, lines)
    assert refused.value.number == len(lines)
    assert EventStore(location).last_position() == 0
    assert ledger.world.position == 0


def test_a_lost_race_checks_the_staged_lines_again_and_publishes_after_the_other_writer(
    stored: Locations, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer appends the file's first actions while the import checks: the publish meets its rows, the
    import stages its lines again from the staging file (the stream is not read twice), skips what the other
    writer appended, and publishes the rest after it."""
    mine = _actions(seed=8, count=200)
    location = stored.new()
    assert location is not None
    monkeypatch.setattr(transfer, "SPILL", 25)
    other = open_reader(location).ledger
    read = []

    def lines() -> Iterator[tuple[int, v.Action]]:
        for number, action in enumerate(mine, 1):
            read.append(number)
            if number == 150:
                other.append(mine[:5])
            yield number, action

    found = import_parsed(open_reader(location).ledger, lines())
    assert read == list(range(1, len(mine) + 1)), "the stream was read once"
    assert (found.lines, found.skipped, found.appended) == (len(mine), 5, len(mine) - 5)
    stored_actions = [e for _, e in EventStore(location).read() if isinstance(e, v.Action)]
    assert [a.id for a in stored_actions] == [a.id for a in mine]
    assert found.first == other.world.position + 1
    assert state_document(open_reader(location).world) == _in_memory_state(mine)


@pytest.mark.parametrize("spill", [1, 10_000])
def test_a_line_repeated_with_other_content_names_the_first_line_wherever_it_was_staged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spill: int
) -> None:
    monkeypatch.setattr(transfer, "SPILL", spill)  # in the staging file, or still in memory
    actions = _actions(seed=4, count=120)
    changed = actions[30].model_copy(update={"at": actions[-1].at})
    lines = [to_line(a) for a in actions] + [to_line(changed)]
    location = str(tmp_path / "l.db")
    with pytest.raises(BadLineError) as refused:
        import_actions(open_reader(location).ledger, lines)
    assert refused.value.number == len(lines)
    assert "is also on line 31" in str(refused.value)
    assert EventStore(location).last_position() == 0


def test_lines_the_ledger_holds_are_checked_a_few_thousand_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "HELD", 7)
    actions = _actions(seed=6, count=150)
    location = str(tmp_path / "l.db")
    import_actions(open_reader(location).ledger, [to_line(a) for a in actions])
    again = import_actions(open_reader(location).ledger, [to_line(a) for a in actions])
    assert (again.skipped, again.appended) == (len(actions), 0)
    lines = [to_line(a) for a in actions]
    lines[100] = to_line(actions[100].model_copy(update={"at": actions[-1].at}))
    more = _actions(seed=7, count=30, prefix="new")
    with pytest.raises(BadLineError) as refused:
        import_actions(open_reader(location).ledger, lines + [to_line(a) for a in more])
    assert refused.value.number == 101 and "already in the ledger" in str(refused.value)
    assert EventStore(location).last_position() == open_reader(location).world.position


def _open_files() -> set[str]:
    files = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor is closed by now
            files.add(os.readlink(f"/proc/self/fd/{fd}"))
    return files


def test_the_staging_file_is_gone_from_the_file_system_as_soon_as_it_is_made() -> None:
    before = _open_files()
    staging = transfer.Staging(EventStore().mapper)
    try:
        staging.add([(n, "t", bytes(300)) for n in range(1, 60_000)], {})  # more than its page cache holds
        new = _open_files() - before
        assert new and all(f.endswith("(deleted)") for f in new), new
    finally:
        staging.db.close()


def test_a_large_import_moves_its_staged_past_to_the_staging_file_and_decides_the_same(
    stored: Locations, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond FOLLOW events the read models stop following and the staged world's past (action ids, deleted
    records and items, ended links) moves to the staging file every PAST_EVERY events: the rules, asking it,
    decide exactly as in memory, and a line repeating an id staged long before is still found."""
    for name, value in (("SPILL", 30), ("FOLLOW", 50), ("PAST_EVERY", 40)):
        monkeypatch.setattr(transfer, name, value)
    moved = []
    real_move = transfer.move_past

    def move(world: Any, staging: transfer.Staging) -> None:
        moved.append(world.position)
        real_move(world, staging)

    monkeypatch.setattr(transfer, "move_past", move)
    actions = _actions(seed=12, count=500)
    location = stored.new()
    assert location is not None
    lines = [to_line(a) for a in actions]
    changed = actions[3].model_copy(update={"at": actions[-1].at})
    with pytest.raises(BadLineError) as refused:
        import_actions(open_reader(location).ledger, [*lines, to_line(changed)])
    assert "is also on line 4" in str(refused.value) and EventStore(location).last_position() == 0
    found = import_actions(open_reader(location).ledger, lines)
    assert len(moved) > 5 and found.appended == len(actions)
    assert state_document(open_reader(location).world) == _in_memory_state(actions)
    assert state_document(open_reader(location).world, links_limit=3) == state_document(
        _world_of(actions), links_limit=3
    )


def _world_of(actions: list[v.Action]) -> Any:
    ledger = Ledger()
    for action in actions:
        ledger.append([action])
    return ledger.world
