"""`syncledger why`, `pending`, `preview` and `diff`: the support questions about one item, the queues, the next
sync of a user, and what changed over a stretch of time."""

from __future__ import annotations

import typer

from syncledger.ledger.checks import RefusedError
from syncledger.projections.codec import collector_paused
from syncledger.projections.document import iso

from ..explain.diff import diff_between
from ..explain.pending import queues
from ..explain.preview import preview as dry_run
from ..explain.preview import preview_time
from ..explain.refs import resolve_ref
from ..explain.story import story
from ..explain.text import print_diff, print_pending, print_preview, print_story, print_why
from ..explain.why import check_user, explain
from ..inputs import BadInputError, parse_point, shown
from ..output import one_line, print_json
from .app import (
    REF_HELP,
    DbOption,
    FutureOption,
    JsonOption,
    UsageError,
    app,
    horizon,
    open_reader,
    within_horizon,
)

# ------------------------------------------------------------------------------------------------- why


@app.command()
def why(
    ref: str = typer.Argument(..., help=REF_HELP),
    short: bool = typer.Option(
        False, "--short", help="Only the one-paragraph answer: the state, and the chain to its latest decision."
    ),  # fmt: skip
    json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """Why an item is in its present state, told whole: every decision about it since its link was made (or
    since it appeared), the user actions that caused each (every queued change merged into one), the facts each
    rule read as the decision recorded them, dropped offline operations, where its own changes reached other
    users' copies, and what still waits for a sync. --short gives the one-paragraph answer.

    \b
    Example:
        syncledger why outlook:alice/c1
        syncledger why outlook:alice/c1 --short
    """
    reader = open_reader(db)
    try:
        ref = resolve_ref(ref, reader.index, reader.world, reader.event)
    except BadInputError as e:
        raise UsageError(one_line(str(e))) from None
    if short:
        found = explain(ref, reader.world, reader.index, reader.event)
        print_json(found.document()) if json else print_why(found, db)
        return
    whole = story(ref, reader.world, reader.index, reader.event, reader.events)
    print_json(whole.document()) if json else print_story(whole, db)


# ------------------------------------------------------------------------------------------------- pending


@app.command()
def pending(
    user: str | None = typer.Option(None, "--user", help="Only this user's queue."),
    json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """The queued operations that each user's next sync (or going online) will decide, and what queued them.

    \b
    Example:
        syncledger pending --user alice
    """
    reader = open_reader(db)
    world = reader.world
    if user is not None:
        try:
            check_user(world, user)
        except BadInputError as e:
            raise UsageError(str(e)) from None
    found = queues(reader, user)
    if json:
        print_json({"position": world.position, "at": iso(world.at), "pending": found})
        return
    print_pending(found, {name: world.users[name].online for name in found})


# ------------------------------------------------------------------------------------------------- preview


@app.command()
def preview(
    user: str = typer.Argument(..., help="The user whose next sync to preview."),
    at: str | None = typer.Option(
        None, "--at", help="When the sync would run (default: the time of the ledger's last event)."
    ),  # fmt: skip
    future: bool = FutureOption,
    json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """What the user's next sync would decide, record by record and rule by rule: a dry run through the same
    engine, appending nothing. For an offline user, what going online would do. Without --at, as of the
    ledger's last event (and it says so).

    \b
    Example:
        syncledger preview alice --at 2026-03-02T11:15:00Z
    """
    reader = open_reader(db)
    try:
        check_user(reader.world, user)
        when = preview_time(at, reader.world, horizon(future))
    except BadInputError as e:
        raise UsageError(one_line(str(e))) from None
    try:
        at_from = "given" if at is not None else ("ledger" if reader.world.at is not None else "clock")
        found = dry_run(reader, user, when, at_from)
    except RefusedError as e:
        raise UsageError(one_line(f"preview {shown(user)}: {e}")) from None
    print_json(found.document()) if json else print_preview(found)


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

    \b
    Example:
        syncledger diff 9 2026-03-02T11:20:00Z
    """
    reader = open_reader(db)
    try:
        a, b = parse_point(start), parse_point(end)
    except BadInputError as e:
        raise UsageError(one_line(str(e))) from None
    last_at = reader.end()[1]
    within_horizon(a, last_at, future, "time")
    within_horizon(b, last_at, future, "time")
    with collector_paused():  # the answer is two worlds and what differs, made whole, then printed
        try:
            found = diff_between(reader, a, b)
        except BadInputError as e:
            raise UsageError(one_line(f"diff {start} {end}: {e}")) from None
        print_json(found.document()) if json else print_diff(found)
        del found  # freed while paused: else the collector would walk both worlds once first
