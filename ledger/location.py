"""What is at a ledger's location before anything is written there, and what a failure of its storage means.

A SQLite file or a PostgreSQL schema is looked at without changing it: nothing there yet (a new or empty file, a
missing or empty schema), a syncledger ledger, or something else (another program's database, another program's
`stored_events` table, a file that is not a database, a damaged one). Only a ledger is opened for reading; only a
ledger or nothing is opened for writing, so that no command ever adds tables to another program's database or
switches its journal. Errors of the storage itself (a full disk, a damaged page, a lost server) are put in one
line that says what happened and where, instead of an internal error.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from contextlib import closing, suppress
from typing import Any
from urllib.parse import quote

EVENTS_TABLE = "stored_events"
# the columns of the `eventsourcing` package's events table: SQLite's uses the rowid as the notification id
_EVENT_COLUMNS = {"originator_id", "originator_version", "topic", "state"}
_OPTIONAL_EVENT_COLUMNS = {"notification_id"}
_OURS = "syncledger_"  # the read models' tables (`projections.readmodels`)


OPENED: list[str] = []  # the locations this process opened a ledger at (without passwords), for messages


class StoreError(RuntimeError):
    """The ledger's storage cannot be opened or read; the message says which and why."""


class LocationError(StoreError):
    """What is at the location is not a ledger this command may use; the message says what and where."""


class Damaged(LocationError):
    """The storage itself is damaged (a corrupt page): `verify` reports it as a finding."""


class NoLedger(LocationError):
    """Nothing is there yet: a reading command has nothing to read (a writing one creates the ledger)."""


def sqlite_holds_ledger(path: str, where: str) -> bool:
    """Whether the SQLite file at `path` is a syncledger ledger (True) or holds nothing yet (False); anything
    else is a `LocationError`. Read through a read-only connection: the file is never changed."""
    if not os.path.exists(path) or (os.path.isfile(path) and os.path.getsize(path) == 0):
        return False
    if os.path.isdir(path):
        raise LocationError(f"{where} is a directory, not a ledger file: choose a file with --db")
    try:
        with closing(sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=30)) as db:
            names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")]
            columns = (
                {r[1] for r in db.execute(f"PRAGMA table_info({EVENTS_TABLE})")} if EVENTS_TABLE in names else set()
            )
    except sqlite3.DatabaseError as e:
        kind = Damaged if is_damage(e) else LocationError
        raise kind(storage_problem(e, where) or f"cannot read {where}: {e}") from None
    return _holds_ledger(names, columns, where)


def new_file(url: str | None) -> bool:
    """Whether `url` names a SQLite file that does not exist yet, or is empty: one a writer would create."""
    if url is None or url == ":memory:" or "://" in url:
        return False
    return not os.path.exists(url) or (os.path.isfile(url) and os.path.getsize(url) == 0)


def undo_new_file(path: str, existed: bool) -> None:
    """Put a file that `new_file` found new back as it was (missing, or empty), with SQLite's side files: for a
    writer that appended nothing after all (a refused scenario). Its connections must be closed first."""
    for suffix in ("-wal", "-shm", "-journal"):
        with suppress(FileNotFoundError):
            os.unlink(path + suffix)
    if existed:
        os.truncate(path, 0)
    else:
        with suppress(FileNotFoundError):
            os.unlink(path)


def postgres_holds_ledger(connection: Any, schema: str, where: str) -> bool:
    """Whether the PostgreSQL schema is a syncledger ledger (True) or holds nothing yet, or is missing (False);
    anything else is a `LocationError`. Only reads the catalogue, by index: the events table by its name first
    (a database of many schemas has a large catalogue, and this runs at every command)."""
    events = connection.execute(
        "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text))::oid", (schema, EVENTS_TABLE)
    )
    found = events.fetchone()[0]
    if found is not None:
        rows = connection.execute(
            "SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped",
            (found,),
        ).fetchall()
        return _holds_ledger([EVENTS_TABLE], {r[0] for r in rows}, where)
    rows = connection.execute(
        "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f') LIMIT 10",
        (schema,),
    ).fetchall()
    return _holds_ledger(sorted(r[0] for r in rows), set(), where)


def refuse_reserved_schema(schema: str, where: str) -> None:
    """PostgreSQL refuses to create a schema named pg_... and cuts names after 63 bytes (two URLs would then
    name one schema): say so before trying."""
    if schema.lower().startswith("pg_"):
        raise LocationError(
            f"{where}: schema names starting with pg_ are reserved by PostgreSQL: choose another ?schema="
        )
    if len(schema.encode()) > 63:
        raise LocationError(f"{where}: the schema name is longer than PostgreSQL's 63 bytes: choose a shorter one")


