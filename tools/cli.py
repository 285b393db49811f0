"""The `syncledger` command line: a thin layer over the ledger and its projections.

Every command that prints data takes `--json`. Exit status: 0 success, 1 a check failed, 2 bad input or usage,
with one line on standard error.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import typer

from ledger.application import ActionRefused, Ledger
from ledger.store import EventStore, StoreError
from ledger.vocabulary import dump
from projections.document import iso, state_document
from projections.index import ItemIndex
from projections.timetravel import world_at, world_at_time

from . import scenario as scenarios
from .explain import chain, check_ref, present_state
from .inputs import BadInput, parse_action, parse_time
from .output import console, fail, print_json
from .reports import print_rules, print_state, rules_document

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="syncledger: the ledger of what Dynamics CRM and each user's Outlook did, and why.",
)

DEFAULT_DB = "./syncledger.db"
DbOption = typer.Option(
    None, "--db", help="Ledger: a SQLite file (default ./syncledger.db, or $SYNCLEDGER_DB) or a postgresql:// URL."
)
JsonOption = typer.Option(False, "--json", help="Print JSON instead of text.")


class Usage(Exception):
    """Bad input or usage: exit status 2 with this one line."""


def _db(db: str | None) -> str:
    return db or os.environ.get("SYNCLEDGER_DB") or DEFAULT_DB


def _open(db: str | None, *, must_exist: bool = True) -> Ledger:
    location = _db(db)
    if must_exist and "://" not in location and not Path(location).exists():
        raise Usage(
            f"no ledger at {location} (create one with 'syncledger demo' or 'syncledger do user.add "
            f"user=alice', or choose one with --db)"
        )
    try:
        return Ledger(EventStore(location))
    except StoreError as e:
        raise Usage(str(e)) from None


# ------------------------------------------------------------------------------------------------ run


@app.command()
def run(
    files: list[str] = typer.Argument(..., help="Scenario files (YAML)."),
    json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """Run scenario files, each in a fresh in-memory ledger (or appended to --db), and check their expectations.

    Example: syncledger run tests/scenarios/*.yaml
    """
    worst = 0
    for path in files:
        try:
            outcome = scenarios.run(scenarios.load(path), db)
        except scenarios.ScenarioError as e:
            fail(str(e))
            worst = 2
            continue
        except StoreError as e:
            fail(f"{path}: {e}")
            worst = 2
            continue
        worst = max(worst, outcome.status)
        if json:
            print_json(state_document(outcome.ledger.world))
        report = sys.stderr if json else sys.stdout
        if outcome.failures:
            report.write(f"FAIL {path}: {outcome.scenario.title}\n")
            for failure in outcome.failures:
                report.write(f"  {failure}\n")
        elif not json:
            report.write(f"ok   {path}: {outcome.scenario.title}\n")
    raise typer.Exit(worst)


# ------------------------------------------------------------------------------------------------ do


def _parse_pairs(verb: str, pairs: list[str]) -> dict[str, Any]:
    import yaml

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
        # field values stay text; other values are read as YAML scalars (true, false, times)
        if path[0] == "fields":
            target[path[-1]] = value
        else:
            try:
                target[path[-1]] = yaml.safe_load(value) if value else value
            except yaml.YAMLError:
                target[path[-1]] = value
            if isinstance(target[path[-1]], (int, float)) and not isinstance(target[path[-1]], bool):
                target[path[-1]] = value
    return raw


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
        when = parse_time(at, "--at") if at else None
    except BadInput as e:
        raise Usage(f"{verb}: {e}") from None
    ledger = _open(db, must_exist=False)
    if when is None:
        now = datetime.now(UTC).replace(microsecond=0)
        when = max(now, ledger.world.at) if ledger.world.at else now
    try:
        recorded = ledger.append([action.model_copy(update={"at": when})])
    except ActionRefused as e:
        raise Usage(f"{verb}: {e.problem}") from None
    if json:
        print_json([{"position": p, **dump(e)} for p, e in recorded])
        return
    from .explain import describe_action, describe_decision

    for position, event in recorded:
        text = describe_decision(event) if event.do == "decision" else describe_action(event)  # type: ignore[arg-type]
        console.print(f"@{position} {iso(event.at)} {text}")


# ------------------------------------------------------------------------------------------------ state


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
    ledger = _open(db)
    if position is not None:
        if not 0 <= position <= ledger.world.position:
            raise Usage(f"--position {position} is outside the ledger (0..{ledger.world.position})")
        world = world_at(ledger.store, position)
    elif at is not None:
        try:
            world = world_at_time(ledger.store, parse_time(at, "--at"))
        except BadInput as e:
            raise Usage(str(e)) from None
    else:
        world = ledger.world
    if user is not None and user not in world.users:
        raise Usage(f"unknown user '{user}' (known: {', '.join(world.users) or 'none'})")
    doc = state_document(world, user)
    print_json(doc) if json else print_state(doc)


# ------------------------------------------------------------------------------------------------ why


@app.command()
def why(
    ref: str = typer.Argument(..., help="crm:<record> or outlook:<user>/<item>"),
    json: bool = JsonOption,
    db: str | None = DbOption,
) -> None:
    """Why an item is in its present state: the chain from user actions to the last decision about it.

    Example: syncledger why outlook:alice/c1
    """
    ledger = _open(db)
    index = ItemIndex()
    index.add(ledger.events())
    try:
        check_ref(ref, index, ledger.world)
    except BadInput as e:
        raise Usage(str(e)) from None

    def lookup(position: int) -> Any:
        found = ledger.store.read_one(position)
        return found[1] if found else None

    steps = chain(ref, index, lookup)
    now = present_state(ref, ledger.world)
    if json:
        print_json({"ref": ref, "now": now, "chain": steps})
        return
    console.print(now)
    if not steps:
        console.print(
            f"No decision was ever recorded about it: only user actions changed it (see 'syncledger history {ref}')."
        )
    for step in steps:
        console.print(f"  @{step['position']} {step['at']}  {step['sentence']}")


# ------------------------------------------------------------------------------------------------ rules, demo


@app.command()
def rules(json: bool = JsonOption) -> None:
    """The synchronisation rules, from the code: ID, timing, condition, effect, confidence, sources.

    Example: syncledger rules --json
    """
    print_json(rules_document()) if json else print_rules()


@app.command()
def demo(db: str = typer.Option("./syncledger-demo.db", "--db", help="Where to write the demo ledger.")) -> None:
    """Write a fresh sample ledger from the shipped demo scenario and show what it holds.

    Example: syncledger demo && syncledger state --db syncledger-demo.db
    """
    if "://" not in db:
        for suffix in ("", "-wal", "-shm"):
            Path(db + suffix).unlink(missing_ok=True)
    with resources.as_file(resources.files("tools") / "demo.yaml") as path:
        try:
            outcome = scenarios.run(scenarios.load(str(path)), db)
        except scenarios.ScenarioError as e:
            raise Usage(str(e)) from None
    console.print(f"[bold]{outcome.scenario.title}[/bold]  (ledger written to {db})\n")
    print_state(state_document(outcome.ledger.world))
    ref = "outlook:alice/c1"
    console.print(f"\n[bold]syncledger why {ref} --db {db}[/bold]")
    index = ItemIndex()
    index.add(outcome.ledger.events())
    console.print(present_state(ref, outcome.ledger.world))

    def lookup(position: int) -> Any:
        found = outcome.ledger.store.read_one(position)
        return found[1] if found else None

    for step in chain(ref, index, lookup):
        console.print(f"  @{step['position']} {step['at']}  {step['sentence']}")
    if outcome.failures:
        raise typer.Exit(1)


def main() -> None:
    """Run the command line with one-line errors and the documented exit statuses."""
    try:
        code = app(standalone_mode=False)
    except Usage as e:
        fail(str(e))
        code = 2
    except KeyboardInterrupt:
        code = 130
    except Exception as e:
        if type(e).__name__ == "Abort":  # Ctrl-C at a prompt
            sys.exit(130)
        if hasattr(e, "format_message") and hasattr(e, "exit_code"):  # a usage error of (typer's) click
            fail(e.format_message())
            code = 2
            sys.exit(code)
        # a bug: still one line, the traceback on request
        if os.environ.get("SYNCLEDGER_DEBUG"):
            raise
        fail(f"internal error: {type(e).__name__}: {e} (run with SYNCLEDGER_DEBUG=1 for the traceback)")
        code = 70
    sys.exit(code if isinstance(code, int) else 0)
