"""Several writers at once on one PostgreSQL ledger: 4 processes appending against 1, the same number of actions
in all. Each writer acts for an organisation of its own (the generated one, its names prefixed), through
`Ledger.append` in small batches stamped by the clock, as `syncledger do` and an integration would: an import
of timed lines cannot overlap another one (a ledger's time never goes backwards), so this is where writers meet.
What they race for is the next position: a lost race re-reads and retries."""

from __future__ import annotations

import multiprocessing
import queue
import time
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import ActionRefusedError
from syncledger.projections.reader import open_reader

ACTIONS = 4_000  # in all, for 1 writer and for 4
BATCH = 20  # actions per append
NAMED = ("id", "user", "actor", "record", "item", "owner", "to", "with", "regarding")


def writers(where: Any, lines: Path, seed: int) -> dict[str, Any]:
    """Actions per second of 1 writer and of 4 at once, each on a fresh ledger of the server."""
    one = _run(where.new("writers-1"), lines, 1)
    four = _run(where.new("writers-4"), lines, 4)
    return {
        "writers_actions": ACTIONS,
        "writers_1_aps": one["aps"],
        "writers_4_aps": four["aps"],
        "writers_4_vs_1": four["aps"] / one["aps"],
        "writers_refused_batches": one["refused"] + four["refused"],
    }


def _run(location: str, lines: Path, count: int, actions: int = ACTIONS) -> dict[str, float]:
    """`count` writers appending `actions` in all (the first `actions // count` lines each, renamed), at once."""
    open_reader(location).ledger.store.close()  # created before the writers start
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    each = actions // count
    processes = [
        context.Process(target=_writer, args=(location, str(lines), f"w{n}-", each, start, results))
        for n in range(count)
    ]
    for process in processes:
        process.start()
    ready = [_next(results, processes) for _ in processes]  # each has opened the ledger and read its actions
    assert all(r == "ready" for r in ready)
    started = time.perf_counter()
    start.set()
    refused = sum(_next(results, processes) for _ in processes)
    seconds = time.perf_counter() - started
    for process in processes:
        process.join()
    return {"aps": actions / seconds, "refused": refused}


def _next(results: Any, processes: list[Any]) -> Any:
    """The next report of a writer; a writer that died says so instead of leaving the bench waiting."""
    while True:
        try:
            return results.get(timeout=1)
        except queue.Empty:
            if any(p.exitcode not in (None, 0) for p in processes):
                raise RuntimeError("a writer of the several-writers measure failed") from None


def _writer(location: str, lines: str, prefix: str, count: int, start: Any, results: Any) -> None:
    with open(lines, "rb") as source:
        actions = [_renamed(orjson.loads(line), prefix) for line in islice(source, count)]
    ledger = open_reader(location).ledger
    results.put("ready")
    start.wait()
    refused = 0
    for n in range(0, len(actions), BATCH):
        try:
            ledger.append(actions[n : n + BATCH], clock=lambda: datetime.now(UTC))
        except ActionRefusedError:
            refused += 1  # the clock's times are not the generator's: a rare action may no longer fit
    results.put(refused)


def _renamed(raw: dict[str, Any], prefix: str) -> v.Action:
    """The action for this writer's own organisation, without a time (the clock stamps it)."""
    raw.pop("at")
    for key in NAMED:
        if isinstance(raw.get(key), str):
            raw[key] = prefix + raw[key]
    return v.ACTION_ADAPTER.validate_python(raw)  # type: ignore[no-any-return]
