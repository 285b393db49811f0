"""Action lines in and out of the ledger. Export writes the user actions in order; import checks the whole file
through the rules before appending anything, staging what it will append in a temporary file, skips the lines
the ledger already holds, and publishes the rest in one transaction: all of it or, after a crash, nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, BinaryIO, Self

import orjson

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger
from syncledger.ledger.checks import RefusedError
from syncledger.ledger.past import Archive, PastRows, made
from syncledger.ledger.store import ConflictError, Encoded, EventMapper
from syncledger.ledger.vocabulary import Recorded
from syncledger.ledger.world import Link, Record, World, forget_changes
from syncledger.projections.codec import link_data, record_data, record_of
from syncledger.projections.reader import Reader
from syncledger.projections.spill import scratch_database

from .actionlines import BadLineError, differences, read_lines, to_line
from .inputs import BadInputError, Horizon, Point
from .progress import Update

RETRIES = 5  # another writer appending meanwhile: re-read and check again
PAGE = 5_000  # rows read from the staging file at a time
SPILL = 2_000  # events staged in memory before they move to the staging file
HELD = 5_000  # lines the ledger already holds, checked against it at a time
FOLLOW = 100_000  # events the read models note as they are staged; beyond, they catch up after the publish
PAST_EVERY = 50_000  # beyond FOLLOW, events whose past (action ids, ended links...) moves to the staging file
FEW = 1_000  # up to this many lines already held, read them one by one; more, in one pass over the ledger


# ----------------------------------------------------------------------------------------------- export


def export_range(reader: Reader, start: Point | None, end: Point | None) -> tuple[int, int | None]:
    """The positions to export, as (after, upto) for `Ledger.events`: from `start` (its own event included) to
    `end` (inclusive), each a position or a time."""
    if start is None:
        after = 0
    elif isinstance(start, int):
        after = max(start - 1, 0)
    else:
        after = reader.position_at_time(start - timedelta(microseconds=1))
    upto = end if end is None or isinstance(end, int) else reader.position_at_time(end)
    if start is not None and end is not None and upto is not None:  # never answered with actions outside it
        same_kind = isinstance(start, int) == isinstance(end, int)
        if start > end if same_kind else after > upto:  # type: ignore[operator]
            raise BadInputError("--from is after --to: give the earlier point first")
    return after, upto


def export_lines(ledger: Ledger, after: int, upto: int | None, out: BinaryIO) -> None:
    """Write the user actions after `after` up to `upto` as action lines (not the decisions: an import decides
    them again), in order, a chunk at a time."""
    chunk: list[bytes] = []
    for _, event in ledger.events(after, upto):
        if isinstance(event, v.Action):
            chunk.append(to_line(event))
            if len(chunk) >= 10_000:
                out.write(b"".join(chunk))
                chunk = []
    out.write(b"".join(chunk))
    out.flush()


# ----------------------------------------------------------------------------------------------- import


@dataclass(frozen=True)
class Imported:
    lines: int  # action lines read (blank lines not counted)
    skipped: int  # lines whose id the ledger already held, with the same content
    appended: int  # new actions appended
    first: int | None  # positions of what was appended: the new actions and their decisions
    last: int | None

    @property
    def events(self) -> int:
        return self.last - self.first + 1 if self.first is not None and self.last is not None else 0

    def document(self, name: str) -> dict[str, object]:
        return {
            "file": name,
            "lines": self.lines,
            "appended": self.appended,
            "skipped": self.skipped,
            "events": self.events,
            "first": self.first,
            "last": self.last,
        }


def import_actions(
    ledger: Ledger, lines: Iterable[bytes], progress: Update | None = None, ahead: Horizon | None = None
) -> Imported:
    """Import action lines (JSON Lines, as `export` writes them): `import_parsed` of the lines as parsed;
    `BadLineError` for the first bad line, with nothing appended."""
    return import_parsed(ledger, read_lines(lines), progress, ahead)


def import_parsed(
    ledger: Ledger,
    numbered: Iterable[tuple[int, v.Action]],
    progress: Update | None = None,
    ahead: Horizon | None = None,
) -> Imported:
    """The import pipeline, for actions already parsed, each with the number of the line (or record) it came
    from, which messages name. Every action is checked, in order, through the rules, and its events staged in a
    temporary file (`Staging`), not in memory; then all of them are published in ONE transaction: one bad
    action appends nothing, and a crash (even SIGKILL) publishes nothing or everything. Actions whose id the
    ledger already holds with the same content are skipped. A lost race with another writer checks the staged
    ones again (read back from the staging file: a stream cannot be read twice)."""
    with Staging(ledger.store.mapper) as staging:
        for attempt in range(RETRIES):
            ledger.catch_up()
            stored = ledger.world.position
            if attempt == 0:
                count = _Count()
                skipped, appended = _stage(ledger, _counted(iter(numbered), count, progress), staging, ahead)
            else:  # the lines skipped the first time are still in the ledger: the staged ones are checked again
                more, appended = _stage(ledger, staging.again(), staging, ahead)
                skipped += more
            last = ledger.world.position  # the position of the last event staged
            if last == stored:
                return Imported(count.lines, skipped, 0, None, None)
            try:
                ledger.publish(staging.pages())
            except ConflictError:
                continue  # what the other writer appended may turn some of the lines into skips
            return Imported(count.lines, skipped, appended, stored + 1, last)
    raise ConflictError(f"gave up after {RETRIES} tries: other writers kept appending at the same time")


class _Count:
    lines = 0


def _counted(
    lines: Iterator[tuple[int, v.Action]], count: _Count, progress: Update | None
) -> Iterator[tuple[int, v.Action]]:
    """The lines, counted, and reported every few thousand (the total is not known before the end of the file)."""
    for count.lines, line in enumerate(lines, 1):
        if progress is not None and count.lines % 2000 == 0:
            progress(count.lines, 0)
        yield line


class PastFile:
    """Where a world folded in memory keeps its past (deleted records and items, ended links, action ids) as it
    moves out of memory (`move_past`, `StagedArchive`): a scratch database (`projections.spill.scratch_database`:
    on disk, nothing left behind even by SIGKILL). An import's staging file, and on its own a generator's."""

    def __init__(self) -> None:
        self.db = scratch_database()
        self.db.execute("BEGIN")  # one transaction, never committed: the file is gone when it closes anyway
        self._create()

    def _create(self) -> None:
        for table in _PAST:  # a stage at a time
            self.db.execute(f"DROP TABLE IF EXISTS {table.split()[0]}")
            self.db.execute(f"CREATE TABLE {table}")
        self.db.execute("CREATE INDEX past_links_item ON past_links (owner, item, made)")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.db.close()


class Staging(PastFile):
    """Where an import keeps the events it staged until it publishes them, beside the staged world's past: memory
    flat whatever the size of the import. Rows are encoded by the ledger's own mapper (a ledger's cipher applies
    here too). Each action's row keeps the number of its line: after a lost race, the staged actions are the
    lines to check again (a stream cannot be read twice)."""

    def __init__(self, mapper: EventMapper) -> None:
        self.mapper = mapper
        super().__init__()

    def _create(self) -> None:
        self.db.execute("CREATE TABLE events (position INTEGER PRIMARY KEY, topic TEXT, payload BLOB, line INTEGER)")
        super()._create()

    def add(self, encoded: list[Encoded], lines: dict[int, int]) -> None:
        """Staged events, and the line of each action among them (by position)."""
        self.db.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?)", [(p, t, payload, lines.get(p)) for p, t, payload in encoded]
        )

    def event(self, position: int) -> tuple[v.Action | v.Decided, int | None] | None:
        """The event staged at `position`, and its line if it is an action."""
        found = self.db.execute("SELECT position, topic, payload, line FROM events WHERE position = ?", (position,))
        row = found.fetchone()
        return (self.mapper.decode_encoded(row[:3])[1], row[3]) if row else None

    def pages(self) -> Iterator[list[Encoded]]:
        """The events staged, in order, a page at a time: what the publish appends."""
        after = -1
        while page := self.db.execute(
            "SELECT position, topic, payload FROM events WHERE position > ? ORDER BY position LIMIT ?", (after, PAGE)
        ).fetchall():
            yield page
            after = page[-1][0]

    def again(self) -> Iterator[tuple[int, v.Action]]:
        """The actions staged, as the lines they came from, to stage again after a lost race; the staging starts
        empty again (what was staged is read from aside, a page at a time)."""
        self.db.execute("DROP TABLE IF EXISTS previous")
        self.db.execute("ALTER TABLE events RENAME TO previous")
        self._create()
        after = -1
        while page := self.db.execute(
            "SELECT position, topic, payload, line FROM previous WHERE line IS NOT NULL AND position > ? "
            "ORDER BY position LIMIT ?",
            (after, PAGE),
        ).fetchall():
            for position, topic, payload, line in page:
                _, action = self.mapper.decode_encoded((position, topic, payload))
                assert isinstance(action, v.Action)
                yield line, action.model_copy(update={"queued": ()})  # as it was read: the engine adds the queue
            after = page[-1][0]
        self.db.execute("DROP TABLE previous")

    def clear(self) -> None:
        self.db.execute("DELETE FROM events")
        for table in _PAST:
            self.db.execute(f"DELETE FROM {table.split()[0]}")


_PAST = (
    "past_records (id TEXT PRIMARY KEY, data BLOB)",
    "past_items (owner TEXT, item TEXT, position INTEGER, PRIMARY KEY (owner, item))",
    "past_links (made INTEGER PRIMARY KEY, owner TEXT, item TEXT, data BLOB)",
    "past_actions (id TEXT PRIMARY KEY, position INTEGER)",
)


class StagedArchive:
    """The staged world's past (`ledger.past.Archive`) as a large import moves it out of memory: the ledger's own
    archive up to where it stood when the import began, then what the import staged, in the staging file."""

    def __init__(self, base: Archive | None, base_upto: int, db: sqlite3.Connection) -> None:
        self.base = base if base_upto > 0 else None
        self.base_upto, self.db = base_upto, db

    def add(self, rows: PastRows) -> None:
        db = self.db
        db.executemany(
            "INSERT OR REPLACE INTO past_records VALUES (?, ?)",
            [(r.id, orjson.dumps(record_data(r))) for r in rows.records.values()],
        )
        db.executemany("INSERT OR REPLACE INTO past_items VALUES (?, ?, ?)", [(*k, p) for k, p in rows.items.items()])
        db.executemany(
            "INSERT INTO past_links VALUES (?, ?, ?, ?)",
            [(k.made, k.user, k.item, orjson.dumps(link_data(k))) for k in rows.links],
        )
        db.executemany("INSERT OR REPLACE INTO past_actions VALUES (?, ?)", list(rows.actions.items()))

    def record(self, record: str, upto: int) -> Record | None:
        found = self.db.execute("SELECT data FROM past_records WHERE id = ?", (record,)).fetchone()
        if found:
            return record_of(orjson.loads(found[0]))
        return self.base.record(record, self.base_upto) if self.base else None

    def item_deleted(self, user: str, item: str, upto: int) -> bool:
        found = self.db.execute("SELECT 1 FROM past_items WHERE owner = ? AND item = ?", (user, item)).fetchone()
        return bool(found) or (self.base is not None and self.base.item_deleted(user, item, self.base_upto))

    def action(self, action_id: str, upto: int) -> int | None:
        found = self.db.execute("SELECT position FROM past_actions WHERE id = ?", (action_id,)).fetchone()
        if found:
            return int(found[0])
        return self.base.action(action_id, self.base_upto) if self.base else None

    def _links(self, statement: str, params: tuple[Any, ...]) -> list[Link]:
        return [Link(*orjson.loads(data)) for (data,) in self.db.execute(statement, params)]

    def ended_links(self, upto: int) -> list[Link]:
        staged = self._links("SELECT data FROM past_links ORDER BY made", ())
        return [*(self.base.ended_links(self.base_upto) if self.base else []), *staged]

    def ended_links_page(self, upto: int, after: int, limit: int, user: str | None = None) -> list[Link]:
        mine = " AND owner = ?" if user is not None else ""
        staged = self._links(
            f"SELECT data FROM past_links WHERE made > ?{mine} ORDER BY made LIMIT ?",
            (after, *([user] if user is not None else []), limit),
        )
        stored = self.base.ended_links_page(self.base_upto, after, limit, user) if self.base else []
        return sorted([*stored, *staged], key=made)[:limit]

    def ended_links_between(self, after: int, upto: int) -> list[Link]:
        staged = [k for k in self._links("SELECT data FROM past_links ORDER BY made", ()) if k.position > after]
        stored = self.base.ended_links_between(after, self.base_upto) if self.base and after < self.base_upto else []
        return sorted([*stored, *staged], key=made)

    def last_link(self, user: str, item: str, upto: int) -> Link | None:
        staged = self._links(
            "SELECT data FROM past_links WHERE owner = ? AND item = ? ORDER BY made DESC LIMIT 1", (user, item)
        )
        if staged:
            return staged[0]
        return self.base.last_link(user, item, self.base_upto) if self.base else None

    def rows(self, upto: int) -> PastRows:
        rows = self.base.rows(self.base_upto) if self.base else PastRows()
        for (data,) in self.db.execute("SELECT data FROM past_records"):
            record = record_of(orjson.loads(data))
            rows.records[record.id] = record
        rows.items.update({(u, i): p for u, i, p in self.db.execute("SELECT owner, item, position FROM past_items")})
        rows.links = sorted([*rows.links, *self._links("SELECT data FROM past_links", ())], key=made)
        rows.actions.update(dict(self.db.execute("SELECT id, position FROM past_actions")))
        return rows


def move_past(world: World, staging: PastFile) -> None:
    """Move what the world's past holds in memory to the staging (or past) file (`StagedArchive`)."""
    past = world.past
    archive = past.archive if isinstance(past.archive, StagedArchive) else None
    if archive is None:
        archive = StagedArchive(past.archive, past.upto, staging.db)
    archive.add(past.since)
    past.rebase(archive, world.position)


