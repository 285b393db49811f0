"""The support questions' answers as text: rich on a terminal, plain text when piped (the console decides). User
data is printed as it is, never read as rich markup."""

from __future__ import annotations

import shlex
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from syncledger.projections.document import iso

from ..inputs import parse_time
from ..output import console, db_option, printable, table
from .diff import Diff, Difference
from .history import Entry, History, PropertyChange, show_value
from .preview import Preview
from .sentences import Clock, counted, person
from .story import Story, step_notes
from .why import Explanation

SIDE_LABELS = {"crm": "CRM", "outlook": "Outlook", "link": "link", "user": "user"}
SIDE_STYLES = {"crm": "blue", "outlook": "yellow", "link": "magenta", "user": "dim"}


# ------------------------------------------------------------------------------------------------- why


def print_why(found: Explanation, db: str | None = None) -> None:
    """The explanation in sentences; its hint names the ledger given with --db, so that it can be pasted."""
    console.print(f"{found.ref} ({found.label})" if found.label else found.ref, style="bold", markup=False)
    console.print(found.now, markup=False)
    if not found.steps:
        return
    decided = "How it came to this" if found.rule else "No sync rule has decided anything about it; what happened"
    console.print(f"\n{decided} (times in UTC):", markup=False)
    for step in found.steps:
        console.print(f"  @{step.position}  {step.sentence}.", markup=False)
    hint = f"syncledger history {shlex.quote(found.ref)}{db_option(db)}"
    console.print(f"\nEvery event of it: {hint}", style="dim", markup=False)


def print_story(found: Story, db: str | None = None) -> None:
    """The whole story in sentences: each event on its line, under each decision what caused it and the facts
    its rule read; then what still waits. Its hints name the ledger given with --db, so that they can be pasted."""
    console.print(f"{found.ref} ({found.label})" if found.label else found.ref, style="bold", markup=False)
    console.print(found.now, markup=False)
    if found.steps:
        since = f", since {found.since_what} (@{found.since})" if found.since is not None else ""
        title = "The whole story" if found.rule else "No sync rule has decided anything about it; what happened"
        console.print(f"\n{title}{since} (times in UTC):", markup=False)
        roles = {step.role for step in found.steps}
        if roles - {"about"}:
            legend = ["<- an event that caused a decision about it"] if "cause" in roles else []
            legend += ["-> where one of its own changes reached another user's copy"] if "reached" in roles else []
            console.print(f"  ({'; '.join(legend)})", markup=False)
        if found.omitted:
            console.print(f"  ({counted(found.omitted, 'earlier event')} about it not told here)", markup=False)
        for step in found.steps:
            mark = {"cause": "  <- ", "reached": "  -> "}.get(step.role, "")
            console.print(f"  @{step.position}  {mark.strip() + ' ' if mark else ''}{step.sentence}.", markup=False)
            for note in step_notes(step):
                console.print(f"        {note}", markup=False)
    if found.waiting:
        console.print("\nStill waiting:", markup=False)
        for w in found.waiting:
            console.print(f"  @{w.cause}  {w.sentence}.", markup=False)
    ref = shlex.quote(found.ref)
    console.print(f"\nThe short answer: syncledger why {ref} --short{db_option(db)}", style="dim", markup=False)
    if not found.ref.startswith("user:"):  # history takes items only
        console.print(f"Every event of it: syncledger history {ref}{db_option(db)}", style="dim", markup=False)


# ------------------------------------------------------------------------------------------------- pending


def print_pending(queues: dict[str, list[dict[str, Any]]], online: dict[str, bool]) -> None:
    for name, ops in queues.items():
        count = f"{len(ops)} operation{'' if len(ops) == 1 else 's'}"
        waits = "the next sync" if online[name] else "going online (offline ones are replayed, then a sync runs)"
        console.print(
            f"{person(name)}{'' if online[name] else ' (offline)'}: {count} waiting for {waits}", markup=False
        )
        clock = Clock()
        for op in ops:
            what = " ".join(filter(None, [op["operation"], op["record"], op["item"] and f"(item {op['item']})"]))
            when = clock.at(parse_time(op["at"]))
            console.print(f"  @{op['cause']}  {what}: {op['sentence']} {when}.", markup=False)


# ------------------------------------------------------------------------------------------------- preview


def print_preview(found: Preview) -> None:
    user = person(found.user)
    cycle = "server-side sync cycle" if found.method == "server_side" else "sync"
    what = f"{user}'s next {cycle}" if found.online else f"{user} is offline: going online"
    console.print(f"{what} {Clock().at(found.at)} (UTC) would decide:", style="bold", markup=False)
    if found.at_from != "given":
        source = "the time of the ledger's last event" if found.at_from == "ledger" else "now (the ledger is empty)"
        console.print(f"  (at {iso(found.at)}: {source}; give --at for another time)", style="dim", markup=False)
    if not found.decisions:
        console.print("  nothing: no queued operation, and nothing new in the sync filter.", markup=False)
    for d in found.decisions:
        console.print(f"  @{d['position']}  {d['sentence']}.", markup=False)
        if d["cause_sentence"]:
            console.print(f"      because of @{d['cause']}: {d['cause_sentence']}.", markup=False)
    console.print("A dry run: nothing was appended.", style="dim", markup=False)


