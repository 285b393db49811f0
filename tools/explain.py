"""`why`: the chain from user actions to an item's present state, in plain sentences."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from ledger import vocabulary as v
from ledger.rules import RULES
from ledger.world import World
from projections.document import iso
from projections.index import ItemIndex

from .inputs import BadInput

Lookup = Callable[[int], "v.Action | v.Decided | None"]


def check_ref(ref: str, index: ItemIndex, world: World) -> None:
    """An unknown reference is bad input; suggest the closest known ones."""
    if ref.startswith("crm:") or (ref.startswith("outlook:") and "/" in ref) or ref.startswith("user:"):
        if index.known(ref):
            return
        close = difflib.get_close_matches(ref, list(index.touched), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise BadInput(f"unknown reference '{ref}'{hint}")
    raise BadInput(f"'{ref}' is not a reference: use crm:<record> or outlook:<user>/<item>")


def describe_action(e: v.Action) -> str:
    """One sentence for a user action."""
    who = e.user_name
    a: Any = e
    return {
        "user.add": lambda: f"{who} was declared (filter: {a.sync_filter})",
        "option": lambda: f"{who} set option {a.name} to {a.value}",
        "outlook.create": lambda: f"{who} created {a.type} {a.item} in Outlook",
        "outlook.update": lambda: f"{who} edited {a.item} in Outlook ({_changes(a.fields, a.start)})",
        "outlook.complete": lambda: f"{who} completed task {a.item} in Outlook",
        "outlook.delete": lambda: f"{who} deleted {a.item} in Outlook",
        "outlook.track": lambda: f"{who} tracked {a.item} in CRM",
        "outlook.untrack": lambda: (
            f"{who} untracked {a.item}" + ("" if a.delete_in_crm is None else f" (delete in CRM: {a.delete_in_crm})")
        ),
        "outlook.set_regarding": lambda: f"{who} set Regarding of {a.item} to {a.regarding}",
        "crm.create": lambda: f"{who} created {a.type} {a.record} in CRM (owner: {a.owner or who})",
        "crm.update": lambda: f"{who} edited {a.record} in CRM ({_changes(a.fields, a.start)})",
        "crm.complete": lambda: f"{who} completed {a.record} in CRM",
        "crm.cancel": lambda: f"{who} canceled {a.record} in CRM",
        "crm.deactivate": lambda: f"{who} deactivated {a.record} in CRM",
        "crm.activate": lambda: f"{who} activated {a.record} in CRM",
        "crm.delete": lambda: f"{who} deleted {a.record} in CRM",
        "crm.assign": lambda: f"{who} assigned {a.record} to {a.to} in CRM",
        "crm.share": lambda: f"{who} shared {a.record} with {a.with_} in CRM",
        "crm.unshare": lambda: f"{who} stopped sharing {a.record} with {a.with_} in CRM",
        "sync": lambda: f"{who} synchronised",
        "offline": lambda: f"{who} went offline",
        "online": lambda: f"{who} went online",
    }[e.do]()


def _changes(fields: dict[str, Any], start: Any) -> str:
    parts = [f"{k}={val}" for k, val in fields.items()] + ([f"start={iso(start)}"] if start else [])
    return ", ".join(parts) or "no change"


def describe_decision(d: v.Decided) -> str:
    rule = RULES[d.rule]
    context = f"at {d.actor.removeprefix('sync:')}'s sync" if d.actor.startswith("sync:") else "at once"
    reason = f" ({d.reason})" if d.reason else ""
    return f"{context}, {rule.then}{reason} ({rule.id}; source: {rule.source_text})"


def chain(ref: str, index: ItemIndex, lookup: Lookup) -> list[dict[str, Any]]:
    """The last decision about the item and the events that caused it, oldest first."""
    last = index.last_decision(ref)
    if last is None:
        return []
    links: list[dict[str, Any]] = []
    position: int | None = last[0]
    while position:
        event = lookup(position)
        if event is None:
            break
        step: dict[str, Any] = {"position": position, "at": iso(event.at), "event": event.do}
        if isinstance(event, v.Decided):
            step.update(actor=event.actor, rule=event.rule, sentence=describe_decision(event))
            position = event.cause if event.cause < position else None
        else:
            step.update(actor=event.user_name, rule=None, sentence=describe_action(event))
            position = None
        links.append(step)
    return list(reversed(links))


def present_state(ref: str, world: World) -> str:
    """One sentence on where the item is now."""
    if ref.startswith("crm:"):
        record = world.records.get(ref[4:])
        if record is None:
            return f"{ref} does not exist in CRM now."
        linked = [user for user in world.links_to.get(record.id, {})]
        return f"{ref} exists in CRM ({record.type}, owner {record.owner}, {record.state})" + (
            f", linked in the Outlook of {', '.join(linked)}." if linked else ", linked to no Outlook item."
        )
    if ref.startswith("outlook:"):
        user_name, _, item_id = ref[8:].partition("/")
        user = world.users.get(user_name)
        item = user.items.get(item_id) if user else None
        if item is None:
            return f"{ref} is not in {user_name}'s Outlook now."
        link = user.links_by_item.get(item_id) if user else None
        if link is None:
            return f"{ref} is in {user_name}'s Outlook, not linked to CRM."
        return (
            f"{ref} is in {user_name}'s Outlook, linked to crm:{link.record} ({link.origin}) since position "
            f"{link.position} ({link.rule})."
        )
    return f"{ref}."
