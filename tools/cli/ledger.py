"""`syncledger do`, `state` and `rules`: append one action, read the state at a point, print the rule table."""

from __future__ import annotations

import inspect
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import typer

from syncledger.ledger.application import ActionRefusedError
from syncledger.ledger.vocabulary import SYNC_METHODS, BaselineObserved, Decided, dump
from syncledger.projections.codec import collector_paused
from syncledger.projections.document import LINKS_PAGE, iso, link_json
from syncledger.projections.reader import UnknownUser

from ..explain.sentences import Names, describe_action, describe_decision
from ..inputs import BadInputError, parse_action, parse_pairs, parse_time, shown, verb_table
from ..output import console, print_json, warn
from ..reports import print_rules, print_state, rules_document
from .app import DbOption, FutureOption, JsonOption, UsageError, app, clock, horizon, open_ledger, open_reader

FAR = timedelta(days=1)


def _warn_if_far(last: datetime | None) -> None:
    """Without --at the action is stamped now: say so when the ledger's last event is far from now (a ledger of
    last March gets an action of today, and every rule that compares times decides by today)."""
    now = clock()
    if last is None or abs(now - last) <= FAR:
        return
    if now > last:
        said = f"recorded now ({iso(now)}), {(now - last).days} days after the ledger's last event ({iso(last)})"
    else:
        days = (last - now).days
        said = f"the clock ({iso(now)}) is {days} days before the ledger's last event, so recorded at {iso(last)}"
    warn(f"warning: no --at: {said}; give --at TIME to record when it happened")


