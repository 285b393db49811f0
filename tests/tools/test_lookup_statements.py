"""On PostgreSQL every statement is a round trip to the server: `history`, `why` and `state --position` send a
few statements each, however many events the item has, however many its users' syncs, wherever the point is
(DESIGN.md: a lookup costs the item's own events, a time-travel query one checkpoint and at most one interval)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from syncledger.projections.document import LINKS_PAGE, state_document
from syncledger.projections.reader import Reader, open_reader
from syncledger.tools.explain.history import load_history
from syncledger.tools.explain.story import story
from syncledger.tools.perf.generate import write_lines
from syncledger.tools.transfer import import_actions
from tests.conftest import Locations, require_postgres

HISTORY_MOST = 6  # the item's index rows, its events, its partners' rows, their events, the sync points, theirs
STATE_MOST = 4  # the checkpoint and those it is a delta onto, their events' seals, one interval, the ended links
WHY_MOST = 10  # the item's rows and events, their causes, and what the present names (deleted records, links)


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reader]:
    require_postgres()
    places = Locations("postgres", tmp_path_factory.mktemp("statements"))
    location = places.new()
    out = io.BytesIO()
    write_lines(out, 6, 100, 5, 3_000)
    writer = open_reader(location, checkpoint_every=300)
    import_actions(writer.ledger, out.getvalue().splitlines(keepends=True))
    writer.close()
    opened = open_reader(location, checkpoint_every=300)  # as a command opens it: nothing read yet
    yield opened
    opened.close()
    places.drop()


class _Counted:
    """The statements this thread sends: a connection pool's own threads configure the connections they open in
    the background (eventsourcing's datastore), on a loaded machine while the lookup runs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.statements = 0
        execute = psycopg.Cursor.execute
        here = threading.get_ident()

        def counted(cursor: Any, *args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() == here:
                self.statements += 1
            return execute(cursor, *args, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "execute", counted)

    def of(self, lookup: Any, *args: Any) -> int:
        self.statements = 0
        lookup(*args)
        return self.statements


def _why(reader: Reader, ref: str) -> None:
    story(ref, reader.world, reader.index, reader.event, reader.events).document()


def test_history_and_why_send_a_few_statements_however_many_events_the_item_has(
    reader: Reader, monkeypatch: pytest.MonkeyPatch
) -> None:
    refs = sorted(
        (ref for ref in reader.index.touched if not ref.startswith(("user:", "org"))),
        key=lambda ref: len(reader.index.touched[ref]),
    )
    largest = refs[-10:]
    assert len(reader.index.touched[largest[-1]]) >= 15, "some items have many events"
    location = reader.ledger.store.url
    count = _Counted(monkeypatch)
    syncs = 0
    for ref in largest:
        fresh = open_reader(location)  # as `syncledger history REF` opens it: nothing of the index read yet
        try:
            _why(fresh, refs[0])  # the first lookup of a process checks the read models' seals once
            assert count.of(load_history, fresh, ref) <= HISTORY_MOST, ref
            assert count.of(_why, fresh, ref) <= WHY_MOST, ref
            syncs += len(load_history(fresh, ref).syncs)
        finally:
            fresh.close()
    assert syncs >= 10, "their decisions were taken at many syncs, of several users"


def test_state_at_any_position_sends_a_few_statements(reader: Reader, monkeypatch: pytest.MonkeyPatch) -> None:
    last = reader.world.position
    state_document(reader.world_at(last // 2), links_limit=LINKS_PAGE)  # the archive's seals, checked once
    count = _Counted(monkeypatch)
    for position in (1, 299, 300, 301, 1_234, 1_500, 2_701, last - 1):
        assert count.of(lambda p: state_document(reader.world_at(p), links_limit=LINKS_PAGE), position) <= STATE_MOST
