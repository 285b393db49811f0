"""`syncledger bench --sources`: the import of a real organisation's exports (SOURCES.md) at scale, beside the
import of the same actions as action lines (what `convert` writes) in the same run, so that the ratio of the two
means something on a shared, noisy machine. Each import runs in a child process of its own, after a warm-up,
and its peak memory is the kernel's (with the process that indexes beside it), as `bench` measures its import."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger
from syncledger.ledger.store import EventStore
from syncledger.projections.reader import open_reader

from ..actionlines import to_line
from ..output import console, table
from ..sources.importer import read_inputs, run_import
from .audits import Exports, write_exports
from .bench import _in_child, _memory_gb, _peak_mb, _PeakOfChildren
from .tuning import collect_for_bulk_work

WARM_UP_ROWS = 2_000


def run_sources_bench(rows: int, users: int, seed: int) -> dict[str, Any]:
    """Generate about `rows` audit rows of `users` users (Dataverse pages and mailbox audit CSVs), convert them to
    action lines, and import each into a temporary SQLite ledger, timed."""
    folder = Path(tempfile.mkdtemp(prefix="syncledger-bench-sources-"))
    try:
        exports = write_exports(folder / "exports", rows, users, seed)
        warm_up = write_exports(folder / "warm-up", WARM_UP_ROWS, users, seed + 1)
        lines, warm_lines = folder / "actions.jsonl", folder / "warm-up.jsonl"
        converted = _in_child(_measured_convert, _args(warm_up), str(warm_lines), _args(exports), str(lines))
        sources_db, lines_db = str(folder / "sources.db"), str(folder / "lines.db")
        imported = _in_child(
            _measured_source_import, _args(warm_up), str(folder / "warm-up-sources.db"), _args(exports), sources_db
        )
        replayed = _in_child(
            _measured_line_import, str(warm_lines), str(folder / "warm-up-lines.db"), str(lines), lines_db
        )
        events, events_again = _events(sources_db), _events(lines_db)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if events != events_again:  # convert's promise: its lines import to the same ledger
        raise RuntimeError(f"the source import stored {events} events, its action lines {events_again}")
    actions, seconds, line_seconds = imported["actions"], imported["seconds"], replayed["seconds"]
    result: dict[str, Any] = {
        "backend": "sqlite",
        "rows": exports.rows,
        "dataverse_rows": exports.dataverse_rows,
        "m365_rows": exports.m365_rows,
        "files": len(exports.files),
        "users": users,
        "actions": actions,
        "events": events,
        "sources_import_s": seconds,
        "sources_rows_per_s": exports.rows / seconds,
        "sources_aps": actions / seconds,
        "sources_eps": events / seconds,
        "sources_import_cpu_s": imported["cpu_s"],
        "sources_import_peak_rss_mb": imported["peak_rss_mb"],
        "lines_import_s": line_seconds,
        "lines_aps": actions / line_seconds,
        "lines_eps": events / line_seconds,
        "lines_import_cpu_s": replayed["cpu_s"],
        "lines_import_peak_rss_mb": replayed["peak_rss_mb"],
        "convert_s": converted["seconds"],
        "convert_rows_per_s": exports.rows / converted["seconds"],
        "convert_peak_rss_mb": converted["peak_rss_mb"],
    }
    result["speed_ratio"] = result["sources_eps"] / result["lines_eps"]  # source import / action-line import
    result["cpu_ratio"] = result["lines_import_cpu_s"] / result["sources_import_cpu_s"]  # speed, by CPU time
    result["memory_ratio"] = result["sources_import_peak_rss_mb"] / result["lines_import_peak_rss_mb"]
    result["machine"] = {"cores": os.cpu_count(), "memory_gb": round(_memory_gb(), 1), "load": os.getloadavg()}
    return result


def _args(exports: Exports) -> list[str]:
    return [str(exports.people), *map(str, exports.files)]


def _events(location: str) -> int:
    store = EventStore(location, create=False)
    try:
        return store.last_position()
    finally:
        store.close()


def _source_import(args: list[str], location: str) -> dict[str, Any]:
    """What `syncledger import --people P FILE...` runs: every file read and checked, every row judged, the
    actions staged and published."""
    people, *files = args
    ledger = open_reader(location).ledger
    report = run_import(ledger, read_inputs(people, [(f, None) for f in files]))
    return {"actions": sum(report.appended.values())}


def _measured_source_import(warm_up: list[str], warm_location: str, args: list[str], location: str) -> dict[str, Any]:
    collect_for_bulk_work()  # as the command line does
    _source_import(warm_up, warm_location)  # imports, caches, first compilations
    beside = _PeakOfChildren()
    beside.start()
    started, cpu = time.perf_counter(), time.process_time()
    found = _source_import(args, location)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    beside.stop()
    return {**found, "seconds": seconds, "cpu_s": cpu, "peak_rss_mb": _peak_mb(os.getpid()) + beside.peak_mb}


def _measured_line_import(warm_up: str, warm_location: str, lines: str, location: str) -> dict[str, Any]:
    from ..transfer import import_actions

    collect_for_bulk_work()
    with open(warm_up, "rb") as source:
        import_actions(open_reader(warm_location).ledger, source)
    beside = _PeakOfChildren()
    beside.start()
    started, cpu = time.perf_counter(), time.process_time()
    with open(lines, "rb") as source:
        import_actions(open_reader(location).ledger, source)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    beside.stop()
    return {"seconds": seconds, "cpu_s": cpu, "peak_rss_mb": _peak_mb(os.getpid()) + beside.peak_mb}


def _convert(args: list[str], out: str) -> None:
    """What `syncledger convert --people P FILE...` runs (without a ledger: an empty one)."""
    people, *files = args
    with open(out, "wb") as lines:

        def write(action: v.Action) -> None:
            lines.write(to_line(action))

        run_import(Ledger(), read_inputs(people, [(f, None) for f in files]), append=False, collect=write)


def _measured_convert(warm_up: list[str], warm_out: str, args: list[str], out: str) -> dict[str, Any]:
    collect_for_bulk_work()
    _convert(warm_up, warm_out)
    started = time.perf_counter()
    _convert(args, out)
    return {"seconds": time.perf_counter() - started, "peak_rss_mb": _peak_mb(os.getpid())}


def report(result: dict[str, Any]) -> None:
    t = table(
        f"syncledger bench --sources on sqlite: {result['rows']:,} audit rows ({result['dataverse_rows']:,} Dataverse, "
        f"{result['m365_rows']:,} mailbox) in {result['files']} files, {result['users']} users -> "
        f"{result['actions']:,} actions, {result['events']:,} events ({result['machine']['cores']} cores, "
        f"{result['machine']['memory_gb']} GB)",
        "measure",
        "source import",
        "action-line import (convert's output)",
        "ratio",
    )
    t.add_row(
        "speed",
        f"{result['sources_rows_per_s']:,.0f} rows/s, {result['sources_aps']:,.0f} actions/s, "
        f"{result['sources_eps']:,.0f} events/s ({result['sources_import_s']:.1f} s)",
        f"{result['lines_aps']:,.0f} actions/s, {result['lines_eps']:,.0f} events/s ({result['lines_import_s']:.1f} s)",
        f"{result['speed_ratio']:.2f}",
    )
    t.add_row(
        "CPU time (this process)",
        f"{result['sources_import_cpu_s']:.1f} s",
        f"{result['lines_import_cpu_s']:.1f} s",
        f"{result['cpu_ratio']:.2f}",
    )
    t.add_row(
        "memory",
        f"peak {result['sources_import_peak_rss_mb']:,.0f} MB",
        f"peak {result['lines_import_peak_rss_mb']:,.0f} MB",
        f"{result['memory_ratio']:.2f}",
    )
    t.add_row(
        "convert",
        f"{result['convert_rows_per_s']:,.0f} rows/s ({result['convert_s']:.1f} s), "
        f"peak {result['convert_peak_rss_mb']:,.0f} MB",
        "",
        "",
    )
    console.print(t)
