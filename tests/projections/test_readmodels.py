"""Checkpoints and the stored item index are only faster ways to the same answers: through a checkpoint equals
a fold from zero, a lookup through the index equals a scan, on every back end and with other writers around."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger
from syncledger.ledger.store import EventStore, StoreError
from syncledger.projections import index, projector, sqlmodels
from syncledger.projections.codec import CheckpointMissingError, checkpoint_data, decode_checkpoint, present_json
from syncledger.projections.document import state_document
from syncledger.projections.index import IndexProjection, ItemIndex
from syncledger.projections.memorymodels import MemoryReadModels
from syncledger.projections.reader import Reader, StoredIndex, open_reader
from syncledger.projections.readmodels import INDEX, WORLD, ReadModels
from syncledger.projections.sqlmodels import SqlReadModels
from tests import randomwalk
from tests.conftest import Locations, require_postgres
from tests.reference import world_at

EVERY = 37  # small, so that a short ledger has many checkpoints


def _filled(location: str | None, count: int = 300, seed: int = 21, mixed: bool = False):
    reader = open_reader(location, checkpoint_every=EVERY)
    for action in randomwalk.actions(seed, count, mixed):
        reader.ledger.append([action])
    return reader


@pytest.mark.parametrize("mixed", [False, True], ids=["outlook-client", "mixed-methods"])
def test_the_state_through_a_checkpoint_equals_a_fold_from_zero(locations: Locations, mixed: bool) -> None:
    """With mixed methods too: checkpoints keep each user's method and the organisation's options."""
    reader = _filled(locations.new(), mixed=mixed)
    store = reader.ledger.store
    checkpoints = reader.projector.models.checkpoints()
    assert len(checkpoints) > 5
    assert all(
        b - a < EVERY + 60 for a, b in zip([0, *checkpoints], checkpoints, strict=False)
    )  # an action may overrun
    for position in range(0, store.last_position() + 1, 7):
        assert reader.world_at(position) == world_at(store, position), position
        assert state_document(reader.world_at(position)) == state_document(world_at(store, position))


@pytest.mark.parametrize("mixed", [False, True], ids=["outlook-client", "mixed-methods"])
def test_every_checkpoint_full_or_delta_decodes_to_a_fold_from_zero(locations: Locations, mixed: bool) -> None:
    """Read directly, not through `world_at` (which folds from the start when a checkpoint cannot be read)."""
    reader = _filled(locations.new(), mixed=mixed)
    store, models = reader.ledger.store, reader.projector.models

    def read(position: int) -> bytes | None:
        found = models.checkpoint(position)
        return store.mapper.decipher(found) if found is not None else None

    bases = {p: checkpoint_data(read(p) or b"")["base"] for p in models.checkpoints()}
    assert None in bases.values() and any(base is not None for base in bases.values())
    for position, base in bases.items():
        chain = 0
        while base is not None:
            chain, base = chain + 1, bases[base]
        assert chain <= projector.DELTAS
        folded, decoded = world_at(store, position), decode_checkpoint(position, read, models)
        assert decoded == folded, position
        # and every map in the order the fold keeps it (as JSON: equal maps are equal in any order)
        assert present_json(decoded) == present_json(folded), position


def test_decoding_a_checkpoint_leaves_the_collector_as_it_found_it(tmp_path: Path) -> None:
    """The cyclic collector is paused while a checkpoint decodes (`codec.collector_paused`), and after, whether the
    decoding failed or not, it is as it was: on, or off if the caller had turned it off."""
    reader = _filled(str(tmp_path / "ledger.db"))
    store, models = reader.ledger.store, reader.projector.models
    position = models.checkpoints()[-1]

    def read(at: int) -> bytes | None:
        assert not gc.isenabled()  # paused while it reads and decodes
        found = models.checkpoint(at)
        return store.mapper.decipher(found) if found is not None else None

    assert gc.isenabled()
    assert decode_checkpoint(position, read, models) == world_at(store, position)
    assert gc.isenabled()
    with pytest.raises(CheckpointMissingError):
        decode_checkpoint(position + 1, read, models)
    assert gc.isenabled()
    gc.disable()
    try:
        decode_checkpoint(position, read, models)
        assert not gc.isenabled()
    finally:
        gc.enable()
    reader.close()


def test_a_lookup_through_the_index_equals_a_scan(locations: Locations) -> None:
    reader = _filled(locations.new())
    scan = ItemIndex()
    scan.add(reader.ledger.store.read())
    assert set(reader.index.touched) == set(scan.touched)
    for ref in scan.touched:
        assert reader.index.touched[ref] == scan.touched[ref], ref
        assert reader.index.last_decision(ref) == scan.last_decision(ref), ref


@pytest.mark.parametrize("index_elsewhere", [False, True], ids=["one process", "index in a second process"])
def test_read_models_rebuilt_from_scratch_equal_those_kept_incrementally(
    locations: Locations, index_elsewhere: bool
) -> None:
    location = locations.new()
    if index_elsewhere and location is None:
        return  # a second process cannot open a ledger kept in this one's memory
    reader = _filled(location)
    if index_elsewhere:
        reader.projector.parallel_from = 1  # however short the way, as a long rebuild does
    models = reader.projector.models

    def read_models() -> tuple[object, ...]:
        tracking = models.tracking(WORLD)
        assert models.tracking(INDEX) == tracking
        return tracking, models.checkpoints(), {r: models.touched(r) for r in models.refs()}, models.rows(tracking)

    kept = read_models()
    assert kept[3].records and kept[3].items and kept[3].links and kept[3].actions  # the archive holds a past
    models.reset()
    reader.projector.catch_up()
    rebuilt = read_models()
    assert rebuilt[0] == kept[0] and rebuilt[2] == kept[2] and rebuilt[3] == kept[3]
    assert len(rebuilt[1]) == len(kept[1])  # the same spacing, whether folded while writing or afterwards


@pytest.fixture
def on_postgres(tmp_path: Path) -> Iterator[str]:
    """A ledger location in a schema of its own on the test server, dropped afterwards."""
    require_postgres()
    made = Locations("postgres", tmp_path)
    location = made.new()
    assert location is not None
    yield location
    made.drop()


def test_on_postgresql_a_rebuild_starts_from_empty_tables_and_lookups_are_never_compiled(on_postgres: str) -> None:
    """A reset that DELETEs leaves every row dead in the tables and their indexes (with autovacuum off, until a
    manual vacuum): the rebuild writes beside them and its readers step over them. A lookup of a few rows that the
    server, without statistics of freshly written tables, estimates at a million is compiled by its JIT: 9 ms of a
    0.3 ms statement."""
    reader = _filled(on_postgres)
    models = reader.projector.models
    assert isinstance(models, SqlReadModels)
    assert models.db.execute("SHOW jit").fetchone()[0] == "off"
    sizes = "SELECT pg_relation_size('syncledger_index'), pg_relation_size('syncledger_index_pkey')"
    assert all(models.db.execute(sizes).fetchone())  # the walk wrote index rows
    models.reset()
    heap, index = models.db.execute(sizes).fetchone()
    assert heap == 0 and index <= 8192  # no rows, dead or alive; an empty B-tree is its meta page
    assert models.tracking(INDEX) == models.tracking(WORLD) == 0
    reader.projector.catch_up()
    assert models.tracking(WORLD) == reader.ledger.store.last_position()
    reader.close()


def test_on_postgresql_a_reset_waits_for_a_writer_of_either_projection(on_postgres: str) -> None:
    """TRUNCATE locks each table whole: a reset first waits for the writers of both projections (each holds its
    advisory lock for its whole transaction), so it never cuts into one's batch or deadlocks it."""
    reader = _filled(on_postgres, count=40)
    models = reader.projector.models
    assert isinstance(models, SqlReadModels)
    other = open_reader(on_postgres)
    writer = other.projector.models
    assert isinstance(writer, SqlReadModels)
    for projection in (INDEX, WORLD):
        with writer.db.transaction():
            writer.db.execute(sqlmodels._WRITER_LOCK, (projection,))
            resetting = threading.Thread(target=models.reset)
            resetting.start()
            resetting.join(0.5)
            assert resetting.is_alive(), f"the reset did not wait for the {projection} writer"
            assert writer.tracking(WORLD) > 0
        resetting.join(10)
        assert not resetting.is_alive()
        assert writer.tracking(WORLD) == writer.tracking(INDEX) == 0
        reader.projector.catch_up()
    other.close()
    reader.close()


