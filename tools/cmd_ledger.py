"""`syncledger do`, `state` and `rules`: append one action, read the state at a point, print the rule table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer

from syncledger.ledger.application import ActionRefusedError
from syncledger.ledger.vocabulary import dump
from syncledger.projections.document import iso, state_document

from .app import DbOption, JsonOption, Usage, app, open_ledger, open_reader
from .inputs import BadInput, parse_action, parse_time
from .output import console, print_json
from .reports import print_rules, print_state, rules_document
from .sentences import describe_action, describe_decision


def _parse_pairs(verb: str, pairs: list[str]) -> dict[str, Any]:
    raw: dict[str, Any] = {"do": verb}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise Usage(f"'{pair}' is not key=value (e.g. record=c1, fields.phone=555)")
        path = key.split(".")
        target = raw
        for part in path[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise Usage(f"'{key}' mixes a value and nested keys")
        # values are text (ids, field values, ISO times); only the options' true and false are not
        flag = (
            {"true": True, "false": False}.get(value) if path[0] not in ("fields", "user", "item", "record") else None
        )
        target[path[-1]] = value if flag is None else flag
    return raw


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@app.command(context_settings={"allow_extra_args": False})
def do(
    verb: str = typer.Argument(..., help="The action, e.g. crm.create, outlook.track, sync."),
    pairs: list[str] = typer.Argument(None, help="key=value pairs; dotted keys nest (fields.phone=555)."),
    at: str | None = typer.Option(None, "--at", help="When it happened (ISO 8601 with a time zone)."),
    json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """Append one action to the ledger, with everything it causes.

    Example: syncledger do crm.create actor=bob record=c1 type=contact fields.fullname="Jane Doe"
    """
    try:
        action = parse_action(_parse_pairs(verb, pairs or []))
        when = parse_time(at, "--at") if at is not None else None
    except BadInput as e:
        raise Usage(f"{verb}: {e}") from None
    ledger = open_ledger(db, must_exist=False)
    try:
        recorded = ledger.append([action.model_copy(update={"at": when})], clock=_now)
    except ActionRefusedError as e:
        raise Usage(f"{verb}: {e.problem}") from None
    if json:
        print_json([{"position": p, **dump(e)} for p, e in recorded])
        return
    for position, event in recorded:
        text = describe_decision(event) if event.do == "decision" else describe_action(event)  # type: ignore[arg-type]
        console.print(f"@{position} {iso(event.at)} {text}")


@app.command()
def state(
    at: str | None = typer.Option(None, "--at", help="The state as of this time."),
    position: int | None = typer.Option(None, "--position", help="The state after this event."),
    user: str | None = typer.Option(None, "--user", help="Only this user's Outlook, links and queue."),
    json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """Both stores, the links and the pending operations, now or at a past point.

    Example: syncledger state --position 9 --json
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
            world = reader.world_at_time(parse_time(at, "--at"))
        except BadInput as e:
            raise Usage(str(e)) from None
    else:
        world = reader.world
    if user is not None and user not in world.users:
        raise Usage(f"unknown user '{user}' (known: {', '.join(world.users) or 'none'})")
    doc = state_document(world, user)
    print_json(doc) if json else print_state(doc)


@app.command()
def rules(json: bool = JsonOption) -> None:
    """The synchronisation rules, from the code: ID, timing, condition, effect, confidence, sources.

    Example: syncledger rules --json
    """
    print_json(rules_document()) if json else print_rules()
