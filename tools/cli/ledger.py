"""`syncledger do`, `state` and `rules`: append one action, read the state at a point, print the rule table."""

from __future__ import annotations

import typer

from syncledger.ledger.application import ActionRefusedError
from syncledger.ledger.vocabulary import Decided, dump
from syncledger.projections.document import iso, state_document

from ..explain.sentences import describe_action, describe_decision
from ..inputs import BadInput, parse_action, parse_pairs, parse_time, shown
from ..output import console, print_json
from ..reports import print_rules, print_state, rules_document
from .app import DbOption, FutureOption, JsonOption, Usage, app, clock, horizon, open_ledger, open_reader


@app.command(context_settings={"allow_extra_args": False})
def do(
    verb: str = typer.Argument(..., help="The action, e.g. crm.create, outlook.track, sync."),
    pairs: list[str] = typer.Argument(None, help="key=value pairs; dotted keys nest (fields.phone=555)."),
    at: str | None = typer.Option(None, "--at", help="When it happened (ISO 8601 with a time zone)."),
    future: bool = FutureOption,
    json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """Append one action to the ledger, with everything it causes.

    \b
    Example:
        syncledger do crm.create actor=bob record=c1 type=contact fields.fullname="Jane Doe"
    """
    try:
        raw = parse_pairs(verb, pairs or [])
    except BadInput as e:
        raise Usage(str(e)) from None
    try:
        action = parse_action(raw)
        when = parse_time(at, "--at") if at is not None else None
    except BadInput as e:
        raise Usage(f"{verb}: {e}") from None
    ledger = open_ledger(db, must_exist=False)
    try:
        horizon(future).check(when, ledger.world.at, "--at")
    except BadInput as e:
        raise Usage(f"{verb}: {e}") from None
    try:
        recorded = ledger.append([action.model_copy(update={"at": when})], clock=clock)
    except ActionRefusedError as e:
        raise Usage(f"{verb}: {e.problem}") from None
    if json:
        print_json([{"position": p, **dump(e)} for p, e in recorded])
        return
    for position, event in recorded:
        text = describe_decision(event) if isinstance(event, Decided) else describe_action(event)
        console.print(f"@{position} {iso(event.at)} {text}")


@app.command()
def state(
    at: str | None = typer.Option(None, "--at", help="The state as of this time."),
    position: int | None = typer.Option(None, "--position", help="The state after this event."),
    user: str | None = typer.Option(None, "--user", help="Only this user's Outlook, links and queue."),
    future: bool = FutureOption,
    json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """Both stores, the links and the pending operations, now or at a past point.

    \b
    Example:
        syncledger state --position 9 --json
    """
    if at is not None and position is not None:
        raise Usage("give --at or --position, not both")
    reader = open_reader(db)
    if position is not None:
        if not 0 <= position <= reader.world.position:
            raise Usage(f"--position {position} is outside the ledger (0..{reader.world.position})")
        world = reader.world_at(position)
    elif at is not None:
        try:
            when = parse_time(at, "--at")
            horizon(future).check(when, reader.world.at, "--at")
        except BadInput as e:
            raise Usage(str(e)) from None
        world = reader.world_at_time(when)
    else:
        world = reader.world
    if user is not None and user not in world.users:
        raise Usage(f"unknown user {shown(user)} (known: {', '.join(world.users) or 'none'})")
    doc = state_document(world, user)
    print_json(doc) if json else print_state(doc)


@app.command()
def rules(json: bool = JsonOption) -> None:
    """The synchronisation rules, from the code: ID, timing, condition, effect, confidence, sources.

    \b
    Example:
        syncledger rules --json
    """
    print_json(rules_document()) if json else print_rules()
