"""The event store, written once and run on every back end: in memory, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger
from syncledger.ledger.store import ConflictError, EventStore
from tests.conftest import Locations
from tests.randomwalk import actions


@pytest.fixture
def store(locations: Locations) -> Iterator[EventStore]:
    s = EventStore(locations.new())
    yield s
    s.close()


def _filled(store: EventStore, count: int = 120) -> Ledger:
    ledger = Ledger(store)
    for action in actions(seed=7, count=count):
        ledger.append([action])
    return ledger


def test_every_event_reads_back_equal_to_what_was_appended(store: EventStore) -> None:
    ledger = Ledger(store)
    written = []
    for action in actions(seed=3, count=150):
        written += ledger.append([action])
    assert list(store.read()) == written
    assert {type(e).__name__ for _, e in written} >= {"Decided", "SyncRequested", "CrmRecordCreated"}


def test_positions_are_dense_and_reading_in_pages_covers_them_all(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = _filled(store)
    monkeypatch.setattr("syncledger.ledger.store.PAGE", 7)
    positions = [p for p, _ in store.read()]
    assert positions == list(range(1, ledger.world.position + 1))
    assert [p for p, _ in store.read(after=10, upto=20)] == list(range(11, 21))
    assert store.last_position() == ledger.world.position


def test_reading_in_pages_reads_past_a_gap_that_only_a_damaged_ledger_has(
    stored: Locations, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page is a window of positions (`EventStore._pages`): an empty window ends a read only when nothing lies
    beyond it, so the rows after a hole cut behind the ledger's back, wider than a page, are still read (`verify`
    reads them to say what is missing)."""
    location = stored.new()
    assert location is not None
    store = EventStore(location)
    try:
        last = _filled(store, 40).world.position
        _delete_events(location, 11, 30)  # 20 positions: more than two pages of 7
        monkeypatch.setattr("syncledger.ledger.store.PAGE", 7)
        kept = [*range(1, 11), *range(31, last + 1)]
        assert [row.position for row in store.rows()] == kept
        assert [p for p, _ in store.read_data()] == kept
        assert [p for p, _ in store.read_data(after=5, upto=33)] == [*range(6, 11), 31, 32, 33]
        assert [p for p, _ in store.read_data(after=12, upto=25)] == []
    finally:
        store.close()


def _delete_events(location: str, first: int, last: int) -> None:
    """Rows removed with SQL, behind the ledger's back."""
    statement = "DELETE FROM stored_events WHERE originator_version BETWEEN {0} AND {1}"
    if "://" not in location:
        import sqlite3

        with sqlite3.connect(location) as db:
            db.execute(statement.format("?", "?"), (first, last))
        return
    import psycopg

    base, schema = location.split("?schema=")
    with psycopg.connect(base, options=f"-c search_path={schema}", autocommit=True) as db:
        db.execute(statement.format("%s", "%s"), (first, last))


def test_a_second_writer_of_the_same_position_fails_and_the_first_event_stays(store: EventStore) -> None:
    ledger = _filled(store, 10)
    position, original = store.read_one(5) or (0, None)
    intruder = v.ACTION_ADAPTER.validate_python({"do": "sync", "user": "alice", "at": original.at})  # type: ignore[union-attr]
    with pytest.raises(ConflictError):
        store.append([(position, intruder)])
    assert store.read_one(5) == (position, original)
    assert store.last_position() == ledger.world.position


def test_the_store_has_no_way_to_change_or_remove_an_event() -> None:
    public = {name for name in dir(EventStore) if not name.startswith("_")}
    assert public == {
        "append",
        "append_encoded",
        "append_pages",
        "read",
        "read_data",
        "read_at",
        "read_one",
        "rows",
        "last_position",
        "foreign_rows",  # counts rows outside the ledger's stream, for `verify`
        "close",
        # reading seals, for heads, keys and derived data: nothing that writes
        "seal_at",
        "seals_at",
        "head",
        "newest_kind",
        "first_kind",
        "key_seals",
    }


@pytest.mark.parametrize("locations", ["sqlite", "postgres"], indirect=True)  # a memory store has one owner
def test_a_second_ledger_on_the_same_store_catches_up_and_retries_a_lost_race(locations: Locations) -> None:
    path = locations.new()
    first, second = Ledger(EventStore(path)), Ledger(EventStore(path))
    walk = list(actions(seed=11, count=40))
    for action in walk[:20]:
        first.append([action])
    for action in walk[20:]:  # `second` has not seen the first 20: its append conflicts, re-reads, retries
        second.append([action])
    assert second.world == Ledger(EventStore(path)).world
    assert [p for p, _ in EventStore(path).read()] == list(range(1, second.world.position + 1))


def test_a_database_holding_another_stream_is_refused_not_read_as_empty(tmp_path: Path) -> None:
    from eventsourcing.persistence import StoredEvent

    from syncledger.ledger.store import StoreError

    path = str(tmp_path / "other.db")
    store = EventStore(path)
    store.recorder.insert_events([StoredEvent("someone-else", 1, "x:Y", b"{}")])
    with pytest.raises(StoreError, match="not a syncledger ledger of this version"):
        EventStore(path)


def test_reading_scattered_positions_gives_those_events_in_order(store: EventStore) -> None:
    _filled(store, 60)
    everything = dict(store.read())
    wanted = [40, 3, 17, 17, max(everything), 5]
    assert store.read_at(wanted) == [(p, everything[p]) for p in sorted(set(wanted))]
    assert store.read_at([]) == []
