"""The state at a past point as a state document, made from the nearest checkpoint's rows without a world of them.

Time travel used to decode the whole present of the checkpoint before the asked point into objects, fold the
events since onto it, and write the state document from those objects. For a 1,000-user organisation that is
85,000 records, items and links made, read once and freed again, for an answer in which at most the few that the
events since the checkpoint touched differ from the checkpoint's rows. Here only those become objects: the events
name every record, user and item their fold reads (`touched`), the world holds just them (`codec.world_of` with
`Only`), and the document takes the rest from the checkpoint's rows as they are (`glimpse_document`). Every user
is there whole but for their items and links, so that queues, options and lists are the world's own.

The document is the one `document.state_document` makes from the whole world, key for key and in the same order:
a record or item the events touched is written from its object where it was (or left out, if gone since), new
ones after the rest, as the fold keeps them. `tests/projections/test_glimpse.py` compares the two at every point
of random walks and of every scenario file.
"""

from __future__ import annotations

import heapq
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from syncledger.ledger import vocabulary as v
from syncledger.ledger.past import made
from syncledger.ledger.world import Link, World

from .codec import BAD_DATA, CheckpointUnreadable, Only, StoredPresent
from .document import LINKS_PAGE, crm_json, iso, item_json, link_json, pending_json, users_json


def touched(events: Iterable[v.Action | v.Decided]) -> Only:
    """The records and items a fold of `events` reads or changes: those the events and their effects name. (The
    fold reads a record through an item's link only to note who removed their copy, which no document shows, and
    a record's map of links only to add or end the named item's link.)"""
    records: set[str] = set()
    items: set[tuple[str, str]] = set()
    for event in events:
        for named in (event, *event.effects) if isinstance(event, v.Decided) else (event,):
            given = named.__dict__  # a model's fields (asking one without it for an attribute costs 2 us)
            record, item = given.get("record"), given.get("item")
            if record is not None:
                records.add(record)
            if item is not None:
                items.add((given["user"], item))
    return Only(records, items)


@dataclass
class Glimpse:
    """The state after a point, for its state document: the world of the records and items the events since the
    checkpoint before it touched (`world`, every user in it), and that checkpoint's rows for the rest (`present`,
    `only` what was made objects of)."""

    world: World
    present: StoredPresent
    only: Only


def glimpse_document(
    glimpse: Glimpse,
    user: str | None = None,
    links_after: int = 0,
    links_limit: int = LINKS_PAGE,
    links_as_objects: bool = False,
) -> dict[str, Any]:
    """`document.state_document(world, user, links_after, links_limit, links_as_objects)` of the world the glimpse
    is of. `CheckpointUnreadable` if one of the checkpoint's rows it writes is not a record's, an item's or a
    link's (changed behind the ledger's back: decoding it would have refused it too)."""
    try:
        return _document(glimpse, user, links_after, links_limit, links_as_objects)
    except BAD_DATA as e:
        at = glimpse.present.position
        raise CheckpointUnreadable(f"the checkpoint at {at} cannot be read ({type(e).__name__})") from e


