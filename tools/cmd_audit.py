"""`syncledger why`, `pending`, `preview` and `diff`: the support questions about one item, the queues, the next
sync of a user, and what changed over a stretch of time."""

from __future__ import annotations

import copy
import sys
from bisect import bisect_right
from datetime import datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from syncledger.ledger import vocabulary as v
from syncledger.ledger.checks import Refused
from syncledger.ledger.engine import handle
from syncledger.ledger.world import World
from syncledger.projections.document import iso
from syncledger.projections.reader import Reader

from .app import DbOption, FutureOption, JsonOption, Usage, app, horizon, open_reader
from .diff import Change, diff_worlds
from .explain import Explanation, check_ref, explain, removal_position
from .inputs import BadInput, Horizon, parse_time, shown
from .output import console, print_json, printable, table
from .sentences import Clock, Names, action_sentence, decision_sentence, one_line, person

Recorded = tuple[int, "v.Action | v.Decided"]


def _print_table(grid: Table) -> None:
    """On a terminal, the table as rich draws it; piped, one row per line however long, for grep and scripts."""
    if console.is_terminal:
        console.print(grid)
        return
    wide = Console(width=100_000, highlight=False, no_color=True)
    with wide.capture() as captured:
        wide.print(grid)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def _keep_whole(grid: Table, *columns: int) -> Table:
    """Ids and positions are never wrapped or cut: the sentences around them wrap instead."""
    for column in columns:
        grid.columns[column].no_wrap = True
    return grid


def _add_row(grid: Table, *cells: str) -> None:
    """Cells are data, never rich markup: a value like `[alice]` must print as it is."""
    grid.add_row(*(Text(printable(cell)) for cell in cells))


