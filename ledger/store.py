"""The event store: the ledger's one sequence, kept by the `eventsourcing` package's recorders.

The whole ledger is one stream (one originator id) whose version is the position: positions are dense and
gap-free on every back end, the recorder's primary key makes a second writer of the same position fail
(optimistic concurrency: re-read and retry), and reading "everything after position N" is an index range scan
in large pages. Events are pydantic models, mapped to stored rows by our own small mapper over the package's
`Mapper` (so its compressor and cipher apply).
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime
from itertools import starmap
from typing import Any, NamedTuple, TypeVar
from urllib.parse import unquote, urlparse

import orjson
from eventsourcing.persistence import (
    ApplicationRecorder,
    InfrastructureFactory,
    IntegrityError,
    JSONTranscoder,
    Mapper,
    OperationalError,
    PersistenceError,
    StoredEvent,
)
from eventsourcing.sqlite import SQLiteDatastore

from .location import (
    OPENED,
    Damaged,
    from_storage,
    postgres_holds_ledger,
    refuse_reserved_schema,
    sqlite_holds_ledger,
    storage_problem,
)
from .location import LocationError as LocationError  # re-exported: what opening the store raises
from .location import NoLedger as NoLedger
from .location import StoreError as StoreError
from .seal import GENESIS, configured_key, seal, unwrap, wrap
from .serial import builder
from .vocabulary import EVENT_CLASSES, Action, Decided, Recorded, dump

STREAM = "syncledger"  # one stream; a text id, so reading a row does not parse a UUID
PAGE = 10_000  # positions per query of a long read (`EventStore._pages`)
# events decoded at a time: few enough that a consumer folding them as they come finds them still in the CPU's
# cache (a whole page at once made a rebuild half again slower)
DECODE = 256
# the stored name of an event class: written into every row, so it stays as the first ledgers wrote it,
# whatever the module is called now
_TOPIC_PREFIX = "ledger.vocabulary:"
_CLASS_OF_TOPIC = {_TOPIC_PREFIX + cls.__name__: cls for cls in EVENT_CLASSES.values()}
_BUILD_OF_TOPIC = {topic: builder(cls) for topic, cls in _CLASS_OF_TOPIC.items()}

Row = tuple[int, str, bytes]  # position, topic, state: a stored row as the store reads it
Page = TypeVar("Page", bound=tuple[Any, ...])  # a row of a page: its position first
Encoded = tuple[int, str, bytes]  # position, topic, payload: an event as the store will write it, before its seal
DECIDED_TOPIC = _TOPIC_PREFIX + "Decided"


# PostgreSQL's reads of the events: a page in order, and the rows at many positions, each found by a descent of the
# key (a nested loop the planner cannot turn into a scan of the stream filtered by the positions, which it chose
# for `= ANY(positions)` on a table not analysed yet: 0.2 s for 500 positions of 10^5 events, not 4 ms)
_PAGE_ON_POSTGRES = (
    "SELECT originator_version, topic, state FROM {events} WHERE originator_id = %s AND originator_version > %s "
    "AND originator_version <= %s ORDER BY originator_version"
)
_AT_ON_POSTGRES = (
    "SELECT e.originator_version, e.topic, e.state FROM unnest(%s::bigint[]) AS w(position) CROSS JOIN LATERAL "
    "(SELECT originator_version, topic, state FROM {events} WHERE originator_id = %s "
    "AND originator_version = w.position LIMIT 1) AS e ORDER BY e.originator_version"
)


class StoredRow(NamedTuple):
    """A stored row exactly as the database holds it, for `verify`: `text` if its storage class is text (SQLite),
    not bytes, which only a change with SQL makes."""

    position: int
    topic: str
    state: bytes
    text: bool = False


class ConflictError(StoreError):
    """Another writer appended at the same positions first: re-read the ledger and try again."""


class EventMapper(Mapper[str]):
    """Pydantic events <-> stored rows: compact JSON, then the package's compressor and cipher if set, then
    the seal (`ledger.seal`) chained to the row before."""

    def encoded(self, recorded: Iterable[Recorded]) -> list[Encoded]:
        """Events as the store will write them (`EventStore.append_encoded`): a few hundred bytes each, where the
        event object takes a few kilobytes. Each payload is copied to its own size: orjson's buffer can keep 4 KB
        behind a 200-byte result."""
        return [
            (position, _TOPIC_PREFIX + type(event).__name__, memoryview(self.payload(event)).tobytes())
            for position, event in recorded
        ]

    def decode_encoded(self, row: Encoded) -> Recorded:
        """An encoded event back as its event (trusted: this process encoded it)."""
        position, topic, payload = row
        return position, _BUILD_OF_TOPIC[topic](orjson.loads(self._plain(payload)))

    def payload(self, event: Action | Decided) -> bytes:
        state = orjson.dumps(dump(event))
        if self.compressor:
            state = self.compressor.compress(state)
        if self.cipher:
            state = self.cipher.encrypt(state)
        return state

    def encipher(self, data: bytes) -> bytes:
        """Other bytes the ledger writes (checkpoints) get the same encryption as the events."""
        return self.cipher.encrypt(data) if self.cipher else data

    def decipher(self, data: bytes) -> bytes:
        return self.cipher.decrypt(data) if self.cipher else data

    def decode(self, stored: StoredEvent) -> Recorded:
        """A stored row as its event, validated in full: `verify` reads this way, so that a row forged behind
        the ledger's back is caught even if it was sealed again."""
        return self.decode_row(stored.originator_version, stored.topic, stored.state, validate=True)

    def decode_row(self, position: int, topic: str, state: bytes, validate: bool = False) -> Recorded:
        """A row as its event; unless `validate`, trusted as the store's own (`ledger.serial`): it was validated
        when it was appended, so reading it back does not run the validators again."""
        try:
            payload = self._payload(state)
            if validate:
                return position, _CLASS_OF_TOPIC[topic].model_validate_json(payload)  # type: ignore[return-value]
            return position, _BUILD_OF_TOPIC[topic](orjson.loads(payload))
        except Exception as e:
            raise StoreError(_undecodable(position, e, self.cipher is not None)) from None

    def data_row(self, position: int, topic: str, state: bytes) -> tuple[int, dict[str, Any]]:
        """A row as the plain data its event was stored as: for what needs an event's fields, not the event."""
        try:
            return position, orjson.loads(self._payload(state))
        except Exception as e:
            raise StoreError(_undecodable(position, e, self.cipher is not None)) from None

    def _payload(self, state: bytes) -> bytes:
        _, _, payload = unwrap(state)
        return self._plain(payload)

    def _plain(self, payload: bytes) -> bytes:
        if self.cipher:
            payload = self.cipher.decrypt(payload)
        if self.compressor:
            payload = self.compressor.decompress(payload)
        return payload

    def decode_rows(self, rows: Sequence[Row]) -> list[Recorded]:
        """A page of rows as events, trusted: in one pass when the rows are neither encrypted nor compressed (a
        rebuild spends a third of its time here); row by row, for the exact message, if any row is not right."""
        if self.cipher or self.compressor:
            return list(starmap(self.decode_row, rows))
        build, loads = _BUILD_OF_TOPIC, orjson.loads
        try:
            # a sealed row is kind (1 or 2), seal (32 bytes), payload: `ledger.seal.unwrap`, inlined
            events = [(p, build[t](loads(state[33:]))) for p, t, state in rows if 0 < state[0] < 3 and len(state) > 33]
            if len(events) == len(rows):
                return events
        except Exception:
            pass
        return list(starmap(self.decode_row, rows))


