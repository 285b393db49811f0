"""Worlds as bytes, for checkpoints: plain JSON data (never pickle: a checkpoint read from a database must not
be able to run code), compressed. A checkpoint holds the present only (its past is archived beside it, see
`ledger.past`), so its size follows the organisation, not the ledger. Links are written once, per user; both
maps of them are rebuilt from that.

A checkpoint is full, or a delta onto the checkpoint before it (its base): then it holds only the records,
items and links the fold noted as changed since (`World.changed_*`), and the ids of those gone; users' options,
queues, lists of what they own and copies without an alias are small and written in full; aliases, which are
never removed, only the new ones. Made from the world's objects, a full checkpoint costs a cache miss per
record, item and link of the present, and a delta only those that changed (a quarter of them, between two
checkpoints); the projector makes full ones from the rows it keeps up to date with each checkpoint
(`PresentRows`), at the cost of a delta's. Reading a delta decodes its base first, so chains are kept short
(`projections.projector`).
"""

from __future__ import annotations

import gc
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from operator import itemgetter
from typing import Any

import orjson
import zstandard

from syncledger.ledger import vocabulary as v
from syncledger.ledger.past import Archive, Past, made
from syncledger.ledger.world import Item, Link, Pending, Record, User, World, interned


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


def record_of(d: list[Any], intern: Callable[[Any], Any] = interned) -> Record:
    """A record from its data (`record_data`). Names and words are interned, as the fold keeps them
    (`ledger.evolve`): one string each, not one per record. A checkpoint's decoder passes `sys.intern`, which
    refuses anything but a string (a checkpoint that holds one is unreadable) and is called without a frame of
    Python: with its links' and items' words, 10 ms of the 125 a 1,000-user checkpoint took to decode."""
    shared = dict.fromkeys(map(intern, d[5]))
    start = d[7]
    return Record(
        d[0],
        intern(d[1]),
        intern(d[2]),
        intern(d[3]),
        d[4],
        shared,
        d[6],
        datetime.fromisoformat(start) if start is not None else None,
        d[8],
        d[9],
        d[10],
    )


def link_data(k: Link) -> tuple[Any, ...]:
    return (k.user, k.item, k.record, k.origin, k.state, k.rule, k.position, k.in_filter, k.made)


def item_data(i: Item) -> tuple[Any, ...]:
    return (i.id, i.type, i.fields, i.start, i.completed, i.changed)


def present_json(world: World, base: int | None = None, rows: PresentRows | None = None) -> bytes:
    """The present as JSON: what a checkpoint holds, once compressed (`compressed`); a delta onto `base`. With
    `rows`, made from them (`PresentRows`)."""
    return orjson.dumps(present_data(world, base, rows))


Rows = dict[str, tuple[Any, ...]]  # data by id (`PresentRows`)


class PresentRows:
    """The data of each record, item and link of a world's present (`record_data`, `item_data`, `link_data`), kept
    from one checkpoint of the world to the next by what the fold noted as changed (`World.changed_*`, the same
    as a delta holds), so that a full checkpoint is made from them instead of from every object of the present.
    A fold leaves its objects scattered in memory, and reading every one of them again costs a cache miss each:
    for a 1,000-user organisation at 10^6 events, a full checkpoint took 114-139 ms from the world's objects and
    88-100 ms from the rows (with the command line's collector settings, `tools.perf.tuning`). Valid only while
    every change of the world since `position` is noted (the projector keeps them for the world it writes
    checkpoints of, and starts afresh when it cannot tell)."""

    def __init__(self, world: World) -> None:
        self.position = world.position
        self.records = {r.id: record_data(r) for r in world.records.values()}
        self.items = {u.name: {i.id: item_data(i) for i in u.items.values()} for u in world.users.values()}
        self.links = {u.name: {k.item: link_data(k) for k in u.links_by_item.values()} for u in world.users.values()}

    def update(self, world: World) -> Changes:
        """Brought up to `world`, which changed since `position` in only what it noted (`World.changed_*`): what
        changed, as a delta holds it."""
        changes = Changes(world, self)
        self.position = world.position
        return changes


