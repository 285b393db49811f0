"""A lookup in the archive checks the seals of its key's bucket only (`projections.sealing`): what it reads
matches what was sealed, and nothing sealed under its key is missing, without reading the rest of the table. A
forged row of its bucket (changed, added or deleted) is found and the answer comes from the events; a forged row
of another bucket is `verify`'s to find, and the lookup still answers from rows that match their seals."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from syncledger.ledger.seal import GENESIS
from syncledger.projections import sealing, sqlmodels
from syncledger.projections.integrity import verify
from syncledger.projections.memorymodels import MemoryReadModels
from syncledger.projections.reader import Reader, open_reader
from syncledger.projections.readmodels import INDEX, WORLD
from syncledger.projections.sealing import (
    MADE_RANGE,
    SEALED,
    Batch,
    batch_problems,
    batch_seal,
    bucket,
    bucket_digests,
    bucket_problems,
    digests,
)
from tests import randomwalk
from tests.conftest import Locations


def _built(location: str | None) -> str | None:
    """A ledger at `location` whose archive holds deleted records and items, ended links and action ids, its
    read models caught up; then closed, so that each test opens it as a new process would (nothing checked yet)."""
    reader = open_reader(location, checkpoint_every=40)
    for action in randomwalk.actions(11, 400):
        reader.ledger.append([action])
    reader.projector.catch_up()
    reader.close()
    return location


@pytest.fixture
def ledger(stored: Locations) -> str | None:
    return _built(stored.new())


@pytest.fixture(autouse=True)
def warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sealing, "_WARNED", set())  # a warning is printed once per process: each test's, here


def _sql(reader: Reader, statement: str, *params: object) -> list[Any]:
    """SQL on the reader's own read-model connection, behind the ledger's back."""
    models: Any = reader.projector.models
    rows = models.db.execute(statement.replace("?", models.mark), params)
    found = rows.fetchall() if rows.description else []
    models.db.commit()
    return list(found)


def _truth(reader: Reader) -> MemoryReadModels:
    """The archive folded from the events: what every lookup must answer."""
    truth = MemoryReadModels()
    rows = reader.projector._past_from_events()
    truth.write_world(1, max(reader.projector.models.tracking(WORLD), 1), [], rows)
    truth._past.actions.update(rows.actions)
    return truth


# each table looked up by key: a key of one of its rows (from the row), the lookup of that key, and a forgery of the row
Lookup = Callable[[Any, tuple[Any, ...], int], object]
KEYS: dict[str, tuple[str, Lookup]] = {
    "past_records": ("record", lambda m, k, upto: m.record(k[0], upto)),
    "past_items": ("owner, item", lambda m, k, upto: m.item_deleted(k[0], k[1], upto)),
    "past_links": ("owner, item", lambda m, k, upto: m.last_link(k[0], k[1], upto)),
    "actions": ("id", lambda m, k, upto: m.action(k[0], upto)),
}
FORGERIES = {
    "deleted": "DELETE FROM syncledger_{table} WHERE {match}",
    "moved": "UPDATE syncledger_{table} SET position = position + 1 WHERE {match}",
}


def _one_row(reader: Reader, table: str) -> tuple[Any, ...]:
    columns = KEYS[table][0]
    rows = _sql(reader, f"SELECT {columns} FROM syncledger_{table} ORDER BY position LIMIT 1")
    assert rows, f"the walk left no {table}"
    return tuple(rows[0])


def _match(table: str) -> str:
    return " AND ".join(f"{column.strip()} = ?" for column in KEYS[table][0].split(","))


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
@pytest.mark.parametrize("table", sorted(KEYS))
def test_a_forged_row_of_the_asked_keys_bucket_is_found_and_the_events_answer(
    ledger: str | None, table: str, forgery: str, capsys: pytest.CaptureFixture[str]
) -> None:
    reader = open_reader(ledger)
    models: Any = reader.projector.models
    key = _one_row(reader, table)
    upto = models.tracking(INDEX if table == "actions" else WORLD)
    expected = KEYS[table][1](_truth(reader), key, upto)
    assert expected not in (None, False), "the row's key has an answer in the events"
    _sql(reader, FORGERIES[forgery].format(table=table, match=_match(table)), *key)
    assert KEYS[table][1](models, key, upto) == expected
    said = capsys.readouterr().err
    assert "differ from what was sealed" in said and table.replace("_", " ") in said, said
    reader.close()


@pytest.mark.parametrize("table", sorted(KEYS))
def test_a_forged_row_of_another_bucket_is_left_to_verify(
    ledger: str | None, table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    reader = open_reader(ledger)
    models: Any = reader.projector.models
    columns = KEYS[table][0]
    rows = [tuple(r) for r in _sql(reader, f"SELECT {columns} FROM syncledger_{table} ORDER BY position")]
    asked = rows[0]
    of = (lambda r: bucket(r[0])) if table == "past_links" else (lambda r: bucket(*r))  # a link's: its owner's
    other = next((r for r in rows if of(r) != of(asked)), None)
    assert other is not None, "the walk left rows in two buckets"
    upto = models.tracking(INDEX if table == "actions" else WORLD)
    expected = KEYS[table][1](_truth(reader), asked, upto)
    _sql(reader, FORGERIES["deleted"].format(table=table, match=_match(table)), *other)
    assert KEYS[table][1](models, asked, upto) == expected
    assert "differ from what was sealed" not in capsys.readouterr().err
    found = verify(reader.ledger.store, models).findings
    assert any(f.check == "read model" and table.replace("_", " ") in f.problem for f in found), found
    reader.close()


def test_a_lookup_reads_its_buckets_rows_and_no_others(tmp_path: Any) -> None:
    reader = open_reader(_built(str(tmp_path / "ledger.db")))
    models: Any = reader.projector.models
    record, number = _sql(reader, "SELECT record, bucket FROM syncledger_past_records LIMIT 1")[0]
    statements: list[str] = []
    db: sqlite3.Connection = models.db
    db.set_trace_callback(statements.append)
    assert models.record(record, models.tracking(WORLD)) is not None
    db.set_trace_callback(None)
    archive = [s for s in statements if "syncledger_past_records" in s]
    assert archive and all(f"bucket = {number}" in s for s in archive), archive
    assert not any("ORDER BY position" in s for s in statements), "no table was read whole"
    reader.close()


def test_changed_bucket_digests_are_found_by_a_lookup_and_by_verify(
    ledger: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    reader = open_reader(ledger)
    models: Any = reader.projector.models
    (record,) = _one_row(reader, "past_records")
    _sql(
        reader,
        "UPDATE syncledger_buckets SET digest = ? WHERE tbl = 'past_records' AND bucket = ?",
        b"x" * 32,
        bucket(record),
    )
    upto = models.tracking(WORLD)
    assert models.record(record, upto) == _truth(reader).record(record, upto)
    assert "bucket digests of past records" in capsys.readouterr().err
    found = [f.problem for f in verify(reader.ledger.store, models).findings if f.check == "read model"]
    assert found and all("bucket digests of past records" in problem for problem in found), found
    reader.close()


@pytest.fixture
def ranged(stored: Locations, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """A ledger as `ledger`, its ended links in ranges of 32 positions by where they were made (so that a short
    walk's fall in many)."""
    monkeypatch.setattr(sealing, "MADE_RANGE", 32)
    monkeypatch.setattr(sqlmodels, "MADE_RANGE", 32)
    layout = [(t, c.replace(f"made / {MADE_RANGE}", "made / 32"), a) for t, c, a in SEALED["world"]]
    assert any("made / 32" in c for _, c, _ in layout)
    monkeypatch.setitem(SEALED, "world", tuple(layout))
    return _built(stored.new())


def test_a_page_of_every_users_ended_links_checks_the_ranges_it_spans(
    ranged: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    reader = open_reader(ranged)
    models: Any = reader.projector.models
    upto = models.tracking(WORLD)
    page = _truth(reader).ended_links_page(upto, 0, 10)
    assert len(page) == 10 and sealing.made_range(page[-1].made) < sealing.made_range(upto), "a page of a part"
    later = [
        k for k in _truth(reader).ended_links(upto) if sealing.made_range(k.made) > sealing.made_range(page[-1].made)
    ]
    _sql(reader, "DELETE FROM syncledger_past_links WHERE made = ?", later[-1].made)  # past the page's ranges
    statements: list[str] = []
    if isinstance(models.db, sqlite3.Connection):
        models.db.set_trace_callback(statements.append)
    assert models.ended_links_page(upto, 0, 10) == page
    assert "differ from what was sealed" not in capsys.readouterr().err
    if isinstance(models.db, sqlite3.Connection):
        models.db.set_trace_callback(None)
        read = [s for s in statements if "syncledger_past_links" in s and "made / 32" in s]
        assert read and all("made >= " in s for s in read), statements
        assert not any("ORDER BY position" in s for s in statements), "no table was read whole"
    _sql(reader, "DELETE FROM syncledger_past_links WHERE made = ?", page[3].made)  # inside them
    models = open_reader(ranged).projector.models  # a new process: nothing checked yet
    assert models.ended_links_page(upto, 0, 10) == page
    assert "past links (by where made) of positions" in capsys.readouterr().err
    found = [f.problem for f in verify(reader.ledger.store, models).findings if f.check == "read model"]
    assert any("past links (by where made)" in problem for problem in found), found
    reader.close()
    models.close()


def test_the_links_ended_in_a_window_check_the_batches_that_hold_it(
    ledger: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    reader = open_reader(ledger)
    models: Any = reader.projector.models
    upto = models.tracking(WORLD)
    truth = _truth(reader)
    batches = models.batches(WORLD)
    ended = truth.ended_links(upto)
    asked = ended[len(ended) // 2]
    window = (asked.position - 1, asked.position)
    expected = truth.ended_links_between(*window)
    held = next(b for b in batches if b.first <= asked.position <= b.last)
    other = next(k for k in ended if not held.first <= k.position <= held.last)
    _sql(reader, "DELETE FROM syncledger_past_links WHERE made = ?", other.made)  # in another batch
    assert models.ended_links_between(*window) == expected
    assert "differ from what was sealed" not in capsys.readouterr().err
    _sql(reader, "DELETE FROM syncledger_past_links WHERE made = ?", asked.made)  # in the window's batch
    models = open_reader(ledger).projector.models  # a new process: nothing checked yet
    assert models.ended_links_between(*window) == expected
    assert "past links of positions" in capsys.readouterr().err
    reader.close()
    models.close()


# ------------------------------------------------------------------------------------------- without a database


def _batches(rows: list[tuple[Any, ...]], ends: list[int]) -> tuple[list[Batch], dict[int, dict[int, bytes]]]:
    """Batches of actions rows ending at `ends`, sealed as a writer seals them, and their bucket digests by
    bucket and batch."""
    batches, previous, index = [], GENESIS, dict[int, dict[int, bytes]]()
    first = 1
    for last in ends:
        mine = [r for r in rows if first <= r[2] <= last]
        joined, entries = digests("index", {"actions": mine})
        for _, number, value in entries:
            index.setdefault(number, {})[last] = value
        seal = batch_seal(None, "index", previous, first, last, b"e", joined)
        batches.append(Batch("index", last, first, b"e", joined, seal))
        previous, first = seal, last + 1
    return batches, index


def test_a_buckets_rows_are_checked_against_each_batch_they_fall_in() -> None:
    ids = [f"action-{n}" for n in range(60)]
    rows = [(bucket(i), i, n + 1) for n, i in enumerate(ids)]
    batches, index = _batches(rows, [20, 40, 60])
    number = rows[0][0]
    mine = [r for r in rows if r[0] == number]
    assert len(mine) < len(rows)
    assert bucket_problems("index", "actions", batches, index[number], mine) == []
    for forged in (
        mine[1:],  # a row deleted
        [*mine, (number, "forged", 30)],  # a row added
        [(r[0], r[1], r[2] + 1) if r is mine[0] else r for r in mine],  # a row moved within its batch
    ):
        problems = bucket_problems("index", "actions", batches, index[number], forged)
        assert problems and all("differ from what was sealed" in p for _, p in problems), forged
    assert bucket_problems("index", "actions", batches, {}, mine)  # no digest: the bucket had no rows


def test_a_tables_digest_is_of_its_buckets_digests_and_verify_reads_them_beside_the_rows() -> None:
    rows = [(bucket(f"a{n}"), f"a{n}", n + 1) for n in range(30)]
    batches, index = _batches(rows, [10, 30])
    entries = sorted((last, number, value) for number, found in index.items() for last, value in found.items())
    assert {n: v for n, v in bucket_digests("actions", rows[:10]).items()} == {
        n: found[10] for n, found in index.items() if 10 in found
    }

    def read(table: str, columns: str, upto: int) -> Iterator[tuple[Any, ...]]:
        return iter(rows if table == "actions" else [])

    clean = batch_problems("index", batches, 30, None, read, lambda _: b"e", read_buckets=lambda t, u: iter(entries))
    assert clean == []
    forged = [(last, number, b"x" * 32 if last == 30 else value) for last, number, value in entries]
    found = batch_problems("index", batches, 30, None, read, lambda _: b"e", read_buckets=lambda t, u: iter(forged))
    assert found == [
        (
            30,
            "the item index and action ids's bucket digests of actions of positions 11 to 30 "
            "differ from what was sealed",
        )
    ]


def test_a_buckets_rows_are_one_range_of_its_tables_key(tmp_path: Any) -> None:
    """A lookup's check reads its key's bucket across every batch: on SQLite each archived table is keyed by its
    bucket first, so that the rows lie together and are one range of the table's b-tree. The ended links were
    keyed by `made` alone, and a bucket's rows were each a descent from a secondary index: 112 ms a bucket from a
    cold page cache at 10^7 events, 11 ms keyed by bucket."""
    reader = open_reader(str(tmp_path / "plan.db"))
    models: Any = reader.projector.models
    for projection, layout in SEALED.items():
        for table, columns, _ in layout:
            if table not in sealing.BUCKETED:
                continue
            condition, params = sqlmodels._in_bucket(table, 7)
            statement = f"SELECT {columns} FROM syncledger_{sealing.SOURCE.get(table, table)} WHERE {condition} "
            plan = str(models.db.execute(f"EXPLAIN QUERY PLAN {statement} AND position <= 9", params).fetchall())
            if table == "links_made":  # a range of positions made: the unique index on `made`
                assert "USING INDEX syncledger_past_links_made (made>? AND made<?)" in plan, (projection, plan)
            else:
                assert "USING PRIMARY KEY (bucket=?)" in plan, (projection, table, plan)
    reader.close()
