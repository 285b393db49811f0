"""The benchmark (DESIGN.md's performance table): every measure taken beside the machine's own limit on the same
rows in the same run, so that the ratios mean something on a shared, noisy machine."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import random
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from syncledger.ledger.seal import unwrap
from syncledger.ledger.store import STREAM, EventStore, connect_postgres, environment
from syncledger.projections.codec import collector_paused
from syncledger.projections.document import LINKS_PAGE
from syncledger.projections.reader import Reader, open_reader

from ..explain.diff import diff_between
from ..explain.history import load_history
from ..explain.preview import preview
from ..explain.story import story
from ..explain.whatif import Question, answer
from ..explain.whatif_spill import Spill
from ..output import console, table
from ..progress import progress
from ..transfer import import_actions
from .generate import write_lines
from .peer import peer as _peer
from .tuning import collect_for_bulk_work
from .writers import writers as _writers

TIME_TRAVEL_SAMPLES, LOOKUP_SAMPLES = 20, 50
DIFF_WINDOW = 1_000  # events between diff's two points: about a busy hour of the bench's organisation


SKIPPABLE = ("whatif", "peer", "writers")  # the measures a long run may leave out (`bench --skip`)


def run_bench(
    events: int,
    users: int,
    seed: int,
    db: str | None = None,
    skip: frozenset[str] = frozenset(),
    keep: Path | None = None,
) -> dict[str, Any]:
    """Every measure on temporary SQLite files, or, with `db` a `postgresql://` URL, in temporary schemas of
    that server (dropped afterwards); but those in `skip`. `keep`: move the measured SQLite ledger there at the
    end (to measure other commands on it afterwards)."""
    unknown = sorted(skip - set(SKIPPABLE))
    if unknown:
        raise ValueError(f"--skip takes {', '.join(SKIPPABLE)}, not {unknown[0]!r}")
    if keep is not None and (db is not None or keep.exists()):
        raise ValueError(
            f"--keep {keep}: already exists" if db is None else "--keep keeps a SQLite ledger; not with --db"
        )
    folder = Path(tempfile.mkdtemp(prefix="syncledger-bench-"))
    where = _Where(folder, db)
    try:
        result = _measure(folder, where, events, users, seed, skip)
        if keep is not None:
            shutil.move(folder / "bench.db", keep)
            result["kept"] = str(keep)
        return result
    finally:
        where.drop()
        shutil.rmtree(folder, ignore_errors=True)


class _Where:
    """The locations a run uses: files in `folder`, or schemas named for this process on the server at `url`."""

    def __init__(self, folder: Path, url: str | None) -> None:
        self.folder, self.url, self.schemas = folder, url, []  # type: ignore[var-annotated]
        if url is not None and not url.startswith(("postgresql://", "postgres://")):
            raise ValueError("bench --db takes a postgresql:// URL (without it, bench uses temporary SQLite files)")

    @property
    def backend(self) -> str:
        return "sqlite" if self.url is None else "postgresql"

    def new(self, name: str) -> str:
        if self.url is None:
            return str(self.folder / f"{name}.db")
        schema = f"syncledger_bench_{os.getpid()}_{name.replace('-', '_')}"
        self.schemas.append(schema)
        parts = urlsplit(self.url)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "schema"] + [("schema", schema)]
        return urlunsplit(parts._replace(query=urlencode(query)))

    def connect(self) -> Any:
        """A connection of our own to the server (for the server's own limit)."""
        return connect_postgres(environment(self.url), autocommit=False)

    def drop(self) -> None:
        if not self.schemas:
            return
        with contextlib.closing(connect_postgres(environment(self.url), autocommit=True)) as connection:
            for schema in self.schemas:
                connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _measure(folder: Path, where: _Where, events: int, users: int, seed: int, skip: frozenset[str]) -> dict[str, Any]:
    lines_path = folder / "org.jsonl"
    actions = _write_lines(lines_path, users, seed, events)
    location = where.new("bench")
    imported = _in_child(_measured_ingest, where.new("warm-up"), location, str(lines_path))
    events_stored, raw_rate = _raw_ingest_rate(where, location)
    result: dict[str, Any] = {
        "backend": where.backend,
        "actions": actions,
        "events": events_stored,
        "ingest_aps": actions / imported["seconds"],
        "ingest_eps": events_stored / imported["seconds"],
        "ingest_raw_rps": raw_rate,
        "import_peak_rss_mb": imported["peak_rss_mb"],
    }
    result["ingest_ratio"] = result["ingest_aps"] / result["ingest_raw_rps"]
    result.update(_in_child(_rebuild, location))
    result["rebuild_raw_eps"] = _raw_rebuild_rate(where, location)
    result["rebuild_ratio"] = result["rebuild_eps"] / result["rebuild_raw_eps"]
    if "whatif" not in skip:
        result.update(_in_child(_whatif, location))
        result["whatif_ratio"] = result["whatif_eps"] / result["rebuild_raw_eps"]
    reader = open_reader(location)
    result.update(_time_travel(reader, events_stored, random.Random(seed)))
    result.update(_lookups(reader, random.Random(seed + 1)))
    result.update(_previews_and_diffs(reader, random.Random(seed + 2)))
    reader.ledger.store.close()
    del reader
    if "peer" not in skip:
        result.update(_in_child(_peer, where.new("peer"), result["events"]))
        result["peer_ingest_ratio"] = result["ingest_eps"] / result["peer_save_eps"]
        result["peer_rebuild_ratio"] = result["rebuild_eps"] / result["peer_read_eps"]
    result["skipped"] = sorted(skip)
    if where.url is not None and "writers" not in skip:
        result.update(_writers(where, lines_path, seed))
    result["machine"] = {"cores": os.cpu_count(), "memory_gb": round(_memory_gb(), 1), "load": os.getloadavg()}
    return result


def _write_lines(path: Path, users: int, seed: int, events: int) -> int:
    with path.open("wb") as out:
        return write_lines(out, users, 100_000, seed, events)


def _measured_ingest(warm_up: str, location: str, lines: str) -> dict[str, float]:
    """The import, timed, in a child process so that its peak memory is its own (with the second process that
    indexes beside it when the read models catch up after a large import)."""
    collect_for_bulk_work()  # as the command line does
    _ingest(warm_up, Path(lines), limit=2_000)  # warm-up: imports, caches, first compilations
    beside = _PeakOfChildren()
    beside.start()
    started = time.perf_counter()
    _ingest(location, Path(lines))
    seconds = time.perf_counter() - started
    beside.stop()
    return {"seconds": seconds, "peak_rss_mb": _peak_mb(os.getpid()) + beside.peak_mb}


def _ingest(db: str, lines: Path, limit: int | None = None) -> None:
    """The public import path: the same functions `syncledger import` runs (read, check, stage, commit)."""
    if limit is not None:
        head = lines.with_name("warm-up.jsonl")
        with lines.open("rb") as source, head.open("wb") as out:
            for n, line in enumerate(source):
                if n >= limit:
                    break
                out.write(line)
        lines = head
    with lines.open("rb") as source:
        import_actions(open_reader(db).ledger, source)


RAW_CHUNK = 100_000  # rows decoded (untimed) at a time for the raw limit: the bench holds a chunk, not the ledger


def _stored_chunks(location: str) -> Iterator[list[tuple[str, int, str, Any]]]:
    """The ledger's stored rows, their payloads decoded, a chunk at a time (so that the bench's own memory stays
    bounded at 10^7 events)."""
    store = EventStore(location, create=False)
    try:
        chunk: list[tuple[str, int, str, Any]] = []
        for row in store.rows():
            chunk.append((STREAM, row.position, row.topic, json.loads(unwrap(row.state)[2])))
            if len(chunk) == RAW_CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk
    finally:
        store.close()


def _timed_inserts(location: str, insert: Callable[[list[tuple[str, int, str, bytes]]], Any]) -> tuple[int, float]:
    """The ledger's rows, a chunk at a time, encoded with stdlib json and given to `insert`: how many, and the
    seconds spent encoding and inserting (not reading the ledger's rows back)."""
    count, seconds = 0, 0.0
    for chunk in _stored_chunks(location):
        started = time.perf_counter()
        insert([(oid, version, topic, json.dumps(payload).encode()) for oid, version, topic, payload in chunk])
        seconds += time.perf_counter() - started
        count += len(chunk)
    return count, seconds


def _raw_ingest_rate(where: _Where, location: str) -> tuple[int, float]:
    """The machine's limit: stdlib json and executemany of the same rows into a table of the same shape (on
    PostgreSQL, the shape eventsourcing gives it: with its notification id and that id's index), one
    transaction; only the encoding and the inserts are timed, not reading the ledger's rows back. Returns how
    many rows the ledger holds and the rate."""
    if where.url is None:
        db = sqlite3.connect(where.folder / "raw.db")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, topic TEXT, "
            "state BLOB, PRIMARY KEY (originator_id, originator_version))"
        )
        count, seconds = _timed_inserts(
            location, lambda rows: db.executemany("INSERT INTO stored_events VALUES (?, ?, ?, ?)", rows)
        )
        started = time.perf_counter()
        db.commit()
        seconds += time.perf_counter() - started
        db.close()
        (where.folder / "raw.db").unlink()
        return count, count / seconds
    schema = where.new("raw").rsplit("schema=", 1)[1]
    with contextlib.closing(where.connect()) as db:
        db.execute(f'CREATE SCHEMA "{schema}"')
        db.execute(
            f'CREATE TABLE "{schema}".stored_events (originator_id text NOT NULL, originator_version bigint NOT NULL, '
            "topic text, state bytea, notification_id bigserial, PRIMARY KEY (originator_id, originator_version))"
        )
        db.execute(f'CREATE UNIQUE INDEX ON "{schema}".stored_events (notification_id)')
        db.commit()
        insert = (
            f'INSERT INTO "{schema}".stored_events (originator_id, originator_version, topic, state) '
            "VALUES (%s, %s, %s, %s)"
        )

        def insert_rows(rows: list[tuple[str, int, str, bytes]]) -> None:
            with db.cursor() as cursor:
                cursor.executemany(insert, rows)

        count, seconds = _timed_inserts(location, insert_rows)
        started = time.perf_counter()
        db.commit()
        db.execute(f'DROP SCHEMA "{schema}" CASCADE')
        db.commit()
        seconds += time.perf_counter() - started  # the commit; the drop is a small share and frees the disk
        return count, count / seconds