class Changes:
    """What the fold noted as changed in a world since its last checkpoint (`World.changed_*`), as a delta holds
    it: the data of the records there now, in the order they first changed (new ones in the order they were
    made), and the ids of those gone; per user, the same of items and links. Given `rows`, each one's data is
    kept in them too, in the same pass."""

    def __init__(self, world: World, rows: PresentRows | None = None) -> None:
        records = world.records
        self.records: list[tuple[Any, ...]] = []
        self.records_gone: list[str] = []
        for r in world.changed_records:
            found = records.get(r)
            if found is None:
                self.records_gone.append(r)
                if rows is not None:
                    rows.records.pop(r, None)
            else:
                self.records.append(data := record_data(found))
                if rows is not None:
                    rows.records[r] = data
        kept_items, kept_links = (rows.items, rows.links) if rows is not None else (None, None)
        self.items, self.items_gone = _changed(world, world.changed_items, "items", item_data, kept_items)
        self.links, self.links_gone = _changed(world, world.changed_links, "links_by_item", link_data, kept_links)


def _items_and_links(u: User) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    return [item_data(i) for i in u.items.values()], [link_data(k) for k in u.links_by_item.values()]


def _in_order(rows: Rows, keys: Iterable[str]) -> list[tuple[Any, ...]]:
    return [rows[key] for key in keys]


ZSTD_FRAME = b"\x28\xb5\x2f\xfd"  # how a Zstandard frame begins (a zlib stream begins with 0x78)
LARGEST = 1 << 32  # bytes of JSON a checkpoint may say it holds (a 1,000-user organisation's full one is 8 MB)


def compressed(state: bytes) -> bytes:
    """A checkpoint's bytes (`decompressed` reverses it): Zstandard at level 1, which against zlib at level 1 (what
    checkpoints were written as until 12-07, and are still read as) made a 1,000-user organisation's full
    checkpoint 1.81 MB instead of 2.14, in 19 ms instead of 61, and reads it back in 7 ms instead of 23.
    Compression lets go of Python's lock, so it runs in another thread beside the fold."""
    return zstandard.compress(state, 1)


def decompressed(blob: bytes) -> bytes:
    """A checkpoint's JSON from its bytes, Zstandard's or (written before) zlib's. A frame that says it holds more
    than `LARGEST` bytes is refused before anything is made room for (`ValueError`): the size is the frame's own
    word, and a checkpoint changed behind the ledger's back could say anything."""
    if blob[:4] != ZSTD_FRAME:
        return zlib.decompress(blob)
    size = zstandard.frame_content_size(blob)
    if not 0 <= size <= LARGEST:  # -1: the frame does not say (a checkpoint's always does)
        raise ValueError(f"a checkpoint's frame says it holds {size} bytes")
    return zstandard.decompress(blob)


def present_data(world: World, base: int | None = None, rows: PresentRows | None = None) -> dict[str, Any]:
    """The present of the world as plain data (what a checkpoint holds, and what `verify` compares): in full, or
    as a delta onto the checkpoint at position `base`, written from this world (`World.changed_*` hold what
    changed since). With `rows` (`PresentRows`), brought up to the world first, from them: the same data."""
    data: dict[str, Any] = {"position": world.position, "at": world.at, "base": base}
    data["org"] = {"distinct_logical_deletes": world.distinct_logical_deletes}
    changes = rows.update(world) if rows is not None else None
    if base is None and rows is None:  # from the world's objects
        data["records"] = [record_data(r) for r in world.records.values()]
        data["users"] = [_user_rows(u, *_items_and_links(u)) for u in world.users.values()]
        return data
    if base is None and rows is not None:
        # from the rows, in the world's order: going through the world's maps reads their keys, not their objects
        kept_items, kept_links = rows.items, rows.links
        data["records"] = _in_order(rows.records, world.records)
        data["users"] = [
            _user_rows(
                u,
                _in_order(kept_items.get(u.name, {}), u.items),
                _in_order(kept_links.get(u.name, {}), u.links_by_item),
            )
            for u in world.users.values()
        ]
        return data
    if changes is None:
        changes = Changes(world)
    data["records"], data["records_gone"] = changes.records, changes.records_gone
    data["items_gone"], data["links_gone"] = changes.items_gone, changes.links_gone
    aliases: dict[str, dict[str, str]] = {}  # aliases are never removed: a delta holds the new ones
    for user, alias in world.changed_aliases:
        aliases.setdefault(user, {})[alias] = world.users[user].aliases[alias]
    items, links = changes.items, changes.links
    data["users"] = [
        _user_rows(u, items.get(u.name, []), links.get(u.name, []), aliases.get(u.name, {}))
        for u in world.users.values()
    ]
    return data


