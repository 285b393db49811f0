"""Where `syncledger demo` may write: a new place, or an earlier demo, which it replaces. Nothing else.

A demo is recognised by its own events, not by its name or size: a ledger whose user actions are exactly the
demo scenario's (in order, at the same times, ids aside) holds nothing but the demo. Its decisions are not
compared: they follow from the actions, by the rules of the version that wrote them. Anything else at the
place (another ledger, one a user appended to after the demo, another program's database, any other file) is
refused and left as it was; so is a place that cannot be read to tell.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

from syncledger.ledger import vocabulary as v
from syncledger.ledger.store import EventStore, StoreError, connect_postgres, environment

from ..actionlines import content

EVENTS_TABLE = "stored_events"
OWN_PREFIX = "syncledger_"  # the read models' tables (projections.readmodels)
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


class NotADemo(ValueError):
    """The place holds something that is not an earlier demo; the message says what, in one line."""


def make_room(location: str, demo_actions: list[v.Action], demo_events: int) -> None:
    """Remove an earlier demo at `location`, leave a new place as it is; `NotADemo` for anything else, with
    nothing changed. `demo_actions` and `demo_events` are what the demo scenario appends to an empty ledger."""
    if "://" in location:
        _make_room_on_postgres(location, demo_actions, demo_events)
    else:
        _make_room_in_file(Path(location), demo_actions, demo_events)


def _make_room_in_file(path: Path, demo_actions: list[v.Action], demo_events: int) -> None:
    if not path.exists() and not path.is_symlink():
        for suffix in SQLITE_SIDE_FILES:  # an earlier demo's leftovers without their database
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    if not path.is_file():
        raise NotADemo(f"{path} is not a file; the demo writes only a new file or over an earlier demo")
    tables, count = _sqlite_tables_and_count(path)
    foreign = sorted(t for t in tables if t != EVENTS_TABLE and not t.startswith(OWN_PREFIX))
    if EVENTS_TABLE not in tables or foreign:
        what = f"tables {', '.join(foreign[:3])} of another program" if foreign else "no syncledger events"
        raise NotADemo(f"{path} is not an earlier demo (it holds {what}); choose another --db")
    _compare(str(path), count, demo_actions, demo_events)
    for suffix in ("", *SQLITE_SIDE_FILES):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _sqlite_tables_and_count(path: Path) -> tuple[set[str], int]:
    """The file's tables and its number of events, read without changing a byte of it."""
    try:
        with closing(sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)) as connection:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            count = (
                connection.execute(f"SELECT count(*) FROM {EVENTS_TABLE}").fetchone()[0]
                if (EVENTS_TABLE in tables)
                else 0
            )
    except sqlite3.Error as e:
        problem = f"not a ledger SQLite can read: {e}"
        raise NotADemo(f"{path} is not an earlier demo ({problem}); choose another --db") from None
    return tables, int(count)


def _make_room_on_postgres(url: str, demo_actions: list[v.Action], demo_events: int) -> None:
    import psycopg
    from psycopg import sql

    env = environment(url)
    schema = env.get("POSTGRES_SCHEMA") or "public"
    try:
        with connect_postgres(env) as connection:  # unreachable: StoreError, one line
            ours = [
                row[0]
                for row in connection.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                    "AND (table_name = %s OR starts_with(table_name, %s))",
                    (schema, EVENTS_TABLE, OWN_PREFIX),
                )
            ]
            if EVENTS_TABLE not in ours:
                if ours:
                    raise NotADemo(f"schema {schema} holds syncledger tables but no events; choose another --db")
                return  # a new place: the demo creates its ledger there
            events = sql.Identifier(schema, EVENTS_TABLE)
            count = connection.execute(sql.SQL("SELECT count(*) FROM {}").format(events)).fetchone()
            _compare(url, int(count[0]) if count else 0, demo_actions, demo_events)
            # one transaction: the earlier demo goes as a whole, or stays
            for table in ours:
                connection.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, table)))
    except psycopg.Error as e:
        problem = " ".join(str(e).split())[:200]
        raise NotADemo(f"cannot tell whether {_where(url)} is an earlier demo: {problem}") from None


def _compare(location: str, count: int, demo_actions: list[v.Action], demo_events: int) -> None:
    """`NotADemo` unless the ledger's actions are the demo's. Its size says most ledgers are not one at once
    (a demo is tens of events), without reading them."""
    where = _where(location)
    if count == 0 or count > 4 * demo_events:
        raise NotADemo(f"{where} is not an earlier demo (it holds {count} events); choose another --db")
    try:
        store = EventStore(location)
        try:
            actions = [event for _, event in store.read() if isinstance(event, v.Action)]
        finally:
            store.close()
    except StoreError as e:
        raise NotADemo(f"cannot tell whether {where} is an earlier demo: {e}") from None
    if list(map(_without_id, actions)) != list(map(_without_id, demo_actions)):
        raise NotADemo(f"{where} is not an earlier demo: its actions are not the demo's; choose another --db")


def _without_id(action: v.Action) -> dict[str, Any]:
    found = content(action)
    found.pop("id", None)
    return found


def _where(location: str) -> str:
    if "://" in location and "@" in location:
        scheme, _, rest = location.partition("://")
        credentials, _, host = rest.rpartition("@")
        return f"{scheme}://{credentials.split(':')[0]}@{host}"
    return location
