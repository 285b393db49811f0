"""The read models' tables on SQLite (the ledger's file) or PostgreSQL (the ledger's schema), and opening the read
models of a ledger by its location (`projections.readmodels` says what they hold)."""

from __future__ import annotations

import itertools
import random
import re
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from syncledger.ledger.past import PastRows, made
from syncledger.ledger.seal import GENESIS
from syncledger.ledger.store import connect_postgres, environment
from syncledger.ledger.world import Link, Record

from .codec import record_data, record_of
from .indextree import (
    EMPTY,
    EMPTY_GROUP,
    EMPTY_ROOT,
    GROUPS,
    SPAN,
    RowDigest,
    Tree,
    group_digest,
    group_leaves,
    group_of,
    high_of,
    leaf_of,
    leaf_rows,
    leaves_between,
    root_digest,
    spanned,
    tree_problems,
    value_of,
)
from .linktree import LINK_COLUMNS, LinkDigest, link_leaf, link_sums, link_tree_problems
from .memorymodels import MemoryReadModels
from .readmodels import (
    FORMAT,
    INDEX,
    WORLD,
    Cipher,
    ForgedCheckpoint,
    IndexRow,
    ReadModels,
    after_all_starting,
    latest_before,
    prefix_ranges,
    starting,
)
from .sealing import (
    MADE_RANGE,
    SEALED,
    SOURCE,
    Batch,
    Entry,
    Sealer,
    batch_row_problems,
    batch_seal,
    bucket,
    bucket_index,
    bucket_problems,
    chain_problems,
    checkpoint_seal,
    digests,
    index_root,
    links_root,
    made_range,
    projection_name,
    row_problems,
    warn,
)

K = TypeVar("K")
V = TypeVar("V")
_T = TypeVar("_T")
REFS_KEPT = 200_000  # references (and users' spans) a writer remembers listing (about 20 MB)
LEAVES_KEPT = 1024  # the item index's leaves a process keeps once checked (about 19 rows each at 10^6 events)
READ_LEAVES = 1024  # leaves read in one statement, with the values of their groups' leaves (16 each): parameters
ITERSIZE = 10_000  # rows fetched at a time by a long read (`SqlReadModels.iterate`)
_CURSORS = itertools.count()  # names of PostgreSQL's server-side cursors
# one writer of a projection at a time on PostgreSQL, for the whole of its transaction
_WRITER_LOCK = "SELECT pg_advisory_xact_lock(hashtext('syncledger-write:' || current_schema() || %s))"
WRITE_TRIES = 8  # a read-model write that meets another process's (a lock, a conflict) looks again this often


_TABLES = (
    "tracking",
    "checkpoints",
    "index",
    "refs",
    "listed",
    "leaves",
    "groups",
    "past_records",
    "past_items",
    "past_links",
    "link_leaves",
    "link_groups",
    "actions",
    "batches",
    "buckets",
)
_LEDGER = "CREATE TABLE IF NOT EXISTS syncledger_ledger (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS syncledger_tracking (name TEXT PRIMARY KEY, position BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS syncledger_checkpoints (position BIGINT PRIMARY KEY, state {blob} NOT NULL, "
    "seal {blob} NOT NULL)",
    # the item index keyed by reference and position, so that a batch's rows go where the batch before put its
    # own (keyed by leaf first, as format 17 was, each batch wrote all over the table: a tenth slower at 10^6
    # events with the table ten times the page cache, as it is at 10^7); which references (and, of a user's, which
    # spans of positions: `projections.indextree`) have rows in each leaf, so that a question reads every row of
    # its reference's leaf; the references once each, in byte order, for prefixes
    "CREATE TABLE IF NOT EXISTS syncledger_index (ref TEXT NOT NULL, position BIGINT NOT NULL, rule TEXT, "
    "PRIMARY KEY (ref, position)){without_rowid}",
    "CREATE TABLE IF NOT EXISTS syncledger_listed (leaf INTEGER NOT NULL, ref TEXT NOT NULL, low BIGINT NOT NULL, "
    "high BIGINT NOT NULL, PRIMARY KEY (leaf, ref, low)){without_rowid}",
    "CREATE TABLE IF NOT EXISTS syncledger_refs (ref TEXT{bytewise} NOT NULL PRIMARY KEY){without_rowid}",
    # the digest tree over the index's leaves: the leaves and groups with rows, each as of the index's tracking
    "CREATE TABLE IF NOT EXISTS syncledger_leaves (leaf INTEGER NOT NULL PRIMARY KEY, value {blob} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS syncledger_groups (grp INTEGER NOT NULL PRIMARY KEY, value {blob} NOT NULL)",
    # the archive's tables lead with their rows' buckets (`projections.sealing.bucket`), so that a lookup's bucket
    # is a range of the table's key, and so is the check of its rows
    "CREATE TABLE IF NOT EXISTS syncledger_past_records (bucket INTEGER NOT NULL, record TEXT NOT NULL, "
    "position BIGINT NOT NULL, state {blob} NOT NULL, PRIMARY KEY (bucket, record)){without_rowid}",
    "CREATE TABLE IF NOT EXISTS syncledger_past_items (bucket INTEGER NOT NULL, owner TEXT NOT NULL, "
    "item TEXT NOT NULL, position BIGINT NOT NULL, PRIMARY KEY (bucket, owner, item)){without_rowid}",
    # keyed by bucket first like the others, so that a bucket's rows lie together: on SQLite the check of an
    # owner's bucket at 10^7 events read its 3,125 rows in 112 ms from a cold page cache keyed by `made` alone,
    # 11 ms keyed so (each row was a descent of the key from the bucket's index); `made` stays unique, and the
    # order of every user's links (a page, a range of `links_made`) is its index
    "CREATE TABLE IF NOT EXISTS syncledger_past_links (bucket INTEGER NOT NULL, made BIGINT NOT NULL, "
    "position BIGINT NOT NULL, owner TEXT NOT NULL, item TEXT NOT NULL, record TEXT NOT NULL, origin TEXT NOT NULL, "
    "rule TEXT NOT NULL, in_filter BOOLEAN NOT NULL, leaf INTEGER NOT NULL, PRIMARY KEY (bucket, made)){without_rowid}",
    "CREATE UNIQUE INDEX IF NOT EXISTS syncledger_past_links_made ON syncledger_past_links (made)",
    # the ended links' second digest, by owner and item (`projections.linktree`): each row's leaf, what an item's
    # last ended link reads (instead of an index by bucket, owner and item: the same number of indexes to write),
    # and the tree
    "CREATE INDEX IF NOT EXISTS syncledger_past_links_leaf ON syncledger_past_links (leaf)",
    "CREATE TABLE IF NOT EXISTS syncledger_link_leaves (leaf INTEGER NOT NULL PRIMARY KEY, value {blob} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS syncledger_link_groups (grp INTEGER NOT NULL PRIMARY KEY, value {blob} NOT NULL)",
    # a diff reads the links ended between its two points (an index only: the rows, and so FORMAT, are unchanged)
    "CREATE INDEX IF NOT EXISTS syncledger_past_links_position ON syncledger_past_links (position)",
    "CREATE TABLE IF NOT EXISTS syncledger_actions (bucket INTEGER NOT NULL, id TEXT NOT NULL, "
    "position BIGINT NOT NULL, PRIMARY KEY (bucket, id)){without_rowid}",
    "CREATE TABLE IF NOT EXISTS syncledger_batches (projection TEXT NOT NULL, last BIGINT NOT NULL, "
    "first BIGINT NOT NULL, event_seal {blob} NOT NULL, digests {blob} NOT NULL, seal {blob} NOT NULL, "
    "PRIMARY KEY (projection, last)){without_rowid}",
    # each batch's digest of each bucket of a bucketed table with rows in it (`projections.sealing.digests`)
    "CREATE TABLE IF NOT EXISTS syncledger_buckets (tbl TEXT NOT NULL, last BIGINT NOT NULL, bucket INTEGER NOT NULL, "
    "digest {blob} NOT NULL, PRIMARY KEY (tbl, last, bucket)){without_rowid}",
)
# tracking rows whose position is no integer: only SQL behind the ledger's back writes one (a SQLite column takes
# any value; PostgreSQL's BIGINT refuses it), and the read models are then rebuilt from the events, as for another
# format, instead of every command stopping at it
_GARBLED = "SELECT count(*) FROM syncledger_tracking WHERE typeof(position) != 'integer'"
_LINK_COLUMNS = LINK_COLUMNS  # an ended link's columns, as `_link` reads them and its digest is made of
# the columns of each table a batch writes, in the order of its rows (a sealed table's as it is read back)
_COLUMNS = {
    "checkpoints": "position, state, seal",
    "index": "ref, position, rule",
    **{table: columns for layout in SEALED.values() for table, columns, _ in layout if table not in SOURCE},
    "buckets": "tbl, last, bucket, digest",
}
_GROUPS = {INDEX: "groups", WORLD: "link_groups"}  # each projection's tree's groups (`_sealed_groups`)
_COLUMNS["past_links"] += ", leaf"  # not sealed as a column: the links' tree proves it (`_checked_link_leaf`)