def test_on_postgresql_a_read_that_deadlocks_with_a_reset_is_tried_again(on_postgres: str) -> None:
    """A reset's TRUNCATE locks the index before the list of references; a leaf's read locks the list, then the
    index. Should each hold one and wait for the other, the server ends one of them: the reset tries again, and so
    must the read, or a `why` run during `verify --rebuild` fails. Here the other side holds the index's lock, the
    read waits for it holding the list's, and the other side asks for the list (the read's deadlock check comes
    first, so it is the read the server ends)."""
    reader = _filled(on_postgres, count=40)
    ref = next(r for r in reader.projector.models.refs() if r.startswith("crm:"))
    expected = reader.projector.models.touched(ref)
    assert expected
    models = open_reader(on_postgres).projector.models  # a process that has read nothing yet: it asks the server
    other = open_reader(on_postgres).projector.models
    assert isinstance(models, SqlReadModels) and isinstance(other, SqlReadModels)
    found: list[object] = []
    with other.db.transaction():
        other.db.execute("SET LOCAL deadlock_timeout = '20s'")
        other.db.execute("LOCK TABLE syncledger_index IN ACCESS EXCLUSIVE MODE")
        reading = threading.Thread(target=lambda: found.append(_caught(lambda: models.touched(ref))))
        reading.start()
        waiting = "SELECT count(*) FROM pg_locks WHERE relation = 'syncledger_index'::regclass AND NOT granted"
        for _ in range(200):
            if other.db.execute(waiting).fetchone()[0]:
                break
            threading.Event().wait(0.01)
        other.db.execute("LOCK TABLE syncledger_listed IN ACCESS EXCLUSIVE MODE")  # the server ends the read here
    reading.join(20)
    assert found == [expected]
    other.close()
    models.close()
    reader.close()


