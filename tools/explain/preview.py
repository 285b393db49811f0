"""`preview`: what a user's next sync would decide, through the engine itself, appending nothing; for an offline
user, what going online would do (replay the offline operations, then sync)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syncledger.ledger import vocabulary as v
from syncledger.ledger.engine import decide
from syncledger.ledger.vocabulary import Recorded
from syncledger.ledger.world import World
from syncledger.projections.document import iso
from syncledger.projections.reader import Reader

from ..inputs import BadInputError, Horizon, parse_time
from .pending import event_sentence
from .sentences import Clock, Names, decision_sentence


@dataclass(frozen=True)
class Preview:
    user: str
    at: datetime
    action: v.Action  # what would run: a sync, or going online
    decisions: list[dict[str, Any]]  # JSON-ready, with sentences in the conditional
    at_from: str = "given"  # where `at` came from: "given" (--at), "ledger" (its last event), "clock" (empty ledger)
    method: str = "outlook_client"  # the user's synchronisation method, whose rules would decide

    @property
    def online(self) -> bool:
        return isinstance(self.action, v.SyncRequested)

    def document(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "at": iso(self.at),
            "at_from": self.at_from,
            "does": self.action.do,
            "method": self.method,
            "appended": False,
            "decisions": self.decisions,
        }


def dry_run(world: World, user: str, at: datetime) -> tuple[v.Action, list[Recorded]]:
    """What the user's next sync at `at` would record, decided by the engine itself without changing the world;
    for an offline user, what going online would (replay the offline operations, then sync). Appends nothing."""
    online = world.users[user].online
    action: v.Action = (
        v.SyncRequested(do="sync", user=user, at=at) if online else v.WentOnline(do="online", user=user, at=at)
    )
    return action, decide(world, action)


def preview(reader: Reader, user: str, at: datetime, at_from: str = "given") -> Preview:
    """The dry run of `user`'s next sync at `at` (see `preview_time`); `RefusedError` if the engine refuses it."""
    action, recorded = dry_run(reader.world, user, at)
    method = reader.world.users[user].sync_method
    return Preview(user, at, action, preview_decisions(recorded, reader), at_from, method)


def preview_time(at: str | None, world: World, ahead: Horizon) -> datetime:
    """When the previewed sync runs: `--at`, or the time of the ledger's last event (not the machine's clock: a
    ledger of last March is previewed as of last March), now for an empty ledger; never before the ledger's last
    event, since a preview only looks ahead, nor past the typo guard (`ahead`, which holds the clock)."""
    last = world.at
    if at is None:
        return last if last is not None else ahead.now
    when = parse_time(at, "--at")
    ahead.check(when, last, "--at")
    if last is not None and when < last:
        raise BadInputError(
            f"--at {iso(when)} is before the ledger's last event ({iso(last)}): a preview only looks ahead"
        )
    return when


def preview_decisions(recorded: list[Recorded], reader: Reader) -> list[dict[str, Any]]:
    """The decisions of a dry run as JSON-ready objects with sentences in the conditional."""
    hypothetical = dict(recorded)

    def lookup(position: int) -> v.Action | v.Decided | None:
        return hypothetical.get(position) or reader.event(position)

    names = Names(reader.world, reader.index, lookup)
    for _, event in recorded:
        names.learn(event)
    found = []
    for position, event in recorded:
        if not isinstance(event, v.Decided):
            continue
        cause = lookup(event.cause)
        found.append(
            {
                "position": position,
                "at": iso(event.at),
                "actor": event.actor,
                "rule": event.rule,
                "cause": event.cause,
                "about": list(event.about),
                "effects": [effect.model_dump(mode="json", exclude_none=True) for effect in event.effects],
                "sentence": decision_sentence(event, names, position=position, cause=cause, would=True),
                "cause_sentence": event_sentence(cause, names, Clock().at(cause.at)) if cause is not None else None,
            }
        )
    return found