def _holds_ledger(names: list[str], columns: set[str], where: str) -> bool:
    if not names:
        return False
    if EVENTS_TABLE in names:
        if _EVENT_COLUMNS <= columns <= _EVENT_COLUMNS | _OPTIONAL_EVENT_COLUMNS:
            return True
        raise LocationError(
            f"{where} has a table named {EVENTS_TABLE} that is not a syncledger ledger's (its columns: "
            f"{', '.join(sorted(columns)) or 'none'}): choose another --db"
        )
    others = sorted(n for n in names if not n.startswith(_OURS))
    if not others:
        raise LocationError(
            f"{where} holds syncledger read models but no events ({EVENTS_TABLE} is missing): restore the ledger "
            "from a backup, or choose another --db"
        )
    shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
    raise LocationError(
        f"{where} is not a syncledger ledger (it holds other tables: {shown}); nothing was changed: choose an "
        "empty or new --db"
    )


# ----------------------------------------------------------------------------------- failures of the storage

_NO_SPACE = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
# SQLite's extended codes: a page that cannot be read is damage; a write that fails, most often, a full disk or a
# file size limit (`ulimit -f`: SQLite says only "disk I/O error" then)
_UNREADABLE = ("SQLITE_CORRUPT", "SQLITE_CORRUPT_INDEX", "SQLITE_CORRUPT_SEQUENCE", "SQLITE_IOERR_SHORT_READ")
_UNWRITABLE = ("SQLITE_FULL", "SQLITE_IOERR_WRITE", "SQLITE_IOERR_FSYNC", "SQLITE_IOERR_TRUNCATE")
_NO_SPACE_TEXTS = ("database or disk is full", "no space left", "file too large", "disk quota", "could not extend")


def storage_problem(error: BaseException, where: str) -> str | None:
    """One line for an error of the storage under the ledger (not of the ledger's code), or None if it is not
    one. What was committed before the failure stays: transactions end between actions."""
    text = " ".join(str(error).split())
    causes = _chain(error)
    lowered = " ".join(" ".join(str(e).split()) for e in causes).lower()
    names = {type(e).__name__ for e in causes}
    if (
        any(isinstance(e, OSError) and e.errno in _NO_SPACE for e in causes)
        or "DiskFull" in names
        or any(_sqlite_code(e) in _UNWRITABLE for e in causes)
        or any(s in lowered for s in _NO_SPACE_TEXTS)
    ):
        return (
            f"cannot write to the ledger at {where}: the disk is full, a file size limit (ulimit -f) was reached "
            f"or the disk failed ({text[:120]}); what was stored before stays: make room and run the command again "
            "(an import goes on where it stopped)"
        )
    if is_damage(error):
        return f"the ledger at {where} is damaged ({text[:160]}): no command can rely on it; restore it from a backup"
    if "disk i/o error" in lowered:
        return f"cannot use the ledger at {where}: {text[:160]}: check the disk it is on"
    if "file is not a database" in lowered or "not a database" in lowered:
        return f"{where} is not a SQLite database (or is encrypted by another program): choose another --db"
    if "readonly database" in lowered or any(isinstance(e, PermissionError) for e in causes):
        return f"cannot write to the ledger at {where}: {text[:160]} (check the file's and its folder's permissions)"
    if names & {"ReservedName", "InsufficientPrivilege"}:
        return f"PostgreSQL refused the ledger at {where}: {text[:200]}"
    if names & {"OperationalError", "InterfaceError", "ConnectionTimeout", "AdminShutdown"} and any(
        s in lowered for s in ("connection", "server closed", "terminat")
    ):
        return f"lost the connection to the ledger at {where}: {text[:200]}; run the command again"
    return None


def is_damage(error: BaseException) -> bool:
    """Whether the error says the storage is damaged: SQLite's "database disk image is malformed" or a page that
    cannot be read, PostgreSQL's data or index corruption. (A write that fails is not damage: `storage_problem`.)"""
    for e in _chain(error):
        if isinstance(e, Damaged) or "malformed" in str(e).lower():
            return True
        if type(e).__name__ in ("DataCorrupted", "IndexCorrupted") or _sqlite_code(e) in _UNREADABLE:
            return True
    return False


def _sqlite_code(error: BaseException) -> str:
    return str(getattr(error, "sqlite_errorname", ""))


def from_storage(error: BaseException) -> bool:
    """Whether the error comes from the storage (its driver, the `eventsourcing` package's recorders, the file
    system) rather than from the ledger's own code."""
    from eventsourcing.persistence import PersistenceError

    return any(
        isinstance(e, (PersistenceError, OSError, sqlite3.Error)) or type(e).__module__.startswith("psycopg")
        for e in _chain(error)
    )


def _chain(error: BaseException) -> list[BaseException]:
    """The error and those it was raised from or during (the `eventsourcing` package wraps the driver's)."""
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in found and len(found) < 8:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found