def _undecodable(position: int, error: Exception, ciphered: bool) -> str:
    if type(error).__name__ in ("InvalidTag", "ValueError") and ciphered and "seal" not in str(error):
        return f"cannot decrypt the event at position {position}: is SYNCLEDGER_CIPHER_KEY the ledger's key?"
    if not ciphered and (isinstance(error, orjson.JSONDecodeError) or "json_invalid" in str(error)):
        return (
            f"cannot read the event at position {position}: the ledger looks encrypted; set "
            "SYNCLEDGER_CIPHER_KEY to its key"
        )
    text = " ".join(str(error).split())[:200]
    return f"cannot decode the event at position {position}: {type(error).__name__}: {text}"


CONNECT_TIMEOUT = 5  # seconds to reach PostgreSQL


def environment(url: str | None) -> dict[str, str]:
    """The `eventsourcing` settings for a ledger location: None or ':memory:' (in memory), a `postgresql://`
    URL, or a file path (SQLite)."""
    env: dict[str, str] = {"ORIGINATOR_ID_TYPE": "text"}
    if os.environ.get("SYNCLEDGER_CIPHER_KEY"):
        env["CIPHER_KEY"] = os.environ["SYNCLEDGER_CIPHER_KEY"]
    if url in (None, ":memory:"):
        env["PERSISTENCE_MODULE"] = "eventsourcing.popo"
    elif url.startswith(("postgresql://", "postgres://")):
        parts = urlparse(url)
        env.update(
            PERSISTENCE_MODULE="eventsourcing.postgres",
            POSTGRES_LOCK_TIMEOUT="30",
            # also how long to wait for a connection from the pool: an unreachable server fails in seconds, not 30
            POSTGRES_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT),
            POSTGRES_POOL_SIZE="2",
            POSTGRES_DBNAME=parts.path.lstrip("/") or "postgres",
            POSTGRES_HOST=parts.hostname or "127.0.0.1",
            POSTGRES_PORT=str(parts.port or 5432),
            POSTGRES_USER=unquote(parts.username or "postgres"),
            POSTGRES_PASSWORD=unquote(parts.password or ""),
            POSTGRES_SCHEMA=_query(parts.query).get("schema", ""),
            CREATE_TABLE="true",
        )
    elif scheme := re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", url):  # mysql://... is not a file name
        raise StoreError(f"{scheme[0]} is not a ledger location: give a SQLite file path or a postgresql:// URL")
    else:
        env.update(
            PERSISTENCE_MODULE="eventsourcing.sqlite", SQLITE_DBNAME=url, CREATE_TABLE="true", SQLITE_LOCK_TIMEOUT="30"
        )
    return env