def _caught(read: Callable[[], object]) -> object:
    try:
        return read()
    except Exception as e:  # what the thread met, for the test to show
        return f"{type(e).__name__}: {e}"


def test_on_postgresql_a_leaf_is_read_by_index_lookups_even_without_statistics(on_postgres: str) -> None:
    """Right after a rebuild, before the server has analysed the new rows (never, where autovacuum is off), it
    guessed 85 listed references a leaf and read the whole item index into a hash join: 21 ms a leaf at 10^5
    events. A leaf's rows are read by a lookup per listed reference however the server guesses."""
    reader = open_reader(on_postgres)
    models = reader.projector.models
    assert isinstance(models, SqlReadModels)
    models.db.execute(
        "INSERT INTO syncledger_index SELECT 'crm:r' || n / 10, n, NULL FROM generate_series(1, 100000) AS n"
    )
    models.db.execute(
        "INSERT INTO syncledger_listed SELECT n % 65536, 'crm:r' || n, 0, 4611686018427387903 "
        "FROM generate_series(0, 10000) AS n"
    )
    plan = models.db.execute(
        f"EXPLAIN (FORMAT JSON) SELECT l.leaf, i.ref, i.position FROM syncledger_listed l {models._listed_rows} "
        "WHERE l.leaf IN (%s, %s)",
        (7, 8),
    ).fetchone()[0]

    def scans(node: dict) -> list[tuple[str, str]]:
        found = [(node["Node Type"], node.get("Relation Name", ""))]
        return found + [scan for child in node.get("Plans", []) for scan in scans(child)]

    assert ("Seq Scan", "syncledger_index") not in scans(plan[0]["Plan"]), plan
    found = models.db.execute(
        f"SELECT i.ref, i.position FROM syncledger_listed l {models._listed_rows} WHERE l.leaf = %s", (7,)
    ).fetchall()
    assert sorted(found) == [("crm:r7", n) for n in range(70, 80)]
    reader.close()


def test_another_writers_events_reach_the_read_models_at_the_next_catch_up(locations: Locations) -> None:
    location = locations.new()
    if location is None:
        return  # one in-memory store has one writer
    reader = _filled(location, count=60)
    other = Ledger(EventStore(location))  # appends without read models, like an old client or a crash
    at = other.world.at
    for n in range(5):
        other.append(
            [
                v.ACTION_ADAPTER.validate_python(raw | {"at": at})
                for raw in (
                    {"do": "user.add", "user": f"late{n}"},
                    {"do": "crm.create", "actor": f"late{n}", "record": f"late-r{n}", "type": "task"},
                    {"do": "sync", "user": f"late{n}"},
                )
            ]
        )
    assert reader.projector.models.tracking(WORLD) < other.world.position
    fresh = open_reader(location)
    assert fresh.projector.models.tracking(WORLD) == fresh.projector.models.tracking(INDEX) == other.world.position
    assert fresh.world == other.world
    scan = ItemIndex()
    scan.add(EventStore(location).read())
    assert {r: fresh.index.touched[r] for r in scan.touched} == scan.touched


