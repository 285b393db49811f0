"""Random valid multi-user action sequences: each next action is drawn from what the current state allows,
so every sequence is accepted by the ledger. Used by the property tests of the invariants."""

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


def _candidate(world: World, rng: random.Random, serial: int) -> dict[str, Any]:
    users = list(world.users)
    user = rng.choice(users)
    records = list(world.records) or ["none"]
    items = list(world.users[user].items) or ["none"]
    record, item = rng.choice(records), rng.choice(items)
    other = rng.choice(users)
    fields = {rng.choice(("subject", "phone", "title")): f"v{serial}"}
    start = START + timedelta(hours=rng.randint(-4, 30))
    kind = rng.choices(
        [
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
        ],
        weights=[8, 5, 2, 1, 1, 1, 3, 2, 3, 1, 6, 4, 2, 3, 4, 2, 2, 10, 1, 2, 1],
    )[0]
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
    }.get(kind, {"actor": user, "record": record} if kind.startswith("crm.") else {"user": user, "item": item}) | {
        "do": kind
    }


def actions(seed: int, count: int) -> Iterator[v.Action]:
    """`count` actions that a fresh ledger accepts one after the other (users declared first)."""
    rng = random.Random(seed)
    ledger = Ledger()
    at = START
    for name in USERS:
        options = {"sync_filter": rng.choice(v.SYNC_FILTERS), "delete_untracked_email_in_crm": rng.random() < 0.3}
        action = v.ACTION_ADAPTER.validate_python({"do": "user.add", "user": name, "at": at, **options})
        ledger.append([action])
        yield action
    for serial in range(count):
        at += timedelta(minutes=rng.choice((0, 1, 1, 5, 30)))
        for _ in range(50):
            raw = _candidate(ledger.world, rng, serial)
            action = v.ACTION_ADAPTER.validate_python({**raw, "at": at})
            try:
                check(ledger.world, action)
            except RefusedError:
                continue
            ledger.append([action])
            yield action
            break
