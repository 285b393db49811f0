"""What `verify` rebuilds from the events, kept in a temporary SQLite file instead of memory, and its comparison
with the stored read models: both sides are read in the order of the stored tables' keys, a few rows at a time,
so `verify` holds one reference's index rows (or one action id's positions) at a time, however long the ledger.

The rebuild is written as the scan passes it (the item index's rows, every action id with its position, and the
past the fold adds: deleted records, deleted items, ended links), in the order it comes, into tables without keys;
SQLite sorts them when they are read back (spilling to its own temporary files). The file is a scratch database
(`scratch_database`): nothing is left of it once `verify` ends, however it ends.

What a rebuild and the stored read models are compared as, and the findings, are those of a rebuild held in
memory: the fold keeps the last of a record's or item's deletions (`ledger.past.Past` holds them in dicts) and the
last position of an action id; the first position of an action id is the one its duplicates are reported against.
"""

from __future__ import annotations

import itertools
import pickle
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import orjson

from syncledger.ledger import vocabulary as v
from syncledger.ledger.past import PastRows
from syncledger.ledger.world import Link, Record

from .codec import record_of
from .index import refs_of
from .indextree import UNBOUNDED, high_of, leaf_of, low_of
from .readmodels import ReadModels
from .sqlmodels import SqlReadModels

SPILL_ROWS = 20_000  # rows of a table held before they are written to the spill file
SCRATCH_CACHE_KIB = 8_000  # a scratch database's page cache: what it holds in memory before its file


def scratch_database() -> sqlite3.Connection:
    """A private temporary SQLite database on disk, for what would not fit in memory (verify's rebuild, an import's
    staged events, whatif's notes, the rows of exports being sorted): SQLite removes its file as it opens it, so
    nothing is left behind, even by SIGKILL; it writes no journal and never waits for the disk, and its small page
    cache keeps memory flat whatever it holds. TMPDIR (or SQLITE_TMPDIR) says where its file goes."""
    db = sqlite3.connect("", isolation_level=None)
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "locking_mode=EXCLUSIVE", "temp_store=FILE"):
        db.execute(f"PRAGMA {pragma}")
    db.execute(f"PRAGMA cache_size=-{SCRATCH_CACHE_KIB}")
    return db


_TABLES = (
    "CREATE TABLE index_rows (ref TEXT NOT NULL, position INTEGER NOT NULL, rule TEXT, decided INTEGER NOT NULL)",
    "CREATE TABLE actions (id TEXT NOT NULL, position INTEGER NOT NULL)",
    "CREATE TABLE records (record TEXT NOT NULL, position INTEGER NOT NULL, record_object BLOB NOT NULL)",
    "CREATE TABLE items (owner TEXT NOT NULL, item TEXT NOT NULL, position INTEGER NOT NULL)",
    "CREATE TABLE links (made INTEGER NOT NULL, position INTEGER NOT NULL, link_object BLOB NOT NULL)",
)
_INSERTS = {
    "index_rows": "INSERT INTO index_rows VALUES (?, ?, ?, ?)",
    "actions": "INSERT INTO actions VALUES (?, ?)",
    "records": "INSERT INTO records VALUES (?, ?, ?)",
    "items": "INSERT INTO items VALUES (?, ?, ?)",
    "links": "INSERT INTO links VALUES (?, ?, ?)",
}


