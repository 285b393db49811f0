"""The archived past answers exactly what a past kept in memory answers, at every point it is asked about: the
archive (`ledger.past.Archive`) on every back end, and `Past.settle` handing the past over to it."""

from __future__ import annotations

from syncledger.ledger.application import Ledger
from syncledger.ledger.evolve import evolve
from syncledger.ledger.past import Past
from syncledger.ledger.store import EventStore
from syncledger.ledger.world import World, links
from syncledger.projections.sqlmodels import open_read_models
from tests import randomwalk
from tests.conftest import Locations


def test_a_past_settled_into_the_archive_answers_as_one_kept_in_memory(locations: Locations) -> None:
    location = locations.new()
    store = EventStore(location)
    ledger_events = _events(store, seed=8, count=250)
    archive = open_read_models(location, store.mapper)
    kept, settled = World(), World(past=Past(archive))
    for position, event in ledger_events:
        evolve(kept, event, position)
        evolve(settled, event, position)
        if position % 29 == 0:  # hand over to the archive now and then, as the projector does after each page
            archive.write_world(settled.past.upto + 1, position, [], settled.past.after(settled.past.upto))
            archive.write_index(
                settled.past.upto + 1, position, [], list(settled.past.after(settled.past.upto).actions.items())
            )
            settled.past.settle(position)
            assert not settled.past.since.actions  # nothing left in memory but what came after
            _same_answers(kept.past, settled.past, ledger_events)
            assert links(kept) == links(settled)
    assert settled.past.upto > 0 and kept.past == settled.past


def test_a_past_read_up_to_a_checkpoint_ignores_what_the_archive_holds_after_it(locations: Locations) -> None:
    location = locations.new()
    store = EventStore(location)
    ledger_events = _events(store, seed=3, count=200)
    archive = open_read_models(location, store.mapper)
    whole = World()
    for position, event in ledger_events:
        evolve(whole, event, position)
    last = ledger_events[-1][0]
    archive.write_world(1, last, [], whole.past.rows())
    archive.write_index(1, last, [], list(whole.past.rows().actions.items()))
    for upto in range(0, last + 1, 23):
        expected = World()
        for position, event in ledger_events[:upto]:
            evolve(expected, event, position)
        assert Past(archive, upto) == expected.past, upto
        _same_answers(expected.past, Past(archive, upto), ledger_events)


def _events(store: EventStore, seed: int, count: int) -> list:
    ledger = Ledger(store)
    for action in randomwalk.actions(seed, count):
        ledger.append([action])
    events = list(store.read())
    assert any(e.do == "crm.delete" for _, e in events)  # the walk deletes records, so there is a past to keep
    return events


def _same_answers(kept: Past, other: Past, events: list) -> None:
    """Every question the engine and the tools ask of a past, about everything the ledger ever named."""
    records = {getattr(e, "record", None) for _, e in events} - {None}
    items = {(e.user_name, e.item) for _, e in events if getattr(e, "item", None)}
    for record in records:
        assert kept.record(record) == other.record(record), record
    for user, item in items:
        assert kept.item_deleted(user, item) == other.item_deleted(user, item), (user, item)
        assert kept.last_link(user, item) == other.last_link(user, item), (user, item)
    for _, event in events:
        if getattr(event, "id", None):
            assert kept.action(event.id) == other.action(event.id), event.id
    assert kept.ended_links() == other.ended_links()
