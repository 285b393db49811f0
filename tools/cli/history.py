"""`syncledger history`: an item's timeline across both stores and its links, as text, JSON or an HTML page."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.markup import escape

from ..explain.history import history_document, is_item_ref, load_history
from ..explain.refs import resolve_ref
from ..explain.story import story
from ..explain.text import print_history
from ..explain.timeline_html import render_timeline
from ..explain.why import explain
from ..inputs import BadInputError, Point, parse_point
from ..output import console, print_json
from .app import REF_HELP, DbOption, FutureOption, JsonOption, UsageError, app, open_reader, within_horizon


def _bound(text: str | None, what: str) -> Point | None:
    if text is None:
        return None
    try:
        return parse_point(text, what)
    except BadInputError as e:
        raise UsageError(str(e)) from None


def _in_order(first: Point | None, last: Point | None) -> bool | None:
    """Whether `--since` comes no later than `--until`; None when they cannot be compared (a position, a time)."""
    if isinstance(first, int) and isinstance(last, int):
        return first <= last
    if isinstance(first, datetime) and isinstance(last, datetime):
        return first <= last
    return None


@app.command()
def history(
    ref: str = typer.Argument(..., help=REF_HELP),
    since: str | None = typer.Option(None, "--since", help="From this position or ISO time (inclusive)."),
    until: str | None = typer.Option(None, "--until", help="Up to this position or ISO time (inclusive)."),
    html: Path | None = typer.Option(None, "--html", help="Also write a self-contained HTML timeline to FILE."),
    future: bool = FutureOption,
    json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """Every event that touched an item on either side and its link, grouped by sync, with what changed and
    the rule of each decision.

    \b
    Example:
        syncledger history outlook:alice/c1 --since 2026-03-02T10:00:00Z --html alice-c1.html
    """
    first, last = _bound(since, "--since"), _bound(until, "--until")
    if _in_order(first, last) is False:
        raise UsageError(f"--since {since} is after --until {until}")
    reader = open_reader(db)
    within_horizon(first, reader.world.at, future, "--since")
    within_horizon(last, reader.world.at, future, "--until")
    if not is_item_ref(ref):
        raise UsageError(f"'{ref}' is not an item: history takes crm:<record> or outlook:<user>/<item>")
    try:
        ref = resolve_ref(ref, reader.index, reader.world, reader.event)
    except BadInputError as e:
        raise UsageError(str(e)) from None
    found = load_history(reader, ref, first, last)
    answer = explain(ref, reader.world, reader.index, reader.event)  # the same sentences as why
    now = answer.now
    found.label = answer.label
    if html is not None:
        whole = story(ref, reader.world, reader.index, reader.event, reader.events)  # why's whole story, on top
        try:
            html.write_text(render_timeline(found, now, whole), encoding="utf-8")
        except OSError as e:
            raise UsageError(f"cannot write {html}: {e.strerror or e}") from None
    if json:
        print_json(history_document(found, now, since, until))
        return
    print_history(found, now)
    if html is not None:
        console.print(f"Timeline written to {escape(str(html))}")
