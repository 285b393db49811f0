"""The peer: the `eventsourcing` package's own Application saving and reading back trivial events, in batches of
1,000, on the same back end as the ledger, in the same run. It is what the ledger is built on, with nothing of
the ledger's own work (no rules, decisions, projections, seals): the ledger's ratios to it say what that work
costs beside the library's bare save and read."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from syncledger.ledger.store import connect_postgres, environment

BATCH = 1_000


class Counter(Aggregate):
    """A trivial aggregate: each event carries one small number."""

    def __init__(self) -> None:
        self.count = 0

    @event("Ticked")
    def tick(self, n: int) -> None:
        self.count = n


def peer(location: str, events: int) -> dict[str, Any]:
    """Save `events` trivial events in batches of 1,000 (one aggregate per batch, created and ticked, then one
    `save`), then read every one back through the application's recorder and mapper, in order."""
    env = {k: v for k, v in environment(location).items() if k != "CIPHER_KEY"}
    if env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        env["SQLITE_DBNAME"] = location
    else:
        with contextlib.closing(connect_postgres(env, autocommit=True)) as server:
            server.execute(f'CREATE SCHEMA IF NOT EXISTS "{env["POSTGRES_SCHEMA"]}"')
    env["ORIGINATOR_ID_TYPE"] = "uuid"
    env["CREATE_TABLE"] = "true"
    saved_env = dict(os.environ)
    os.environ.update(env)
    try:
        app: Application[Any] = Application(env=env)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
    for n in range(2):  # warm-up
        counter = Counter()
        counter.tick(n)
        app.save(counter)
    start_after = app.recorder.max_notification_id() or 0
    started = time.perf_counter()
    saved = 0
    while saved < events:
        counter = Counter()
        for n in range(min(BATCH, events - saved) - 1):
            counter.tick(n)
        app.save(counter)
        saved += min(BATCH, events - saved)
    save_seconds = time.perf_counter() - started
    started = time.perf_counter()
    read, after = 0, start_after
    while True:
        page = app.recorder.select_notifications(start=after + 1, limit=10_000)
        if not page:
            break
        for notification in page:
            app.mapper.to_domain_event(notification)
        read += len(page)
        after = page[-1].id
    read_seconds = time.perf_counter() - started
    app.close()
    return {"peer_events": saved, "peer_save_eps": saved / save_seconds, "peer_read_eps": read / read_seconds}