def _raw_rebuild_rate(where: _Where, location: str) -> float:
    """The machine's limit: select every row and decode it with the stdlib."""
    started = time.perf_counter()
    count = 0
    if where.url is None:
        with sqlite3.connect(location) as db:
            for (state,) in db.execute("SELECT state FROM stored_events ORDER BY originator_id, originator_version"):
                json.loads(state[33:])
                count += 1
        return count / (time.perf_counter() - started)
    schema = location.rsplit("schema=", 1)[1]
    with contextlib.closing(where.connect()) as db, db.cursor(name="all") as cursor:
        cursor.itersize = 10_000
        cursor.execute(f'SELECT state FROM "{schema}".stored_events ORDER BY originator_id, originator_version')
        for (state,) in cursor:
            json.loads(state[33:])
            count += 1
    return count / (time.perf_counter() - started)


def _rebuild(location: str) -> dict[str, Any]:
    """Every projection rebuilt from the store, in a child process so that its memory is its own. The item index
    is rebuilt by a second process beside it (`projections.projector`): the peak counts both."""
    collect_for_bulk_work()  # as the command line does
    reader = open_reader(location)
    reader.projector.models.reset()
    beside = _PeakOfChildren()
    beside.start()
    started = time.perf_counter()
    with progress("rebuilding") as update:
        world = reader.projector.catch_up(update)
    seconds = time.perf_counter() - started
    beside.stop()
    folding = _peak_mb(os.getpid())
    return {
        "rebuild_eps": world.position / seconds,
        "peak_rss_mb": folding + beside.peak_mb,
        "peak_rss_fold_mb": folding,
        "peak_rss_index_mb": beside.peak_mb,
    }