def test_a_question_about_the_past_decodes_no_present(stored: Locations, monkeypatch: pytest.MonkeyPatch) -> None:
    """Opened up to date, a reader leaves the present undecoded until a question needs it: the past and the
    ledger's end are answered without it, and another writer's events since the opening are in it when it comes."""
    location = stored.new()
    _filled(location, count=200).close()
    truth = EventStore(location)
    last = truth.last_position()
    reader = open_reader(location, checkpoint_every=EVERY)
    decoded: list[int] = []
    original = projector.decode_checkpoint
    monkeypatch.setattr(projector, "decode_checkpoint", lambda at, *rest: decoded.append(at) or original(at, *rest))
    assert not reader.ledger.loaded
    assert reader.end() == (last, truth.read_one(last)[1].at)  # type: ignore[index]
    for position in (0, 1, last // 3, last - 1):
        assert reader.world_at(position) == world_at(truth, position), position
    assert reader.position_at_time(truth.read_one(last // 2)[1].at) >= last // 2  # type: ignore[index]
    assert not reader.ledger.loaded and all(at < last for at in decoded)
    other = Ledger(EventStore(location))
    other.append([v.ACTION_ADAPTER.validate_python({"do": "user.add", "user": "late", "at": other.world.at})])
    assert reader.world == world_at(truth, last + 1) == other.world
    assert reader.ledger.loaded and reader.end() == (last + 1, other.world.at)
    reader.ledger.append([v.ACTION_ADAPTER.validate_python({"do": "user.add", "user": "later", "at": other.world.at})])
    assert reader.world == world_at(truth, last + 2)
    reader.close()
    fresh = open_reader(location)
    assert fresh.world == world_at(truth, last + 2)
    fresh.close()


def test_a_reader_whose_world_was_behind_folds_it_as_it_opens(stored: Locations) -> None:
    location = stored.new()
    _filled(location, count=60).close()
    other = Ledger(EventStore(location))  # appends without read models: the world's projection falls behind
    other.append([v.ACTION_ADAPTER.validate_python({"do": "user.add", "user": "late", "at": other.world.at})])
    reader = open_reader(location)
    assert reader.ledger.loaded and reader.projector.models.tracking(WORLD) == other.world.position
    assert reader.world == other.world
    reader.close()


def test_a_failure_of_the_second_process_is_one_line_saying_so(tmp_path, monkeypatch) -> None:
    location = str(tmp_path / "ledger.db")
    reader = _filled(location, count=40)
    reader.projector.models.reset()
    reader.projector.parallel_from = 1
    monkeypatch.setattr(projector, "_INDEX_ELSEWHERE", "raise SystemExit('the index could not be written')")
    with pytest.raises(StoreError, match="^indexing the ledger in a second process failed: the index could not be"):
        reader.projector.catch_up()


def _index_in_batches(location: str | None, monkeypatch: pytest.MonkeyPatch) -> tuple[Reader, IndexProjection]:
    """A ledger whose read models were reset, and its index projection, which writes a batch every 40 rows."""
    monkeypatch.setattr(index, "FLUSH_ROWS", 40)
    reader = _filled(location)
    reader.projector.models.reset()
    return reader, IndexProjection(reader.ledger.store, reader.projector.models)


def test_an_index_caught_up_in_many_batches_equals_a_scan(stored: Locations, monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL a catch-up writes each batch in another thread while it reads the next (`on_server`); on
    SQLite in line. Either way every batch is written, in order, and the index is what a scan finds."""
    reader, projection = _index_in_batches(stored.new(), monkeypatch)
    store, models = reader.ledger.store, reader.projector.models
    assert models.on_server == (stored.backend == "postgres")
    written = []
    write = models.write_index
    monkeypatch.setattr(models, "write_index", lambda first, *rest: written.append(first) or write(first, *rest))
    projection.catch_up(store.last_position())
    assert len(written) > 5 and written == sorted(written)
    assert models.tracking(INDEX) == store.last_position()
    scan = ItemIndex()
    scan.add(store.read())
    stored_index = StoredIndex(models)
    assert set(stored_index.touched) == set(scan.touched)
    for ref in scan.touched:
        assert stored_index.touched[ref] == scan.touched[ref], ref
    reader.close()


def test_a_batch_that_cannot_be_written_ends_the_index_catch_up_with_its_error(
    stored: Locations, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written in another thread or not, a failed write is the catch-up's error, and the index stays complete up to
    the batch before it: nothing after it is written."""
    reader, projection = _index_in_batches(stored.new(), monkeypatch)
    store, models = reader.ledger.store, reader.projector.models
    write, calls = models.write_index, []

    def failing(first: int, *rest: Any) -> bool:
        calls.append(first)
        if len(calls) == 3:
            raise StoreError("the disk is full")
        return write(first, *rest)

    monkeypatch.setattr(models, "write_index", failing)
    with pytest.raises(StoreError, match="the disk is full"):
        projection.catch_up(store.last_position())
    assert len(calls) == 3
    assert models.tracking(INDEX) == calls[2] - 1
    reader.close()


def test_memory_and_sql_read_models_are_two_implementations_of_one_protocol() -> None:
    members = [name for name in vars(ReadModels) if not name.startswith("_")]
    assert "checkpoint" in members and "write_world" in members
    for implementation in (MemoryReadModels, SqlReadModels):
        assert all(callable(vars(implementation).get(name)) for name in members), implementation
    assert not issubclass(SqlReadModels, MemoryReadModels)  # side by side, neither inheriting the other