def _query(query: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in query.split("&") if "=" in pair)


def _redacted(url: str | None) -> str:
    """The location without its password, for messages."""
    if url and "://" in url:
        parts = urlparse(url)
        if parts.password:
            return url.replace(f":{parts.password}@", ":***@")
    return str(url or "memory")


def connect_postgres(env: dict[str, str], **options: Any) -> Any:
    """A connection of our own to the PostgreSQL server named in `env` (see `environment`), beside the ones
    eventsourcing pools: for the schema lock here, and for the read models."""
    import psycopg

    try:
        return psycopg.connect(
            dbname=env["POSTGRES_DBNAME"],
            host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"],
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"] or None,
            connect_timeout=CONNECT_TIMEOUT,
            **options,
        )
    except psycopg.OperationalError as e:  # unreachable, refused, wrong password: one line, not a traceback
        where = f"{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}"
        raise StoreError(f"cannot reach PostgreSQL at {where}: {' '.join(str(e).split())}") from None


@contextmanager
def _opening_postgres(env: dict[str, str], where: str, create: bool) -> Iterator[None]:
    """Looks at the schema named in the URL (PostgreSQL's own `public` without one) before anything is written:
    a ledger is opened as it is (no tables are created, no lock is taken); where there is nothing yet, one is
    created only to write, under an advisory lock, since PostgreSQL's CREATE ... IF NOT EXISTS is not safe against
    itself in concurrent sessions; anything else is refused."""
    import psycopg

    schema = env["POSTGRES_SCHEMA"] or "public"
    refuse_reserved_schema(schema, where)
    with connect_postgres(env, autocommit=True) as connection:
        if postgres_holds_ledger(connection, schema, where):
            env["CREATE_TABLE"] = "false"
        elif not create:
            raise NoLedger(f"no ledger at {where}")
        else:
            connection.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"syncledger:{env['POSTGRES_SCHEMA']}",))
            if not postgres_holds_ledger(connection, schema, where):  # as it is now that no other writer creates it
                connection.execute(
                    psycopg.sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(psycopg.sql.Identifier(schema))
                )
        yield  # the session's advisory lock ends with the connection


