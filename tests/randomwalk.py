"""Random valid multi-user action sequences: each next action is drawn from what the current state allows,
so every sequence is accepted by the ledger. Used by the property tests of the invariants; `mixed` walks have users
on both synchronisation methods."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger
from syncledger.ledger.checks import RefusedError, check
from syncledger.ledger.world import World

USERS = ("alice", "bob", "carol")
START = datetime.fromisoformat("2026-03-02T09:00:00+00:00")


KINDS = [
    "crm.create",
    "crm.update",
    "crm.complete",
    "crm.cancel",
    "crm.deactivate",
    "crm.activate",
    "crm.delete",
    "crm.assign",
    "crm.share",
    "crm.unshare",
    "outlook.create",
    "outlook.update",
    "outlook.complete",
    "outlook.delete",
    "outlook.track",
    "outlook.untrack",
    "outlook.set_regarding",
    "sync",
    "offline",
    "online",
    "option",
]
WEIGHTS = [8, 5, 2, 1, 1, 1, 3, 2, 3, 1, 6, 4, 2, 3, 4, 2, 2, 10, 1, 2, 1]


def _candidate(world: World, rng: random.Random, serial: int, mixed: bool = False) -> dict[str, Any]:
    users = list(world.users)
    user = rng.choice(users)
    records = list(world.records) or ["none"]
    items = list(world.users[user].items) or ["none"]
    record, item = rng.choice(records), rng.choice(items)
    other = rng.choice(users)
    fields = {rng.choice(("subject", "phone", "title")): f"v{serial}"}
    start = START + timedelta(hours=rng.randint(-4, 30))
    kinds, weights = (KINDS + ["method", "org.option"], WEIGHTS + [1, 1]) if mixed else (KINDS, WEIGHTS)
    kind = rng.choices(kinds, weights=weights)[0]
    if mixed and kind == "crm.activate":  # rare by chance: pick among the contacts it takes
        inactive = [r.id for r in world.records.values() if r.type == "contact" and r.state == "inactive"]
        record = rng.choice(inactive) if inactive else record
    crm_type = rng.choice(v.CRM_TYPES)
    outlook_type = rng.choice(v.OUTLOOK_TYPES)
    return {
        "crm.create": {
            "actor": user,
            "record": f"r{serial}",
            "type": crm_type,
            "owner": other,
            "fields": fields,
            **({"start": start} if crm_type == "appointment" else {}),
        },
        "crm.update": {"actor": user, "record": record, "fields": fields},
        "crm.assign": {"actor": user, "record": record, "to": other},
        "crm.share": {"actor": user, "record": record, "with": other},
        "crm.unshare": {"actor": user, "record": record, "with": other},
        "outlook.create": {
            "user": user,
            "item": f"i{serial}",
            "type": outlook_type,
            "fields": fields,
            **({"start": start} if outlook_type == "appointment" else {}),
        },
        "outlook.update": {"user": user, "item": item, "fields": fields},
        "outlook.track": {"user": user, "item": item},
        "outlook.untrack": {"user": user, "item": item, **({"delete_in_crm": True} if rng.random() < 0.3 else {})},
        "outlook.set_regarding": {"user": user, "item": item, "regarding": record},
        "sync": {"user": user},
        "offline": {"user": user},
        "online": {"user": user},
        "option": (
            {"user": user, "name": "sync_filter", "value": rng.choice(v.SYNC_FILTERS)}
            if rng.random() < 0.7
            else {"user": user, "name": "delete_untracked_email_in_crm", "value": rng.random() < 0.5}
        ),
        "method": {"user": user, "name": "sync_method", "value": _other_method(world, user)},
        # drawn only when chosen: the walks without `mixed` take the draws they always took
        "org.option": {
            "actor": user,
            "name": "distinct_logical_deletes",
            "value": kind == "org.option" and rng.random() < 0.5,
        },
    }.get(kind, {"actor": user, "record": record} if kind.startswith("crm.") else {"user": user, "item": item}) | {
        "do": "option" if kind == "method" else kind
    }


def _other_method(world: World, user: str) -> str:
    """A switch of method: refused (so redrawn) unless the user has just synced."""
    return "outlook_client" if world.users[user].sync_method == "server_side" else "server_side"


def actions(seed: int, count: int, mixed: bool = False) -> Iterator[v.Action]:
    """`count` actions that a fresh ledger accepts one after the other (users declared first). `mixed`: users on
    either synchronisation method (drawn apart, so that the same seed without it gives the same walk as
    before), switching now and then, and the organisation option set as they go."""
    rng = random.Random(seed)
    methods = random.Random(f"methods {seed}")
    ledger = Ledger()
    at = START
    for name in USERS:
        options = {"sync_filter": rng.choice(v.SYNC_FILTERS), "delete_untracked_email_in_crm": rng.random() < 0.3}
        if mixed and methods.random() < 0.4:  # organisations mixing the Outlook client and server-side sync
            options["sync_method"] = "server_side"
        action = v.ACTION_ADAPTER.validate_python({"do": "user.add", "user": name, "at": at, **options})
        ledger.append([action])
        yield action
    for serial in range(count):
        at += timedelta(minutes=rng.choice((0, 1, 1, 5, 30)))
        for _ in range(50):
            raw = _candidate(ledger.world, rng, serial, mixed)
            action = v.ACTION_ADAPTER.validate_python({**raw, "at": at})
            try:
                check(ledger.world, action)
            except RefusedError:
                continue
            ledger.append([action])
            yield action
            break