def _whatif(location: str) -> dict[str, Any]:
    """`syncledger whatif --method server_side` on the whole ledger (every user moved), in a child process so that
    its memory is its own: the ledger's events read and folded, its actions replayed through the engine."""
    collect_for_bulk_work()  # as the command line does
    store = EventStore(location, create=False)
    started = time.perf_counter()
    with Spill(store.mapper) as spill:  # as the command does
        found = answer(store.read(), Question("server_side"), spill.notes)
    seconds = time.perf_counter() - started
    store.close()
    return {
        "whatif_s": seconds,
        "whatif_eps": found.ledger_end[0] / seconds,
        "whatif_differ": len(found.differences),
        "peak_rss_whatif_mb": _peak_mb(os.getpid()),
    }


def _peak_mb(pid: int) -> float:
    """A process's peak resident memory as the kernel keeps it since its last exec (`ru_maxrss` is no use here:
    it keeps the peak of the process this one was forked from)."""
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


class _PeakOfChildren(threading.Thread):
    """Samples the resident memory of this process's children (the second process of a rebuild) while it runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_mb, self._done = 0.0, threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.02):
            for child in _children():
                with contextlib.suppress(OSError, StopIteration):  # it may have ended meanwhile
                    self.peak_mb = max(self.peak_mb, _peak_mb(child))

    def stop(self) -> None:
        self._done.set()
        self.join()


def _children() -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{os.getpid()}/task"):
        with contextlib.suppress(OSError), open(f"/proc/{os.getpid()}/task/{task}/children") as children:
            found += [int(pid) for pid in children.read().split()]
    return found


def _in_child(function: Any, *args: Any) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return dict(pool.apply(function, args))


def _time_travel(reader: Reader, events: int, rng: random.Random) -> dict[str, float]:
    positions = [rng.randint(1, events) for _ in range(TIME_TRAVEL_SAMPLES)]
    reader.state_at(positions[0], links_limit=LINKS_PAGE)  # warm-up
    seconds = []
    for position in positions:
        started = time.perf_counter()
        with collector_paused():  # as `state --position N` makes and lists them
            reader.state_at(position, links_limit=LINKS_PAGE)
        seconds.append(time.perf_counter() - started)
    return {"state_p50_s": statistics.median(seconds), "state_p95_s": _p95(seconds)}


def _lookups(reader: Reader, rng: random.Random) -> dict[str, float]:
    refs = sorted(r for r in reader.index.touched if not r.startswith("user:"))
    sample = [rng.choice(refs) for _ in range(LOOKUP_SAMPLES)]
    why_s, history_s = [], []
    for n, ref in enumerate([sample[0], *sample]):  # the first is a warm-up
        started = time.perf_counter()
        story(ref, reader.world, reader.index, reader.event, reader.events).document()  # what `why` answers
        middle = time.perf_counter()
        load_history(reader, ref)
        if n:
            why_s.append(middle - started)
            history_s.append(time.perf_counter() - middle)
    return {
        "why_p50_s": statistics.median(why_s),
        "why_p95_s": _p95(why_s),
        "history_p50_s": statistics.median(history_s),
        "history_p95_s": _p95(history_s),
    }


def _previews_and_diffs(reader: Reader, rng: random.Random) -> dict[str, float]:
    """`preview USER` (the user's next sync at the ledger's end, a dry run through the engine) for random users,
    and `diff A B` over a window of DIFF_WINDOW events at random places (both worlds, the changes and the event
    behind each): each should cost the user's queue or the window, not the ledger."""
    world = reader.world
    assert world.at is not None  # a bench ledger is never empty
    users = sorted(world.users)
    sample = [rng.choice(users) for _ in range(TIME_TRAVEL_SAMPLES + 1)]
    preview_s = []
    for n, user in enumerate(sample):  # the first is a warm-up
        started = time.perf_counter()
        preview(reader, user, world.at).document()
        if n:
            preview_s.append(time.perf_counter() - started)
    end = world.position
    starts = [rng.randint(0, max(0, end - DIFF_WINDOW)) for _ in range(TIME_TRAVEL_SAMPLES + 1)]
    diff_s = []
    for n, a in enumerate(starts):
        started = time.perf_counter()
        with collector_paused():  # as `diff A B` does
            diff_between(reader, a, min(end, a + DIFF_WINDOW)).document()
        if n:
            diff_s.append(time.perf_counter() - started)
    return {
        "preview_p50_s": statistics.median(preview_s),
        "preview_p95_s": _p95(preview_s),
        "diff_p50_s": statistics.median(diff_s),
        "diff_p95_s": _p95(diff_s),
    }


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def _memory_gb() -> float:
    with open("/proc/meminfo") as info:
        return int(info.readline().split()[1]) / 1024 / 1024