def _looked_at(env: dict[str, str], where: str, create: bool) -> Any:
    """What to hold while the `eventsourcing` recorder opens (and creates) the ledger's tables."""
    if env["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
        return _opening_postgres(env, where, create)
    if env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        if not sqlite_holds_ledger(env["SQLITE_DBNAME"], where) and not create:
            raise NoLedger(f"no ledger at {where}")
    return nullcontext()


class EventStore:
    """Append and read the ledger's events; nothing here can change or remove one (invariant 1)."""

    def __init__(self, url: str | None = None, *, create: bool = True) -> None:
        """The ledger at `url`. What is there is looked at first, without changing it (`ledger.location`): a
        ledger is opened; where there is nothing yet, one is created only if `create` (else `NoLedger`); anything
        else is refused (`LocationError`)."""
        self.url = url
        env = environment(url)
        where = _redacted(url)
        OPENED.append(where)
        try:
            with _looked_at(env, where, create):
                factory: Any = InfrastructureFactory.construct(env)
                self.recorder: ApplicationRecorder = factory.application_recorder()
            self.mapper = EventMapper(JSONTranscoder(), factory.compressor(), factory.cipher())
        except ImportError:
            raise StoreError("PostgreSQL needs the postgres extra: pip install 'syncledger[postgres]'") from None
        except ValueError as e:
            if "key size" in str(e) or "Incorrect padding" in str(e):
                raise StoreError(
                    "SYNCLEDGER_CIPHER_KEY must be 16, 24 or 32 bytes in base64; make one with: python -c "
                    "'from eventsourcing.cipher import AESCipher; print(AESCipher.create_key(32))'"
                ) from None
            raise StoreError(f"cannot open the ledger at {_redacted(url)}: {' '.join(str(e).split())}") from None
        except StoreError:
            raise
        except Exception as e:  # e.g. a file that is not a database, a damaged one, a server that refuses
            if not from_storage(e):
                raise
            problem = storage_problem(e, where)
            raise StoreError(problem or f"cannot open the ledger at {where}: {' '.join(str(e).split())}") from None
        self._factory = factory
        self.seal_key = configured_key()
        self._last_seal: tuple[int, bytes] = (0, GENESIS)
        self._statements: dict[str, Any] = {}  # PostgreSQL's reads by their condition, composed once
        try:
            self._refuse_other_formats(url)
        except PersistenceError as e:  # e.g. a file that is not a SQLite database
            raise StoreError(f"cannot open the ledger at {_redacted(url)}: {' '.join(str(e).split())}") from None

    def _refuse_other_formats(self, url: str | None) -> None:
        """A database whose events are not in this stream would read as an empty ledger: refuse it instead."""
        first = self.recorder.select_notifications(start=None, limit=1)
        if first and str(first[0].originator_id) != STREAM:
            raise StoreError(
                f"{_redacted(url)} holds events that are not a syncledger ledger of this version (stream "
                f"'{first[0].originator_id}'): export it with the syncledger that wrote it, or choose another --db"
            )

    def append(self, recorded: Sequence[Recorded]) -> None:
        """Append events at their positions in one transaction, or none of them; each row sealed to the one
        before, so the seal is extended in the same transaction and no event is ever unsealed."""
        self.append_encoded(self.mapper.encoded(recorded))

    def append_encoded(self, encoded: Sequence[Encoded]) -> None:
        """Like `append`, for events already encoded (`EventMapper.encoded`)."""
        if not encoded:
            return
        previous = self._seal_before(encoded[0][0])
        rows = []
        for position, topic, payload in encoded:
            previous = seal(previous, position, topic, payload, self.seal_key)
            rows.append(StoredEvent(STREAM, position, topic, wrap(previous, payload, self.seal_key is not None)))
        try:
            self.recorder.insert_events(rows)
        except IntegrityError:
            raise ConflictError("another writer appended to the ledger at the same time") from None
        self._last_seal = (encoded[-1][0], previous)

    def append_pages(self, pages: Iterable[Sequence[Encoded]]) -> int:
        """Append events given a page at a time (`EventMapper.encoded`, in order, from the next position on) in
        ONE transaction: a staged import publishes them all, or, killed or refused, none. Only a page is in memory
        at a time. The number of events appended; `ConflictError` if another writer came first."""
        previous: bytes | None = None
        last, count, locked = 0, 0, False
        datastore: Any = getattr(self.recorder, "datastore", None)
        if datastore is None:  # in memory: nothing to crash, nothing to bound
            everything = [row for page in pages for row in page]
            self.append_encoded(everything)
            return len(everything)

        def sealed(page: Sequence[Encoded]) -> list[StoredEvent]:
            nonlocal previous, last, count
            if previous is None:
                previous = self._seal_before(page[0][0])
            rows = []
            for position, topic, payload in page:
                previous = seal(previous, position, topic, payload, self.seal_key)
                rows.append(StoredEvent(STREAM, position, topic, wrap(previous, payload, self.seal_key is not None)))
            last, count = page[-1][0], count + len(page)
            return rows

        try:
            with datastore.transaction(commit=True) as cursor:
                for page in pages:
                    if not page:
                        continue
                    rows = sealed(page)
                    if isinstance(datastore, SQLiteDatastore):
                        cursor.executemany(
                            self.recorder.insert_events_statement,  # type: ignore[attr-defined]
                            [(r.originator_id, r.originator_version, r.topic, r.state) for r in rows],
                        )
                    else:
                        self._copy_rows(cursor, rows, lock=not locked)
                        locked = True
        except (IntegrityError, sqlite3.IntegrityError):
            raise ConflictError("another writer appended to the ledger at the same time") from None
        except Exception as e:
            if type(e).__name__ in ("UniqueViolation", "IntegrityError"):  # psycopg's own, not wrapped here
                raise ConflictError("another writer appended to the ledger at the same time") from None
            raise
        if previous is not None:
            self._last_seal = (last, previous)
        return count

    def _copy_rows(self, cursor: Any, rows: list[StoredEvent], lock: bool) -> None:
        """A page of a publish on PostgreSQL: the recorder's own lock of the table and notification first (`lock`,
        for the first page: its notification ids then follow the commit order), then the rows by COPY, in binary.
        The recorder's insert sends a page as one array of composite values in text, bytes as hex, which the
        server parses back: 2.0 s for 10^5 rows where COPY takes 0.3."""
        from psycopg.sql import SQL, Identifier

        recorder: Any = self.recorder
        if lock:
            recorder._lock_table(cursor)
            recorder._notify_channel(cursor)
        statement = SQL(
            "COPY {}.{} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
        ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
        with cursor.copy(statement) as copy:
            copy.set_types([recorder.datastore.originator_id_type, "int8", "text", "bytea"])
            for row in rows:
                copy.write_row((row.originator_id, row.originator_version, row.topic, row.state))

    def _seal_before(self, position: int) -> bytes:
        if position <= 1:
            return GENESIS
        if self._last_seal[0] == position - 1:
            return self._last_seal[1]
        rows = self._rows_between(position - 2, position - 1)
        return unwrap(rows[0][2])[1] if rows else GENESIS  # no row: the insert will conflict anyway

    def rows(self, after: int = 0) -> Iterator[StoredRow]:
        """The stored rows as they are, for `verify`: in order, in large pages; a row whose state SQL turned into
        text is given as its bytes, marked."""
        for page in self._pages(after, None, self._stored_rows):
            yield from page

    def _stored_rows(self, after: int, upto: int) -> list[StoredRow]:
        datastore = getattr(self.recorder, "datastore", None)
        if not isinstance(datastore, SQLiteDatastore):
            return [StoredRow(*row) for row in self._rows_between(after, upto)]
        statement = (
            f"SELECT originator_version, topic, CAST(state AS BLOB), typeof(state) = 'text' FROM "
            f"{self.recorder.events_table_name} WHERE originator_id = ? AND originator_version > ? "  # type: ignore[attr-defined]
            "AND originator_version <= ? ORDER BY originator_version"
        )
        with datastore.transaction(commit=False) as cursor, cursor as raw:
            raw.row_factory = None
            raw.execute(statement, (STREAM, after, upto))
            return [StoredRow(p, t, bytes(s or b""), bool(x)) for p, t, s, x in raw.fetchall()]

    def seal_at(self, position: int) -> bytes | None:
        """The seal stored with the event at `position` (None if there is none there, or it has none): what
        derived data at that position is sealed to."""
        if position == self._last_seal[0] and position > 0:
            return self._last_seal[1]
        try:
            rows = self._rows_between(position - 1, position)
            return unwrap(rows[0][2])[1] if rows else None
        except (ValueError, StoreError):
            return None

    def seals_at(self, positions: Sequence[int]) -> dict[int, bytes | None]:
        """`seal_at` of each of `positions`, read at once."""
        found: dict[int, bytes | None] = {}
        for position, _, state in self._rows_at(sorted(set(positions))):
            try:
                found[position] = unwrap(state)[1]
            except ValueError:
                found[position] = None
        return found

    def head(self) -> tuple[int, datetime | None, bytes] | None:
        """The newest event's position, time and stored seal; None for an empty ledger. StoreError if that row
        cannot be read."""
        last = self.last_position()
        rows = self._rows_between(last - 1, last) if last else []
        if not rows:
            return None
        try:
            _, stored_seal, _ = unwrap(rows[0][2])
        except ValueError as e:
            raise StoreError(f"the event at position {last}: {e}") from None
        _, event = self.mapper.decode_row(*rows[0])
        return last, event.at, stored_seal

    def newest_kind(self) -> int | None:
        """Whether the newest row is sealed with a key (`seal.KEYED`) or not; None if the ledger is empty or the
        row has no seal."""
        return self._kind_at(self.last_position())

    def first_kind(self) -> int | None:
        """Like `newest_kind`, for the first row: what the ledger was made as, since a key is never added to a
        ledger that has events, nor removed from one."""
        return self._kind_at(self._first_after(0) or 0)

    def _kind_at(self, position: int) -> int | None:
        try:
            rows = self._rows_between(position - 1, position) if position else []
            return unwrap(rows[0][2])[0] if rows else None
        except (ValueError, StoreError):  # a damaged row: `verify` says what
            return None

    def key_seals(self, position: int, key: bytes) -> bool:
        """Whether `key` made the seal of the row at `position` (chained to the row before): two rows read, so
        that a writer can check the head it appends to, and `verify` whether a key is the ledger's."""
        try:
            rows = self._rows_between(position - 2, position) if position > 0 else []
            previous = unwrap(rows[0][2])[1] if len(rows) == 2 else GENESIS
            found, topic, state = rows[-1]
            _, stored, payload = unwrap(state)
        except (ValueError, IndexError, StoreError):
            return False
        if found != position or (position > 1 and len(rows) != 2):
            return False  # the row, or the one before it, is missing: not this key's seal as far as can be told
        return seal(previous, position, topic, payload, key) == stored

    def read(self, after: int = 0, upto: int | None = None) -> Iterator[Recorded]:
        """The events at positions after `after` (and up to `upto`), in order, read in large pages."""
        for rows in self._pages(after, upto, self._rows_between):
            for start in range(0, len(rows), DECODE):
                yield from self.mapper.decode_rows(rows[start : start + DECODE])

    def read_data(self, after: int = 0, upto: int | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
        """Like `read`, but each event as the plain data it was stored as (no event objects are built)."""
        for rows in self._pages(after, upto, self._rows_between):
            yield from starmap(self.mapper.data_row, rows)

    def _pages(self, after: int, upto: int | None, window: Callable[[int, int], list[Page]]) -> Iterator[list[Page]]:
        """The rows after `after` (up to `upto`), a page at a time, each read by `window(low, high)`: the rows at
        positions low+1..high. A page asks for the next PAGE positions, not for the next PAGE rows after `after`:
        on PostgreSQL a query bounded only below (or up to a far `upto`) is planned, on a table not analysed, as
        a sort of every row it could return before the LIMIT takes PAGE of them: 0.5 s a page at 10^6 events
        where the window takes 4 to 10 ms (a rebuild of 10^6 events on PostgreSQL took 35 s, 19 s with windows).
        Positions are dense, so a window is full; an empty one ends the read unless rows lie beyond it (a gap,
        in a damaged ledger, which `verify` must read past)."""
        while upto is None or after < upto:
            high = after + PAGE if upto is None else min(upto, after + PAGE)
            rows = window(after, high)
            if rows:
                yield rows
                after = rows[-1][0]
                continue
            following = self._first_after(high)
            if following is None or (upto is not None and following > upto):
                return
            after = following - 1

    def _first_after(self, position: int) -> int | None:
        """The first position after `position` that holds an event (None if none does)."""
        if getattr(self.recorder, "datastore", None) is None:  # in memory
            found = self.recorder.select_events(STREAM, gt=position, limit=1)
            return found[0].originator_version if found else None
        value = self._over_rows("min(originator_version)", " AND originator_version > ?", (position,))
        return int(value) if value is not None else None

    def foreign_rows(self) -> tuple[int, str | None]:
        """How many rows of the events table are outside the ledger's stream, and the least of their stream
        ids: syncledger writes none, and reads none (they change no answer), so any were written behind its
        back. The key's first entry below and above the stream's (an index lookup each, whatever the server
        knows of the table); they are counted only if there are any."""
        if getattr(self.recorder, "datastore", None) is None:  # in memory: only this process writes
            return 0, None
        first = " ORDER BY originator_id LIMIT 1"
        below, above = (
            self._over_rows("originator_id", first, stream="<"),
            self._over_rows("originator_id", first, stream=">"),
        )
        if below is None and above is None:
            return 0, None
        count = self._over_rows("count(*)", stream="<") + self._over_rows("count(*)", stream=">")
        return int(count), str(below if below is not None else above)

    def _over_rows(self, what: str, condition: str = "", params: tuple[Any, ...] = (), stream: str = "=") -> Any:
        """One value over the stream's stored rows on SQLite or PostgreSQL, without reading any row's state (it
        may not be readable): `SELECT what FROM <the events> WHERE originator_id = <the stream> condition`, the
        condition's parameters written `?`; None where there is no row. `stream`: the comparison with the
        stream's id (`<` and `>` for the rows of other streams)."""
        datastore: Any = self.recorder.datastore  # type: ignore[attr-defined]
        table = self.recorder.events_table_name  # type: ignore[attr-defined]
        if isinstance(datastore, SQLiteDatastore):
            with datastore.transaction(commit=False) as cursor, cursor as raw:
                raw.row_factory = None
                statement = f"SELECT {what} FROM {table} WHERE originator_id {stream} ?{condition}"
                row = raw.execute(statement, (STREAM, *params)).fetchone()
        else:
            from psycopg.rows import tuple_row
            from psycopg.sql import SQL, Identifier

            where = condition.replace("?", "%s")
            query = SQL(f"SELECT {what} FROM {{}}.{{}} WHERE originator_id {stream} %s{where}")
            with datastore.get_connection() as connection, connection.cursor(row_factory=tuple_row) as c:
                row = c.execute(
                    query.format(Identifier(datastore.schema), Identifier(table)), (STREAM, *params)
                ).fetchone()
        return row[0] if row else None

    def _rows_between(self, after: int, upto: int) -> list[Row]:
        """The stored rows at positions after `after` up to `upto`, in order."""
        datastore = getattr(self.recorder, "datastore", None)
        if datastore is None:  # in memory
            return _as_rows(self.recorder.select_events(STREAM, gt=after, lte=upto))
        if not isinstance(datastore, SQLiteDatastore):
            return self._postgres_rows(_PAGE_ON_POSTGRES, (STREAM, after, upto))
        # SQLite: the same query through the recorder's own connection pool, but rows as plain tuples; the
        # package's sqlite3.Row, per-row id conversion and StoredEvent cost more than the read itself
        statement = (
            f"SELECT originator_version, topic, state FROM {self.recorder.events_table_name} "  # type: ignore[attr-defined]
            "WHERE originator_id = ? AND originator_version > ? AND originator_version <= ? "
            "ORDER BY originator_version"
        )
        try:
            with datastore.transaction(commit=False) as cursor, cursor as raw:
                raw.row_factory = None
                raw.execute(statement, (STREAM, after, upto))
                return raw.fetchall()
        except (sqlite3.OperationalError, OperationalError) as e:
            raise self._text_row(after, e) from None

    def _text_row(self, after: int, error: Exception) -> Exception:
        """A StoreError naming the first row after `after` that SQL turned into text (SQLite cannot give it as
        a string when its bytes are not UTF-8), or the error itself if it is something else."""
        if "decode" not in str(error):
            return error
        found = self._over_rows(
            "min(originator_version)", " AND originator_version > ? AND typeof(state) != 'blob'", (after,)
        )
        where = f"the event at position {found}" if found is not None else "an event"
        return StoreError(
            f"{where} is stored as text, not bytes: it was changed with SQL behind the ledger's back "
            "(syncledger verify reports what else)"
        )

    def read_at(self, positions: Sequence[int]) -> list[Recorded]:
        """The events at the given positions (in order): one query per few hundred, not one each (an item's
        positions are far apart, so a range read would read most of the ledger)."""
        wanted = sorted(set(positions))
        if getattr(self.recorder, "datastore", None) is None:  # in memory
            return [found for p in wanted if (found := self.read_one(p)) is not None]
        return list(starmap(self.mapper.decode_row, self._rows_at(wanted)))

    def _rows_at(self, wanted: list[int]) -> list[Row]:
        """The stored rows at `wanted` (sorted, distinct positions), in order: on PostgreSQL one statement
        however many (an array parameter), on SQLite one per few hundred."""
        datastore = getattr(self.recorder, "datastore", None)
        if not wanted:
            return []
        if datastore is None:  # in memory
            return [row for p in wanted for row in self._rows_between(p - 1, p)]
        if not isinstance(datastore, SQLiteDatastore):
            return self._postgres_rows(_AT_ON_POSTGRES, (wanted, STREAM))
        table = self.recorder.events_table_name  # type: ignore[attr-defined]
        rows: list[Row] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            statement = (
                f"SELECT originator_version, topic, state FROM {table} WHERE originator_id = ? AND "
                f"originator_version IN ({','.join('?' * len(chunk))}) ORDER BY originator_version"
            )
            try:
                with datastore.transaction(commit=False) as cursor, cursor as raw:
                    raw.row_factory = None
                    raw.execute(statement, (STREAM, *chunk))
                    rows += raw.fetchall()
            except (sqlite3.OperationalError, OperationalError) as e:
                raise self._text_row(chunk[0] - 1, e) from None
        return rows

    def _postgres_rows(self, template: str, params: tuple[Any, ...]) -> list[Row]:
        """The rows a statement (`template`, its table written `{events}`) reads, as plain tuples, in one statement
        on one of the recorder's connections (which commit each statement on their own): one round trip to the
        server, where the recorder's own reads take three (BEGIN, the read, COMMIT) and build a StoredEvent per
        row."""
        from psycopg.rows import tuple_row
        from psycopg.sql import SQL, Identifier

        datastore: Any = self.recorder.datastore  # type: ignore[attr-defined]
        statement = self._statements.get(template)
        if statement is None:
            table = Identifier(datastore.schema, self.recorder.events_table_name)  # type: ignore[attr-defined]
            statement = self._statements[template] = SQL(template).format(events=table)
        with datastore.get_connection() as connection, connection.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(statement, params, binary=True)  # the states as they are, not as hex text to parse
            return [(p, t, bytes(s)) for p, t, s in cursor.fetchall()]

    def read_one(self, position: int) -> Recorded | None:
        rows = self._rows_between(position - 1, position)
        return self.mapper.decode_row(*rows[0]) if rows else None

    def last_position(self) -> int:
        if getattr(self.recorder, "datastore", None) is None:  # in memory
            rows = self.recorder.select_events(STREAM, desc=True, limit=1)
            return rows[0].originator_version if rows else 0
        value = self._over_rows("max(originator_version)")
        if value is not None and not isinstance(value, int):  # SQLite keeps what SQL writes: text sorts last
            raise Damaged(f"the events table holds a position that is no number ({value!r}): the ledger is damaged")
        return int(value) if value is not None else 0

    def close(self) -> None:
        self._factory.close()


def _as_rows(stored: Sequence[StoredEvent]) -> list[Row]:
    return [(e.originator_version, e.topic, e.state) for e in stored]