class Spill:
    """The rebuild's rows in a scratch database (`scratch_database`), closed by `close`."""

    def __init__(self, rows: int | None = None) -> None:
        self.db: sqlite3.Connection | None = scratch_database()
        try:
            for statement in _TABLES:
                self.db.execute(statement)
        except BaseException:
            self.close()
            raise
        self.rows = rows or SPILL_ROWS
        self._held: dict[str, list[tuple[Any, ...]]] = {table: [] for table in _INSERTS}

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    # ------------------------------------------------------------------------------- written as the scan passes

    def add_event(self, position: int, event: v.Action | v.Decided, indexed: bool) -> None:
        """An event's action id, and its item index rows if the stored index goes as far (`indexed`)."""
        if isinstance(event, v.Action) and event.id is not None:
            self._put("actions", (event.id, position))
        if indexed:
            decided = isinstance(event, v.Decided)
            rule = event.rule if isinstance(event, v.Decided) else None
            for ref in refs_of(event):
                self._put("index_rows", (ref, position, rule, int(decided)))

    def add_past(self, past: PastRows) -> None:
        """What the fold added to the past (its action ids are `add_event`'s), in the order it was added."""
        for record in past.records.values():
            self._put("records", (record.id, record.changed, pickle.dumps(record)))
        for (user, item), position in past.items.items():
            self._put("items", (user, item, position))
        for link in past.links:
            self._put("links", (link.made, link.position, pickle.dumps(link)))

    def _put(self, table: str, row: tuple[Any, ...]) -> None:
        held = self._held[table]
        held.append(row)
        if len(held) >= self.rows:
            self._write(table)

    def _write(self, table: str) -> None:
        assert self.db is not None
        if self._held[table]:
            self.db.execute("BEGIN")
            self.db.executemany(_INSERTS[table], self._held[table])
            self.db.execute("COMMIT")
            self._held[table] = []

    def finish(self) -> None:
        """Write what is still held: the spill is complete."""
        for table in _INSERTS:
            self._write(table)

    # ------------------------------------------------------------------------------- read back in key order

    def read(self, statement: str, params: tuple[Any, ...] = ()) -> Iterator[Any]:
        assert self.db is not None
        return iter(self.db.execute(statement, params))

    def duplicate_ids(self) -> Iterator[tuple[int, str, int]]:
        """(position, action id, its first position) for every action id at a later position than its first."""
        found = self.read(
            "SELECT id, position FROM actions WHERE id IN (SELECT id FROM actions GROUP BY id HAVING count(*) > 1) "
            "ORDER BY id, position"
        )
        for action_id, group in itertools.groupby(found, key=lambda row: row[0]):
            first, *later = (position for _, position in group)
            for position in later:
                yield position, action_id, first


Problem = tuple[int, str]  # a finding's position and what is wrong


def index_problems(models: ReadModels, spill: Spill, indexed: int) -> list[Problem]:
    """The stored item index up to `indexed` (where it is complete: rows past it were written since, by another
    process) against the rebuild's, which went as far, reference by reference: one that only one of them has,
    then one whose positions or decisions differ (at its first stored position)."""
    stored = _grouped(_stored(models, "index", "ref, position, rule", "ref{c}, position", indexed))
    rebuilt = _grouped(spill.read("SELECT ref, position, rule, decided FROM index_rows ORDER BY ref, position, rowid"))
    exists: list[Problem] = []
    differs: list[Problem] = []
    for ref, mine, theirs in _merge(stored, rebuilt):
        if mine is None or theirs is None:
            exists.append((0, f"the item index and a rebuild disagree on whether '{ref}' exists"))
            continue
        rows = [(int(p), r) for _, p, r in mine]
        decisions = [(p, r) for _, p, r, decided in theirs if decided]
        if [p for p, _ in rows] != [p for _, p, _, _ in theirs] or [r for r in rows if r[1]] != decisions:
            differs.append((rows[0][0] if rows else 0, f"the item index of '{ref}' differs from a rebuild"))
    return exists + differs


def refs_problems(models: ReadModels, spill: Spill) -> list[Problem]:
    """The stored lists of references against the rebuild's: the references for prefixes, and the references (and
    users' spans) listed under each leaf of the digest tree (`projections.indextree`), which a question reads its
    leaf's rows by. A reference that events touch missing from them, or one in them that none touches (read
    checked: one written since, by another process, has its rows by then)."""
    if not isinstance(models, SqlReadModels):
        return []
    stored = ((row[0], True) for row in _stored(models, "refs", "ref", "ref{c}", None))
    rebuilt = ((row[0], True) for row in spill.read("SELECT DISTINCT ref FROM index_rows ORDER BY ref"))
    problems: list[Problem] = []
    for ref, mine, theirs in _merge(stored, rebuilt):
        if mine is None:
            problems.append((0, f"the item index's list of references lacks '{ref}', which events touch"))
        elif theirs is None and not models.touched(ref):
            problems.append((0, f"the item index's list of references names '{ref}', which no event touches"))
    listed = (
        ((ref, int(low)), (int(leaf), int(high)))
        for ref, low, leaf, high in _stored(models, "listed", "ref, low, leaf, high", "ref{c}, low", None)
    )
    for (ref, low), kept, own in _merge(listed, _listed(spill)):
        if kept == own:
            continue
        if kept is None:
            assert own is not None
            problems.append((0, f"the item index does not list '{ref}' under leaf {own[0]}, where its rows are"))
        elif own is None:
            if not _listed_rows(models, ref, kept[0], low):
                problems.append((0, f"the item index lists '{ref}' under leaf {kept[0]}, where none of its rows are"))
        else:
            problems.append(
                (
                    0,
                    f"the item index lists '{ref}' under leaf {kept[0]} ({_span(low, kept[1])}), not as its rows "
                    f"fall (leaf {own[0]}, {_span(low, own[1])})",
                )
            )
    return problems


