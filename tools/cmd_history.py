"""`syncledger history`: an item's timeline across both stores and its links, as text, JSON or an HTML page."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from syncledger.projections.document import iso
from syncledger.projections.reader import Reader

from .app import DbOption, FutureOption, JsonOption, Usage, app, horizon, open_reader
from .explain import check_ref, explain
from .history import (
    Bound,
    Change,
    Entry,
    History,
    SyncPoint,
    build,
    is_item_ref,
    partner_refs,
    show_value,
    sync_point_positions,
)
from .inputs import BadInput, parse_time
from .output import console, print_json
from .timeline_html import render_timeline

SIDE_LABELS = {"crm": "CRM", "outlook": "Outlook", "link": "link", "user": "user"}
SIDE_STYLES = {"crm": "blue", "outlook": "yellow", "link": "magenta", "user": "dim"}


def load_history(reader: Reader, ref: str, since: Bound | None = None, until: Bound | None = None) -> History:
    """Read only the events the item index files under the item and its link partners, and the sync points
    of the decisions among them, then build the history (a lookup, not a scan of the ledger)."""
    touched = reader.index.touched
    own = reader.events(touched.get(ref, []))
    seen = {position for position, _ in own}
    wanted = {p for partner in partner_refs(ref, own) for p in touched.get(partner, []) if p not in seen}
    events = own + reader.events(wanted)
    sync_of = sync_point_positions(events, lambda user: touched.get(f"user:{user}", []))
    points = dict(reader.events(set(sync_of.values())))
    return build(ref, events, points, sync_of, since, until)


def parse_bound(text: str | None, what: str) -> Bound | None:
    """A position (a whole number) or an ISO 8601 time with a time zone."""
    if text is None:
        return None
    if text.strip().isdigit():
        return int(text)
    try:
        return parse_time(text, what)
    except BadInput as e:
        raise Usage(f"{e} (or give a position, e.g. 42)") from None


@app.command()
def history(
    ref: str = typer.Argument(..., help="crm:<record> or outlook:<user>/<item>"),
    since: str | None = typer.Option(None, "--since", help="From this position or ISO time (inclusive)."),
    until: str | None = typer.Option(None, "--until", help="Up to this position or ISO time (inclusive)."),
    html: Path | None = typer.Option(None, "--html", help="Also write a self-contained HTML timeline to FILE."),
    future: bool = FutureOption,
    json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """Every event that touched an item on either side and its link, grouped by sync, with what changed and
    the rule of each decision.

    Example: syncledger history outlook:alice/c1 --since 2026-03-02T10:00:00Z --html alice-c1.html
    """
    first, last = parse_bound(since, "--since"), parse_bound(until, "--until")
    if first is not None and last is not None and type(first) is type(last) and first > last:  # type: ignore[operator]
        raise Usage(f"--since {since} is after --until {until}")
    reader = open_reader(db)
    ahead = horizon(future)
    for bound, option in ((first, "--since"), (last, "--until")):
        if isinstance(bound, datetime):
            try:
                ahead.check(bound, reader.world.at, option)
            except BadInput as e:
                raise Usage(str(e)) from None
    if not is_item_ref(ref):
        raise Usage(f"'{ref}' is not an item: history takes crm:<record> or outlook:<user>/<item>")
    try:
        check_ref(ref, reader.index)
    except BadInput as e:
        raise Usage(str(e)) from None
    found = load_history(reader, ref, first, last)
    now = explain(ref, reader.world, reader.index, reader.event).now  # the same sentence as why
    if html is not None:
        try:
            html.write_text(render_timeline(found, now), encoding="utf-8")
        except OSError as e:
            raise Usage(f"cannot write {html}: {e.strerror or e}") from None
    if json:
        print_json(history_document(found, now, since, until))
        return
    print_history(found, now)
    if html is not None:
        console.print(f"Timeline written to {escape(str(html))}")


# --------------------------------------------------------------------------------------------- JSON


def history_document(found: History, now: str, since: str | None, until: str | None) -> dict[str, Any]:
    return {
        "ref": found.ref,
        "now": now,
        "since": since,
        "until": until,
        "count": len(found.entries),
        "groups": [
            {"sync": _point(point), "events": [_entry(e) for e in entries]} for point, entries in found.groups()
        ],
    }


def _point(point: SyncPoint | None) -> dict[str, Any] | None:
    if point is None:
        return None
    return {"position": point.position, "at": iso(point.at), "user": point.user, "kind": point.kind}


def _entry(e: Entry) -> dict[str, Any]:
    return {
        "position": e.position,
        "at": iso(e.at),
        "actor": e.actor,
        "side": e.side,
        "event": e.event,
        "summary": e.summary,
        "changes": [
            {"side": c.side, "ref": c.ref, "field": c.field, "old": _plain(c.old), "new": _plain(c.new)}
            for c in e.changes
        ],
        "rule": e.rule,
        "sentence": e.sentence,
        "source": e.source,
        "cause": e.cause,
        "reason": e.reason,
        "sync": e.sync,
        "queued_for": list(e.queued_for),
    }


def _plain(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else value


# --------------------------------------------------------------------------------------------- text


def print_history(found: History, now: str) -> None:
    """Rich on a terminal, plain text when piped (the console decides); user data is escaped, never markup."""
    syncs = len({e.sync for e in found.entries if e.sync is not None})
    console.print(f"[bold]History of {escape(found.ref)}[/bold]: {len(found.entries)} events, {syncs} sync points")
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


def describe_changes(changes: tuple[Change, ...]) -> list[str]:
    """One line per changed side: `crm:c1 created: type=contact, ...`, `crm:c1 deleted`, or `field: old -> new`."""
    lines: list[str] = []
    by_side: dict[tuple[str, str], list[Change]] = {}
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
