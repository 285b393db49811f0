"""`diff` between two points of one ledger reads only the links active at either point or ended between them,
not every link the ledger ever ended: the differences are exactly those of comparing every link, at random pairs
of points, with the past in the archive and in memory, on every back end."""

from __future__ import annotations

import io
import random
from collections.abc import Sequence

import pytest

from syncledger.ledger.past import Past
from syncledger.ledger.world import Link
from syncledger.projections import indextree, sqlmodels
from syncledger.projections.index import refs_of
from syncledger.projections.reader import open_reader
from syncledger.tools.explain.diff import _active, _links_to_compare, changed_by, diff_between, diff_worlds
from syncledger.tools.inputs import BadInputError
from syncledger.tools.perf.generate import write_lines
from syncledger.tools.transfer import import_actions
from tests.conftest import Locations


def test_diff_in_order_finds_what_comparing_every_link_finds(locations: Locations) -> None:
    out = io.BytesIO()
    write_lines(out, 6, 100, 5, 3_000)
    reader = open_reader(locations.new(), checkpoint_every=300)
    import_actions(reader.ledger, out.getvalue().splitlines(keepends=True))
    if reader.ledger.store.url is not None:
        reader = open_reader(reader.ledger.store.url, checkpoint_every=300)  # the past read from the archive
    rng = random.Random(3)
    last = reader.world.position
    links_changed = 0
    for _ in range(12):
        a, b = sorted(rng.randint(0, last) for _ in range(2))
        before, after = reader.world_at(a), reader.world_at(b)
        every = diff_worlds(before, after)
        assert diff_worlds(before, after, in_order=True) == every, (a, b)
        links_changed += sum(1 for d in every if d.side == "link")
    assert links_changed, "some links were made or ended between the points"


def test_diff_of_what_the_window_touched_finds_what_comparing_everything_finds(locations: Locations) -> None:
    """`diff A B` compares only the records, items and links the events between A and B touched: on a mixed
    organisation (a third of its users on server-side sync), at random pairs of points, near and far apart, the
    differences are exactly those of comparing both states whole, in the same order."""
    out = io.BytesIO()
    write_lines(out, 8, 100, 11, 4_000, server_side=0.35)
    reader = open_reader(locations.new(), checkpoint_every=400)
    import_actions(reader.ledger, out.getvalue().splitlines(keepends=True))
    rng = random.Random(5)
    last = reader.world.position
    compared = 0
    for span in (1, 5, 40, 300, last):
        for _ in range(6):
            a = rng.randint(0, max(0, last - span))
            b = min(last, a + rng.randint(0, span))
            before, after = reader.world_at(a), reader.world_at(b)
            touched = {ref for _, event in reader.ledger.store.read(a, b) for ref in refs_of(event)}
            every = diff_worlds(before, after)
            assert diff_worlds(before, after, in_order=True, touched=touched) == every, (a, b)
            assert diff_between(reader, a, b).changes == every, (a, b)
            compared += len(every)
    assert compared > 100, "the windows changed things"


def test_diff_asks_the_archive_for_earlier_links_only_of_items_the_earlier_point_had(
    locations: Locations, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For each link made between its two points, `diff` looks for the item's last ended link before them (the
    link the key had before). A cold process proves that answer by checking the owner's bucket of the archive: at
    10^7 events, most of a cold diff's time. An item the earlier point did not have was created since (ids are
    never reused in one Outlook, a deleted item is never linked again), so it is not asked about; the differences
    stay those of comparing everything."""
    out = io.BytesIO()
    write_lines(out, 8, 100, 11, 4_000, server_side=0.35)
    reader = open_reader(locations.new(), checkpoint_every=400)
    import_actions(reader.ledger, out.getvalue().splitlines(keepends=True))
    asked: list[tuple[str, str]] = []
    real = Past.last_link

    def last_link(past: Past, user: str, item: str) -> Link | None:
        asked.append((user, item))
        return real(past, user, item)

    monkeypatch.setattr(Past, "last_link", last_link)
    rng = random.Random(8)
    last = reader.world.position
    new_items = had = 0
    for _ in range(10):
        a = rng.randint(0, last - 300)
        before, after = reader.world_at(a), reader.world_at(a + 300)
        assert diff_between(reader, a, a + 300).changes == diff_worlds(before, after)
        asked.clear()
        _links_to_compare(before, after)
        made = [k for k in after.past.ended_links_between(a) + _active(after) if k.made > a]
        had_them = {(k.user, k.item) for k in made if k.item in getattr(before.users.get(k.user), "items", {})}
        assert set(asked) == had_them
        new_items += len({(k.user, k.item) for k in made} - had_them)
        had += len(had_them)
    assert new_items > had > 0, "windows link new items and items the earlier point had"


def test_diff_reads_only_its_window_of_each_users_rows(locations: Locations, monkeypatch: pytest.MonkeyPatch) -> None:
    """A diff explains each change by the events of its window that touched the reference: for a user's changes
    (an option, a sync), only the window's positions. Read whole, a user's rows are every span of them (at 10^7
    events, 153 leaves a user, a diff of 1,000 events took 2.5 s instead of 0.8 s); the diff reads the window's
    spans only, and names the same events as reading every position does."""
    monkeypatch.setattr(indextree, "SPAN", 64)
    monkeypatch.setattr(sqlmodels, "SPAN", 64)
    out = io.BytesIO()
    write_lines(out, 6, 100, 7, 2_000)
    reader = open_reader(locations.new(), checkpoint_every=300)
    import_actions(reader.ledger, out.getvalue().splitlines(keepends=True))
    models = reader.index.models
    whole: list[str] = []
    real = models.touched_many

    def touched_many(refs: Sequence[str]) -> dict[str, list[tuple[int, str | None]]]:
        whole.extend(refs)
        return real(refs)

    monkeypatch.setattr(models, "touched_many", touched_many)
    rng = random.Random(2)
    last = reader.world.position
    users_changed = 0
    for _ in range(8):
        a = rng.randint(0, last - 300)
        b = a + rng.randint(1, 300)
        whole.clear()
        found = diff_between(reader, a, b)
        assert not [ref for ref in whole if ref.startswith("user:")], "a user's rows were read whole"
        every = [  # each change's events found from every position of its reference
            changed_by(change, a, b, reader, found.after, fields, None)
            for change, fields in zip(found.changes, found.by_field, strict=True)
        ]
        assert found.by == every, (a, b)
        users_changed += sum(1 for change in found.changes if change.ref.startswith("user:"))
    assert users_changed, "some windows changed a user"


def test_a_diff_of_two_past_points_decodes_no_present(stored: Locations) -> None:
    """Opened anew, a reader answers `diff` between two past points (positions and times) without the present."""
    out = io.BytesIO()
    write_lines(out, 4, 60, 7, 1_500)
    location = stored.new()
    writer = open_reader(location, checkpoint_every=200)
    import_actions(writer.ledger, out.getvalue().splitlines(keepends=True))
    last = writer.world.position
    expected = diff_between(writer, 100, last - 300).document()
    at = writer.world_at(last // 2).at
    by_time = diff_between(writer, 100, at).document()
    writer.close()
    reader = open_reader(location, checkpoint_every=200)
    assert diff_between(reader, 100, last - 300).document() == expected
    assert diff_between(reader, 100, at).document() == by_time
    assert not reader.ledger.loaded
    with pytest.raises(BadInputError, match=f"outside the ledger \\(0..{last}\\)"):
        diff_between(reader, 100, last + 1)
    assert not reader.ledger.loaded
    reader.close()