def _span(low: int, high: int) -> str:
    """A listed span of positions as a finding says it: a reference that is not spanned has no last position."""
    return f"positions {low} on" if high >= UNBOUNDED else f"positions {low} to {high}"


def _listed(spill: Spill) -> Iterator[tuple[tuple[str, int], tuple[int, int]]]:
    """What the rebuild's index rows fall under, as the stored list holds it: ((reference, first position of its
    span), (leaf, last position of its span)), in that order."""
    last: tuple[str, int] | None = None
    for ref, position in spill.read("SELECT ref, position FROM index_rows ORDER BY ref, position"):
        key = (ref, low_of(ref, int(position)))
        if key != last:
            last = key
            yield key, (leaf_of(ref, key[1]), high_of(ref, key[1]))


def _listed_rows(models: SqlReadModels, ref: str, leaf: int, low: int) -> bool:
    """Whether the reference is listed as it would be (the leaf and the start of a span of its own) and has rows
    there by now (written since the rebuild, by another process): the checked index says."""
    if low != low_of(ref, low) or leaf != leaf_of(ref, low):
        return False
    return any(low <= position <= high_of(ref, low) for position, _ in models.touched(ref))


class Unreadable(Exception):
    """A stored row of the archive that cannot be read (its type is reported)."""


def archive_problems(models: ReadModels, spill: Spill, folded: int, indexed: int) -> list[Problem]:
    """The archived past (deleted records and items, ended links; and the index's action ids) against the
    rebuild's, each up to where its projection is complete: one problem per part that differs; only that the
    archive cannot be read if a row of it cannot be."""
    parts = {"records": "deleted records", "items": "deleted items", "links": "ended links"}
    differ: dict[str, bool] = {}
    try:
        differ["records"] = _records_differ(models, spill, folded, max(folded, indexed))
        stored_items = _stored(models, "past_items", "owner, item, position", "owner{c}, item{c}", folded)
        differ["items"] = _differ(
            (((u, i), int(p)) for u, i, p in stored_items),
            _last(
                ((u, i), p)
                for u, i, p in spill.read("SELECT owner, item, position FROM items ORDER BY owner, item, rowid")
            ),
            lambda p: p <= folded,
        )
        differ["links"] = _links_differ(models, spill, folded)
        stored_actions = _stored(models, "actions", "id, position", "id{c}", indexed)
        differ["actions"] = _differ(
            ((i, int(p)) for i, p in stored_actions),
            _last(spill.read("SELECT id, position FROM actions ORDER BY id, position")),
            lambda p: p <= indexed,
        )
    except Unreadable as e:
        return [(0, f"the archived past cannot be read ({e})")]
    except (ValueError, TypeError) as e:  # a stored position that is not a number
        return [(0, f"the archived past cannot be read ({type(e).__name__})")]
    problems = [
        (0, f"the archive's {what} differ from a rebuild from the events")
        for name, what in parts.items()
        if differ[name]
    ]
    if differ["actions"]:
        problems.append((0, "the archive's action ids differ from a rebuild from the events"))
    return problems


# ----------------------------------------------------------------------------------- the parts of the comparison

K = TypeVar("K")
V = TypeVar("V")
W = TypeVar("W")


def _merge(stored: Iterable[tuple[K, V]], rebuilt: Iterable[tuple[K, W]]) -> Iterator[tuple[K, V | None, W | None]]:
    """Two streams of (key, value), each in the order of its unique keys, side by side: (key, stored value or None,
    rebuilt value or None)."""
    missing: Any = object()
    mine, theirs = iter(stored), iter(rebuilt)
    a: Any = next(mine, missing)
    b: Any = next(theirs, missing)
    while a is not missing or b is not missing:
        if b is missing or (a is not missing and a[0] < b[0]):
            yield a[0], a[1], None
            a = next(mine, missing)
        elif a is missing or b[0] < a[0]:
            yield b[0], None, b[1]
            b = next(theirs, missing)
        else:
            yield a[0], a[1], b[1]
            a, b = next(mine, missing), next(theirs, missing)


def _grouped(rows: Iterable[Any]) -> Iterator[tuple[Any, list[Any]]]:
    """Rows in the order of their first column, as (that column, its rows)."""
    for key, group in itertools.groupby(rows, key=lambda row: row[0]):
        yield key, list(group)


