"""A reader that checks the read models' seals, and `verify`, while another process appends: every interleaving.

A projection's batch of rows and its tracking position are written in one transaction, but a reader looks at them
in several reads. If another writer's next batch lands between two of them, a reader that read the batches before
the tracking position saw a complete projection "complete up to N, but sealed up to M", ignored the archive (a
warning, and the past folded from every event instead) and `verify` reported it (exit 1): seen with 4 writers on
PostgreSQL (`tools/perf/writers.py`). These tests put the other writer's append at each point between the reader's
reads, in turn, on both server back ends: no sleeps, no luck."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from syncledger.ledger import vocabulary as v
from syncledger.ledger.past import PastRows
from syncledger.projections import sealing
from syncledger.projections.integrity import verify
from syncledger.projections.reader import Reader, open_reader
from syncledger.projections.readmodels import INDEX, WORLD, ReadModels
from tests import randomwalk
from tests.conftest import Locations, require_postgres

# what a reader of the read models asks them (`projections.readmodels.ReadModels`): each answer is a point at which
# another process may have written since the answer before
_READS = (
    "tracking",
    "batches",
    "read_table",
    "checkpoints",
    "checkpoint_row",
    "refs",
    "touched",
    "rows",
    "highest_positions",
    "iterate",
)


class _Schedule:
    """Another process's append (`write`), once, after the `after`-th kind of read (counting from 0; a run of the
    same read, as `verify` asks `touched` of each reference, is one)."""

    def __init__(self, after: int, write: Callable[[], None]) -> None:
        self.after, self.write = after, write
        self.kinds: list[str] = []  # the kinds of read so far, a run of the same one once
        self.wrote = False

    def read(self, name: str) -> None:
        if not self.kinds or self.kinds[-1] != name:
            self.kinds.append(name)
            if len(self.kinds) == self.after + 1:
                self.write()
                self.wrote = True


class _Interleaved:
    """Read models, or an event store, whose reads (`reads`) are points of a `_Schedule`; a generator's point is
    after its last item (the scan of the events, done)."""

    def __init__(self, target: Any, reads: tuple[str, ...], schedule: _Schedule) -> None:
        self.target, self.reads, self.schedule = target, reads, schedule

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # what `isinstance` asks (verify reads SQL read models by their own queries)
        return type(self.target)

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.target, name)
        if name not in self.reads:
            return found

        def read(*args: Any, **kwargs: Any) -> Any:
            answer = found(*args, **kwargs)
            if isinstance(answer, Iterator):
                return self._then(answer, name)
            self.schedule.read(name)
            return answer

        return read

    def _then(self, items: Iterator[Any], name: str) -> Iterator[Any]:
        yield from items
        self.schedule.read(name)


def _other_writer(location: str) -> tuple[Reader, Callable[[], None]]:
    """Another process's ledger (its own connections and read models) and what it appends each time: one action,
    with its read models written after it, as `syncledger do` does."""
    other = open_reader(location)
    ledger = other.ledger
    count = iter(range(10**6))

    def append() -> None:
        n = next(count)
        action = v.ACTION_ADAPTER.validate_python({"do": "user.add", "user": f"other-{n}"})
        ledger.append([action], clock=lambda: datetime.now(UTC))

    return other, append


def rebuilt(models: ReadModels) -> PastRows:
    """The past folded from the events (what answers when the archive does not match its seals)."""
    assert models.rebuild_past is not None
    return models.rebuild_past()


def _location(backend: str, locations: Locations) -> str:
    if backend == "postgres":
        require_postgres()
    location = locations.new()
    assert location is not None
    reader = open_reader(location, checkpoint_every=25)
    for action in randomwalk.actions(8, 80):
        reader.ledger.append([action])
    reader.close()
    return location


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server_locations(backend: str, tmp_path: Path) -> Iterator[Locations]:
    made = Locations(backend, tmp_path)
    yield made
    made.drop()


def test_a_reader_checking_the_seals_while_another_process_appends_trusts_them(
    backend: str, server_locations: Locations, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first archive question of a process checks each projection's batches against their seals (once); the
    other writer's append falls after the first read of that check, then after the second, and so on."""
    monkeypatch.setattr(sealing, "_WARNED", set())  # a warning is printed once per process: this test's, here
    location = _location(backend, server_locations)
    other, append = _other_writer(location)
    try:
        after = 0
        while True:
            reader = open_reader(location)  # a fresh process's read models: not checked yet
            models = reader.projector.models
            schedule = _Schedule(after, append)
            interleaved = _Interleaved(models, _READS, schedule)
            tracked = {p: models.tracking(p) for p in (INDEX, WORLD)}
            for name in ("tracking", "batches", "read_table"):  # what the check reads, as it calls them
                setattr(models, name, getattr(interleaved, name))
            assert models.action("no such action", 10**9) is None  # the index projection is checked
            assert models.ended_links(tracked[WORLD]) == rebuilt(models).upto(tracked[WORLD]).links  # and WORLD
            said = capsys.readouterr().err
            assert "warning" not in said, (after, said)
            for name in ("tracking", "batches", "read_table"):
                delattr(models, name)
            if not schedule.wrote:
                reader.close()
                break
            assert all(models.tracking(p) > tracked[p] for p in (INDEX, WORLD))  # the other one did write both
            reader.close()
            after += 1
        assert after >= 4  # tracking and batches, of each projection at least
    finally:
        other.close()


def test_verify_while_another_process_appends_finds_nothing(backend: str, server_locations: Locations) -> None:
    """`verify` reads the events, then each read model: the other writer's append falls after each kind of read
    of the read models in turn (and so also between its scan of the events and its checks)."""
    location = _location(backend, server_locations)
    other, append = _other_writer(location)
    reader = open_reader(location)
    try:
        after = 0
        while True:
            schedule = _Schedule(after, append)
            store = _Interleaved(reader.ledger.store, ("rows", "last_position"), schedule)
            models = _Interleaved(reader.projector.models, _READS, schedule)
            report = verify(store, models)  # type: ignore[arg-type]
            assert report.ok, (after, schedule.kinds[after : after + 1], report.findings)
            if not schedule.wrote:
                break
            after += 1
        assert after >= 8
    finally:
        reader.close()
        other.close()
