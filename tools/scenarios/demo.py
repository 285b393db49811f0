"""`syncledger demo`: a fresh sample ledger written from the shipped scenario (demo.yaml, beside this module)."""

from __future__ import annotations

from importlib import resources

from syncledger.ledger.vocabulary import Action

from .earlier_demo import make_room
from .load import load
from .run import Outcome, run

DEMO_REF = "outlook:alice/c1"  # the item the demo asks `why` about


def write_demo(db: str) -> Outcome:
    """Write the demo scenario's events at `db`, a new place or an earlier demo, which it replaces; anything
    else there is left as it is (`earlier_demo.NotADemo`). `ScenarioError` if the shipped file is broken."""
    with resources.as_file(resources.files("syncledger.tools.scenarios") / "demo.yaml") as path:
        scenario = load(str(path))
    fresh = run(scenario).ledger  # what the demo is: the actions it appends to an empty ledger
    actions = [event for _, event in fresh.events() if isinstance(event, Action)]
    make_room(db, actions, fresh.world.position)
    return run(scenario, db)