def _strict(statement: str) -> str:
    """A statement of `_SCHEMA` for SQLite: its tables STRICT (a column takes only its own type, so that SQL behind
    the ledger's back cannot put text where a position is read: SQLite's other tables keep any value, and text
    sorts after every number), with the types STRICT knows (INTEGER for BIGINT and BOOLEAN), and without a rowid
    where the table's key is its b-tree."""
    if not statement.startswith("CREATE TABLE"):
        return statement.format(blob="BLOB", without_rowid="", bytewise="")
    typed = statement.replace("BIGINT", "INTEGER").replace("BOOLEAN", "INTEGER")
    if "{without_rowid}" not in typed:
        typed += " STRICT"
    return typed.format(blob="BLOB", without_rowid=" WITHOUT ROWID, STRICT", bytewise="")


def _group_leaves(groups: Sequence[int]) -> tuple[str, tuple[int, ...]]:
    """The condition on the leaves' table that selects the leaves of `groups`, and its parameters: a list, not a
    range per group (SQLite refuses an expression of a thousand ORs, as a diff's references of every user span at
    10^7 events made it)."""
    leaves = tuple(leaf for group in groups for leaf in group_leaves(group))
    return f"leaf IN ({', '.join('?' * len(leaves))})", leaves


def _in_bucket(table: str, number: int) -> tuple[str, tuple[int, ...]]:
    """The condition on a bucketed table's rows that selects one bucket, and its parameters."""
    if table == "links_made":  # a range of the table's key, the position that made the link
        return "made >= ? AND made < ?", (number * MADE_RANGE, (number + 1) * MADE_RANGE)
    return "bucket = ?", (number,)


def _sealed_columns(projection: str, table: str) -> str:
    """The columns a sealed table's rows are digested by, in order (`SEALED`)."""
    return next(columns for name, columns, _ in SEALED[projection] if name == table)


RECORDS_KEPT = 4096  # deleted records a process keeps once looked up


class _Bounded(OrderedDict[K, V]):
    """A dict that forgets its oldest entries beyond `most`."""

    def __init__(self, most: int) -> None:
        super().__init__()
        self.most = most

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        if len(self) > self.most:
            self.popitem(last=False)


def _link(row: Sequence[Any]) -> Link:
    made, position, user, item, record, origin, rule, in_filter = row
    return Link(user, item, record, origin, "unlinked", rule, int(position), bool(in_filter), int(made))


@dataclass
class _Checked:
    """What one process found to match its seals (`SqlReadModels._untrusted`), forgotten together when the read
    models are reset: each question's rows, as (projection, table or None, bucket or None); each projection's
    chain of batches with the tracking position it was checked up to; each bucketed table's stored bucket
    digests, by bucket and batch; the batches checked whole, as (table, the batch's last position). Or, once
    something did not match, the past folded from the events (`stand_in`), which answers from then on."""

    trusted: set[tuple[str, str | None, int | None]] = field(default_factory=set)
    chains: dict[str, tuple[int, list[Batch]]] = field(default_factory=dict)
    indexes: dict[str, dict[int, dict[int, bytes]]] = field(default_factory=dict)
    batches: set[tuple[str, int]] = field(default_factory=set)
    stand_in: MemoryReadModels | None = None


