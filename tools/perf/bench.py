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
from pathlib import Path
from typing import Any

from syncledger.ledger.seal import unwrap
from syncledger.ledger.store import EventStore
from syncledger.projections.document import state_document
from syncledger.projections.reader import Reader, open_reader

from ..explain.history import load_history
from ..explain.story import story
from ..explain.whatif import Question, answer
from ..output import console, table
from ..progress import progress
from ..transfer import import_actions
from .generate import write_lines
from .tuning import collect_for_bulk_work

TIME_TRAVEL_SAMPLES, LOOKUP_SAMPLES = 20, 50


def run_bench(events: int, users: int, seed: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="syncledger-bench-"))
    try:
        return _measure(folder, events, users, seed)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _measure(folder: Path, events: int, users: int, seed: int) -> dict[str, Any]:
    lines_path = folder / "org.jsonl"
    actions = _write_lines(lines_path, users, seed, events)
    _ingest(folder / "warm-up.db", lines_path, limit=2_000)  # warm-up: imports, caches, first compilations
    started = time.perf_counter()
    _ingest(folder / "bench.db", lines_path)
    ingest_seconds = time.perf_counter() - started
    location = str(folder / "bench.db")
    rows = _stored_rows(location)
    result: dict[str, Any] = {
        "actions": actions,
        "events": len(rows),
        "ingest_aps": actions / ingest_seconds,
        "ingest_raw_rps": _raw_ingest_rate(folder / "raw.db", rows),
    }
    result["ingest_ratio"] = result["ingest_aps"] / result["ingest_raw_rps"]
    result.update(_in_child(_rebuild, location))
    result["rebuild_raw_eps"] = _raw_rebuild_rate(location)
    result["rebuild_ratio"] = result["rebuild_eps"] / result["rebuild_raw_eps"]
    result.update(_in_child(_whatif, location))
    result["whatif_ratio"] = result["whatif_eps"] / result["rebuild_raw_eps"]
    reader = open_reader(location)
    result.update(_time_travel(reader, len(rows), random.Random(seed)))
    result.update(_lookups(reader, random.Random(seed + 1)))
    result["machine"] = {"cores": os.cpu_count(), "memory_gb": round(_memory_gb(), 1)}
    return result


def _write_lines(path: Path, users: int, seed: int, events: int) -> int:
    with path.open("wb") as out:
        return write_lines(out, users, 100_000, seed, events)


def _ingest(db: Path, lines: Path, limit: int | None = None) -> None:
    """The public import path: the same functions `syncledger import` runs (read, check, stage, commit)."""
    if limit is not None:
        head = db.with_suffix(".jsonl")
        with lines.open("rb") as source, head.open("wb") as out:
            for n, line in enumerate(source):
                if n >= limit:
                    break
                out.write(line)
        lines = head
    with lines.open("rb") as source:
        import_actions(open_reader(str(db)).ledger, source)


def _stored_rows(location: str) -> list[tuple[str, int, str, bytes]]:
    with sqlite3.connect(location) as db:
        return db.execute(
            "SELECT originator_id, originator_version, topic, state FROM stored_events ORDER BY originator_version"
        ).fetchall()


def _raw_ingest_rate(path: Path, rows: list[tuple[str, int, str, bytes]]) -> float:
    """The machine's limit: stdlib json and executemany of the same rows into a table of the same shape."""
    payloads = [(oid, version, topic, json.loads(unwrap(state)[2])) for oid, version, topic, state in rows]
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(
        "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, topic TEXT, "
        "state BLOB, PRIMARY KEY (originator_id, originator_version))"
    )
    started = time.perf_counter()
    encoded = [(oid, version, topic, json.dumps(payload).encode()) for oid, version, topic, payload in payloads]
    db.executemany("INSERT INTO stored_events VALUES (?, ?, ?, ?)", encoded)
    db.commit()
    seconds = time.perf_counter() - started
    db.close()
    return len(rows) / seconds


def _raw_rebuild_rate(location: str) -> float:
    """The machine's limit: select every row and decode it with the stdlib."""
    started = time.perf_counter()
    with sqlite3.connect(location) as db:
        count = 0
        for (state,) in db.execute("SELECT state FROM stored_events ORDER BY originator_id, originator_version"):
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
    found = answer(store.read(), Question("server_side"))
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
    state_document(reader.world_at(positions[0]))  # warm-up
    seconds = []
    for position in positions:
        started = time.perf_counter()
        state_document(reader.world_at(position))
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


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def _memory_gb() -> float:
    with open("/proc/meminfo") as info:
        return int(info.readline().split()[1]) / 1024 / 1024


def report(result: dict[str, Any]) -> None:
    t = table(
        f"syncledger bench: {result['actions']:,} actions, {result['events']:,} events "
        f"({result['machine']['cores']} cores, {result['machine']['memory_gb']} GB)",
        "measure",
        "syncledger",
        "machine's limit",
        "ratio",
        "bar",
    )
    t.add_row(
        "ingest",
        f"{result['ingest_aps']:,.0f} actions/s",
        f"{result['ingest_raw_rps']:,.0f} rows/s",
        f"{result['ingest_ratio']:.3f}",
        ">= 0.05",
    )
    t.add_row(
        "rebuild",
        f"{result['rebuild_eps']:,.0f} events/s",
        f"{result['rebuild_raw_eps']:,.0f} rows/s",
        f"{result['rebuild_ratio']:.3f}",
        ">= 0.25",
    )
    t.add_row(
        "time travel", f"p50 {result['state_p50_s']:.3f} s, p95 {result['state_p95_s']:.3f} s", "", "", "p95 < 0.2 s"
    )
    t.add_row(
        "why",
        f"p50 {result['why_p50_s'] * 1000:.1f} ms, p95 {result['why_p95_s'] * 1000:.1f} ms",
        "",
        "",
        "p95 < 20 ms",
    )
    t.add_row(
        "history",
        f"p50 {result['history_p50_s'] * 1000:.1f} ms, p95 {result['history_p95_s'] * 1000:.1f} ms",
        "",
        "",
        "p95 < 20 ms",
    )
    t.add_row(
        "memory",
        f"peak {result['peak_rss_mb']:,.0f} MB while rebuilding (fold {result['peak_rss_fold_mb']:,.0f} + index "
        f"{result['peak_rss_index_mb']:,.0f})",
        "",
        "",
        "< 1024 MB",
    )
    t.add_row(
        "whatif (every user to server_side)",
        f"{result['whatif_s']:.1f} s, {result['whatif_eps']:,.0f} events/s, "
        f"peak {result['peak_rss_whatif_mb']:,.0f} MB",
        f"{result['rebuild_raw_eps']:,.0f} rows/s",
        f"{result['whatif_ratio']:.3f}",
        "",
    )
    console.print(t)