def do(
    verb: str = typer.Argument(..., help="The action, e.g. crm.create, outlook.track, sync."),
    pairs: list[str] = typer.Argument(None, help="key=value pairs; dotted keys nest (fields.phone=555)."),
    at: str | None = typer.Option(None, "--at", help="When it happened (ISO 8601 with a time zone)."),
    file: str | None = typer.Option(
        None,
        "--file",
        help='For `do baseline`: a baseline document (a JSON file, SOURCES.md "The baseline": records, items, '
        "links), which key=value pairs cannot write; its `at` is the action's time.",
    ),
    future: bool = FutureOption,
    json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """Append one action to the ledger, with everything it causes. Without --at it is stamped now (or at the
    ledger's last time if that is later), with a warning when that is more than a day from the ledger's last event.

    \b
    Example:
        syncledger do crm.create actor=bob record=c1 type=contact fields.fullname="Jane Doe" --at 2026-03-02T11:30:00Z
        syncledger do baseline --file baseline.json
    """
    try:
        raw = parse_pairs(verb, pairs or [])
        if file is not None:
            raw = _with_document(verb, raw, file)
    except BadInputError as e:
        raise UsageError(str(e)) from None
    try:
        action = parse_action(raw)
        when = parse_time(at, "--at") if at is not None else None
        if isinstance(action, BaselineObserved):  # its time is its document's (and its id hashes the document)
            if when is not None and when != action.at:
                raise BadInputError(f"--at must be the document's at ({iso(action.document.at)}), or left out")
            when = action.at
    except BadInputError as e:
        raise UsageError(f"{verb}: {e}") from None
    ledger = open_ledger(db, must_exist=False)
    last = ledger.world.at
    try:
        horizon(future).check(when, ledger.world.at, "--at")
    except BadInputError as e:
        raise UsageError(f"{verb}: {e}") from None
    try:
        recorded = ledger.append([action.model_copy(update={"at": when})], clock=clock)
    except ActionRefusedError as e:
        raise UsageError(f"{verb}: {e.problem}") from None
    if when is None:  # after the append: a refusal is its one line and nothing else
        _warn_if_far(last)
    if json:
        print_json([{"position": p, **dump(e)} for p, e in recorded])
        return
    names = Names(ledger.world)
    for position, event in recorded:
        text = describe_decision(event, names) if isinstance(event, Decided) else describe_action(event, names)
        console.print(f"@{position} {iso(event.at)} {text}", markup=False)


def _with_document(verb: str, raw: dict[str, Any], path: str) -> dict[str, Any]:
    """`do baseline --file F`: the action whose document is the JSON object in F, which names where it came from
    (as an imported baseline file does, so that `why` says "from F")."""
    if verb != "baseline":
        raise BadInputError(f"--file is for `do baseline` only, not {shown(verb)}")
    if len(raw) > 1:
        raise BadInputError(f"{path}: give the baseline either as --file or as key=value pairs, not both")
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise BadInputError(f"{path}: cannot read it ({e.strerror or e})") from None
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise BadInputError(f"{path}: is not valid JSON ({e})") from None
    if not isinstance(document, dict):
        raise BadInputError(f"{path}: a baseline document is a JSON object with at, records, items and links")
    source = {"system": "baseline", "file": Path(path).name, "row": 1}
    return {"do": "baseline", "document": document, "source": source}


# the verbs and their keys, from the vocabulary, so that the help cannot drift from what `do` accepts
VERBS = "\b\nVerbs and their keys ([optional]; docs/SCENARIOS.md says what each means):\n" + "\n".join(verb_table())
app.command(context_settings={"allow_extra_args": False}, help=f"{inspect.getdoc(do)}\n\n{VERBS}")(do)


@app.command()
def state(
    at: str | None = typer.Option(None, "--at", help="The state as of this time."),
    position: int | None = typer.Option(None, "--position", help="The state after this event."),
    user: str | None = typer.Option(None, "--user", help="Only this user's Outlook, links and queue."),
    links: str = typer.Option(
        str(LINKS_PAGE),
        "--links",
        help="How many links to list, in the order made ('all' for every one ever made); a partial list says so "
        "in links_page, with the --links-after value of the next page.",
    ),
    links_after: int = typer.Option(0, "--links-after", min=0, help="List the links made after this one."),
    future: bool = FutureOption,
    json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """Both stores, the links and the pending operations, now or at a past point. Links are listed a page at a
    time (the first 1,000 unless --links says otherwise), so that the answer costs the page, not the ledger's
    whole past.

    \b
    Example:
        syncledger state --position 9 --json
        syncledger state --at 2026-03-02T11:00:00Z --user alice --links all
    """
    if at is not None and position is not None:
        raise UsageError("give --at or --position, not both")
    if links != "all" and not (links.isdigit() and int(links) > 0):
        raise UsageError(f"--links takes a number of links or 'all', not {shown(links)}")
    limit = None if links == "all" else int(links)
    reader = open_reader(db)
    with collector_paused():  # the answer is a world and its document, made whole, then printed
        last, last_at = reader.end()  # a question about the past decodes no present
        if position is not None:
            if not 0 <= position <= last:
                raise UsageError(f"--position {position} is outside the ledger (0..{last})")
        elif at is not None:
            try:
                when = parse_time(at, "--at")
                horizon(future).check(when, last_at, "--at")
            except BadInputError as e:
                raise UsageError(str(e)) from None
            position = reader.position_at_time(when)
        try:
            doc = reader.state_at(last if position is None else position, user, links_after, limit, True)
        except UnknownUser as e:
            raise UsageError(f"unknown user {shown(e.user)} (known: {', '.join(e.known) or 'none'})") from None
        print_json(doc, default=link_json) if json else print_state(doc)
        del doc  # freed while paused: else the collector would walk all of it once first


@app.command()
def rules(
    method: str | None = typer.Option(
        None, "--method", help="Only the rules of one synchronisation method: outlook_client or server_side."
    ),
    json: bool = JsonOption,
) -> None:
    """The synchronisation rules, from the code: ID, timing, condition, effect, confidence, sources, and the
    methods (outlook_client, server_side) each rule belongs to.

    \b
    Example:
        syncledger rules --method server_side --json
    """
    if method is not None and method not in SYNC_METHODS:
        raise UsageError(f"unknown --method {shown(method)} (valid: {', '.join(SYNC_METHODS)})")
    print_json(rules_document(method)) if json else print_rules(method)