class SqlReadModels:
    """The same tables on SQLite (the ledger's file) or PostgreSQL (the ledger's schema). Tombstones are
    encrypted with the events' cipher; like the item index, the other tables hold ids and positions only."""

    def __init__(self, connection: Any, mark: str, blob: str, cipher: Cipher, sealer: Sealer | None = None) -> None:
        self.db, self.mark, self.cipher, self.sealer = connection, mark, cipher, sealer
        self.on_server = not isinstance(connection, sqlite3.Connection)
        self._blob = blob
        self.rebuild_past: Callable[[], PastRows] | None = None
        self._checked = _Checked()  # what this process found to match its seals, or the past that answers instead
        # the index's digest tree as this process's last write left it, with the tracking position it is of (a
        # long catch-up reads it once), and the one the write in progress grew; the row digest of the seal key
        # and the references it wrote lately (not written again while it keeps writing: most rows of a batch are
        # of references a batch before wrote)
        self._tree: tuple[int, Tree, set[tuple[int, str, int]]] | None = None
        self._tree_pending: tuple[int, Tree, set[tuple[int, str, int]]] | None = None
        self._digest: tuple[bytes | None, RowDigest] | None = None
        # the index's leaves checked at a tracking position (their rows by reference), and the groups' digests
        # checked against the root sealed there
        self._leaves: tuple[int, _Bounded[int, dict[str, list[tuple[int, str | None]]]]] = (-1, _Bounded(1))
        # each tree's groups' digests (the item index's, the ended links'), checked against the root sealed at a
        # tracking position
        self._groups: dict[str, tuple[int, dict[int, bytes]]] = {INDEX: (-1, {}), WORLD: (-1, {})}
        self.rebuild_index: Callable[[set[int], int], Iterable[IndexRow]] | None = None
        # the ended links' digest tree as this process's last write left it, and the one the write in progress
        # grew (`projections.linktree`); the leaves a question checked, by tracking position, and the groups
        self._links_tree: tuple[int, Tree] | None = None
        self._links_tree_pending: tuple[int, Tree] | None = None
        self._links_digest: tuple[bytes | None, LinkDigest] | None = None
        self._link_leaves: tuple[int, _Bounded[int, list[Link]]] = (-1, _Bounded(1))
        self._links: list[Link] = []  # ended links read so far, in the order they were made: they never change
        self._links_upto = 0
        # deleted records looked up so far (`record`): (position deleted, record), or (the position up to which the
        # archive held no row of it, None); bounded, as a long-lived process may look up many
        self._records: _Bounded[str, tuple[int, Record | None]] = _Bounded(RECORDS_KEPT)
        # on SQLite, a table keyed by its primary key alone is one b-tree instead of two: half the writes
        sqlite = isinstance(connection, sqlite3.Connection)
        if self._ready():  # every command opens them: no lock and no DDL when they are all there already
            return
        with self._transaction() as c:
            if not sqlite:  # PostgreSQL's CREATE ... IF NOT EXISTS is not safe against itself in concurrent sessions
                c.execute("SELECT pg_advisory_xact_lock(hashtext('syncledger-read-models:' || current_schema()))")
            c.execute(_strict(_SCHEMA[0]) if sqlite else _SCHEMA[0])
            c.execute(_LEDGER)
            c.execute(self._sql("SELECT position FROM syncledger_tracking WHERE name = 'format'"))
            found = c.fetchone()
            if found is None or found[0] != FORMAT or (sqlite and c.execute(_GARBLED).fetchone()[0]):
                for table in _TABLES[1:]:
                    c.execute(f"DROP TABLE IF EXISTS syncledger_{table}")
                c.execute("DELETE FROM syncledger_tracking")
                c.execute(self._sql("INSERT INTO syncledger_tracking VALUES ('format', ?)"), (FORMAT,))
            for statement in _SCHEMA[1:]:
                # PostgreSQL orders text by the database's collation unless told otherwise: the item index's
                # references in byte order (as SQLite keeps all text) keep every prefix's references together
                postgres = statement.format(blob=blob, without_rowid="", bytewise=' COLLATE "C"')
                c.execute(_strict(statement) if sqlite else postgres)

    def _ready(self) -> bool:
        """Whether the read models of this format, every table and index of `_SCHEMA` and `_LEDGER`, are there (read
        only)."""
        names = [re.findall(r"EXISTS (\w+)", statement)[0] for statement in (*_SCHEMA, _LEDGER)]
        try:
            found = self._one("SELECT position FROM syncledger_tracking WHERE name = 'format'")
            if found is None or found[0] != FORMAT:
                return False
            if isinstance(self.db, sqlite3.Connection) and self._one(_GARBLED)[0]:
                return False  # a position that is no number: rebuilt below, as another format is
            if isinstance(self.db, sqlite3.Connection):
                marks = ", ".join("?" * len(names))
                there = self._one(f"SELECT count(*) FROM sqlite_master WHERE name IN ({marks})", names)
            else:
                there = self._one(
                    "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relname = ANY(?)",
                    (names,),
                )
        except Exception:  # no tracking table yet, or another format: created below
            self.db.rollback()
            return False
        return int(there[0]) == len(names)

    def _sql(self, statement: str) -> str:
        return statement.replace("?", self.mark)

    def _transaction(self) -> Any:
        return _Transaction(self.db)

    def _one(self, statement: str, params: Iterable[Any] = ()) -> Any:
        return self._read(statement, params, lambda cursor: cursor.fetchone())

    def _all(self, statement: str, params: Iterable[Any] = ()) -> list[Any]:
        return list(self._read(statement, params, lambda cursor: cursor.fetchall()))

    def _read(self, statement: str, params: Iterable[Any], fetch: Callable[[Any], Any]) -> Any:
        """One statement's rows, as `fetch` takes them from its cursor. Tried again, as a write is, if the server
        ended it to break a deadlock: a reset's TRUNCATE locks the tables one after the other in its own order,
        and a read that joins two of them may hold the one and wait for the other (a leaf's read holds the list
        of references and waits for the index)."""
        sql, values = self._sql(statement), tuple(params)
        found = _retried(lambda: fetch(self.db.execute(sql, values)))
        self._end_read()
        return found

    def _end_read(self) -> None:
        """Nothing to end: on PostgreSQL the connection commits each statement on its own (`open_read_models`),
        so that a read is one round trip to the server, not three (BEGIN, the read, COMMIT), and holds no locks."""

    def tracking(self, projection: str) -> int:
        row = self._one("SELECT position FROM syncledger_tracking WHERE name = ?", (projection,))
        return int(row[0]) if row else 0

    def write_index(
        self, first: int, position: int, rows: Sequence[IndexRow], actions: Sequence[tuple[str, int]]
    ) -> bool:
        listed, sums = leaf_rows(rows, self._row_digest())
        return self._write(
            INDEX,
            first,
            position,
            ("index", rows),
            ("actions", [(bucket(i), i, p) for i, p in actions]),
            grow=lambda c: self._grow_tree(c, first - 1, position, sums, listed),
        )

    def _row_digest(self) -> RowDigest:
        key = self.sealer.seal_key if self.sealer is not None else None
        if self._digest is None or self._digest[0] != key:
            self._digest = (key, RowDigest(key))
        return self._digest[1]

    def _grow_tree(
        self, c: Any, tracking: int, position: int, sums: Mapping[int, int], listed: set[tuple[int, str, int]]
    ) -> bytes:
        """In a batch's transaction (the index complete up to `tracking`): its references listed under their
        leaves (`listed`: leaf, reference, first position of its span) and for prefixes, its rows' sums added to
        their leaves, the leaves and groups that changed written; the new root, to be sealed. A writer that wrote
        the batch before keeps the tree it left (`_tree`), so a long catch-up reads it once."""
        kept = self._tree if self._tree is not None and self._tree[0] == tracking else None
        self._tree = None  # until this transaction commits (`_write`): a rollback leaves what it read unsure
        tree = self._tree_to_grow(c, kept[1] if kept is not None else None, sums, "")
        written = kept[2] if kept is not None else set()
        leaves, groups, root = tree.grow(sums)
        fresh = listed - written  # a set's own difference and union: a catch-up lists millions of references
        new = sorted(fresh)
        entries = [(leaf, ref, low, high_of(ref, low)) for leaf, ref, low in new]
        self._insert(c, "listed", "leaf, ref, low, high", entries)
        self._insert(c, "refs", "ref", sorted({(ref,) for _, ref, _ in new}))
        self._insert(c, "leaves", "leaf, value", sorted(leaves.items()), replace=True)
        self._insert(c, "groups", "grp, value", sorted(groups.items()), replace=True)
        written = written | fresh if len(written) + len(fresh) <= REFS_KEPT else fresh  # within bounds
        self._tree_pending = (position, tree, written)
        return root

    def _tree_to_grow(self, c: Any, kept: Tree | None, sums: Mapping[int, int], prefix: str) -> Tree:
        """The tree a batch's leaf sums are added to, in its transaction: the one this process kept, or one of the
        stored groups' digests; with the stored values of the leaves of every group the sums fall in that it has
        not read (`prefix`: of the tables, "" for the item index's, "link_" for the ended links')."""
        tree = kept
        if tree is None:
            c.execute(f"SELECT grp, value FROM syncledger_{prefix}groups")
            tree = Tree({int(g): bytes(value) for g, value in c.fetchall()}, {}, ())
        missing = sorted(tree.missing(sums))
        if len(missing) > GROUPS // 16:  # many of them: one read of every leaf
            c.execute(f"SELECT leaf, value FROM syncledger_{prefix}leaves")
        elif missing:
            ranges, params = _group_leaves(missing)
            c.execute(self._sql(f"SELECT leaf, value FROM syncledger_{prefix}leaves WHERE {ranges}"), params)
        found = {int(leaf): bytes(value) for leaf, value in (c.fetchall() if missing else ())}
        for group in range(GROUPS) if len(missing) > GROUPS // 16 else missing:
            tree.learn(group, {n: found[n] for n in group_leaves(group) if n in found})
        return tree

    def write_world(self, first: int, position: int, checkpoints: Sequence[tuple[int, bytes]], past: PastRows) -> bool:
        cipher = self.cipher
        records = [
            (bucket(r.id), r.id, r.changed, cipher.encipher(orjson.dumps(record_data(r))))
            for r in past.records.values()
        ]
        links = [
            (
                bucket(k.user),
                k.made,
                k.position,
                k.user,
                k.item,
                k.record,
                k.origin,
                k.rule,
                k.in_filter,
                link_leaf(k.user, k.item),
            )
            for k in past.links
        ]
        links_made = [(made_range(row[1]), *row[1:]) for row in links]  # the same rows, digested by made
        sums = link_sums((row[1:9] for row in links), self._link_digest())
        sealer = self.sealer
        sealed = [(at, state, checkpoint_seal(sealer, at, state) if sealer else b"") for at, state in checkpoints]
        return self._write(
            WORLD,
            first,
            position,
            ("checkpoints", sealed),
            ("past_records", records),
            ("past_items", [(bucket(*k), *k, p) for k, p in past.items.items()]),
            ("past_links", links),
            ("links_made", links_made),
            grow=lambda c: self._grow_links(c, first - 1, position, sums),
        )

    def _link_digest(self) -> LinkDigest:
        key = self.sealer.seal_key if self.sealer is not None else None
        if self._links_digest is None or self._links_digest[0] != key:
            self._links_digest = (key, LinkDigest(key))
        return self._links_digest[1]

    def _grow_links(self, c: Any, tracking: int, position: int, sums: Mapping[int, int]) -> bytes:
        """In a batch's transaction (the archive complete up to `tracking`): its ended links' sums added to their
        leaves of the links' tree, the leaves and groups that changed written; the new root, to be sealed after the
        batch's digests. A writer that wrote the batch before keeps the tree it left, so a catch-up reads it once."""
        kept = self._links_tree if self._links_tree is not None and self._links_tree[0] == tracking else None
        self._links_tree = None  # until this transaction commits (`_write`)
        tree = self._tree_to_grow(c, kept[1] if kept is not None else None, sums, "link_")
        leaves, groups, root = tree.grow(sums)
        self._insert(c, "link_leaves", "leaf, value", sorted(leaves.items()), replace=True)
        self._insert(c, "link_groups", "grp, value", sorted(groups.items()), replace=True)
        self._links_tree_pending = (position, tree)
        return root

    def _write(
        self,
        projection: str,
        first: int,
        position: int,
        *inserts: tuple[str, Sequence[Any]],
        grow: Callable[[Any], bytes] | None = None,
    ) -> bool:
        """The rows (`inserts`: table, rows in the order of its `_COLUMNS`) of positions `first`..`position` and
        the projection's new tracking position, in one transaction, if the projection is complete up to
        `first - 1`: another process may have written them first. Whether it wrote. The batch is sealed to the
        event at `position` and to the batch before, and its bucketed tables' bucket digests stored beside it."""
        key = self.sealer.seal_key if self.sealer is not None else None
        event_seal = (self.sealer.seal_at(position) if self.sealer is not None else None) or GENESIS
        batch_digests, entries = digests(projection, dict(inserts))
        buckets = [(table, position, number, value) for table, number, value in entries]

        def once() -> bool:  # one transaction; tried again, it looks at the tracking position again
            with self._transaction() as c:
                if not isinstance(self.db, sqlite3.Connection):  # SQLite's BEGIN IMMEDIATE already serialises
                    # one writer of a projection at a time, so that the check below holds until the commit
                    # (two processes that both found the same position raced: issue 11, item 4) and the
                    # batches' seals, each chained to the one before, do not interleave
                    c.execute(_WRITER_LOCK, (projection,))
                c.execute(self._sql("SELECT position FROM syncledger_tracking WHERE name = ?"), (projection,))
                found = c.fetchone()
                if (int(found[0]) if found else 0) != first - 1:
                    return False
                for table, rows in (*inserts, ("buckets", buckets)):
                    if rows and table not in SOURCE:
                        self._insert(c, table, _COLUMNS[table], rows)
                sealed = batch_digests + (grow(c) if grow is not None else b"")
                c.execute(
                    self._sql("SELECT seal FROM syncledger_batches WHERE projection = ? ORDER BY last DESC LIMIT 1"),
                    (projection,),
                )
                before = c.fetchone()
                previous = bytes(before[0]) if before else GENESIS
                seal = batch_seal(key, projection, previous, first, position, event_seal, sealed)
                c.execute(
                    self._sql("INSERT INTO syncledger_batches VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"),
                    (projection, position, first, event_seal, sealed, seal),
                )
                c.execute(
                    self._sql(
                        "INSERT INTO syncledger_tracking VALUES (?, ?) "
                        "ON CONFLICT (name) DO UPDATE SET position = excluded.position"
                    ),
                    (projection, position),
                )
            if projection == INDEX:
                self._tree, self._tree_pending = self._tree_pending, None
                self._leaves = (-1, _Bounded(1))  # what this process checked is of an earlier position
            else:
                self._links_tree, self._links_tree_pending = self._links_tree_pending, None
            return True

        return _retried(once)

    def _insert(self, c: Any, table: str, columns: str, rows: Sequence[Sequence[Any]], replace: bool = False) -> None:
        """Rows into `syncledger_<table>`, keeping those already there (or, if `replace`, replacing their second
        column, keyed by the first). On PostgreSQL a row at a time through the protocol costs a round of the
        pipeline each (a rebuild writes millions): the rows are copied into a temporary table of this session (COPY,
        one stream) and inserted from it in one statement (a batch may hold rows already there: a record deleted
        again, an item id used again)."""
        if not rows:
            return
        marks = ", ".join("?" * (columns.count(",") + 1))
        names = [name.strip() for name in columns.split(",")]
        conflict = (
            f"ON CONFLICT ({names[0]}) DO UPDATE SET {names[1]} = excluded.{names[1]}"
            if replace
            else "ON CONFLICT DO NOTHING"
        )
        if isinstance(self.db, sqlite3.Connection):
            c.executemany(f"INSERT INTO syncledger_{table} ({columns}) VALUES ({marks}) {conflict}", rows)
            return
        staged = f"syncledger_copy_{table}"  # this session's own, emptied when its transaction ends either way
        c.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staged} ON COMMIT DELETE ROWS AS SELECT {columns} "
            f"FROM syncledger_{table} WITH NO DATA"
        )
        with c.copy(f"COPY {staged} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        c.execute(f"INSERT INTO syncledger_{table} ({columns}) SELECT {columns} FROM {staged} {conflict}")

    # --------------------------------------------------------------------- seals (`projections.sealing`)

    def checkpoint(self, position: int) -> bytes | None:
        """The checkpoint at exactly `position`, as stored (enciphered), if there is one; `ForgedCheckpoint` if it
        does not match its seal."""
        found = self.checkpoint_row(position)
        if found is None:
            return None
        return self.checked(position, *found)

    def checked(self, position: int, state: bytes, seal: bytes | None, event_seal: bytes | None = None) -> bytes:
        if self.sealer is not None and seal != checkpoint_seal(self.sealer, position, state, event_seal):
            raise ForgedCheckpoint(f"the checkpoint at position {position} does not match its seal")
        return state

    def checkpoint_rows_before(self, position: int, count: int) -> list[tuple[int, bytes, bytes | None]]:
        rows = self._all(
            "SELECT position, state, seal FROM syncledger_checkpoints WHERE position <= ? ORDER BY position DESC "
            "LIMIT ?",
            (position, count),
        )
        return [(int(p), bytes(state), bytes(seal)) for p, state, seal in rows]

    def checkpoint_row(self, position: int) -> tuple[bytes, bytes | None] | None:
        row = self._one("SELECT state, seal FROM syncledger_checkpoints WHERE position = ?", (position,))
        return (bytes(row[0]), bytes(row[1])) if row else None

    def batches(self, projection: str) -> list[Batch]:
        rows = self._all(
            "SELECT projection, last, first, event_seal, digests, seal FROM syncledger_batches WHERE projection = ? "
            "ORDER BY last",
            (projection,),
        )
        return [Batch(p, int(last), int(first), bytes(e), bytes(d), bytes(s)) for p, last, first, e, d, s in rows]

    def read_table(self, table: str, columns: str, upto: int) -> Iterator[Sequence[Any]]:
        """A sealed table's rows up to `upto`, as they were inserted (`projections.sealing.SEALED`), in the order
        of their positions, a few at a time: the back end sorts (spilling to disk), not this process."""
        source = SOURCE.get(table, table)
        return self.iterate(f"SELECT {columns} FROM syncledger_{source} WHERE position <= ? ORDER BY position", (upto,))

    def tree_problems(self, root: bytes, upto: int) -> list[str]:
        """Every leaf of the index's digest tree against its rows, every group against its leaves, the root against
        the groups (`projections.indextree.tree_problems`): the leaves and groups read in one statement with the
        tracking position, which must still be `upto` (another process writing meanwhile: nothing is said of a tree
        that is no longer the one sealed at `upto`), then the rows a few thousand at a time."""
        tree = self._stored_tree(INDEX, upto)
        if tree is None:
            return []
        rows = self.iterate("SELECT ref, position, rule FROM syncledger_index WHERE position <= ?", (upto,))
        found = ((ref, int(position), rule) for ref, position, rule in rows)
        return tree_problems(found, self._row_digest(), *tree, root)

    def _stored_tree(self, projection: str, upto: int) -> tuple[dict[int, bytes], dict[int, bytes]] | None:
        """The stored leaves and groups of the projection's tree (the item index's, or the ended links'), read in one
        statement with its tracking position; None if that is no longer `upto`."""
        prefix = "" if projection == INDEX else "link_"
        null = f"CAST(NULL AS {self._blob})"
        stored = self._all(
            f"SELECT 0, leaf, value FROM syncledger_{prefix}leaves UNION ALL SELECT 1, grp, value FROM "
            f"syncledger_{prefix}groups UNION ALL SELECT 2, position, {null} FROM syncledger_tracking WHERE name = ?",
            (projection,),
        )
        if next((int(row[1]) for row in stored if row[0] == 2), 0) != upto:
            return None
        leaves = {int(n): bytes(value) for kind, n, value in stored if kind == 0}
        return leaves, {int(n): bytes(value) for kind, n, value in stored if kind == 1}

    def read_buckets(self, table: str, upto: int) -> Iterator[Entry]:
        """A bucketed table's stored bucket digests of the batches up to `upto`, in the order of their batches, a page
        at a time: read beside the table's own rows (`iterate`), which hold the connection's one transaction."""
        after: tuple[int, int] = (0, -1)
        while page := self._all(
            "SELECT last, bucket, digest FROM syncledger_buckets WHERE tbl = ? AND last <= ? "
            "AND (last, bucket) > (?, ?) ORDER BY last, bucket LIMIT ?",
            (table, upto, *after, ITERSIZE),
        ):
            yield from page
            after = (int(page[-1][0]), int(page[-1][1]))

    def iterate(self, statement: str, params: Iterable[Any] = ()) -> Iterator[Any]:
        """The rows of a read, a few thousand at a time (PostgreSQL: a server-side cursor), never all at once;
        the read ends its transaction when they are all read or the iterator is closed. Nothing else may use the
        connection until then."""
        if isinstance(self.db, sqlite3.Connection):
            yield from self.db.execute(self._sql(statement), tuple(params))
            return
        # a server-side cursor lives in a transaction (the connection commits each statement on its own else);
        # a failed read, or one left unfinished (the iterator closed), rolls it back
        with self.db.transaction(), self.db.cursor(name=f"syncledger_read_{next(_CURSORS)}") as cursor:
            cursor.itersize = ITERSIZE
            cursor.execute(self._sql(statement), tuple(params))
            yield from cursor

    def highest_positions(self) -> dict[str, int]:
        def most(statement: str) -> int:
            row = self._one(statement)
            return int(row[0]) if row and row[0] is not None else 0

        return {
            "tracking positions": most("SELECT max(position) FROM syncledger_tracking WHERE name != 'format'"),
            "checkpoints": most("SELECT max(position) FROM syncledger_checkpoints"),
            "item index": most("SELECT max(position) FROM syncledger_index"),
            "action ids": most("SELECT max(position) FROM syncledger_actions"),
            "archived past": max(
                most(f"SELECT max(position) FROM syncledger_{table}")
                for table in ("past_records", "past_items", "past_links")
            ),
            "sealed batches": most("SELECT max(last) FROM syncledger_batches"),
        }

    def seal_fingerprint(self) -> str | None:
        row = self._one("SELECT value FROM syncledger_ledger WHERE name = 'seal key fingerprint'")
        return str(row[0]) if row else None

    def record_seal_fingerprint(self, fingerprint: str) -> None:
        with self._transaction() as c:
            c.execute(
                self._sql("INSERT INTO syncledger_ledger VALUES ('seal key fingerprint', ?) ON CONFLICT DO NOTHING"),
                (fingerprint,),
            )

    def _untrusted(
        self,
        projection: str,
        table: str | None = None,
        key: int | None = None,
        between: tuple[int, int] | None = None,
    ) -> MemoryReadModels | None:
        """None if what a question reads of the projection's stored rows matches their seals: the rows of `table`
        in bucket `key` (a lookup by key: `projections.sealing.bucket`), or in the batches that hold the positions
        after `between[0]` up to `between[1]`, or every row of `table`, or of every sealed table (of the index:
        its action ids), each checked once per process. Else the past folded from the events, which answers
        instead."""
        if self.sealer is None or self.rebuild_past is None:
            return None
        if self._checked.stand_in is not None:
            return self._checked.stand_in
        if {(projection, None, None), (projection, table, None), (projection, table, key)} & self._checked.trusted:
            return None
        problems = self._chain(projection)
        if not problems:
            tracking, batches = self._checked.chains[projection]
            if table is not None and between is not None:  # each batch is noted as checked: windows differ
                problems = self._batch_problems(projection, table, batches, *between)
            elif table is not None and key is not None:
                problems = self._bucket_problems(projection, table, key)
            else:
                tables = (table,) if table is not None else ("actions",) if projection == INDEX else None
                problems = row_problems(projection, batches, tracking, self.read_table, tables, self.read_buckets)
        if problems:
            return self._from_events(projection, problems)
        if between is None:
            self._checked.trusted.add((projection, table, key))
        return None

    def _from_events(self, projection: str, problems: list[tuple[int, str]]) -> MemoryReadModels:
        """The past folded from the events, which answers from now on in this process, with a warning naming the
        first of the `problems` found in the stored rows."""
        warn(f"{problems[0][1]} (position {problems[0][0]})")
        self._checked.stand_in = self._past_folded(projection)
        return self._checked.stand_in

    def _past_folded(self, projection: str) -> MemoryReadModels:
        """The past folded from the events up to `projection`'s tracking position, as read models in memory."""
        assert self.rebuild_past is not None  # `_untrusted` checks nothing without it
        stand_in = MemoryReadModels()
        rows = self.rebuild_past()
        stand_in.write_world(1, max(self.tracking(projection), 1), [], rows)
        stand_in._past.actions.update(rows.actions)
        return stand_in

    def _bucket_problems(self, projection: str, table: str, key: int) -> list[tuple[int, str]]:
        """The problems of bucket `key` of a bucketed table: its stored bucket digests against the batches (once
        per process), then the bucket's rows up to the tracking position against them."""
        problems = self._bucket_index(projection, table)
        if problems:
            return problems
        tracking, batches = self._checked.chains[projection]
        columns = _sealed_columns(projection, table)
        condition, params = _in_bucket(table, key)
        found = self._all(
            f"SELECT {columns} FROM syncledger_{SOURCE.get(table, table)} WHERE {condition} AND position <= ?",
            (*params, tracking),
        )
        return bucket_problems(projection, table, batches, self._checked.indexes[table].get(key, {}), found)

    def _batch_problems(
        self, projection: str, table: str, batches: list[Batch], after: int, upto: int
    ) -> list[tuple[int, str]]:
        """The problems of `table`'s rows in the batches that hold positions after `after` up to `upto` (read by
        their positions), and of their stored bucket digests; each batch checked once per process."""
        columns = _sealed_columns(projection, table)
        for batch in batches:
            if batch.last <= after or batch.first > upto or (table, batch.last) in self._checked.batches:
                continue
            rows = self._all(
                f"SELECT {columns} FROM syncledger_{SOURCE.get(table, table)} WHERE position >= ? AND position <= ? "
                "ORDER BY position",
                (batch.first, batch.last),
            )
            stored = self._all(
                "SELECT last, bucket, digest FROM syncledger_buckets WHERE tbl = ? AND last = ? ORDER BY bucket",
                (table, batch.last),
            )
            problems = batch_row_problems(projection, table, batch, rows, stored)
            if problems:
                return problems
            self._checked.batches.add((table, batch.last))
        return []

    def _chain(self, projection: str) -> list[tuple[int, str]]:
        """The problems of the projection's chain of batches, checked once per process (`_Checked.chains` keeps
        them, with the tracking position they were checked up to, when they hold)."""
        if projection in self._checked.chains:
            return []
        assert self.sealer is not None
        # The tracking position first: a batch and its tracking position are written in one transaction, so the
        # batches read after it reach at least that far even while another process writes the next batch (read
        # the other way round, that writer made a complete projection look short of its seals).
        tracking = self.tracking(projection)
        batches = [b for b in self.batches(projection) if b.last <= tracking]
        newest = batches[-1].last if batches else 0
        stored = {b.last: b.event_seal for b in batches}
        sealer = self.sealer

        def event_seal(position: int) -> bytes | None:  # the newest against the events; the chain covers the rest
            return sealer.seal_at(position) if position == newest else stored[position]

        problems = chain_problems(projection, batches, tracking, sealer.seal_key, event_seal)
        if not problems:
            self._checked.chains[projection] = (tracking, batches)
        return problems

    def _bucket_index(self, projection: str, table: str) -> list[tuple[int, str]]:
        """The problems of a bucketed table's stored bucket digests against its batches, checked once per process
        (`_Checked.indexes` keeps them, by bucket and batch, when they hold)."""
        if table in self._checked.indexes:
            return []
        tracking, batches = self._checked.chains[projection]
        index, problems = bucket_index(projection, table, batches, self.read_buckets(table, tracking))
        if not problems:
            self._checked.indexes[table] = index
        return problems

    def checkpoint_at_or_before(self, position: int) -> tuple[int, bytes] | None:
        row = self._one(
            "SELECT position, state FROM syncledger_checkpoints WHERE position <= ? ORDER BY position DESC LIMIT 1",
            (position,),
        )
        return (int(row[0]), bytes(row[1])) if row else None

    def checkpoints(self) -> list[int]:
        return [int(r[0]) for r in self._all("SELECT position FROM syncledger_checkpoints ORDER BY position")]

    # --------------------------------------------------------------------- the item index, checked (`indextree`)

    def touched(self, ref: str) -> list[tuple[int, str | None]]:
        return self.touched_many([ref]).get(ref, [])

    def touched_many(self, refs: Sequence[str]) -> dict[str, list[tuple[int, str | None]]]:
        """The rows of each of `refs` that has any: every row of their leaves read in one statement and checked
        against the sealed root (`_checked_leaves`); a user's, from each span of positions up to the tracking
        position."""
        wanted = list(dict.fromkeys(refs))
        upto = self.tracking(INDEX) if any(spanned(ref) for ref in wanted) else 0
        return self._rows_within(wanted, 0, None, upto)

    def touched_between(self, refs: Sequence[str], after: int, upto: int) -> dict[str, list[tuple[int, str | None]]]:
        """The rows of each of `refs` after `after` up to `upto`, checked as `touched_many`'s; of a user's, only the
        leaves of the spans of that window are read."""
        return self._rows_within(list(dict.fromkeys(refs)), after, upto, upto)

    def _rows_within(
        self, wanted: list[str], after: int, upto: int | None, end: int
    ) -> dict[str, list[tuple[int, str | None]]]:
        """The checked rows of each of `wanted` after `after` up to `upto` (None: all of them), in order, read from
        the leaves that can hold them up to `end` (a user's spans); a reference without any is left out."""
        by_leaf = self._checked_leaves({leaf for ref in wanted for leaf in leaves_between(ref, after, end)})
        found: dict[str, list[tuple[int, str | None]]] = {}
        for ref in wanted:
            leaves = dict.fromkeys(leaves_between(ref, after, end))
            rows = [
                row
                for leaf in leaves
                for row in by_leaf[leaf].get(ref, ())
                if after < row[0] and (upto is None or row[0] <= upto)
            ]
            if rows:
                found[ref] = sorted(rows)
        return found

    def latest_before(self, pairs: Sequence[tuple[str, int]]) -> list[int | None]:
        """From the checked rows of each reference: a user's from the span of positions just before, then the
        spans before it until one has a row (a user syncs every few minutes: usually the first)."""
        rows = self.touched_many([ref for ref, _ in pairs if not spanned(ref)])
        self._checked_leaves({leaf_of(ref, max(at - 1, 0)) for ref, at in pairs if spanned(ref)})  # at once
        found: list[int | None] = []
        for ref, position in pairs:
            if not spanned(ref):
                found.append(latest_before([p for p, _ in rows.get(ref, ())], position))
                continue
            found.append(None)
            for span in range(max(position - 1, 0) // SPAN, -1, -1):
                leaf = leaf_of(ref, span * SPAN)
                spans = self._checked_leaves({leaf})[leaf].get(ref, ())
                before = [p for p, _ in spans if p < position and p // SPAN == span]
                if before:
                    found[-1] = max(before)
                    break
        return found

    def _checked_leaves(self, leaves: set[int]) -> dict[int, dict[str, list[tuple[int, str | None]]]]:
        """The rows of each of `leaves`, by reference, as sealed: read with the tree that proves them in one
        statement (one snapshot: a writer commits rows, tree and tracking together), kept while the tracking
        position stands (this process's own writes forget them). Leaves that do not match are read from the
        events instead, with a warning."""
        for _ in range(WRITE_TRIES):
            kept = self._leaves[1]
            missing = leaves - set(kept)
            if not missing:
                return {leaf: kept[leaf] for leaf in leaves}
            outcome = self._read_in_parts(missing)
            if outcome is None:
                continue  # written while it was read: read again
            tracking, read, problems = outcome
            if tracking != self._leaves[0]:
                self._leaves = (tracking, _Bounded(LEAVES_KEPT))
                if missing != leaves:
                    continue  # the leaves kept were of an earlier tracking position: read them all again
            if problems:
                warn(f"{problems[0][1]} (position {problems[0][0]})")
                read = self._leaves_from_events(missing, tracking)
            found = {leaf: self._leaves[1][leaf] for leaf in leaves - missing}
            found.update(read)
            self._leaves[1].update(read)  # kept within bounds: some of `found` may be forgotten already
            return found
        return self._leaves_from_events(leaves, self.tracking(INDEX))  # writers never paused: the events answer

    def _read_in_parts(
        self, leaves: set[int]
    ) -> tuple[int, dict[int, dict[str, list[tuple[int, str | None]]]], list[tuple[int, str]]] | None:
        """`_read_leaves` of at most READ_LEAVES leaves a statement (a statement's parameters are bounded: 32,766 on
        SQLite), every part at the same tracking position; None if the index was written between them."""
        ordered = sorted(leaves)
        tracking: int | None = None
        found: dict[int, dict[str, list[tuple[int, str | None]]]] = {}
        problems: list[tuple[int, str]] = []
        for start in range(0, len(ordered), READ_LEAVES):
            outcome = self._read_leaves(set(ordered[start : start + READ_LEAVES]))
            if outcome is None or (tracking is not None and outcome[0] != tracking):
                return None
            tracking = outcome[0]
            found.update(outcome[1])
            problems.extend(outcome[2])
        assert tracking is not None  # `leaves` is never empty
        return tracking, found, problems

    def _leaves_from_events(self, leaves: set[int], upto: int) -> dict[int, dict[str, list[tuple[int, str | None]]]]:
        found: dict[int, dict[str, list[tuple[int, str | None]]]] = {leaf: {} for leaf in leaves}
        if self.rebuild_index is not None:
            for ref, position, rule in self.rebuild_index(leaves, upto):
                found[leaf_of(ref, position)].setdefault(ref, []).append((position, rule))
        return found

    def _read_leaves(
        self, leaves: set[int]
    ) -> tuple[int, dict[int, dict[str, list[tuple[int, str | None]]]], list[tuple[int, str]]] | None:
        """The index's tracking position, the stored rows of `leaves` there, by leaf and reference, and (position,
        problem) for what of them does not match the root sealed there: each leaf's rows against its value, the
        values of their groups' leaves against the groups' digests, those against the root (`_sealed_groups`).
        A leaf's rows are those of the references (and spans) listed under it; a reference left out of the list, or
        listed under another leaf, leaves its leaf's sum short. Rows, leaf values and tracking position come in one
        statement, so from one snapshot; None if the index was written before the groups' digests were read."""
        ranges, params = _group_leaves(sorted({group_of(leaf) for leaf in leaves}))
        marks = ", ".join("?" * len(leaves))
        null = f"CAST(NULL AS {self._blob})"
        rows = self._all(
            f"SELECT 0, l.leaf, i.ref, i.position, i.rule, {null} FROM syncledger_listed l {self._listed_rows} "
            f"WHERE l.leaf IN ({marks}) "
            f"UNION ALL SELECT 1, leaf, NULL, NULL, NULL, value FROM syncledger_leaves WHERE {ranges} "
            f"UNION ALL SELECT 2, NULL, NULL, position, NULL, {null} FROM syncledger_tracking WHERE name = ?",
            (*sorted(leaves), *params, INDEX),
        )
        tracking = next((int(row[3]) for row in rows if row[0] == 2), 0)
        found: dict[int, dict[str, list[tuple[int, str | None]]]] = {leaf: {} for leaf in leaves}
        values = {int(row[1]): bytes(row[5]) for row in rows if row[0] == 1}
        stored = [(int(row[1]), row[2], int(row[3]), row[4]) for row in rows if row[0] == 0]
        _, sums = leaf_rows([row[1:] for row in stored], self._row_digest())
        for leaf, ref, position, rule in stored:
            if leaf != leaf_of(ref, position) or leaf not in found:
                return tracking, found, [(tracking, f"the item index lists '{ref}' under leaf {leaf}, not its own")]
            found[leaf].setdefault(ref, []).append((position, rule))
        for rows_of_ref in (r for by_ref in found.values() for r in by_ref.values()):
            rows_of_ref.sort()
        if self.sealer is None:  # read models opened without their events: nothing to check against
            return tracking, found, []
        sealed = self._sealed_groups(tracking)
        if sealed is None:
            return None
        groups, problems = sealed
        for group in sorted({group_of(leaf) for leaf in leaves}):
            if group_digest(group, values) != groups.get(group, EMPTY_GROUP):
                problems.append((tracking, f"the item index's digest of group {group} does not match its leaves"))
        for leaf in sorted(leaves):
            if value_of(sums.get(leaf, 0)) != values.get(leaf, EMPTY):
                problems.append((tracking, f"the item index's rows of leaf {leaf} differ from what was sealed"))
        return tracking, found, problems

    @property
    def _listed_rows(self) -> str:
        """How a leaf's listed references (`l`) are joined to their rows (`i`): on PostgreSQL one index lookup per
        listed reference, always. Without statistics of the tables (right after a rebuild, until the server's
        autovacuum has analysed them, or never where it is off) the server guessed 85 references a leaf where there
        is one, and read the whole index into a hash join: 21 ms a leaf at 10^5 events, 0.2 ms so (a subquery with
        OFFSET 0 is not flattened into the join, so it stays a lookup per row). SQLite plans the plain join so."""
        if isinstance(self.db, sqlite3.Connection):
            return "JOIN syncledger_index i ON i.ref = l.ref AND i.position >= l.low AND i.position <= l.high"
        return (
            "CROSS JOIN LATERAL (SELECT ref, position, rule FROM syncledger_index WHERE ref = l.ref "
            "AND position >= l.low AND position <= l.high OFFSET 0) AS i"
        )

    def _sealed_groups(
        self, tracking: int, projection: str = INDEX
    ) -> tuple[dict[int, bytes], list[tuple[int, str]]] | None:
        """Every group's digest of the projection's tree (the item index's, or the archive's ended links'), as
        sealed at `tracking` (its root in the projection's batch ending there, that batch's seal against the event
        seal there and the batch before), read and checked once per tracking position; and (position, problem) if
        they are not. None if the projection is no longer at `tracking`."""
        if self._groups[projection][0] == tracking:
            return self._groups[projection][1], []
        null = f"CAST(NULL AS {self._blob})"
        rows = self._all(
            f"SELECT 0, last, first, event_seal, digests, seal FROM (SELECT last, first, event_seal, digests, seal "
            "FROM syncledger_batches WHERE projection = ? AND last <= ? ORDER BY last DESC LIMIT 2) AS b "
            f"UNION ALL SELECT 1, grp, NULL, value, {null}, {null} FROM syncledger_{_GROUPS[projection]} "
            f"UNION ALL SELECT 2, position, NULL, {null}, {null}, {null} FROM syncledger_tracking WHERE name = ?",
            (projection, tracking, projection),
        )
        if next((int(row[1]) for row in rows if row[0] == 2), 0) != tracking:
            return None
        groups = {int(row[1]): bytes(row[3]) for row in rows if row[0] == 1}
        batches = [
            Batch(projection, int(r[1]), int(r[2]), bytes(r[3]), bytes(r[4]), bytes(r[5])) for r in rows if r[0] == 0
        ]
        root, problems = self._sealed_root(tracking, batches, projection)
        if not problems and root_digest(groups) != root:
            whose = "item index's digests" if projection == INDEX else "archived past's ended links"
            problems = [(tracking, f"the {whose} do not match the root sealed in its last batch")]
        if not problems:
            self._groups[projection] = (tracking, groups)
        return groups, problems

    def _sealed_root(
        self, tracking: int, found: list[Batch], projection: str = INDEX
    ) -> tuple[bytes, list[tuple[int, str]]]:
        """The root sealed in the projection's batch ending at `tracking` (`found`: it and the one before, newest
        first; of no rows before the first batch), once its seal is checked against the event seal there and the
        batch before: the item index's tree's (`index_root`), or the archive's ended links' (`links_root`)."""
        if tracking == 0:
            return EMPTY_ROOT, []
        assert self.sealer is not None
        name = projection_name(projection)
        found = sorted(found, key=lambda b: -b.last)
        if not found or found[0].last != tracking:
            return b"", [(tracking, f"the {name} is said to be complete up to {tracking}, but not sealed there")]
        batch, before = found[0], found[1:]
        previous = before[0].seal if before and before[0].last == batch.first - 1 else GENESIS
        expected = batch_seal(
            self.sealer.seal_key, projection, previous, batch.first, batch.last, batch.event_seal, batch.digests
        )
        if expected != batch.seal or (self.sealer.seal_at(tracking) or GENESIS) != batch.event_seal:
            return b"", [
                (tracking, f"the {name} written for positions {batch.first} to {tracking} does not match its seal")
            ]
        return (index_root(batch) if projection == INDEX else links_root(batch)), []

    def refs(self) -> list[str]:
        return [r[0] for r in self._all("SELECT ref FROM syncledger_refs")]

    def refs_starting(self, prefix: str, fold_case: bool, limit: int) -> list[str]:
        """Ranges of the index's key (references in byte order, on SQLite and PostgreSQL alike): one for the prefix
        as given, or one per upper and lower case spelling of its start when case is ignored (`prefix_ranges`),
        never a scan of every reference."""
        found: set[str] = set()
        for statement, params in self.prefix_queries(prefix, fold_case, limit):
            found.update(r[0] for r in self._all(statement, params))
        if fold_case and not prefix.isascii():  # SQL's lower() need not fold what Python folds: filtered here
            return starting(found, prefix, fold_case, limit)
        return sorted(found)[:limit]

    def prefix_queries(self, prefix: str, fold_case: bool, limit: int) -> list[tuple[str, tuple[Any, ...]]]:
        """The statements `refs_starting` runs, with their parameters (a test asks the database for their plans)."""
        starts, partial = prefix_ranges(prefix, fold_case)
        queries = []
        for start in starts:
            statement = "SELECT ref FROM syncledger_refs WHERE ref >= ? AND ref < ?"
            params: tuple[Any, ...] = (start, after_all_starting(start))
            if partial and prefix.isascii():
                statement += " AND lower(substr(ref, 1, ?)) = ?"
                params += (len(prefix), prefix.lower())
            if not partial or prefix.isascii():
                statement += " ORDER BY ref LIMIT ?"
                params += (limit,)
            queries.append((statement, params))
        return queries

    # --------------------------------------------------------------------- the archive (`ledger.past.Archive`)

    def record(self, record: str, upto: int) -> Record | None:
        number = bucket(record)
        if (stand_in := self._untrusted(WORLD, "past_records", number)) is not None:
            return stand_in.record(record, upto)
        known = self._records.get(record)
        if known is None or (known[1] is None and known[0] < upto):
            row = self._one(
                "SELECT position, state FROM syncledger_past_records WHERE bucket = ? AND record = ?", (number, record)
            )
            # a record is deleted once and its id never used again: its row never changes; and no row means none
            # up to `upto`, where the archive is complete (rows written later are of later positions)
            known = (int(row[0]), self._record(row[1])) if row else (upto, None)
            self._records[record] = known
        position, found = known
        return found if found is not None and position <= upto else None

    def _record(self, state: bytes) -> Record:
        """A deleted record as its row stores it (encrypted JSON, `codec.record_data`)."""
        return record_of(orjson.loads(self.cipher.decipher(bytes(state))))

    def item_deleted(self, user: str, item: str, upto: int) -> bool:
        number = bucket(user, item)
        if (stand_in := self._untrusted(WORLD, "past_items", number)) is not None:
            return stand_in.item_deleted(user, item, upto)
        statement = "SELECT 1 FROM syncledger_past_items WHERE bucket = ? AND owner = ? AND item = ? AND position <= ?"
        return self._one(statement, (number, user, item, upto)) is not None

    def action(self, action_id: str, upto: int) -> int | None:
        number = bucket(action_id)
        if (stand_in := self._untrusted(INDEX, "actions", number)) is not None:
            return stand_in.action(action_id, upto)
        row = self._one(
            "SELECT position FROM syncledger_actions WHERE bucket = ? AND id = ? AND position <= ?",
            (number, action_id, upto),
        )
        return int(row[0]) if row else None

    def ended_links(self, upto: int) -> list[Link]:
        """Read once per process and kept: an ended link never changes, and a state document lists them all."""
        if (stand_in := self._untrusted(WORLD, "past_links")) is not None:
            return stand_in.ended_links(upto)
        return self._stored_links(upto)

    def _stored_links(self, upto: int) -> list[Link]:
        if upto > self._links_upto:
            rows = self._all(
                f"SELECT {_LINK_COLUMNS} FROM syncledger_past_links WHERE position > ? AND position <= ?",
                (self._links_upto, upto),
            )
            self._links = sorted([*self._links, *map(_link, rows)], key=made)
            self._links_upto = upto
        return [link for link in self._links if link.position <= upto]

    def ended_links_page(self, upto: int, after: int, limit: int, user: str | None = None) -> list[Link]:
        """A page, read from the table (by its key, `made`), not from every ended link; what is checked is a
        user's bucket, or, for every user's, the ranges of positions the page's links were made in (`links_made`):
        up to its last link's if it is full, else every range up to `upto`."""
        number = bucket(user) if user is not None else None
        stand_in = self._untrusted(WORLD, "past_links", number) if user is not None else self._checked.stand_in
        if stand_in is not None:
            return stand_in.ended_links_page(upto, after, limit, user)
        if upto <= self._links_upto:  # all of them are read already (and checked whole)
            found = (k for k in self._links if k.made > after and k.position <= upto and user in (None, k.user))
            return list(itertools.islice(found, limit))
        mine = " AND bucket = ? AND owner = ?" if user is not None else ""
        rows = self._all(
            f"SELECT {_LINK_COLUMNS} FROM syncledger_past_links WHERE made > ? AND position <= ?{mine} "
            "ORDER BY made LIMIT ?",
            (after, upto, *([number, user] if user is not None else []), limit),
        )
        if user is None:
            end = int(rows[-1][0]) if rows and len(rows) == limit else upto
            for made in range(made_range(after + 1), made_range(end) + 1):
                if (stand_in := self._untrusted(WORLD, "links_made", made)) is not None:
                    return stand_in.ended_links_page(upto, after, limit, user)
        return list(map(_link, rows))

    def ended_links_between(self, after: int, upto: int) -> list[Link]:
        """Read by position (its own index), not from every ended link; what is checked is the batches that hold
        those positions."""
        if (stand_in := self._untrusted(WORLD, "past_links", between=(after, upto))) is not None:
            return stand_in.ended_links_between(after, upto)
        rows = self._all(
            f"SELECT {_LINK_COLUMNS} FROM syncledger_past_links WHERE position > ? AND position <= ? ORDER BY made",
            (after, upto),
        )
        return list(map(_link, rows))

    def last_link(self, user: str, item: str, upto: int) -> Link | None:
        """Read from the item's leaf of the ended links' tree (`projections.linktree`), which is what is checked:
        its rows, the values of its group's leaves, and the groups against the root the archive's last batch
        sealed; not every link the owner ended."""
        if self.sealer is None or self.rebuild_past is None:  # opened without their events: nothing to check
            row = self._one(
                f"SELECT {_LINK_COLUMNS} FROM syncledger_past_links WHERE leaf = ? AND owner = ? AND item = ? "
                "AND position <= ? ORDER BY made DESC LIMIT 1",
                (link_leaf(user, item), user, item, upto),
            )
            return _link(row) if row else None
        links = self._checked_link_leaf(link_leaf(user, item), upto) if self._checked.stand_in is None else []
        if self._checked.stand_in is not None:  # there already, or the leaf did not match: the events answer
            return self._checked.stand_in.last_link(user, item, upto)
        found = [k for k in links if k.user == user and k.item == item and k.position <= upto]
        return max(found, key=made) if found else None

    def _checked_link_leaf(self, leaf: int, upto: int) -> list[Link]:
        """The ended links of `leaf`, as sealed: read with the values of its group's leaves and the tracking
        position in one statement (one snapshot: a writer commits rows, tree and tracking together), checked against
        the root sealed there, and kept while questions ask no later position (an ended link never changes). If
        they do not match, the past folded from the events answers from then on (`_from_events`), and nothing is
        returned."""
        tracking, kept = self._link_leaves
        if upto <= tracking and leaf in kept:
            return kept[leaf]
        for _ in range(WRITE_TRIES):
            outcome = self._read_link_leaf(leaf)
            if outcome is None:
                continue  # written while it was read: read again
            tracking, links, problems = outcome
            if problems:
                self._from_events(WORLD, problems)
                return []
            if tracking != self._link_leaves[0]:
                self._link_leaves = (tracking, _Bounded(LEAVES_KEPT))
            self._link_leaves[1][leaf] = links
            return links
        # writers never paused: the events answer this question, unwarned (nothing was found wrong)
        past = self._past_folded(WORLD)
        return [k for k in past.ended_links_between(0, upto) if link_leaf(k.user, k.item) == leaf]

    def _read_link_leaf(self, leaf: int) -> tuple[int, list[Link], list[tuple[int, str]]] | None:
        """The archive's tracking position, the ended links of `leaf` stored there, and (position, problem) for what
        of them does not match the root sealed there; None if the archive was written before the groups' digests
        were read."""
        group = group_of(leaf)
        ranges, params = _group_leaves([group])
        null = f"CAST(NULL AS {self._blob})"
        rows = self._all(
            f"SELECT 0, {_LINK_COLUMNS}, {null} FROM syncledger_past_links WHERE leaf = ? "
            f"UNION ALL SELECT 1, leaf, NULL, NULL, NULL, NULL, NULL, NULL, NULL, value FROM syncledger_link_leaves "
            f"WHERE {ranges} "
            "UNION ALL SELECT 2, position, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
            f"{null} FROM syncledger_tracking WHERE name = ?",
            (leaf, *params, WORLD),
        )
        tracking = next((int(row[1]) for row in rows if row[0] == 2), 0)
        values = {int(row[1]): bytes(row[9]) for row in rows if row[0] == 1}
        stored = [row[1:9] for row in rows if row[0] == 0]
        links = sorted(map(_link, stored), key=made)
        name = projection_name(WORLD)
        if any(link_leaf(k.user, k.item) != leaf for k in links):
            return tracking, links, [(tracking, f"the {name}'s past links of leaf {leaf} differ from what was sealed")]
        sealed = self._sealed_groups(tracking, WORLD)
        if sealed is None:
            return None
        groups, problems = sealed
        if group_digest(group, values) != groups.get(group, EMPTY_GROUP):
            problems.append((tracking, f"the {name}'s digest of the ended links' group {group} does not match"))
        if value_of(link_sums(stored, self._link_digest()).get(leaf, 0)) != values.get(leaf, EMPTY):
            problems.append((tracking, f"the {name}'s past links of leaf {leaf} differ from what was sealed"))
        return tracking, links, problems

    def links_tree_problems(self, root: bytes, upto: int) -> list[str]:
        """Every leaf of the ended links' tree against its rows, every group against its leaves, the root against
        the groups (`projections.linktree.link_tree_problems`), as `tree_problems` does for the item index's."""
        tree = self._stored_tree(WORLD, upto)
        if tree is None:
            return []
        misfiled: list[str] = []

        def filed(rows: Iterable[Sequence[Any]]) -> Iterator[Sequence[Any]]:
            """The rows, noting each filed under a leaf not its own (a question about its item would miss it)."""
            for row in rows:
                if int(row[8]) != link_leaf(row[2], row[3]):
                    misfiled.append(
                        f"the archived past files the ended link made at {row[0]} under leaf {row[8]}, not its own "
                        f"({link_leaf(row[2], row[3])})"
                    )
                yield row[:8]

        rows = self.iterate(f"SELECT {_LINK_COLUMNS}, leaf FROM syncledger_past_links WHERE position <= ?", (upto,))
        return [*link_tree_problems(filed(rows), self._link_digest(), *tree, root), *misfiled]

    def rows(self, upto: int, raw: bool = False) -> PastRows:
        """The past up to `upto`: as stored if `raw` (for `verify`), else as trusted."""
        if not raw and (stand_in := self._untrusted(WORLD) or self._untrusted(INDEX, "actions")) is not None:
            return stand_in.rows(upto)
        records = self._all("SELECT state FROM syncledger_past_records WHERE position <= ?", (upto,))
        items = self._all("SELECT owner, item, position FROM syncledger_past_items WHERE position <= ?", (upto,))
        actions = self._all("SELECT id, position FROM syncledger_actions WHERE position <= ?", (upto,))
        return PastRows(
            {r.id: r for r in (self._record(state) for (state,) in records)},
            {(u, i): int(p) for u, i, p in items},
            self._stored_links(upto),
            {i: int(p) for i, p in actions},
        )

    def reset(self) -> None:
        """Forget every read model (they are rebuilt from the events)."""

        def once() -> None:
            with self._transaction() as c:
                if isinstance(self.db, sqlite3.Connection):  # SQLite empties a table without a WHERE at once
                    for table in _TABLES[1:]:
                        c.execute(f"DELETE FROM syncledger_{table}")
                else:  # a DELETE would leave every row dead in the tables and their indexes until a vacuum:
                    # the rebuild writes beside them, and its readers step over them (the item index: 297 MB
                    # against 151 MB at 10^6). TRUNCATE locks each table whole, so it waits for both
                    # projections' writers first (`_write`), and a reader it meets on the way may deadlock it
                    # (the server ends one of the two): then it tries again
                    for projection in (INDEX, WORLD):
                        c.execute(_WRITER_LOCK, (projection,))
                    c.execute(f"TRUNCATE {', '.join(f'syncledger_{table}' for table in _TABLES[1:])}")
                c.execute(self._sql("DELETE FROM syncledger_tracking WHERE name IN (?, ?)"), (INDEX, WORLD))

        _retried(once)
        self._links, self._links_upto = [], 0
        self._records.clear()
        self._checked = _Checked()
        self._tree = self._links_tree = None
        self._leaves, self._link_leaves = (-1, _Bounded(1)), (-1, _Bounded(1))
        self._groups = {INDEX: (-1, {}), WORLD: (-1, {})}

    def close(self) -> None:
        self.db.close()


def _retried(action: Callable[[], _T]) -> _T:
    """`action` (a read-model statement or transaction), tried again after a transient failure (`_transient`), a
    random, growing while later, WRITE_TRIES times in all; any other failure, or the last, is raised."""
    for attempt in range(WRITE_TRIES - 1):
        try:
            return action()
        except Exception as e:
            if not _transient(e):
                raise
            time.sleep(random.uniform(0, 0.01 * 2**attempt))
    return action()


def _transient(error: Exception) -> bool:
    """Whether a read-model statement failed only because another process wrote at the same time (or the server
    ended it to break a deadlock with one): trying again sees what it wrote (a write usually finds there is
    nothing left to write)."""
    if isinstance(error, sqlite3.OperationalError):
        return "locked" in str(error) or "busy" in str(error)
    return type(error).__name__ in (
        "UniqueViolation",
        "SerializationFailure",
        "DeadlockDetected",
        "LockNotAvailable",
        "QueryCanceled",
    )


class _Transaction:
    """One transaction: SQLite's BEGIN IMMEDIATE, or on PostgreSQL (whose connection commits each statement on its
    own else) psycopg's own transaction block."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.block: Any = None

    def __enter__(self) -> Any:
        if isinstance(self.db, sqlite3.Connection):
            self.db.execute("BEGIN IMMEDIATE")
        else:
            self.block = self.db.transaction()
            self.block.__enter__()
        return self.db.cursor()

    def __exit__(self, kind: Any, value: Any, trace: Any) -> None:
        if self.block is not None:
            self.block.__exit__(kind, value, trace)  # commits, or rolls back and lets the error go on
        elif kind is None:
            self.db.commit()
        else:
            self.db.rollback()


def open_read_models(url: str | None, cipher: Cipher, sealer: Sealer | None = None) -> ReadModels:
    """The read models of the ledger at `url` (the same places `ledger.store.EventStore` takes), sealed with
    `sealer` (the ledger's event store)."""
    env = environment(url)
    if env["PERSISTENCE_MODULE"] == "eventsourcing.popo":
        return MemoryReadModels()
    if env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        # the projector writes from one other thread while catching up, never while this one uses it
        connection = sqlite3.connect(env["SQLITE_DBNAME"], timeout=30, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        # the item index is written in key order, which is not the order of the events: with SQLite's default
        # 2 MB of cache, most inserts read a page back from the file first
        connection.execute("PRAGMA cache_size=-65536")
        return SqlReadModels(connection, "?", "BLOB", cipher, sealer)
    schema = env.get("POSTGRES_SCHEMA")
    # each read commits on its own (one round trip); writes open their transaction (`_Transaction`). No JIT: the
    # read models' statements are lookups of a few rows, but right after a rebuild, before the server has
    # statistics of the new rows, it estimates a leaf's join at a million rows and compiles it, 9 ms of a 0.3 ms
    # statement (`why` at 10^6 events: 21 ms a question with it, see the README's PostgreSQL paragraph)
    options = f"-c jit=off -c search_path={schema}" if schema else "-c jit=off"
    server = connect_postgres(env, autocommit=True, options=options)
    return SqlReadModels(server, "%s", "BYTEA", cipher, sealer)