def _document(
    glimpse: Glimpse, user: str | None, links_after: int, links_limit: int, links_as_objects: bool
) -> dict[str, Any]:
    world, present, only = glimpse.world, glimpse.present, glimpse.only
    users = [u for name, u in world.users.items() if user is None or name == user]
    # each row written out as `document.item_json` and `crm_json` write an object, in the loop (a call per row was
    # a third of it); its names, words, fields and times checked as the decoder checks them (`sys.intern` refuses
    # anything but a text), so that a row changed behind the ledger's back is refused here too
    intern = sys.intern
    outlook: dict[str, Any] = {}
    for u in users:
        stored = present.users.get(u.name)
        kept, links = only.items.get(u.name, ()), u.links_by_item
        mine: dict[str, Any] = {}
        if stored is not None:
            stored_links = stored["links"]
            for item, i in stored["items"].items():
                if item not in kept:
                    link, start = stored_links.get(item), i[3]
                    if type(i[2]) is not dict or not (start is None or type(start) is str):
                        raise TypeError("an item's fields are a map, its start a text")
                    mine[item] = {
                        "type": intern(i[1]),
                        "fields": i[2],
                        "completed": i[4],
                        "start": start if start is None or start[-6:] != "+00:00" else start[:-6] + "Z",
                        "link": (
                            {"record": link[2], "state": intern(link[4]), "origin": intern(link[3])}
                            if link is not None
                            else None
                        ),
                    }
                elif (now := u.items.get(item)) is not None:
                    mine[item] = item_json(now, links.get(item))
        new = u.items if stored is None else (i for i in u.items if i not in stored["items"])
        for item in new:
            mine[item] = item_json(u.items[item], links.get(item))
        outlook[u.name] = mine
    crm: dict[str, Any] = {}
    records, kept_records = world.records, only.records
    for record, d in present.records.items():
        if record not in kept_records:
            start = d[7]
            if type(d[4]) is not dict or not (start is None or type(start) is str):
                raise TypeError("a record's fields are a map, its start a text")
            crm[record] = {
                "type": intern(d[1]),
                "owner": intern(d[2]),
                "state": intern(d[3]),
                "fields": d[4],
                "shared_with": sorted(map(intern, d[5])) if d[5] else [],
                "regarding": d[6],
                "start": start if start is None or start[-6:] != "+00:00" else start[:-6] + "Z",
            }
        elif (there := records.get(record)) is not None:
            crm[record] = crm_json(there)
    for record, there in records.items():
        if record not in present.records:
            crm[record] = crm_json(there)
    listed, more = _links_page(glimpse, links_after, links_limit, user)
    document = {
        "position": world.position,
        "at": iso(world.at),
        "users": users_json(users),
        "org": {"distinct_logical_deletes": world.distinct_logical_deletes},
        "crm": crm,
        "outlook": outlook,
        "links": listed if links_as_objects else [link_json(k) for k in listed],
        "pending": pending_json(users),
    }
    if more or links_after:  # only when the list is partial: else the document is as it always was
        page = {"after": links_after, "listed": len(listed), "complete": not more}
        document["links_page"] = {**page, "next_after": listed[-1].made if more and listed else None}
    return document


def _links_page(glimpse: Glimpse, after: int, limit: int, user: str | None) -> tuple[list[Link], bool]:
    """`world.links_page` of the whole world: the links the glimpse's world holds are its own, the active ones of
    the items it does not hold are the checkpoint's rows (the events since did not touch them), made `Link`s only
    for the page."""
    world, present, only = glimpse.world, glimpse.present, glimpse.only
    ended = world.past.ended_links_page(after, limit + 1, user)
    active = [
        k
        for by_user in world.links_to.values()
        for k in by_user.values()
        if k.made > after and (user is None or k.user == user)
    ]
    rows = []
    for name, u in present.users.items():
        if user is None or name == user:
            kept = only.items.get(name, ())
            rows += [row for item, row in u["links"].items() if row[8] > after and item not in kept]
    stored = [_link_of_row(row) for row in heapq.nsmallest(limit + 1, rows, key=_made_of_row)]
    every = sorted([*ended, *active, *stored], key=made)
    return every[:limit], len(every) > limit


_made_of_row = itemgetter(8)  # a link's row's `Link.made`


def _link_of_row(row: list[Any]) -> Link:
    user, item, record, origin, state, rule, position, in_filter, made_at = row
    if not (type(position) is int and type(made_at) is int):
        raise TypeError("a link's positions are numbers")
    return Link(
        sys.intern(user),
        item,
        record,
        sys.intern(origin),
        sys.intern(state),
        sys.intern(rule),
        position,
        in_filter,
        made_at,
    )
