"""A large present keeps one string per name and id, not one per record, item and link that names it: a world
folded from stored events (each decoded afresh) and a world decoded from a checkpoint share their users' names,
types, states and rules, and take a link's item and record ids from the item and the record (`ledger.evolve`,
`projections.codec`). And a large import forgets what its staged world changed since a checkpoint once the read
models stopped following it (`tools.transfer.Stager`): no checkpoint is written of that world."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncledger.ledger.application import Ledger
from syncledger.ledger.evolve import evolve
from syncledger.ledger.world import World
from syncledger.projections.codec import checkpoint_data, compressed, decode_world, present_json
from syncledger.projections.reader import open_reader
from syncledger.tools import transfer
from syncledger.tools.inputs import parse_action

START = datetime(2026, 3, 2, 8, tzinfo=UTC)
USERS = ("ann", "bob", "cy")


def _actions(records: int) -> list[dict[str, object]]:
    at = iter(START + timedelta(seconds=n) for n in range(10**6))
    actions: list[dict[str, object]] = [
        {"do": "user.add", "user": u, "id": f"add-{u}", "at": next(at), "sync_filter": "owned_and_shared"}
        for u in USERS
    ]
    for n in range(records):
        owner = USERS[n % len(USERS)]
        actions.append(
            {
                "do": "crm.create",
                "id": f"c{n}",
                "at": next(at),
                "actor": owner,
                "record": f"r{n}",
                "type": "contact" if n % 2 else "task",
                "owner": owner,
                "fields": {"fullname" if n % 2 else "subject": f"x{n}"},
            }
        )
        if n % 3 == 0:
            actions.append({"do": "crm.share", "id": f"s{n}", "at": next(at), "actor": owner, "record": f"r{n}",
                            "with": USERS[(n + 1) % len(USERS)]})  # fmt: skip
    actions += [{"do": "sync", "id": f"sync-{u}", "at": next(at), "user": u} for u in USERS]
    return actions


def _assert_shared(world: World) -> None:
    links = [k for by_user in world.links_to.values() for k in by_user.values()]
    assert len(links) > 10
    for link in links:
        user = world.users[link.user]
        assert link.user is user.name
        assert link.item is user.items[link.item].id
        assert link.record is world.records[link.record].id
        assert link.rule is links[0].rule and link.state is links[0].state and link.origin is links[0].origin
    for record in world.records.values():
        assert record.owner is world.users[record.owner].name
        assert all(name is world.users[name].name for name in record.shared_with)
    types = {id(r.type) for r in world.records.values()} | {
        id(i.type) for u in world.users.values() for i in u.items.values()
    }
    assert len(types) <= 2  # "contact" and "task", once each


def test_a_world_folded_from_stored_events_shares_its_strings() -> None:
    ledger = Ledger()
    ledger.append([parse_action(a) for a in _actions(40)])
    world = World()
    for position, event in ledger.events():  # each event decoded from its stored bytes: strings of its own
        evolve(world, event, position)
    _assert_shared(world)


def test_a_world_decoded_from_a_checkpoint_shares_its_strings() -> None:
    ledger = Ledger()
    ledger.append([parse_action(a) for a in _actions(40)])
    world = decode_world(checkpoint_data(compressed(present_json(ledger.world))))
    _assert_shared(world)
    assert present_json(world) == present_json(ledger.world)


def test_a_large_import_forgets_what_its_world_changed_once_nothing_checkpoints_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "SPILL", 10)
    monkeypatch.setattr(transfer, "FOLLOW", 30)
    ledger = open_reader(str(tmp_path / "ledger.db")).ledger
    with transfer.Staging(ledger.store.mapper) as staging:
        stager = transfer.Stager(ledger, staging)
        for action in _actions(300):
            stager.stage(parse_action(action))
        assert not ledger.following
        world = ledger.world
        noted = len(world.changed_records) + len(world.changed_items) + len(world.changed_links)
        assert noted <= 3 * 2 * transfer.SPILL  # what the events since the last move changed, not all 300 records
        stager.finish()
        ledger.publish(staging.pages())
    assert len(ledger.world.records) == 300