def _changed(
    world: World,
    keys: Iterable[tuple[str, str]],
    attribute: str,
    data_of: Callable[[Any], tuple[Any, ...]],
    rows: dict[str, Rows] | None,
) -> tuple[dict[str, list[tuple[Any, ...]]], dict[str, list[str]]]:
    """Each user's items (or links) among `keys`: the data of those there now and the ids of those gone, by user
    (kept in `rows` too, if given)."""
    changed: dict[str, list[tuple[Any, ...]]] = {}
    gone: dict[str, list[str]] = {}
    users = world.users
    for user, key in keys:
        found = getattr(users[user], attribute).get(key)
        mine = rows.setdefault(user, {}) if rows is not None else None
        if found is None:
            gone.setdefault(user, []).append(key)
            if mine is not None:
                mine.pop(key, None)
        else:
            changed.setdefault(user, []).append(data := data_of(found))
            if mine is not None:
                mine[key] = data
    return changed, gone


def _user_rows(
    u: User, items: list[tuple[Any, ...]], links: list[tuple[Any, ...]], aliases: dict[str, str] | None = None
) -> dict[str, Any]:
    """A user as a checkpoint holds them, with their items' and links' data given; every alias unless `aliases`."""
    return {
        "name": u.name,
        "sync_filter": u.sync_filter,
        "delete": u.delete_untracked_email_in_crm,
        "online": u.online,
        "method": u.sync_method,
        "items": items,
        "links": links,
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
        "aliases": u.aliases if aliases is None else aliases,
        "copies": u.copies,
    }


def checkpoint_data(blob: bytes) -> dict[str, Any]:
    """A checkpoint's plain data (`StoredPresent` merges a chain of them, `world_of` makes its world); `base` is
    the position of the checkpoint it is a delta onto, or None."""
    data: dict[str, Any] = orjson.loads(decompressed(blob))
    return data


class CheckpointMissingError(LookupError):
    pass


class CheckpointUnreadable(ValueError):
    """A stored checkpoint's bytes do not decode to a world: changed behind the ledger's back (and sealed again, on
    a ledger without a seal key)."""


# What a checkpoint's data changed behind the ledger's back raises as it is decoded (found by changing each of its
# fields in turn: a missing key, a number or a list where a text or a map was, ...): the data is read as plain
# JSON, so a value of the wrong type meets the decoder's own operations (`None.get`, `"x"[0][1]`, `int + str`).
# Only the decoding of the stored data is under it, never the fold that follows.
BAD_DATA = (zlib.error, zstandard.ZstdError, ValueError, LookupError, TypeError, AttributeError)


def decode_checkpoint(position: int, read: Callable[[int], bytes | None], archive: Archive | None = None) -> World:
    """The world of the checkpoint at `position`, its base first if it is a delta; `read` gives a checkpoint's
    bytes (deciphered) by its position, or None if there is none there. `CheckpointMissingError` if one of the
    chain is not there, `CheckpointUnreadable` if one does not decode (what `read` raises, as it is).

    The cyclic collector is paused meanwhile (`collector_paused`)."""
    with collector_paused():
        return world_of(stored_present(position, read), archive)