def as_position(text: str) -> int | None:
    """A position given as plain ASCII digits (not `²`, not a 5,000-digit number), else None."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def _known_user(world: World, name: str) -> None:
    if name not in world.users:
        known = ", ".join(list(world.users)[:10]) + (", ..." if len(world.users) > 10 else "")
        raise Usage(one_line(f"unknown user {shown(name)} (known: {known or 'none'})"))


# ------------------------------------------------------------------------------------------------- why


@app.command()
def why(
    ref: str = typer.Argument(..., help="crm:<record> or outlook:<user>/<item>"),
    json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """Why an item is in its present state: the chain from the user actions to the decisions, in sentences.

    Example: syncledger why outlook:alice/c1
    """
    reader = open_reader(db)
    try:
        check_ref(ref, reader.index)
    except BadInput as e:
        raise Usage(one_line(str(e))) from None
    found = explain(ref, reader.world, reader.index, reader.event)
    print_json(found.document()) if json else print_why(found)


def print_why(found: Explanation) -> None:
    console.print(found.ref, style="bold", markup=False)
    console.print(found.now, markup=False)
    if not found.steps:
        return
    decided = "How it came to this" if found.rule else "No sync rule has decided anything about it; what happened"
    console.print(f"\n{decided} (times in UTC):", markup=False)
    for step in found.steps:
        console.print(f"  @{step.position}  {step.sentence}.", markup=False)
    console.print(f"\nEvery event of it: syncledger history {found.ref}", style="dim", markup=False)


# ------------------------------------------------------------------------------------------------- pending


@app.command()
def pending(
    user: str | None = typer.Option(None, "--user", help="Only this user's queue."),
    json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """The queued operations that each user's next sync (or going online) will decide, and what queued them.

    Example: syncledger pending --user alice
    """
    reader = open_reader(db)
    world = reader.world
    if user is not None:
        _known_user(world, user)
    names = Names(world, reader.index, reader.event)
    queues: dict[str, list[dict[str, Any]]] = {}
    for name, u in world.users.items():
        if user is not None and name != user:
            continue
        queues[name] = []
        for op in u.pending:
            cause = reader.event(op.cause)
            queues[name].append(
                {
                    "operation": op.operation,
                    "record": op.record,
                    "item": op.item,
                    "cause": op.cause,
                    "at": iso(op.at),
                    "waits_for": "online" if op.operation.startswith("offline:") else "sync",
                    "sentence": _event_sentence(cause, names) if cause is not None else None,
                }
            )
    if json:
        print_json({"position": world.position, "at": iso(world.at), "pending": queues})
        return
    for name, ops in queues.items():
        count = f"{len(ops)} operation{'' if len(ops) == 1 else 's'}"
        online = world.users[name].online
        waits = "the next sync" if online else "going online (offline ones are replayed, then a sync runs)"
        console.print(f"{person(name)}{'' if online else ' (offline)'}: {count} waiting for {waits}", markup=False)
        clock = Clock()
        for op in ops:
            what = " ".join(filter(None, [op["operation"], op["record"], op["item"] and f"(item {op['item']})"]))
            when = clock.at(parse_time(op["at"]))
            console.print(f"  @{op['cause']}  {what}: {op['sentence']} {when}.", markup=False)


def _event_sentence(event: v.Action | v.Decided, names: Names, when: str = "") -> str:
    if isinstance(event, v.Decided):
        return decision_sentence(event, names, when)
    return action_sentence(event, names, when)


# ------------------------------------------------------------------------------------------------- preview


def dry_run(world: World, user: str, at: datetime) -> tuple[v.Action, list[Recorded]]:
    """What the user's next sync at `at` would record, through the engine itself on a copy of the world; for an
    offline user, what going online would (replay the offline operations, then sync). Appends nothing."""
    online = world.users[user].online
    action: v.Action = (
        v.SyncRequested(do="sync", user=user, at=at) if online else v.WentOnline(do="online", user=user, at=at)
    )
    return action, handle(copy.deepcopy(world), action)


@app.command()
def preview(
    user: str = typer.Argument(..., help="The user whose next sync to preview."),
    at: str | None = typer.Option(
        None, "--at", help="When the sync would run (default: now, or the ledger's last time if later)."
    ),  # fmt: skip
    future: bool = FutureOption,
    json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """What the user's next sync would decide, record by record and rule by rule: a dry run through the same
    engine, appending nothing. For an offline user, what going online would do.

    Example: syncledger preview alice --at 2026-03-02T11:15:00Z
    """
    reader = open_reader(db)
    world = reader.world
    _known_user(world, user)
    when = _preview_time(at, world, horizon(future))
    try:
        action, recorded = dry_run(world, user, when)
    except Refused as e:
        raise Usage(one_line(f"preview {shown(user)}: {e}")) from None
    decisions = _preview_decisions(recorded, reader)
    online = isinstance(action, v.SyncRequested)
    if json:
        print_json({"user": user, "at": iso(when), "does": action.do, "appended": False, "decisions": decisions})
        return
    what = f"{person(user)}'s next sync" if online else f"{person(user)} is offline: going online"
    console.print(f"{what} {Clock().at(when)} (UTC) would decide:", style="bold", markup=False)
    if not decisions:
        console.print("  nothing: no queued operation, and nothing new in the sync filter.", markup=False)
    for d in decisions:
        console.print(f"  @{d['position']}  {d['sentence']}.", markup=False)
        if d["cause_sentence"]:
            console.print(f"      because of @{d['cause']}: {d['cause_sentence']}.", markup=False)
    console.print("A dry run: nothing was appended.", style="dim", markup=False)


def _preview_time(at: str | None, world: World, ahead: Horizon) -> datetime:
    last = world.at
    if at is None:
        return max(ahead.now, last) if last else ahead.now
    try:
        when = parse_time(at, "--at")
        ahead.check(when, last, "--at")
    except BadInput as e:
        raise Usage(one_line(str(e))) from None
    if last is not None and when < last:
        raise Usage(f"--at {iso(when)} is before the ledger's last event ({iso(last)}): a preview only looks ahead")
    return when


def _preview_decisions(recorded: list[Recorded], reader: Reader) -> list[dict[str, Any]]:
    """The decisions of a dry run as JSON-ready objects with sentences in the conditional."""
    hypothetical = dict(recorded)

    def lookup(position: int) -> v.Action | v.Decided | None:
        return hypothetical.get(position) or reader.event(position)

    names = Names(reader.world, reader.index, lookup)
    for _, event in recorded:
        names.learn(event)
    found = []
    for position, event in recorded:
        if not isinstance(event, v.Decided):
            continue
        cause = lookup(event.cause)
        found.append(
            {
                "position": position,
                "at": iso(event.at),
                "actor": event.actor,
                "rule": event.rule,
                "cause": event.cause,
                "about": list(event.about),
                "effects": [effect.model_dump(mode="json", exclude_none=True) for effect in event.effects],
                "sentence": decision_sentence(event, names, position=position, cause=cause, would=True),
                "cause_sentence": _event_sentence(cause, names, Clock().at(cause.at)) if cause is not None else None,
            }
        )
    return found


# ------------------------------------------------------------------------------------------------- diff


@app.command()
def diff(
    start: str = typer.Argument(..., metavar="A", help="From: a position, or an ISO time."),
    end: str = typer.Argument(..., metavar="B", help="To: a position, or an ISO time."),
    future: bool = FutureOption,
    json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """What changed from A to B in both stores and in the links: records and items created, deleted and changed
    (old -> new), links made or ended.

    Example: syncledger diff 9 2026-03-02T11:20:00Z
    """
    reader = open_reader(db)
    ahead = horizon(future)
    a, world_a = _point(start, reader, ahead)
    b, world_b = _point(end, reader, ahead)
    changes = diff_worlds(world_a, world_b)
    by = [_changed_by(change, a, b, reader, world_b) for change in changes]
    if json:
        print_json(
            {
                "from": {"position": a, "at": iso(world_a.at)},
                "to": {"position": b, "at": iso(world_b.at)},
                "changes": [c.document() | {"by": found} for c, found in zip(changes, by, strict=True)],
            }
        )
        return
    count = f"{len(changes)} change{'' if len(changes) == 1 else 's'}"
    console.print(f"From @{a} ({iso(world_a.at)}) to @{b} ({iso(world_b.at)}): {count}", style="bold", markup=False)
    if changes:
        grid = _keep_whole(table("", "what", "change", "details", "by"), 0, 1, 3)
        for change, found in zip(changes, by, strict=True):
            _add_row(grid, _what(change), change.kind, _details(change), _by_text(found))
        _print_table(grid)


def _point(text: str, reader: Reader, ahead: Horizon) -> tuple[int, World]:
    """A position (digits) or an ISO time, and the world as of it."""
    last = reader.world.position
    position = as_position(text)
    if position is not None:
        if position > last:
            raise Usage(one_line(f"position {position} is outside the ledger (0..{last})"))
        return position, reader.world_at(position)
    try:
        when = parse_time(text, "time")
        ahead.check(when, reader.world.at, "time")
        position = reader.position_at_time(when)
    except BadInput as e:
        raise Usage(one_line(f"{e}, nor a position")) from None
    return position, reader.world_at(position)


def _changed_by(change: Change, a: int, b: int, reader: Reader, world_b: World) -> dict[str, Any] | None:
    """The event between the two points that made the change: what a support engineer looks up next."""
    low, high = min(a, b), max(a, b)
    touched = reader.index.touched.get(change.ref, [])
    inside = touched[bisect_right(touched, low) : bisect_right(touched, high)]
    position: int | None
    if change.side == "link":
        position = change.fields.get("position", (None, None))[1]
    elif change.kind in ("created", "added"):
        position = inside[0] if inside else None
    elif change.kind == "deleted" and change.side == "crm":
        gone = world_b.past.record(change.ref[4:])
        position = gone.changed if gone is not None else None
    elif change.kind == "deleted":
        position = removal_position(change.ref, reader.index, reader.event)
    else:
        position = inside[-1] if inside else None
    event = reader.event(position) if position else None
    if event is None:
        return None
    return {"position": position, "event": event.do, "rule": event.rule if isinstance(event, v.Decided) else None}


def _what(change: Change) -> str:
    return f"{change.ref} <-> {change.record}" if change.record else change.ref


def _details(change: Change) -> str:
    if change.side == "link":
        old, new = ({k: pair[i] for k, pair in change.fields.items()} for i in (0, 1))
        if change.kind == "made":
            return f"{new.get('origin')} link"
        return f"{old.get('origin') or ''} link, made by {old.get('rule')} @{old.get('position')}".strip()
    if change.kind in ("created", "added", "deleted"):
        values = ((k, new if old is None else old) for k, (old, new) in change.fields.items())
        return ", ".join(f"{k}={_value(value)}" for k, value in values if value is not False)
    return "; ".join(f"{k}: {_value(old)} -> {_value(new)}" for k, (old, new) in change.fields.items())


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def _by_text(found: dict[str, Any] | None) -> str:
    if found is None:
        return ""
    return f"@{found['position']} {found['rule'] or found['event']}"