class Stager:
    """Stages actions through the rules for an import that publishes them later in one transaction (`publish`):
    the events go to the staging file every few thousand, the read models stop noting them past FOLLOW events,
    and the staged world's past moves to the staging file every PAST_EVERY events, so that memory stays flat
    whatever the size of the import (once the read models stopped, what the staged world changed since a
    checkpoint is forgotten as its events move: no checkpoint is written of it). Both imports stage this way:
    action lines (`import_parsed`) and real organisations' exports (`sources.importer`). Without a staging file
    (`staging` None) everything stays in memory until the caller commits (a small import, a test)."""

    def __init__(self, ledger: Ledger, staging: Staging | None = None) -> None:
        self.ledger, self.staging = ledger, staging
        self.stored = ledger.world.position  # ids at or before it are in the store; after it, staged here
        self.moved = self.stored  # events up to this position are in the staging file
        self.line_at: dict[int, int] = {}  # the line of each action staged since then, by position

    def stage(self, action: v.Action, line: int | None = None) -> list[Recorded]:
        """Decide one action into the staged world (a refusal forgets everything staged: `RefusedError`)."""
        ledger = self.ledger
        recorded = ledger.stage(action, keep=False)
        if line is not None:
            self.line_at[recorded[0][0]] = line
        staging = self.staging
        if staging is None:
            return recorded
        if ledger.world.position - self.moved >= SPILL:
            staging.add(ledger.take_encoded(), self.line_at)
            self.moved, self.line_at = ledger.world.position, {}
            if not ledger.following:  # no checkpoint is written of this world: what changed since one is not
                forget_changes(ledger.world)  # needed, and would grow with everything the import touches
        if ledger.following and ledger.world.position - self.stored > FOLLOW:
            ledger.stop_following()  # the read models catch up from the store once it is published
        if not ledger.following and ledger.world.position - ledger.world.past.upto >= PAST_EVERY:
            move_past(ledger.world, staging)
        return recorded

    def staged(self, position: int) -> tuple[v.Action | v.Decided | None, int | None]:
        """The event staged at `position` (after `stored`), and its line if it is an action that has one."""
        if position <= self.moved and self.staging is not None:
            return self.staging.event(position) or (None, None)
        return self.ledger.staged_event(position), self.line_at.get(position)

    def event(self, position: int) -> v.Action | v.Decided | None:
        """The event at `position`, stored or staged."""
        if position > self.stored:
            return self.staged(position)[0]
        found = self.ledger.store.read_one(position)
        return found[1] if found is not None else None

    def finish(self) -> None:
        """Move what is still staged in memory to the staging file: `staging.pages()` is then everything."""
        if self.staging is not None:
            self.staging.add(self.ledger.take_encoded(), self.line_at)
            self.moved, self.line_at = self.ledger.world.position, {}

    def discard(self) -> None:
        """Forget everything staged (bad input, or a convert, which appends nothing)."""
        if self.staging is not None:
            self.staging.clear()
        self.ledger.rollback()


