"""`syncledger whatif`: the ledger's history replayed under the other rule set, compared item by item (the work is
in `tools.explain.whatif`). It reads the events only: nothing is appended, no read model is written. What grows
with the ledger's length goes to a temporary file (`tools.explain.whatif_spill`), gone when it ends."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import typer

from syncledger.ledger import vocabulary as v
from syncledger.ledger.store import DECIDED_TOPIC, EventStore, StoreError
from syncledger.ledger.vocabulary import Recorded

from ..explain.whatif import Question, answer, lines, parse_method, parse_org
from ..explain.whatif_spill import Spill
from ..inputs import BadInputError, parse_time, shown
from ..output import console, one_line, print_json
from ..progress import Update, progress
from .app import DbOption, FutureOption, JsonOption, UsageError, app, open_store, within_horizon


@app.command()
def whatif(
    method: str = typer.Option(
        ..., "--method", metavar="METHOD", help="The rule set to replay with: outlook_client or server_side."
    ),
    users: list[str] = typer.Option(  # noqa: B008
        [], "--user", metavar="USER", help="Move only this user (repeatable; default: every user)."
    ),
    org: list[str] = typer.Option(  # noqa: B008
        [],
        "--org",
        metavar="NAME=VALUE",
        help="An organisation option from the start, NAME=VALUE (e.g. distinct_logical_deletes=true).",
    ),
    at: str | None = typer.Option(
        None, "--at", metavar="TIME", help="Compare as of this time (default: the end of the ledger)."
    ),
    future: bool = FutureOption,
    json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """What would have happened under the other rule set: the ledger's user actions replayed in memory with the
    chosen users moved to METHOD from their declaration on; every CRM record and Outlook item that would end
    differently, with the decision on each side, the actions the other rule set refuses (skipped, with the
    reason), and a summary by rule pair. Appends nothing.

    \b
    Example:
        syncledger whatif --method server_side --org distinct_logical_deletes=false --at 2026-03-02T18:00:00Z
    """
    try:
        chosen = parse_method(method)
        options = parse_org(org)
        when = parse_time(at, "--at") if at is not None else None
    except BadInputError as e:
        raise UsageError(one_line(str(e))) from None
    _, store = open_store(db)
    try:
        if users:  # a typo is refused before the replay, not a minute after it
            _check_users(store, users)
        head = store.head()
        within_horizon(when, head[1] if head is not None else None, future, "--at")
        question = Question(chosen, frozenset(users) if users else None, options, when)
        with progress("replaying the ledger") as update, Spill(store.mapper) as spill:
            found = answer(_reported(store.read(), update, head[0] if head is not None else 0), question, spill.notes)
    except BadInputError as e:
        raise UsageError(one_line(str(e))) from None
    except StoreError as e:  # an event it cannot read (an encrypted ledger without its key, a damaged row)
        raise UsageError(one_line(str(e))) from e
    finally:
        store.close()
    if json:
        print_json(found.document())
    else:
        for line in lines(found):
            console.print(line, markup=False, highlight=False)


def _reported(events: Iterable[Recorded], update: Update, total: int) -> Iterator[Recorded]:
    for position, event in events:
        if position % 5000 == 0:
            update(position, total)
        yield position, event


def _check_users(store: EventStore, users: list[str]) -> None:
    """Every `--user` is declared somewhere in the ledger (`answer` checks them again as of `--at`): only the rows
    of declarations are decoded."""
    declared: list[str] = []
    topic = DECIDED_TOPIC.rpartition(":")[0] + ":" + v.UserAdded.__name__
    for row in store.rows():
        if row.topic == topic:
            _, event = store.mapper.decode_row(row.position, row.topic, row.state)
            if isinstance(event, v.UserAdded):
                declared.append(event.user)
    for user in users:
        if user not in declared:
            raise BadInputError(f"unknown user {shown(user)} (declared: {', '.join(declared) or 'none'})")
