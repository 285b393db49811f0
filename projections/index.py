"""The item index: for every item reference, the positions of the events that touched it and of the decisions
about it; and the position of every action id. `why` and `history` read an item's own events through it instead
of scanning the ledger, and the write side refuses a used action id through it.

It is a projection of its own, with its own tracking position. It needs no state, only each event's fields, so
catching it up reads the rows as plain data (no events built, nothing folded), and a long catch-up runs it in a
second process beside the fold of the world (`projections.projector`)."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from syncledger.ledger import vocabulary as v
from syncledger.ledger.store import EventStore

from .readmodels import INDEX, IndexRow, ReadModels, latest_before, starting
from .sqlmodels import open_read_models

FLUSH_ROWS = 100_000  # index rows per read-model transaction on a catch-up
ORG_REF = "org:"  # the organisation's own options (`org.option`), whoever set them


def refs_in(values: Mapping[str, Any]) -> tuple[str, ...]:
    """The references an event touches, from its fields (an event's own, or the data it was stored as):
    `crm:<record>`, `outlook:<user>/<item>`, `user:<name>`."""
    if values["do"] == "decision":
        return tuple(values["about"])
    if values["do"] == "baseline":  # every record and item it names (its decisions set them)
        document = values["document"]
        if isinstance(document, v.BaselineDocument):
            named = document.refs()
        else:
            named = (
                *(v.crm_ref(r["id"]) for r in document.get("records", ())),
                *(v.outlook_ref(user, i["id"]) for user, its in document.get("items", {}).items() for i in its),
            )
        return named or ("user:",)
    if values["do"] == "discrepancy":  # about what the refused action names: history and why show it in place
        action = values["action"]
        return refs_in(action) if isinstance(action, Mapping) and "do" in action else ("user:",)
    user = values.get("user") or values.get("actor") or ""
    if values["do"] == "alias":  # the item under both its names
        return (v.outlook_ref(user, values["item"]), v.outlook_ref(user, values["alias"]))
    if values["do"] == "org.option":  # an organisation option: also under `org:`, where extract finds them all
        return (f"user:{user}", ORG_REF)
    refs: list[str] = []
    item = values.get("item")
    if item is not None:
        refs.append(v.outlook_ref(user, item))
    record = values.get("record")
    if record is not None and values["do"] != "outlook.track":  # a track names the record it will create
        refs.append(v.crm_ref(record))
    if not refs:
        refs.append(f"user:{user}")
    return tuple(refs)


def refs_of(event: v.Action | v.Decided) -> tuple[str, ...]:
    """The references an event touches (read from its fields: pydantic's attribute lookup is slow)."""
    return refs_in(event.__dict__)


@dataclass
class ItemIndex:
    """The index built in memory by a scan: for scenario runs, and what tests and `verify` compare against."""

    position: int = 0
    touched: dict[str, list[int]] = field(default_factory=dict)
    decisions: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # ref -> (position, rule)

    def add(self, recorded: Iterable[tuple[int, v.Action | v.Decided]]) -> None:
        for position, event in recorded:
            self.position = position
            for ref in refs_of(event):
                self.touched.setdefault(ref, []).append(position)
                if isinstance(event, v.Decided):
                    self.decisions.setdefault(ref, []).append((position, event.rule))

    def last_decision(self, ref: str) -> tuple[int, str] | None:
        found = self.decisions.get(ref)
        return found[-1] if found else None

    def known(self, ref: str) -> bool:
        return ref in self.touched

    def latest_before(self, pairs: Sequence[tuple[str, int]]) -> list[int | None]:
        return [latest_before(self.touched.get(ref, []), position) for ref, position in pairs]

    def refs_starting(self, prefix: str, fold_case: bool, limit: int) -> list[str]:
        return starting(self.touched, prefix, fold_case, limit)


class IndexProjection:
    """Keeps the stored item index and the action ids complete up to its tracking position."""

    def __init__(self, store: EventStore, models: ReadModels) -> None:
        self.store, self.models = store, models
        self._rows: list[IndexRow] = []
        self._actions: list[tuple[str, int]] = []
        self._first = self._seen = 0

    def note(self, position: int, values: Mapping[str, Any]) -> None:
        """An event's rows (its fields, as `refs_in` takes them), to be written at the next flush."""
        if not self._rows:
            self._first = position
        rule = values.get("rule")
        self._rows.extend((ref, position, rule) for ref in refs_in(values))
        if values["do"] != "decision" and values.get("id") is not None:
            self._actions.append((values["id"], position))
        self._seen = position

    def flush(self) -> bool:
        """Write what was noted, if the index is complete up to just before it (another process may have written
        it first); whether it wrote."""
        return self.take()()

    def take(self) -> Callable[[], bool]:
        """What was noted, as its write (to run here or in another thread: `flush`), forgotten here."""
        first, seen, rows, actions = self._first, self._seen, self._rows, self._actions
        self.discard()
        return lambda: bool(rows) and self.models.write_index(first, seen, rows, actions)

    def discard(self) -> None:
        self._rows, self._actions = [], []

    def catch_up(self, upto: int, after: int | None = None) -> None:
        """Index the events after the tracking position (`after`, if the caller has just read it), up to `upto`,
        from their stored data."""
        start = self.models.tracking(INDEX) if after is None else after
        # on a server, each batch is written in another thread while the next one is read: a write waits for the
        # server (half of a 10^6-event catch-up was PostgreSQL inserting), and reading need not wait for it; one
        # batch is written at a time, in order, each onto the one before (`ReadModels.write_index`). Not on SQLite,
        # where that thread's writes and the reads beside them made a rebuild a tenth slower.
        ahead = ThreadPoolExecutor(1, "syncledger-index-writes") if self.models.on_server else None
        written: Future[bool] | None = None
        try:
            for position, values in self.store.read_data(after=start, upto=upto):
                self.note(position, values)
                if len(self._rows) >= FLUSH_ROWS:
                    if written is not None:
                        written.result()  # at most one batch waits to be written besides the one being read
                    if ahead is None:
                        self.flush()
                    else:
                        written = ahead.submit(self.take())
            if written is not None:
                written.result()
        finally:
            if ahead is not None:
                ahead.shutdown()
        self.flush()


def catch_up_index(location: str, upto: int, parent: int | None = None) -> None:
    """Bring the item index of the ledger at `location` up to `upto`: what a second process runs during a long
    catch-up (it opens the ledger itself; nothing is shared with the process that started it). With `parent`, it
    ends when that process does, however that ends (`end_with`)."""
    if parent is not None:
        end_with(parent)
    store = EventStore(location)
    models = open_read_models(location, store.mapper, store)
    try:
        IndexProjection(store, models).catch_up(upto)
    finally:
        models.close()
        store.close()


PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when the thread that started it ends
WATCH_EVERY = 0.5  # seconds between looks at the parent, where the kernel cannot be asked


def end_with(parent: int) -> None:
    """Make this process end when process `parent` ends, even by SIGKILL (which no handler of the parent sees):
    on Linux the kernel is asked to send SIGKILL then; elsewhere, and in case it was already gone, a thread looks
    whether this process has been handed to another parent. Unfinished index rows are rolled back with the
    transaction; the tracking position stays where the last whole write left it."""
    if sys.platform.startswith("linux"):
        with suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it ended before the kernel was asked
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="syncledger-parent-watch", daemon=True).start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_EVERY)
    os._exit(1)
