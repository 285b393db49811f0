"""`verify` compares its rebuild, spilled to a scratch database on disk, with the stored read models read a few
rows at a time: with tiny spill, drain and fetch sizes (so that every path through the spill and the streams is
taken many times over a short ledger), on every back end, it finds what was changed in the index, the archived
past and the action ids, and closes the spill however it ends (its file has no name to leave behind)."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import pytest

from syncledger.ledger import vocabulary as v
from syncledger.projections import integrity, spill, sqlmodels
from syncledger.projections.integrity import Report, verify
from syncledger.projections.memorymodels import MemoryReadModels
from syncledger.projections.reader import Reader, open_reader
from syncledger.projections.sealing import batch_problems
from tests import randomwalk
from tests.conftest import Locations

SPILLS: list[spill.Spill] = []  # every spill a test opened


@pytest.fixture(autouse=True)
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spill, "SPILL_ROWS", 3)
    monkeypatch.setattr(integrity, "DRAIN_EVERY", 7)
    monkeypatch.setattr(sqlmodels, "ITERSIZE", 4)
    opened = spill.Spill.__init__

    def noted(self: spill.Spill, rows: int | None = None) -> None:
        opened(self, rows)
        SPILLS.append(self)

    SPILLS.clear()
    monkeypatch.setattr(spill.Spill, "__init__", noted)


def _reader(locations: Locations, count: int = 120) -> Reader:
    reader = open_reader(locations.new(), checkpoint_every=40)
    for action in randomwalk.actions(5, count):
        reader.ledger.append([action])
    reader.projector.catch_up()
    return reader


def _verify(reader: Reader) -> Report:
    return verify(reader.ledger.store, reader.projector.models)


def _sql(reader: Reader, statement: str, *params: object) -> list[Any]:
    """SQL on the reader's own read-model connection, behind the ledger's back."""
    db = reader.projector.models.db  # type: ignore[attr-defined]
    rows = db.execute(statement.replace("?", reader.projector.models.mark), params)  # type: ignore[attr-defined]
    found = rows.fetchall() if rows.description else []
    db.commit()
    return list(found)


def _index(reader: Reader) -> list[tuple[str, int, str | None]]:
    models = reader.projector.models
    return [(ref, p, r) for ref in sorted(models.refs()) for p, r in models.touched(ref)]


def _found(report: Report, check: str) -> list[tuple[int, str]]:
    return [(f.position, f.problem) for f in report.findings if f.check == check]


def test_a_clean_ledger_verifies_through_the_spill_and_closes_it(locations: Locations) -> None:
    reader = _reader(locations)
    report = _verify(reader)
    assert report.ok, report.findings
    assert report.events > 100
    assert SPILLS and all(s.db is None for s in SPILLS)
    reader.close()


def _nameless_files() -> list[str]:
    """The files this process has open that no longer have a name (Linux: /proc/self/fd)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.endswith(" (deleted)"):
            found.append(target)
    return found


def test_a_scratch_database_is_on_disk_under_no_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """What does not fit its small cache goes to a file that SQLite unlinked as it made it: on disk, not in memory,
    and nothing to clean up after a crash or SIGKILL."""
    monkeypatch.setattr(spill, "SCRATCH_CACHE_KIB", 64)
    before = _nameless_files()
    db = spill.scratch_database()
    db.execute("CREATE TABLE t (x BLOB)")
    db.executemany("INSERT INTO t VALUES (?)", [(os.urandom(1000),) for _ in range(2_000)])  # 2 MB: past the cache
    assert len(_nameless_files()) > len(before)
    assert db.execute("SELECT count(*) FROM t").fetchone() == (2_000,)
    db.close()
    assert len(_nameless_files()) == len(before)


def test_the_spill_is_closed_when_verify_fails(locations: Locations, monkeypatch: pytest.MonkeyPatch) -> None:
    reader = _reader(locations, 20)

    def broken(*_: object) -> list[tuple[int, str]]:
        (open_spill,) = SPILLS
        assert open_spill.db is not None, "the spill is open while verify compares"
        assert open_spill.db.execute("SELECT count(*) FROM index_rows").fetchone()[0] > 0, "the rebuild is in it"
        raise RuntimeError("broken")

    monkeypatch.setattr(integrity, "index_problems", broken)
    with pytest.raises(RuntimeError):
        _verify(reader)
    assert SPILLS and all(s.db is None for s in SPILLS)
    reader.close()


def test_a_deleted_and_an_added_index_row_are_found(locations: Locations) -> None:
    reader = _reader(locations)
    rows = _index(reader)
    counts: dict[str, int] = {}
    for ref, _, _ in rows:
        counts[ref] = counts.get(ref, 0) + 1
    alone = next(ref for ref, n in counts.items() if n == 1)
    several = next(ref for ref, n in counts.items() if n > 2)
    first, second = [p for ref, p, _ in rows if ref == several][:2]
    added_to = next(ref for ref, n in counts.items() if n > 1 and ref not in (several, alone))
    added_at = max(p for ref, p, _ in rows if ref == added_to) + 1
    models = reader.projector.models
    if isinstance(models, MemoryReadModels):
        del models._index[alone]
        models._index[several] = models._index[several][1:]
        models._index[added_to].append((added_at, None))
        models._index["crm:nowhere"] = [(5, None)]
    else:
        _sql(reader, "DELETE FROM syncledger_index WHERE ref = ?", alone)
        _sql(reader, "DELETE FROM syncledger_index WHERE ref = ? AND position = ?", several, first)
        _sql(reader, "INSERT INTO syncledger_index VALUES (?, ?, NULL)", added_to, added_at)
        _sql(reader, "INSERT INTO syncledger_index VALUES ('crm:nowhere', 5, NULL)")
    found = _found(_verify(reader), "index")
    exists = [
        (0, f"the item index and a rebuild disagree on whether '{ref}' exists")
        for ref in sorted([alone, "crm:nowhere"])
    ]
    assert [f for f in found if f[0] == 0] == exists
    assert sorted(f for f in found if f[0] != 0) == sorted(
        [
            (second, f"the item index of '{several}' differs from a rebuild"),
            (min(p for ref, p, _ in rows if ref == added_to), f"the item index of '{added_to}' differs from a rebuild"),
        ]
    )
    reader.close()


