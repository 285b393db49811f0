"""Hypothesis strategies for valid multi-user histories. A history is drawn as a list of steps, each a kind of
action and its choices (which user, which record, which field...), and read against the state the steps before
it made: a choice picks among the names that state knows. So a failing history shrinks as a list does: steps a
failure does not need become `pass` (the simplest kind, which adds nothing), the others simpler kinds (earlier
in `KINDS`), the first user, record and item.

The state is folded in memory with the engine itself (no store); a step the state refuses is skipped too. Each
user is declared with a synchronisation method drawn on its own, so organisations mix the Outlook client and
server-side sync, and steps switch methods and set the organisation option as they go.
Hypothesis draws short lists unless told otherwise, so a history has at least half its `max_actions` steps.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    "pass",
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
    "method",  # a change of sync_method (refused, so skipped, while the user has pending operations)
    "org.option",
)


@dataclass(frozen=True)
class Step:
    """One action to be, as choices; `record` and `item` pick among what exists when the step is read."""

    kind: str
    user: int
    other: int
    record: int
    item: int
    field: str
    hours: int  # an appointment's start, from START
    flag: bool  # delete_in_crm for an untrack; which option, and its value
    minutes: int  # after the action before
    crm_type: str
    outlook_type: str
    sync_filter: str


steps = st.builds(
    Step,
    kind=st.sampled_from(KINDS),
    user=st.integers(0, len(USERS) - 1),
    other=st.integers(0, len(USERS) - 1),
    record=st.integers(0, 1000),
    item=st.integers(0, 1000),
    field=st.sampled_from(("subject", "phone", "title")),
    hours=st.integers(-4, 30),
    flag=st.booleans(),
    minutes=st.sampled_from((0, 1, 5, 30)),
    crm_type=st.sampled_from(v.CRM_TYPES),
    outlook_type=st.sampled_from(v.OUTLOOK_TYPES),
    sync_filter=st.sampled_from(v.SYNC_FILTERS),
)


def _pick(names: list[str], n: int) -> str:
    return names[n % len(names)] if names else "none"


def read(step: Step, world: World, serial: int) -> dict[str, Any] | None:
    """The step as an action's fields, against the state so far (it may still be refused); None for `pass`."""
    if step.kind == "pass":
        return None
    users = sorted(world.users)
    offline = [name for name in users if not world.users[name].online]
    user = _pick(offline if step.kind == "online" and offline else users, step.user)
    other = _pick(users, step.other)
    record = _pick(sorted(world.records), step.record)
    items, linked = world.users[user].items, world.users[user].links_by_item
    if step.kind == "outlook.untrack":  # most items would be refused: pick among those it takes
        items = {i: None for i in items if i in linked} or items
    elif step.kind == "outlook.track":
        items = {i: None for i in items if i not in linked} or items
    item = _pick(sorted(items), step.item)
    fields = {step.field: f"v{serial}"}
    start = (START + timedelta(hours=step.hours)).isoformat()
    kind = step.kind
    if kind == "crm.create":
        created = {"do": kind, "actor": user, "record": f"r{serial}", "type": step.crm_type, "owner": other}
        return {**created, "fields": fields, **({"start": start} if step.crm_type == "appointment" else {})}
    if kind == "outlook.create":
        created = {"do": kind, "user": user, "item": f"i{serial}", "type": step.outlook_type, "fields": fields}
        return {**created, **({"start": start} if step.outlook_type == "appointment" else {})}
    if kind == "method":
        method = "outlook_client" if world.users[user].sync_method == "server_side" else "server_side"
        return {"do": "option", "user": user, "name": "sync_method", "value": method}
    if kind == "org.option":
        return {"do": "org.option", "actor": user, "name": "distinct_logical_deletes", "value": step.flag}
    if kind == "option":
        if step.flag:
            return {"do": kind, "user": user, "name": "sync_filter", "value": step.sync_filter}
        value = step.sync_filter == "owned"
        return {"do": kind, "user": user, "name": "delete_untracked_email_in_crm", "value": value}
    by_kind: dict[str, dict[str, Any]] = {
        "crm.update": {"actor": user, "record": record, "fields": fields},
        "crm.assign": {"actor": user, "record": record, "to": other},
        "crm.share": {"actor": user, "record": record, "with": other},
        "crm.unshare": {"actor": user, "record": record, "with": other},
        "outlook.update": {"user": user, "item": item, "fields": fields},
        "outlook.untrack": {"user": user, "item": item, **({"delete_in_crm": True} if step.flag else {})},
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
    filters = draw(st.tuples(*(st.sampled_from(v.SYNC_FILTERS) for _ in USERS)))
    methods = draw(st.tuples(*(st.sampled_from(v.SYNC_METHODS) for _ in USERS)))  # organisations mixing both
    for name, sync_filter, method in zip(USERS, filters, methods, strict=True):
        declared = {"do": "user.add", "user": name, "sync_filter": sync_filter, "at": START}
        if method != "outlook_client":
            declared["sync_method"] = method
        history.append(v.ACTION_ADAPTER.validate_python(declared))
        handle(world, history[-1])
    at = START
    for serial, step in enumerate(draw(st.lists(steps, min_size=max_actions // 2, max_size=max_actions))):
        raw = read(step, world, serial)
        if raw is None:
            continue
        at += timedelta(minutes=step.minutes)
        action = v.ACTION_ADAPTER.validate_python({**raw, "at": at})
        try:
            handle(world, action)
        except RefusedError:
            continue  # not valid in this state: the history goes on without it
        history.append(action)
    return history
