"""A prefix is looked up as ranges of the item index's key on SQLite and PostgreSQL alike (SOURCES.md, prefixes):
the same references as a scan of every one would find, in every case the command line can give, and a plan the
database can answer from its index, never only by reading the whole table."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from syncledger.ledger.store import EventStore
from syncledger.projections.readmodels import INDEX, after_all_starting, prefix_ranges, starting
from syncledger.projections.sqlmodels import SqlReadModels, open_read_models
from tests.conftest import Locations

GUIDS = [
    "0b7c4f9e-8a31-4d2b-9a57-1c2d3e4f5a61",
    "0B7C4F9E-8A31-4D2B-9A57-1C2D3E4F5A62",  # a scenario's id keeps its case: CRM prefixes ignore it
    "0b7c4f9e-8a31-4d2b-9a57-ffffffffffff",
    "0b7d0000-0000-4000-8000-000000000000",
    "abcdefab-cdef-abcd-efab-cdefabcdefab",
    "ABCDEFAB-CDEF-ABCD-EFAB-CDEFABCDEFAC",
    "abcd",
    "abcé-1",
    "ABCÉ-2",
]
ITEMS = ["RgAAAAB1", "rgAAAAB2", "RgAAAAC1", "Rg/+AAB1", "Rg\U0010ffffX", "RgÿAAB1", "AAMkAGI2TG93AAA1"]
REFS = [f"crm:{g}" for g in GUIDS] + [f"outlook:alice/{i}" for i in ITEMS] + ["outlook:alicia/RgAAAAB1", "user:alice"]

PREFIXES = [
    ("crm:0b7c", True),
    ("crm:0B7C4F9E-8A31-4D2B-9A57-1C2D3E4F5A6", True),  # more letters than spellings are looked up one by one
    ("crm:0b7c4f9e-8a31-4d2b-9a57-ffff", True),
    ("crm:abcdefab-cdef-ABCD-efab-cdefabcdefa", True),
    ("crm:abcd", True),
    ("crm:ABCÉ", True),
    ("crm:0b7e", True),
    ("outlook:alice/RgAA", False),
    ("outlook:alice/rgAA", False),
    ("outlook:alice/Rg", False),
    ("outlook:alice/Rg\U0010ffff", False),
    ("outlook:ali", False),
]


def _models(locations: Locations) -> SqlReadModels:
    location = locations.new()
    store = EventStore(location)
    models = open_read_models(location, store.mapper)
    assert isinstance(models, SqlReadModels)
    rows = [(ref, position, None) for position, ref in enumerate(REFS * 3, 1)]  # a reference at several positions
    assert models.write_index(1, len(rows), rows, [])
    assert models.tracking(INDEX) == len(rows)
    return models


@pytest.fixture(params=["sqlite", "postgres"])
def models(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    from tests.conftest import require_postgres

    if request.param == "postgres":
        require_postgres()
    made = Locations(request.param, tmp_path)
    found = _models(made)
    yield found
    found.close()
    made.drop()


@pytest.mark.parametrize(("prefix", "fold"), PREFIXES)
def test_a_prefix_finds_what_a_scan_finds(models: SqlReadModels, prefix: str, fold: bool) -> None:
    for limit in (1, 2, 11):
        assert models.refs_starting(prefix, fold, limit) == starting(REFS, prefix, fold, limit), (prefix, limit)


def test_each_statement_is_a_range_of_the_index_s_key(models: SqlReadModels) -> None:
    """Asked for the plans (PostgreSQL with sequential scans priced out, so that a plan that can use the index
    does), each lookup reads the index by its key's range."""
    for prefix, fold in PREFIXES:
        if fold and not prefix.isascii():
            continue  # filtered after reading the ranges: still ranges, checked by the statement's text below
        for statement, params in models.prefix_queries(prefix, fold, 11):
            assert "ref >= ? AND ref < ?" in statement
            plan = _plan(models, statement, params)
            if isinstance(models.db, sqlite3.Connection):
                assert "USING PRIMARY KEY (ref>? AND ref<?)" in plan, plan
            else:
                assert "Index Cond: ((ref >= " in plan and "Seq Scan" not in plan, plan


def _plan(models: SqlReadModels, statement: str, params: tuple[Any, ...]) -> str:
    db = models.db
    if isinstance(db, sqlite3.Connection):
        rows = db.execute("EXPLAIN QUERY PLAN " + statement, params).fetchall()
        return " | ".join(str(r[-1]) for r in rows)
    try:
        db.execute("SET enable_seqscan = off")
        rows = db.execute("EXPLAIN " + statement.replace("?", "%s"), params).fetchall()
        return " | ".join(r[0] for r in rows)
    finally:
        db.rollback()


def test_ranges_cover_every_spelling_up_to_the_limit() -> None:
    assert prefix_ranges("outlook:alice/RgAA", False) == (["outlook:alice/RgAA"], False)
    assert sorted(prefix_ranges("crm:0b7c", True)[0]) == ["crm:0B7C", "crm:0B7c", "crm:0b7C", "crm:0b7c"]
    starts, partial = prefix_ranges("crm:abcdefabcd", True)
    assert len(starts) == 256 and partial and {len(s) for s in starts} == {len("crm:abcdefab")}
    assert prefix_ranges("crm:abcdefab", True)[1] is False
    assert after_all_starting("crm:0b7c") == "crm:0b7d"
    assert after_all_starting("a\U0010ffff") == "b"