# ------------------------------------------------------------------------------------------------- diff


def print_diff(found: Diff) -> None:
    a, b, changes = found.start, found.end, found.changes
    count = f"{len(changes)} change{'' if len(changes) == 1 else 's'}"
    console.print(
        f"From @{a} ({iso(found.before.at)}) to @{b} ({iso(found.after.at)}): {count}", style="bold", markup=False
    )
    if changes:
        grid = _keep_whole(table("", "what", "change", "details", "by"), 0, 1, 3)
        for change, by, fields in zip(changes, found.by, found.by_field, strict=True):
            _add_row(grid, _what(change), change.kind, _details(change), _by_text(by, fields))
        _print_table(grid)


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


def _what(change: Difference) -> str:
    return f"{change.ref} <-> {change.record}" if change.record else change.ref


def _details(change: Difference) -> str:
    if change.side == "link":
        old, new = ({k: pair[i] for k, pair in change.fields.items()} for i in (0, 1))
        if change.kind == "made":
            return f"{new.get('origin')} link"
        if change.kind == "made and ended":
            return f"{new.get('origin')} link, ended by {new.get('rule')} @{new.get('position')}"
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


def _by_text(found: dict[str, Any] | None, fields: dict[str, dict[str, Any]]) -> str:
    """The event that made the change; one per field when different events changed different fields."""
    makers = {(e["position"], e["rule"] or e["event"]) for e in fields.values()}
    if len(makers) > 1:
        return "; ".join(
            f"{name} @{e['position']} {e['rule'] or e['event']}"
            for name, e in sorted(fields.items(), key=lambda pair: pair[1]["position"])
        )
    if found is None:
        return ""
    return f"@{found['position']} {found['rule'] or found['event']}"


# ------------------------------------------------------------------------------------------------- history


def print_history(found: History, now: str) -> None:
    """Rich on a terminal, plain text when piped (the console decides); user data is escaped, never markup."""
    syncs = len({e.sync for e in found.entries if e.sync is not None})
    sizes = f"{counted(len(found.entries), 'event')}, {counted(syncs, 'sync point')}"
    label = f" ({escape(found.label)})" if found.label else ""
    console.print(f"[bold]History of {escape(found.ref)}[/bold]{label}: {sizes}")
    console.print(escape(now))
    if not found.entries:
        console.print("No event in that range.")
    for point, entries in found.groups():
        indent = "  " if point is not None else ""
        if point is not None:
            console.print(f"\n[bold]{escape(point.title)}[/bold]  @{point.position} {iso(point.at)}")
        elif found.entries and entries[0] is not found.entries[0]:
            console.print()
        for entry in entries:
            _print_entry(entry, indent)


def _print_entry(e: Entry, indent: str) -> None:
    side = f"[{SIDE_STYLES[e.side]}]{SIDE_LABELS[e.side]:<7}[/]"
    head = f"{indent}[dim]@{e.position:<4}[/dim] {iso(e.at)}  {escape(e.actor):<12} {side} "
    more = indent + " " * 8
    if e.rule is None:
        console.print(head + escape(e.summary))
    else:
        console.print(head + f"[bold cyan]{escape(e.rule)}[/bold cyan]  (cause @{e.cause})")
        console.print(f"{more}{escape(e.summary)}")  # what happened to these items, in particular
        if e.reason:
            console.print(f"{more}why: {escape(e.reason)}")
        console.print(f"{more}rule: {escape(e.sentence or 'unknown to this version')}")
        console.print(f"{more}[dim]source: {escape(e.source or 'unknown')}[/dim]")
    for line in describe_changes(e.changes):
        console.print(f"{more}{escape(line)}")
    if e.queued_for:
        console.print(f"{more}[dim]queued for {escape(', '.join(e.queued_for))}[/dim]")


def describe_changes(changes: tuple[PropertyChange, ...]) -> list[str]:
    """One line per changed side: `crm:c1 created: type=contact, ...`, `crm:c1 deleted`, or `field: old -> new`."""
    lines: list[str] = []
    by_side: dict[tuple[str, str], list[PropertyChange]] = {}
    for change in changes:
        by_side.setdefault((change.side, change.ref), []).append(change)
    for (_, ref), group in by_side.items():
        existence = next((c for c in group if c.field == "exists"), None)
        rest = [c for c in group if c.field != "exists"]
        if existence is not None and not existence.new:
            lines.append(f"{ref} deleted")
        elif existence is not None:
            lines.append(f"{ref} created: " + ", ".join(f"{c.field}={show_value(c.new)}" for c in rest))
        else:
            lines.extend(f"{ref} {c.field}: {show_value(c.old)} -> {show_value(c.new)}" for c in rest)
    return lines