def stored_present(position: int, read: Callable[[int], bytes | None]) -> StoredPresent:
    """The present the checkpoint at `position` holds, as its rows (`StoredPresent`), its chain of deltas applied;
    errors as `decode_checkpoint`'s."""
    chain: list[dict[str, Any]] = []
    wanted: int | None = position
    with collector_paused():
        while wanted is not None:
            blob = read(wanted)
            if blob is None:
                onto = f", which the one at {chain[-1]['position']} is a delta onto," if chain else ""
                raise CheckpointMissingError(f"the checkpoint at {wanted}{onto} is missing")
            try:
                data = checkpoint_data(blob)
                here = data["position"] == wanted and (data["base"] is None or data["base"] < wanted)
            except BAD_DATA as e:
                raise CheckpointUnreadable(f"the checkpoint at {wanted} cannot be read ({type(e).__name__})") from e
            if not here:
                raise CheckpointUnreadable(f"the checkpoint stored at {wanted} is not one of that position")
            chain.append(data)
            wanted = data["base"]
        present = None
        for data in reversed(chain):
            try:
                present = StoredPresent(data, onto=present)
            except BAD_DATA as e:
                problem = f"the checkpoint at {data['position']} cannot be read ({type(e).__name__})"
                raise CheckpointUnreadable(problem) from e
    assert present is not None
    return present


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic collector paused, for work that makes a few hundred thousand objects that all stay until
    it ends, and none in a cycle (reference counting frees them): decoding a checkpoint, or a time travel's whole
    answer. Each collection it triggered walked them all again for nothing: a fifth of `state --position N` for
    a 1,000-user organisation (`tools.perf.tuning` sets it for the rest of the process)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _link_of(row: list[Any], user: User, records: dict[str, Record]) -> Link:
    """A link of the user's, sharing the strings the world holds (its user's name, its item's and record's ids) as
    the fold does (`ledger.evolve`), rather than copies of them."""
    item, record = user.items.get(row[1]), records.get(row[2])
    return Link(
        user.name,
        item.id if item is not None else row[1],
        record.id if record is not None else row[2],
        sys.intern(row[3]),
        sys.intern(row[4]),
        sys.intern(row[5]),
        *row[6:],
    )


class StoredPresent:
    """The present a checkpoint holds, as its plain rows (`checkpoint_data`), a delta applied onto the present of
    its base (`onto`, which it takes over): records by id, and per user (in the world's order) their options,
    queue, lists and copies as the last checkpoint of the chain wrote them, their items and links by id and
    every alias. In the order the world keeps them: a changed row keeps its place, a new one comes last (ids are
    never used twice). `world_of` makes its world; a state document can be made from it and a few objects
    (`projections.glimpse`)."""

    def __init__(self, data: dict[str, Any], onto: StoredPresent | None = None) -> None:
        if (data["base"] is None) != (onto is None) or (onto is not None and onto.position != data["base"]):
            raise ValueError(f"the checkpoint at {data['position']} is a delta onto {data['base']}, not onto that")
        self.position: int = data["position"]
        self.at: datetime | None = _dt(data["at"])
        self.distinct_logical_deletes: bool = data["org"]["distinct_logical_deletes"]
        self.records: dict[str, list[Any]] = onto.records if onto is not None else {}
        for gone in data.get("records_gone", ()):
            self.records.pop(gone, None)  # not there if it was made since the base too
        self.records.update(zip(map(_first, data["records"]), data["records"], strict=True))
        items_gone, links_gone = data.get("items_gone", {}), data.get("links_gone", {})
        self.users: dict[str, dict[str, Any]] = {}
        for u in data["users"]:
            had = onto.users.get(u["name"]) if onto is not None else None
            items: dict[str, list[Any]] = had["items"] if had is not None else {}
            for gone in items_gone.get(u["name"], ()):
                items.pop(gone, None)
            items.update(zip(map(_first, u["items"]), u["items"], strict=True))
            links: dict[str, list[Any]] = had["links"] if had is not None else {}
            for gone in links_gone.get(u["name"], ()):
                links.pop(gone, None)
            links.update(zip(map(_second, u["links"]), u["links"], strict=True))
            aliases: dict[str, str] = had["aliases"] if had is not None else {}
            aliases.update(u["aliases"])
            self.users[u["name"]] = {**u, "items": items, "links": links, "aliases": aliases}


