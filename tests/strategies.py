"""Hypothesis strategies that draw valid multi-user histories action by action, each next action drawn from
what the state so far allows. Every choice is a draw, so a failing history shrinks: to fewer actions, simpler
kinds (earlier in `KINDS`), the first user, record and item.

The state is folded in memory with the engine itself (no store); a draw the state refuses is skipped.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from syncledger.ledger import vocabulary as v
from syncledger.ledger.checks import RefusedError
from syncledger.ledger.engine import handle
from syncledger.ledger.world import World

USERS = ("alice", "bob", "carol")
START = datetime.fromisoformat("2026-03-02T09:00:00+00:00")
KINDS = (
    "crm.create",
    "sync",
    "outlook.create",
    "crm.update",
    "crm.delete",
    "outlook.update",
    "outlook.delete",
    "outlook.track",
    "outlook.untrack",
    "outlook.set_regarding",
    "outlook.complete",
    "crm.complete",
    "crm.cancel",
    "crm.deactivate",
    "crm.activate",
    "crm.assign",
    "crm.share",
    "crm.unshare",
    "offline",
    "online",
    "option",
)
STEPS = (0, 1, 5, 30)  # minutes between two actions (0: at the same time)


@st.composite
def _raw_action(draw: st.DrawFn, world: World, serial: int) -> dict[str, Any]:
    """One action's fields, drawn from the names the state knows (it may still be refused)."""
    kind = draw(st.sampled_from(KINDS))
    offline = sorted(name for name, u in world.users.items() if not u.online)
    user = draw(st.sampled_from(offline if kind == "online" and offline else sorted(world.users)))
    other = draw(st.sampled_from(sorted(world.users)))
    record = draw(st.sampled_from(sorted(world.records) or ["none"]))
    items = world.users[user].items
    linked = world.users[user].links_by_item
    if kind == "outlook.untrack":  # most drawn items would be refused: draw among those it takes
        items = {i: None for i in items if i in linked} or items
    elif kind == "outlook.track":
        items = {i: None for i in items if i not in linked} or items
    item = draw(st.sampled_from(sorted(items) or ["none"]))
    fields = {draw(st.sampled_from(("subject", "phone", "title"))): f"v{serial}"}
    start = (START + timedelta(hours=draw(st.integers(-4, 30)))).isoformat()
    if kind == "crm.create":
        crm_type = draw(st.sampled_from(v.CRM_TYPES))
        extra = {"start": start} if crm_type == "appointment" else {}
        created = {"do": kind, "actor": user, "record": f"r{serial}", "type": crm_type, "owner": other}
        return {**created, "fields": fields, **extra}
    if kind == "outlook.create":
        outlook_type = draw(st.sampled_from(v.OUTLOOK_TYPES))
        extra = {"start": start} if outlook_type == "appointment" else {}
        return {"do": kind, "user": user, "item": f"i{serial}", "type": outlook_type, "fields": fields, **extra}
    if kind == "option":
        if draw(st.booleans()):
            return {"do": kind, "user": user, "name": "sync_filter", "value": draw(st.sampled_from(v.SYNC_FILTERS))}
        return {"do": kind, "user": user, "name": "delete_untracked_email_in_crm", "value": draw(st.booleans())}
    by_kind: dict[str, dict[str, Any]] = {
        "crm.update": {"actor": user, "record": record, "fields": fields},
        "crm.assign": {"actor": user, "record": record, "to": other},
        "crm.share": {"actor": user, "record": record, "with": other},
        "crm.unshare": {"actor": user, "record": record, "with": other},
        "outlook.update": {"user": user, "item": item, "fields": fields},
        "outlook.untrack": {"user": user, "item": item, **({"delete_in_crm": True} if draw(st.booleans()) else {})},
        "outlook.set_regarding": {"user": user, "item": item, "regarding": record},
        "sync": {"user": user},
        "offline": {"user": user},
        "online": {"user": user},
    }
    default = {"actor": user, "record": record} if kind.startswith("crm.") else {"user": user, "item": item}
    return {"do": kind, **by_kind.get(kind, default)}


@st.composite
def histories(draw: st.DrawFn, max_actions: int = 80) -> list[v.Action]:
    """A history a fresh ledger accepts action by action: the users declared, then up to `max_actions` more."""
    world = World()
    history: list[v.Action] = []
    at = START
    for name in USERS:
        options = {"sync_filter": draw(st.sampled_from(v.SYNC_FILTERS)), "delete_untracked_email_in_crm": False}
        history.append(v.ACTION_ADAPTER.validate_python({"do": "user.add", "user": name, "at": at, **options}))
        handle(world, history[-1])
    for serial in range(draw(st.integers(min_value=0, max_value=max_actions))):
        at += timedelta(minutes=draw(st.sampled_from(STEPS)))
        action = v.ACTION_ADAPTER.validate_python({**draw(_raw_action(world, serial)), "at": at})
        try:
            handle(world, action)
        except RefusedError:
            continue  # not valid in this state: the draw is spent, the history goes on without it
        history.append(action)
    return history
