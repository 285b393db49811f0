"""`pending`: the operations each user's next sync (or going online) will decide, each with the sentence of the
event that queued it."""

from __future__ import annotations

from typing import Any

from syncledger.ledger import vocabulary as v
from syncledger.projections.document import iso
from syncledger.projections.reader import Reader

from .sentences import Names, action_sentence, decision_sentence


def event_sentence(event: v.Action | v.Decided, names: Names, when: str = "") -> str:
    if isinstance(event, v.Decided):
        return decision_sentence(event, names, when)
    return action_sentence(event, names, when)


def queues(reader: Reader, user: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Each user's queue (or only `user`'s, a known user), oldest first, as JSON-ready objects."""
    world = reader.world
    names = Names(world, reader.index, reader.event)
    found: dict[str, list[dict[str, Any]]] = {}
    for name, u in world.users.items():
        if user is not None and name != user:
            continue
        found[name] = []
        for op in u.pending:
            cause = reader.event(op.cause)
            found[name].append(
                {
                    "operation": op.operation,
                    "record": op.record,
                    "item": op.item,
                    "cause": op.cause,
                    "at": iso(op.at),
                    "waits_for": "online" if op.operation.startswith("offline:") else "sync",
                    "sentence": event_sentence(cause, names) if cause is not None else None,
                }
            )
    return found
