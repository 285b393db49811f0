"""Worlds as bytes, for checkpoints: plain JSON data (never pickle: a checkpoint read from a database must not
be able to run code), compressed. A checkpoint holds the present only (its past is archived beside it, see
`ledger.past`), so its size follows the organisation, not the ledger. Active links are shared between the
per-record and the per-user maps, so they are written once and referred to by their index."""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

import orjson

from ledger import vocabulary as v
from ledger.past import Archive, Past
from ledger.world import Item, Link, Pending, Record, User, World


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


# orjson writes times (as isoformat does), tuples and dicts itself: what is handed to it is not copied first
def record_data(r: Record) -> tuple[Any, ...]:
    return (
        r.id,
        r.type,
        r.owner,
        r.state,
        r.fields,
        r.shared_with,
        r.regarding,
        r.start,
        r.created,
        r.changed,
        r.removed_by,
    )


def record_of(d: list[Any]) -> Record:
    return Record(d[0], d[1], d[2], d[3], d[4], dict.fromkeys(d[5]), d[6], _dt(d[7]), d[8], d[9], d[10])


def link_data(k: Link) -> tuple[Any, ...]:
    return (k.user, k.item, k.record, k.origin, k.state, k.rule, k.position, k.in_filter, k.made)


def present_json(world: World) -> bytes:
    """The present as JSON: what a checkpoint holds, once compressed (`compressed`)."""
    return orjson.dumps(present_data(world))


def compressed(state: bytes) -> bytes:
    """A checkpoint's bytes (`decode_world` reverses it): compression lets go of Python's lock, so it can run in
    another thread."""
    return zlib.compress(state, 1)


def present_data(world: World) -> dict[str, Any]:
    """The present of the world as plain data (what a checkpoint holds, and what `verify` compares)."""
    links = [k for by_user in world.links_to.values() for k in by_user.values()]
    link_index = {id(link): n for n, link in enumerate(links)}
    return {
        "position": world.position,
        "at": world.at,
        "records": [record_data(r) for r in world.records.values()],
        "links": [link_data(k) for k in links],
        # the order of users per record decides the order of queued operations: keep it exactly
        "links_to": [
            [record, [link_index[id(k)] for k in by_user.values()]] for record, by_user in world.links_to.items()
        ],
        "users": [
            {
                "name": u.name,
                "sync_filter": u.sync_filter,
                "delete": u.delete_untracked_email_in_crm,
                "online": u.online,
                "items": [(i.id, i.type, i.fields, i.start, i.completed) for i in u.items.values()],
                "links": [link_index[id(k)] for k in u.links_by_item.values()],
                "pending": [
                    [
                        p.operation,
                        p.record,
                        p.item,
                        p.cause,
                        p.at,
                        p.designated,
                        v.dump(p.replay) if p.replay is not None else None,
                    ]
                    for p in u.pending
                ],
                "owned": u.owned,
                "shared": u.shared,
            }
            for u in world.users.values()
        ],
    }


def decode_world(blob: bytes, archive: Archive | None = None) -> World:
    """The world of a checkpoint; its past up to the checkpoint is read from `archive` when asked for."""
    data = orjson.loads(zlib.decompress(blob))
    links = [Link(*row) for row in data["links"]]
    world = World(position=data["position"], at=_dt(data["at"]), past=Past(archive, data["position"]))
    world.records = {r.id: r for r in map(record_of, data["records"])}
    for u in data["users"]:
        user = User(u["name"], u["sync_filter"], u["delete"], u["online"])
        user.items = {i[0]: Item(i[0], i[1], i[2], _dt(i[3]), i[4]) for i in u["items"]}
        user.links_by_item = {links[n].item: links[n] for n in u["links"]}
        user.pending = [
            Pending(
                p[0],
                p[1],
                p[2],
                p[3],
                _dt(p[4]) or datetime.min,
                p[5],
                v.ACTION_ADAPTER.validate_python(p[6]) if p[6] is not None else None,
            )
            for p in u["pending"]
        ]
        user.owned, user.shared = dict.fromkeys(u["owned"]), dict.fromkeys(u["shared"])
        world.users[user.name] = user
    world.links_to = {record: {links[n].user: links[n] for n in indices} for record, indices in data["links_to"]}
    return world