def _last(rows: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
    """(key, value) rows in the order of their keys, as the last value of each key (what a dict would keep)."""
    for key, group in itertools.groupby(rows, key=lambda row: row[0]):
        *_, last = group
        yield key, last[1]


def _differ(stored: Iterable[tuple[K, V]], rebuilt: Iterable[tuple[K, V]], kept: Callable[[V], bool]) -> bool:
    """Whether the stored mapping and the rebuilt one (of which only the values that are `kept`) differ; every
    stored row is read (one that cannot be read is `Unreadable`, whatever differs before it)."""
    different = False
    for _, mine, theirs in _merge(stored, (row for row in rebuilt if kept(row[1]))):
        different = different or mine != theirs
    return different


def _records_differ(models: ReadModels, spill: Spill, folded: int, readable: int) -> bool:
    """Each stored deleted record up to `readable` is decoded (as the archive's reader does), and those up to
    `folded` compared with the rebuild's."""

    def stored() -> Iterator[tuple[str, Record | None]]:
        for record_id, position, record in _stored_records(models, readable):
            if int(position) <= folded:
                # a record stored under another id than its own is not the record the rebuild has under either
                yield record_id, record if record.id == record_id else None

    rebuilt = _last(
        (record_id, pickle.loads(data))
        for record_id, data in spill.read("SELECT record, record_object FROM records ORDER BY record, rowid")
    )
    return _differ(stored(), rebuilt, lambda record: record.changed <= folded)


def _links_differ(models: ReadModels, spill: Spill, folded: int) -> bool:
    """The stored ended links and the rebuild's, in the order they were made."""
    stored = _stored(models, "past_links", _LINK_COLUMNS, "made", folded)
    rebuilt = spill.read("SELECT link_object FROM links WHERE position <= ? ORDER BY made, rowid", (folded,))
    different = False
    for mine, theirs in itertools.zip_longest(stored, rebuilt):
        different = different or mine is None or theirs is None or _link(mine) != pickle.loads(theirs[0])
    return different


_LINK_COLUMNS = "made, position, owner, item, record, origin, rule, in_filter"


def _link(row: Any) -> Link:
    made, position, user, item, record, origin, rule, in_filter = row
    return Link(user, item, record, origin, "unlinked", rule, int(position), bool(in_filter), int(made))


# ----------------------------------------------------------------------------------- the stored side


def _stored(models: ReadModels, table: str, columns: str, order: str, upto: int | None) -> Iterator[Any]:
    """A stored table's rows (up to position `upto`, if given) in `order` (its text columns marked `{c}`: compared
    by code point, as Python and SQLite's BINARY do; PostgreSQL's collation need not); a row that cannot be read
    is `Unreadable`."""
    if isinstance(models, SqlReadModels):
        collate = "" if isinstance(models.db, sqlite3.Connection) else ' COLLATE "C"'
        where = " WHERE position <= ?" if upto is not None else ""
        rows: Iterable[Any] = models.iterate(
            f"SELECT {columns} FROM syncledger_{table}{where} ORDER BY {order.format(c=collate)}",
            () if upto is None else (upto,),
        )
    else:
        rows = _memory_rows(models, table, upto)
    iterator = iter(rows)
    while True:
        try:
            row = next(iterator)
        except StopIteration:
            return
        except Exception as e:
            raise Unreadable(type(e).__name__) from e
        yield row


def _stored_records(models: ReadModels, upto: int) -> Iterator[tuple[str, int, Record]]:
    """The stored deleted records up to `upto`, decoded, in the order of their ids."""
    if isinstance(models, SqlReadModels):
        for record_id, position, state in _stored(models, "past_records", "record, position, state", "record{c}", upto):
            try:
                record = record_of(orjson.loads(models.cipher.decipher(bytes(state))))
            except Exception as e:
                raise Unreadable(type(e).__name__) from e
            yield record_id, position, record
    else:
        for record in sorted(models.rows(upto, raw=True).records.values(), key=lambda r: r.id):
            yield record.id, record.changed, record


def _memory_rows(models: ReadModels, table: str, upto: int | None) -> list[Any]:
    """A read model in memory (`MemoryReadModels`: scenario runs), as its SQL tables would hold it."""
    if table == "index":
        return [(ref, p, r) for ref in sorted(models.refs()) for p, r in models.touched(ref)]
    past = models.rows(upto if upto is not None else 2**62, raw=True)
    if table == "past_items":
        return sorted((u, i, p) for (u, i), p in past.items.items())
    if table == "past_links":
        return [
            (k.made, k.position, k.user, k.item, k.record, k.origin, k.rule, k.in_filter)
            for k in sorted(past.links, key=lambda k: k.made)
        ]
    if table == "actions":
        return sorted(past.actions.items())
    raise ValueError(f"no such table: {table}")