def _stage(
    ledger: Ledger, lines: Iterator[tuple[int, v.Action]], staging: Staging, ahead: Horizon | None = None
) -> tuple[int, int]:
    """Stage every new line (a dry run through the rules; the events moved to `staging` every few thousand) and
    check the ones the ledger already holds, a few thousand at a time; the numbers of lines skipped and staged.
    On the first bad line, forget everything staged and raise its `BadLineError`."""
    stager = Stager(ledger, staging)
    stored = stager.stored
    held: list[tuple[int, v.Action, int]] = []  # checked a few thousand at a time: reading them one by one is slow
    skipped = staged = 0
    try:
        for number, action in lines:
            position = ledger.world.past.action(action.id) if action.id is not None else None
            if position is None:
                try:
                    if ahead is not None:  # the typo guard, from the line before (or the ledger's last event)
                        ahead.check(action.at, ledger.world.at, "at")
                    stager.stage(action, number)
                except (RefusedError, BadInputError) as e:
                    raise BadLineError(number, str(e)) from None
                staged += 1
                continue
            skipped += 1
            if position <= stored:
                held.append((number, action, position))
                if len(held) >= HELD:
                    _check_held(held, ledger)
                    held = []
            else:
                earlier, line = stager.staged(position)
                _same(number, action, earlier, f"is also on line {line}")
        _check_held(held, ledger)
    except BadLineError:
        stager.discard()
        _check_held(held, ledger)  # an earlier line that differs from the ledger is the first bad one
        raise
    stager.finish()
    return skipped, staged


def _check_held(held: list[tuple[int, v.Action, int]], ledger: Ledger) -> None:
    events = _held_events([position for _, _, position in held], ledger)
    for number, action, position in held:
        _same(number, action, events.get(position), f"is already in the ledger (position {position})")


def _same(number: int, line: v.Action, held: v.Action | v.Decided | None, where: str) -> None:
    if not isinstance(held, v.Action):
        raise BadLineError(number, f"action id '{line.id}' {where} but that position holds no action")
    differ = differences(held, line)
    if differ:
        raise BadLineError(number, f"action id '{line.id}' {where} with different content ({', '.join(differ)} differ)")


def _held_events(positions: list[int], ledger: Ledger) -> dict[int, v.Action | v.Decided]:
    """The stored events at `positions`: one read each when few, else one pass over that stretch of the ledger."""
    if not positions:
        return {}
    if len(positions) <= FEW:
        found = (ledger.store.read_one(p) for p in positions)
        return {r[0]: r[1] for r in found if r is not None}
    wanted = set(positions)
    return {p: e for p, e in ledger.events(min(wanted) - 1, max(wanted)) if p in wanted}