def report(result: dict[str, Any]) -> None:
    backend = result.get("backend", "sqlite")
    limit = "raw executemany" if backend == "sqlite" else "raw executemany (psycopg)"
    t = table(
        f"syncledger bench on {backend}: {result['actions']:,} actions, {result['events']:,} events "
        f"({result['machine']['cores']} cores, {result['machine']['memory_gb']} GB)",
        "measure",
        "syncledger",
        "machine's limit",
        "ratio",
        "bar",
    )
    t.add_row(
        "ingest",
        f"{result['ingest_aps']:,.0f} actions/s ({result['ingest_eps']:,.0f} events/s)",
        f"{result['ingest_raw_rps']:,.0f} rows/s, {limit}",
        f"{result['ingest_ratio']:.3f}",
        ">= 0.05" if backend == "sqlite" else ">= 0.10",
    )
    t.add_row(
        "rebuild",
        f"{result['rebuild_eps']:,.0f} events/s",
        f"{result['rebuild_raw_eps']:,.0f} rows/s, raw select + json",
        f"{result['rebuild_ratio']:.3f}",
        ">= 0.25",
    )
    t.add_row(
        "time travel", f"p50 {result['state_p50_s']:.3f} s, p95 {result['state_p95_s']:.3f} s", "", "", "p95 < 0.2 s"
    )
    for name in ("why", "history"):
        t.add_row(
            name,
            f"p50 {result[f'{name}_p50_s'] * 1000:.1f} ms, p95 {result[f'{name}_p95_s'] * 1000:.1f} ms",
            "",
            "",
            "p95 < 20 ms",
        )
    t.add_row(
        "preview (a user's next sync)",
        f"p50 {result['preview_p50_s'] * 1000:.1f} ms, p95 {result['preview_p95_s'] * 1000:.1f} ms",
        "",
        "",
        "",
    )
    t.add_row(
        f"diff ({DIFF_WINDOW:,} events apart)",
        f"p50 {result['diff_p50_s'] * 1000:.1f} ms, p95 {result['diff_p95_s'] * 1000:.1f} ms",
        "",
        "",
        "",
    )
    t.add_row(
        "memory",
        f"peak {result['peak_rss_mb']:,.0f} MB while rebuilding (fold {result['peak_rss_fold_mb']:,.0f} + index "
        f"{result['peak_rss_index_mb']:,.0f})",
        "",
        "",
        "< 1024 MB",
    )
    t.add_row("memory", f"peak {result['import_peak_rss_mb']:,.0f} MB while importing", "", "", "< 1024 MB")
    if "peer_save_eps" in result:
        t.add_row(
            "peer: save",
            f"{result['ingest_eps']:,.0f} events/s, everything included",
            f"{result['peer_save_eps']:,.0f} events/s, eventsourcing Application.save, batches of 1,000",
            f"{result['peer_ingest_ratio']:.2f}",
            "goal >= 1",
        )
        t.add_row(
            "peer: read",
            f"{result['rebuild_eps']:,.0f} events/s, rebuild",
            f"{result['peer_read_eps']:,.0f} events/s, its recorder + mapper",
            f"{result['peer_rebuild_ratio']:.2f}",
            "goal >= 1",
        )
    if "writers_4_aps" in result:
        t.add_row(
            "4 writers",
            f"{result['writers_4_aps']:,.0f} actions/s together",
            f"{result['writers_1_aps']:,.0f} actions/s, 1 writer",
            f"{result['writers_4_vs_1']:.2f}",
            "",
        )
    if "whatif_s" in result:
        t.add_row(
            "whatif (every user to server_side)",
            f"{result['whatif_s']:.1f} s, {result['whatif_eps']:,.0f} events/s, "
            f"peak {result['peak_rss_whatif_mb']:,.0f} MB",
            f"{result['rebuild_raw_eps']:,.0f} rows/s",
            f"{result['whatif_ratio']:.3f}",
            "",
        )
    console.print(t)
    if result.get("skipped"):
        console.print(f"Not measured (--skip): {', '.join(result['skipped'])}", markup=False)
    if result.get("kept"):
        console.print(f"The measured ledger is kept at {result['kept']}", markup=False)