@pytest.mark.parametrize("part", ["past_items", "past_links", "past_records"])
def test_a_changed_stored_past_row_is_found(locations: Locations, part: str) -> None:
    reader = _reader(locations)
    models = reader.projector.models
    what = {"past_items": "deleted items", "past_links": "ended links", "past_records": "deleted records"}[part]
    if isinstance(models, MemoryReadModels):
        past = models._past
        if part == "past_items":
            key = next(iter(past.items))
            past.items[key] += 1
        elif part == "past_links":
            past.links[0] = dataclasses.replace(past.links[0], rule="changed")
        else:
            key = next(iter(past.records))
            past.records[key] = dataclasses.replace(past.records[key], owner="someone else")
    elif part == "past_items":
        _sql(
            reader,
            "UPDATE syncledger_past_items SET position = position - 1 "
            "WHERE position = (SELECT min(position) FROM syncledger_past_items)",
        )
    elif part == "past_links":
        _sql(
            reader,
            "UPDATE syncledger_past_links SET rule = 'changed' "
            "WHERE made = (SELECT min(made) FROM syncledger_past_links)",
        )
    else:  # a row of another deleted record's state, under this record's id
        records = _sql(reader, "SELECT record, state FROM syncledger_past_records ORDER BY record")
        assert len(records) >= 2
        _sql(reader, "UPDATE syncledger_past_records SET state = ? WHERE record = ?", records[1][1], records[0][0])
    report = _verify(reader)
    assert _found(report, "archive") == [(0, f"the archive's {what} differ from a rebuild from the events")]
    if not isinstance(models, MemoryReadModels):  # and the batch it was sealed in
        assert any("differ from what was sealed" in problem for _, problem in _found(report, "read model"))
    reader.close()


def test_an_unreadable_stored_record_is_one_finding(stored: Locations) -> None:
    reader = _reader(stored)
    _sql(
        reader,
        "UPDATE syncledger_past_records SET state = ? WHERE record = (SELECT max(record) FROM syncledger_past_records)",
        b"not a record",
    )
    found = _found(_verify(reader), "archive")
    assert len(found) == 1 and found[0][1].startswith("the archived past cannot be read (")
    reader.close()


def test_a_duplicated_action_id_is_found_at_its_later_positions(locations: Locations) -> None:
    reader = _reader(locations, 30)
    at = reader.event(reader.ledger.store.last_position()).at  # type: ignore[union-attr]
    twice = v.ACTION_ADAPTER.validate_python({"do": "sync", "user": "alice", "at": at, "id": "dup"})
    first = reader.ledger.store.last_position() + 1
    reader.ledger.append([twice])
    last = reader.ledger.store.last_position()
    reader.ledger.store.append([(last + 1, twice), (last + 2, twice)])  # past every check of the write side
    found = _found(_verify(reader), "action id")
    twice_said = f"action id 'dup' is already at position {first}: the same action was appended twice"
    assert found == [(last + 1, f"{twice_said} (and 1 more after it)")]  # a run on consecutive positions is one
    reader.close()


def test_the_batches_are_checked_one_at_a_time_in_position_order() -> None:
    """Rows in position order, grouped into their batches as they pass: a batch with no rows, rows past the last
    batch, and a changed row in the middle one."""
    from syncledger.ledger.seal import GENESIS
    from syncledger.projections.sealing import DIGEST, SEALED, Batch, batch_seal, bucket, digest

    rows = [(bucket(i), i, p) for i, p in [("a", 1), ("b", 2), ("c", 5), ("d", 6), ("e", 9)]]
    ends, firsts = [2, 4, 6, 8], [1, 3, 5, 7]
    tables = [table for table, _, _ in SEALED["index"]]
    batches, previous = [], GENESIS
    for first, last in zip(firsts, ends, strict=True):
        mine = [r for r in rows if first <= r[2] <= last]
        digests = digest("actions", mine)
        seal = batch_seal(None, "index", previous, first, last, b"e", digests)
        batches.append(Batch("index", last, first, b"e", digests, seal))
        previous = seal
    assert len(tables) * DIGEST == len(batches[0].digests)
    changed = [r if r[2] != 5 else (r[0], "x", 5) for r in rows]
    read = lambda table, columns, upto: iter(changed if table == "actions" else [])  # noqa: E731
    problems = batch_problems("index", batches, 8, None, read, lambda _: b"e")
    assert problems == [(6, "the item index and action ids's actions of positions 5 to 6 differ from what was sealed")]
    clean = lambda table, columns, upto: iter(rows if table == "actions" else [])  # noqa: E731
    assert batch_problems("index", batches, 8, None, clean, lambda _: b"e") == []
