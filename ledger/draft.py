"""A draft of the world: reads go through to the world, changes stay in the draft. The engine decides against a
draft when nothing may change (a dry run such as `preview`): only what the decisions read or touch is copied,
so a dry run costs what the action touches, not what the organisation holds.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .past import Past, PastRows
from .world import Item, Link, Record, User, World

K = TypeVar("K")
V = TypeVar("V")


def draft(world: World) -> World:
    """A world that starts equal to `world` and can be folded into without changing it."""
    links: dict[int, Link] = {}  # one copy per link: a user's item and the record's users share it

    def link(original: Link) -> Link:
        if id(original) not in links:
            links[id(original)] = copy.copy(original)
        return links[id(original)]

    def user(u: User) -> User:
        return User(
            u.name,
            u.sync_filter,
            u.delete_untracked_email_in_crm,
            u.online,
            items=_Overlay(u.items, _item),
            links_by_item=_Overlay(u.links_by_item, link),
            pending=list(u.pending),
            owned=dict(u.owned),
            shared=dict(u.shared),
            sync_method=u.sync_method,
            aliases=_Overlay(u.aliases, _same),
            copies=dict(u.copies),
            unlinked=set(u.unlinked) if u.unlinked is not None else None,
        )

    return World(
        position=world.position,
        at=world.at,
        distinct_logical_deletes=world.distinct_logical_deletes,
        users=_Overlay(world.users, user),
        records=_Overlay(world.records, _record),
        links_to=_Overlay(world.links_to, lambda by_user: {name: link(k) for name, k in by_user.items()}),
        past=Past(_PastThrough(world.past), world.position),
    )


def _record(r: Record) -> Record:
    return Record(
        r.id,
        r.type,
        r.owner,
        r.state,
        dict(r.fields),
        dict(r.shared_with),
        r.regarding,
        r.start,
        r.created,
        r.changed,
        dict(r.removed_by),
    )


def _same(value: V) -> V:
    return value


def _item(i: Item) -> Item:
    return Item(i.id, i.type, dict(i.fields), i.start, i.completed, i.changed)


class _Overlay(dict[K, V]):
    """A dict over a base dict that it never changes: a value read from the base is copied into the overlay
    first (the fold changes values in place), and a key deleted here is hidden from the base."""

    def __init__(self, base: dict[K, V], copy_value: Callable[[V], V]) -> None:
        super().__init__()
        self._base = base
        self._copy = copy_value
        self._gone: set[K] = set()

    def __missing__(self, key: K) -> V:
        if key in self._base and key not in self._gone:
            value = self._copy(self._base[key])
            dict.__setitem__(self, key, value)
            return value
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or (key in self._base and key not in self._gone)

    def get(self, key: K, default: Any = None) -> Any:
        return self[key] if key in self else default

    def __setitem__(self, key: K, value: V) -> None:
        dict.__setitem__(self, key, value)
        self._gone.discard(key)

    def __delitem__(self, key: K) -> None:
        if key not in self:
            raise KeyError(key)
        if dict.__contains__(self, key):
            dict.__delitem__(self, key)
        if key in self._base:
            self._gone.add(key)

    def pop(self, key: K, *default: Any) -> Any:
        if key not in self:
            if default:
                return default[0]
            raise KeyError(key)
        value = self[key]
        del self[key]
        return value

    def setdefault(self, key: K, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def __iter__(self) -> Iterator[K]:
        yield from (key for key in self._base if key not in self._gone)
        yield from (key for key in dict.__iter__(self) if key not in self._base)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __bool__(self) -> bool:
        return any(True for _ in self)

    def keys(self) -> list[K]:  # type: ignore[override]
        return list(self)

    def values(self) -> list[V]:  # type: ignore[override]
        return [self[key] for key in self]

    def items(self) -> list[tuple[K, V]]:  # type: ignore[override]
        return [(key, self[key]) for key in self]


class _PastThrough:
    """The world's past as the draft's archive: what the draft's own decisions end or delete is kept apart."""

    def __init__(self, past: Past) -> None:
        self._past = past

    def record(self, record: str, upto: int) -> Record | None:
        return self._past.record(record)

    def item_deleted(self, user: str, item: str, upto: int) -> bool:
        return self._past.item_deleted(user, item)

    def action(self, action_id: str, upto: int) -> int | None:
        return self._past.action(action_id)

    def ended_links(self, upto: int) -> list[Link]:
        return self._past.ended_links()

    def ended_links_page(self, upto: int, after: int, limit: int, user: str | None = None) -> list[Link]:
        return self._past.ended_links_page(after, limit, user)

    def ended_links_between(self, after: int, upto: int) -> list[Link]:
        return self._past.ended_links_between(after)

    def last_link(self, user: str, item: str, upto: int) -> Link | None:
        return self._past.last_link(user, item)

    def rows(self, upto: int) -> PastRows:
        return self._past.rows()