_first, _second = itemgetter(0), itemgetter(1)  # a row's id (a link's is its item's)


class Only:
    """The records and each user's items a world is to hold (`world_of`), with the links of those items."""

    def __init__(self, records: Iterable[str] = (), items: Iterable[tuple[str, str]] = ()) -> None:
        self.records = set(records)
        self.items: dict[str, set[str]] = {}
        for user, item in items:
            self.items.setdefault(user, set()).add(item)

    def __or__(self, other: Only) -> Only:
        both = Only(self.records | other.records)
        for user in {*self.items, *other.items}:
            both.items[user] = self.items.get(user, set()) | other.items.get(user, set())
        return both


def linked_items(present: StoredPresent, records: set[str]) -> Only:
    """The items whose active link, as `present` holds them, is to one of `records`."""
    return Only(
        (), ((name, item) for name, u in present.users.items() for item, row in u["links"].items() if row[2] in records)
    )


def world_of(present: StoredPresent, archive: Archive | None = None, only: Only | None = None) -> World:
    """The world of a checkpoint's present (`StoredPresent`); its past up to the checkpoint is read from `archive`
    when asked for. With `only`, it holds every user (their options, queue, lists, aliases and copies) but only
    those records and items, and the links of those items: enough to fold events that name no others onto it.

    Links are listed per user; both maps of them are rebuilt in the order the links were made, which is the order
    the fold keeps them in (a link is added last when made, and removed when ended). `CheckpointUnreadable` if a
    row does not decode."""
    try:
        return _world_of(present, archive, only)
    except BAD_DATA as e:
        raise CheckpointUnreadable(f"the checkpoint at {present.position} cannot be read ({type(e).__name__})") from e


def _world_of(present: StoredPresent, archive: Archive | None, only: Only | None) -> World:
    world = World(position=present.position, at=present.at, past=Past(archive, present.position))
    world.distinct_logical_deletes = present.distinct_logical_deletes
    # with `only`, still in the stored order, which is the whole world's (`diff` lists its changes in that order)
    stored = present.records
    chosen = stored.values() if only is None else [d for r, d in stored.items() if r in only.records]
    world.records = {r.id: r for r in (record_of(d, sys.intern) for d in chosen)}
    every_link: list[Link] = []
    for name, u in present.users.items():
        user = User(sys.intern(name), u["sync_filter"], u["delete"], u["online"], sync_method=u["method"])
        items, links = u["items"], u["links"]
        if only is not None:
            mine = only.items.get(name, set())
            items = {i: row for i, row in items.items() if i in mine} if mine else {}
            links = {i: links[i] for i in mine if i in links}
        user.items = {i[0]: Item(i[0], sys.intern(i[1]), i[2], _dt(i[3]), i[4], i[5]) for i in items.values()}
        made_links = sorted((_link_of(row, user, world.records) for row in links.values()), key=made)
        user.links_by_item = {link.item: link for link in made_links}
        every_link += made_links
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
        user.aliases = dict(u["aliases"])
        user.copies = {item: datetime.fromisoformat(at) for item, at in u["copies"].items()}
        world.users[user.name] = user
    for link in sorted(every_link, key=made):
        world.links_to.setdefault(link.record, {})[link.user] = link
    return world


def decode_world(data: dict[str, Any], archive: Archive | None = None) -> World:
    """The world of a full checkpoint's data (`checkpoint_data`)."""
    return world_of(StoredPresent(data), archive)
