"""The state document (SCENARIOS.md): both stores, the link table and the pending queues, as plain JSON."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from syncledger.ledger.world import Item, Link, Record, User, World, link_pages, links, links_page


def iso(t: datetime | None) -> str | None:
    if t is None:
        return None
    text = t.isoformat()
    return text[:-6] + "Z" if t.utcoffset() == UTC.utcoffset(None) and text.endswith("+00:00") else text


def link_json(link: Link) -> dict[str, Any]:
    """A link as the state document lists it."""
    return {
        "user": link.user,
        "item": link.item,
        "record": link.record,
        "state": link.state,
        "origin": link.origin,
        "rule": link.rule,
        "position": link.position,
    }


def crm_json(r: Record) -> dict[str, Any]:
    """A record as the state document lists it."""
    return {
        "type": r.type,
        "owner": r.owner,
        "state": r.state,
        "fields": dict(r.fields),
        "shared_with": sorted(r.shared_with),
        "regarding": r.regarding,
        "start": iso(r.start),
    }


def item_json(item: Item, link: Link | None) -> dict[str, Any]:
    """An item as the state document lists it in its user's Outlook, with its active link."""
    return {
        "type": item.type,
        "fields": dict(item.fields),
        "completed": item.completed,
        "start": iso(item.start),
        "link": {"record": link.record, "state": link.state, "origin": link.origin} if link is not None else None,
    }


def users_json(users: Iterable[User]) -> dict[str, Any]:
    """The users' options as the state document lists them."""
    return {
        u.name: {
            "offline": not u.online,
            "sync_filter": u.sync_filter,
            "delete_untracked_email_in_crm": u.delete_untracked_email_in_crm,
            "sync_method": u.sync_method,
        }
        for u in users
    }


def pending_json(users: Iterable[User]) -> dict[str, Any]:
    """The users' queues as the state document lists them."""
    return {
        u.name: [
            {"operation": p.operation, "record": p.record, "item": p.item, "cause": p.cause, "at": iso(p.at)}
            for p in u.pending
        ]
        for u in users
    }


@dataclass(frozen=True)
class LinkPages:
    """Every link of `world` (of `user` only, if given) in the order made, as pages of `Link`s read afresh each
    time it is iterated (`link_pages`): what a state document lists with `--links all`, for a writer that writes
    it as it reads it (`tools.output.json_pieces`, `tools.reports.print_state`) instead of holding it whole."""

    world: World
    user: str | None = None

    def __iter__(self) -> Iterator[list[Link]]:
        return link_pages(self.world, self.user)


LINKS_PAGE = 1_000  # links a state document lists unless every one is asked for (`--links all`)


def state_document(
    world: World,
    user: str | None = None,
    links_after: int = 0,
    links_limit: int | None = None,
    links_as_objects: bool = False,
) -> dict[str, Any]:
    """The world as the state document; `user` narrows the Outlook stores, links and queues to one user. Every
    link ever made is listed unless `links_limit` is given: then the first `links_limit` made after
    `links_after` (`Link.made`), so that its cost does not grow with the ledger's past; a partial list is said in
    `links_page` (`next_after` gives the next page; pages one after another give the whole list). With
    `links_as_objects` the links are left as `Link`s, for a writer that turns each into `link_json` as it goes
    (`tools.output.print_json`'s `default`), and every one is `LinkPages`, read from the archive a page at a time
    as the writer asks: `state --links all --json` held every link the ledger made, 679 MB at 10^7 events as
    `Link`s (889 MB as dicts), and its text 379 MB at 10^6."""
    users = [u for name, u in world.users.items() if user is None or name == user]
    outlook: dict[str, Any] = {}
    for u in users:
        links_by_item = u.links_by_item
        outlook[u.name] = {item.id: item_json(item, links_by_item.get(item.id)) for item in u.items.values()}
    page: dict[str, Any] | None = None
    pages: LinkPages | None = None
    listed: list[Link] = []
    if links_limit is None and not links_after and links_as_objects:
        pages = LinkPages(world, user)
    elif links_limit is None and not links_after:
        listed = [link for link in links(world) if user is None or link.user == user]
    else:
        listed, more = links_page(world, links_after, links_limit or LINKS_PAGE, user)
        page = {
            "after": links_after,
            "listed": len(listed),
            "complete": not more,
            "next_after": listed[-1].made if more and listed else None,
        }
    document = {
        "position": world.position,
        "at": iso(world.at),
        "users": users_json(users),
        "org": {"distinct_logical_deletes": world.distinct_logical_deletes},
        "crm": {r.id: crm_json(r) for r in world.records.values()},
        "outlook": outlook,
        "links": pages if pages is not None else listed if links_as_objects else [link_json(k) for k in listed],
        "pending": pending_json(users),
    }
    if page is not None and not (page["complete"] and not links_after):
        document["links_page"] = page  # only when the list is partial: else the document is as it always was
    return document
