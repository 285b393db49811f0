"""The read models' tables, kept beside the events in the same database: checkpoints of the world, the item
index (which positions touched each reference, and which of them are decisions), the action ids, and the
tracking position up to which they are complete. SQLite and PostgreSQL share the SQL; memory uses dicts."""

from __future__ import annotations

import bisect
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlparse

from ledger.store import environment

IndexRow = tuple[str, int, str | None]  # ref, position, rule of the decision (None for an action)


class ReadModels:
    """In memory: for scenario runs and tests."""

    def __init__(self) -> None:
        self._tracking = 0
        self._checkpoints: dict[int, bytes] = {}
        self._index: dict[str, list[tuple[int, str | None]]] = {}
        self._actions: dict[str, int] = {}

    def tracking(self) -> int:
        return self._tracking

    def write(
        self,
        position: int,
        index: Sequence[IndexRow],
        actions: Sequence[tuple[str, int]],
        checkpoints: Sequence[tuple[int, bytes]],
    ) -> None:
        """Everything up to `position`, in one transaction with the new tracking position."""
        for ref, pos, rule in index:
            self._index.setdefault(ref, []).append((pos, rule))
        self._actions.update(actions)
        self._checkpoints.update(checkpoints)
        self._tracking = position

    def checkpoint_at_or_before(self, position: int) -> tuple[int, bytes] | None:
        positions = sorted(self._checkpoints)
        n = bisect.bisect_right(positions, position)
        return (positions[n - 1], self._checkpoints[positions[n - 1]]) if n else None

    def checkpoints(self) -> list[int]:
        return sorted(self._checkpoints)

    def touched(self, ref: str) -> list[tuple[int, str | None]]:
        return list(self._index.get(ref, ()))

    def refs(self) -> list[str]:
        return list(self._index)

    def action_ids(self) -> dict[str, int]:
        return dict(self._actions)

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def close(self) -> None:
        pass


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS syncledger_tracking (name TEXT PRIMARY KEY, position BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS syncledger_checkpoints (position BIGINT PRIMARY KEY, state {blob} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS syncledger_index (ref TEXT NOT NULL, position BIGINT NOT NULL, rule TEXT)",
    "CREATE INDEX IF NOT EXISTS syncledger_index_ref ON syncledger_index (ref, position)",
    "CREATE TABLE IF NOT EXISTS syncledger_actions (id TEXT PRIMARY KEY, position BIGINT NOT NULL)",
)


class SqlReadModels(ReadModels):
    """The same tables on SQLite (the ledger's file) or PostgreSQL (the ledger's schema)."""

    def __init__(self, connection: Any, mark: str, blob: str) -> None:
        self.db, self.mark = connection, mark
        with self._transaction() as c:
            for statement in _SCHEMA:
                c.execute(statement.format(blob=blob))

    def _sql(self, statement: str) -> str:
        return statement.replace("?", self.mark)

    def _transaction(self) -> Any:
        return _Transaction(self.db)

    def _one(self, statement: str, params: Iterable[Any] = ()) -> Any:
        cursor = self.db.execute(self._sql(statement), tuple(params))
        row = cursor.fetchone()
        self._end_read()
        return row

    def _all(self, statement: str, params: Iterable[Any] = ()) -> list[Any]:
        rows = self.db.execute(self._sql(statement), tuple(params)).fetchall()
        self._end_read()
        return list(rows)

    def _end_read(self) -> None:
        if not isinstance(self.db, sqlite3.Connection):
            self.db.commit()  # psycopg opens a transaction for reads too: end it, or it holds locks

    def tracking(self) -> int:
        row = self._one("SELECT position FROM syncledger_tracking WHERE name = 'projections'")
        return int(row[0]) if row else 0

    def write(
        self,
        position: int,
        index: Sequence[IndexRow],
        actions: Sequence[tuple[str, int]],
        checkpoints: Sequence[tuple[int, bytes]],
    ) -> None:
        with self._transaction() as c:
            if index:
                c.executemany(self._sql("INSERT INTO syncledger_index VALUES (?, ?, ?)"), index)
            if actions:
                c.executemany(self._sql("INSERT INTO syncledger_actions VALUES (?, ?) ON CONFLICT DO NOTHING"), actions)
            for pos, blob in checkpoints:
                c.execute(
                    self._sql("INSERT INTO syncledger_checkpoints VALUES (?, ?) ON CONFLICT DO NOTHING"), (pos, blob)
                )
            c.execute(self._sql("DELETE FROM syncledger_tracking WHERE name = 'projections'"))
            c.execute(self._sql("INSERT INTO syncledger_tracking VALUES ('projections', ?)"), (position,))

    def checkpoint_at_or_before(self, position: int) -> tuple[int, bytes] | None:
        row = self._one(
            "SELECT position, state FROM syncledger_checkpoints WHERE position <= ? ORDER BY position DESC LIMIT 1",
            (position,),
        )
        return (int(row[0]), bytes(row[1])) if row else None

    def checkpoints(self) -> list[int]:
        return [int(r[0]) for r in self._all("SELECT position FROM syncledger_checkpoints ORDER BY position")]

    def touched(self, ref: str) -> list[tuple[int, str | None]]:
        rows = self._all("SELECT position, rule FROM syncledger_index WHERE ref = ? ORDER BY position", (ref,))
        return [(int(p), r) for p, r in rows]

    def refs(self) -> list[str]:
        return [r[0] for r in self._all("SELECT DISTINCT ref FROM syncledger_index")]

    def action_ids(self) -> dict[str, int]:
        return {i: int(p) for i, p in self._all("SELECT id, position FROM syncledger_actions")}

    def reset(self) -> None:
        """Forget every read model (they are rebuilt from the events)."""
        with self._transaction() as c:
            for table in ("tracking", "checkpoints", "index", "actions"):
                c.execute(f"DELETE FROM syncledger_{table}")

    def close(self) -> None:
        self.db.close()


class _Transaction:
    def __init__(self, db: Any) -> None:
        self.db = db

    def __enter__(self) -> Any:
        if isinstance(self.db, sqlite3.Connection):
            self.db.execute("BEGIN IMMEDIATE")
            return self.db
        return self.db.cursor()

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is None:
            self.db.commit()
        else:
            self.db.rollback()


def open_read_models(url: str | None) -> ReadModels:
    """The read models of the ledger at `url` (the same places `ledger.store.EventStore` takes)."""
    env = environment(url)
    if env["PERSISTENCE_MODULE"] == "eventsourcing.popo":
        return ReadModels()
    if env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        connection = sqlite3.connect(env["SQLITE_DBNAME"], timeout=30, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        return SqlReadModels(connection, "?", "BLOB")
    import psycopg

    schema = env.get("POSTGRES_SCHEMA")
    server: Any = psycopg.connect(
        dbname=env["POSTGRES_DBNAME"],
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"] or None,
        options=f"-c search_path={schema}" if schema else None,
        connect_timeout=10,
    )
    assert urlparse(url or "").scheme.startswith("postgres")
    return SqlReadModels(server, "%s", "BYTEA")
