"""`syncledger verify`: nothing lost, nothing changed, and every read model equal to a rebuild; `syncledger head`:
the anchor that shows a ledger cut short, kept outside it."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from syncledger.ledger.seal import KEYED
from syncledger.ledger.store import StoreError
from syncledger.projections.document import iso
from syncledger.projections.integrity import Head
from syncledger.projections.integrity import verify as check_ledger
from syncledger.projections.keys import KeyRefused, check_verify_key
from syncledger.projections.projector import Projector
from syncledger.projections.readmodels import tracking_behind
from syncledger.projections.sqlmodels import open_read_models

from ..output import console, one_line, print_json
from ..progress import progress
from .app import DbOption, JsonOption, UsageError, app, ledger_location, open_store, reports_damage

# What a stored event changed behind the ledger's back raises as the read models fold it (they read the store's own
# rows without validating them again: `ledger.serial`), as found by changing each field of each kind of event in
# turn: one that does not decode (StoreError), a field missing or of another type (KeyError, TypeError, ValueError),
# an option no user has (AttributeError), an action without its time (AssertionError: the ledger stamps every action
# before storing it). `verify` checks every event validated in full and reports each of these; if it finds nothing,
# the error was not the data's, and is raised again.
_BAD_EVENTS = (StoreError, LookupError, TypeError, ValueError, AttributeError, AssertionError)
_HEAD = re.compile(r"([1-9][0-9]{0,18}):([0-9a-fA-F]{64})")


@app.command()
@reports_damage
def verify(
    json: bool = JsonOption,
    head: list[str] = typer.Option(
        [],
        "--head",
        metavar="POSITION:SEAL",
        help="A head printed by 'syncledger head' earlier (POSITION:SEAL): the ledger must still hold it.",
    ),
    heads: Path | None = typer.Option(
        None, "--heads", metavar="FILE", help="A file of heads, one POSITION:SEAL at the start of a line."
    ),
    rebuild: bool = typer.Option(
        False, "--rebuild", help="After checking, drop the read models and rebuild them from the events as they are."
    ),
    db: str | None = DbOption,
) -> None:
    """Check the ledger's integrity: the sequence, the seal over every event, decisions against their causes and
    the rule table, action ids unique, the read models (checkpoints, the archived past, the item index) against
    their seals and a rebuild, nothing derived past the last event, and every head given. Exit 1 with findings;
    exit 2 if it cannot check (a keyed ledger without its key).

    With --rebuild, the read models are then rebuilt from the events: after an older copy of the ledger was
    restored on purpose, whose read models reach past its end, so that the other commands refuse it.

    
    Example:
        SYNCLEDGER_SEAL_KEY=... syncledger verify --heads heads.txt --json
    """
    anchors = [_head(text, "--head") for text in head] + (_heads_file(heads) if heads is not None else [])
    location, store = open_store(db)
    try:
        models = open_read_models(location, store.mapper, store)
    except StoreError as e:
        raise UsageError(str(e)) from e
    try:
        keyed = check_verify_key(store, models, ledger_location(db))
    except KeyRefused as e:
        raise UsageError(f"cannot verify: {e}") from None
    # a keyed ledger checked without its key (one gone unkeyed midway: the scan says where): nothing derived is
    # written, since it would be sealed without the key
    keyless = keyed and store.seal_key is None
    if keyless and rebuild:
        raise UsageError("cannot rebuild the read models of a keyed ledger without its key: set SYNCLEDGER_SEAL_KEY")
    stopped: Exception | None = None
    # read models whose tracking row was set back are not caught up from there (it would add rows twice): the
    # checks below report it, and --rebuild starts them again from nothing
    set_back = bool(tracking_behind(models))
    try:  # bring the read models up to date if the events allow; what stops it is reported by the checks below
        with progress("bringing the read models up to date") as update:
            if not keyless and not set_back:
                Projector(store, models).catch_up(update)
    except _BAD_EVENTS as e:
        stopped = e
    with progress("verifying") as update:
        report = check_ledger(store, models, update, anchors)
    if stopped is not None and report.ok:
        raise stopped  # the events are sound: what stopped the catch-up was not theirs (a bug: exit 70, said so)
    if rebuild:
        models.reset()
        try:
            with progress("rebuilding the read models") as update:
                Projector(store, models).catch_up(update)
        except StoreError as e:
            raise UsageError(f"the read models cannot be rebuilt: {e}") from None
    if json:
        print_json(
            {
                "ok": report.ok,
                "events": report.events,
                "keyed": report.keyed,
                "checkpoints": report.checkpoints,
                "heads": len(anchors),
                "read_models_up_to": report.tracking,
                "findings": [f.__dict__ for f in report.findings],
            }
        )
    elif report.ok:
        seal = "a keyed seal (HMAC)" if report.keyed else "an unkeyed seal (SHA-256)"
        held = f"; holds the {len(anchors)} head(s) given" if anchors else ""
        console.print(
            f"ok: {report.events:,} events at {ledger_location(db)}, under {seal}; nothing lost, nothing "
            f"changed{held}; {report.checkpoints} checkpoints, the archived past and the item index equal a rebuild",
            markup=False,
        )
    else:
        first = report.findings[0]
        console.print(
            f"{len(report.findings)} finding(s); the first at position {first.position}", style="bold red", markup=False
        )
        for f in report.findings[:50]:
            console.print(f"  @{f.position} {f.check}: {one_line(f.problem)}", markup=False)
    raise typer.Exit(0 if report.ok else 1)


def _head(text: str, where: str) -> Head:
    found = _HEAD.fullmatch(text.strip())
    if found is None:
        raise UsageError(
            one_line(
                f"{where}: '{text}' is not a head: expected POSITION:SEAL as 'syncledger head' prints it "
                "(a position, a colon, 64 hex digits)",
                300,
            )
        )
    return int(found[1]), bytes.fromhex(found[2])


def _heads_file(path: Path) -> list[Head]:
    """Heads one per line (as `syncledger head >> FILE` appends them): the first word of each line; blank lines
    and lines starting with # are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--heads {path}: cannot read it ({type(e).__name__}: {one_line(str(e), 200)})") from None
    return [
        _head(line.split()[0], f"{path}:{number}")
        for number, line in enumerate(lines, 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


@app.command("head")
def head_(json: bool = JsonOption, db: str | None = DbOption) -> None:
    """Print the ledger's head: the position, time and seal of its newest event (an HMAC when the ledger is keyed).
    Keep heads outside the ledger (a ticket, a mail, a log): 'syncledger verify --heads FILE' later shows whether
    the ledger still holds each, so that events removed from its end, or an older copy restored, are found.

    \b
    Example:
        syncledger head >> /var/log/syncledger-heads.txt
    """
    _, store = open_store(db)
    try:
        found = store.head()
    except StoreError as e:
        raise UsageError(str(e)) from None
    if found is None:
        raise UsageError(f"the ledger at {ledger_location(db)} has no events yet: there is no head to keep")
    position, at, seal = found
    keyed = store.newest_kind() == KEYED
    if json:
        print_json(
            {
                "head": f"{position}:{seal.hex()}",
                "position": position,
                "at": iso(at),
                "seal": seal.hex(),
                "keyed": keyed,
            }
        )
    else:
        console.print(f"{position}:{seal.hex()} {iso(at)} {'keyed' if keyed else 'unkeyed'}", markup=False)
