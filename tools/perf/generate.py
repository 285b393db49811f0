"""A deterministic synthetic organisation: users with different habits acting on both sides over working days,
with a sync per online user every 15 simulated minutes. Every action is checked by the real engine as it is
generated, so every line is valid for `syncledger import`: the organisation's present in memory, its past (action
ids, deleted records and items, ended links) moved to a scratch file every PAST_EVERY events, as an import moves
a staged world's (so that generating 10^7 events holds what generating 10^5 does)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO

import orjson

from syncledger.ledger import vocabulary as v
from syncledger.ledger.checks import RefusedError
from syncledger.ledger.engine import handle
from syncledger.ledger.world import World, forget_changes
from syncledger.projections.document import iso

from ..progress import progress
from ..transfer import PastFile, move_past

FIRST_DAY = datetime.fromisoformat("2026-03-02T08:00:00+00:00")  # a Monday
TICK = timedelta(minutes=15)
TICKS_PER_DAY = 40  # 08:00 to 18:00
ITEMS_KEPT = 40  # per user, roughly
RECORDS_KEPT = 30
PAST_EVERY = 50_000  # events whose past moves from memory to the scratch file at a time
SUBJECTS = ("Quote", "Renewal", "Kick-off", "Review", "Invoice", "Contract", "Demo", "Follow-up", "Visit")


@dataclass
class Habits:
    """How a user works: how busy, how much mail they track, whether they work offline, what they see."""

    busy: float  # expected actions per 15 minutes
    tracks_mail: float  # share of incoming mail tracked
    laptop: bool  # goes offline now and then
    sync_filter: str
    sync_method: str = "outlook_client"  # a server_side user has no offline queue, so no laptop habit


class Organisation:
    def __init__(self, users: int, seed: int, server_side: float = 0.0) -> None:
        self.rng = random.Random(seed)
        self.world = World()
        self.names = [f"u{n:04d}" for n in range(1, users + 1)]
        self.habits = {
            name: Habits(
                busy=self.rng.choice((0.3, 0.6, 1.0, 1.5, 2.5)),
                tracks_mail=self.rng.choice((0.1, 0.4, 0.8)),
                laptop=self.rng.random() < 0.3,
                sync_filter="owned_and_shared" if self.rng.random() < 0.3 else "owned",
            )
            for name in self.names
        }
        # which users synchronise server-side: drawn apart, so that a share of 0 keeps every other draw as it was
        methods = random.Random(f"server-side {seed}")
        for name in self.names:
            if methods.random() < server_side:
                self.habits[name].sync_method, self.habits[name].laptop = "server_side", False
        self.serial = 0
        self.events = 0

    def _emit(self, raw: dict[str, Any], at: datetime, past: PastFile) -> dict[str, Any] | None:
        """The action as a line if the ledger accepts it now (and folded into the world), else None."""
        self.serial += 1
        line = {"id": f"g-{self.serial:07d}", "at": at, **raw}
        try:
            action = v.ACTION_ADAPTER.validate_python(line)
            self.events += len(handle(self.world, action))
        except RefusedError:
            return None
        world = self.world
        if world.position - world.past.upto >= PAST_EVERY:
            move_past(world, past)
            forget_changes(world)  # what changed since a checkpoint: no checkpoint is written of this world
        return line

    def run(self, days: int, max_events: int | None = None) -> Iterator[dict[str, Any]]:
        with PastFile() as past:
            yield from self._run(days, max_events, past)

    def _run(self, days: int, max_events: int | None, past: PastFile) -> Iterator[dict[str, Any]]:
        for name in self.names:
            raw = {"do": "user.add", "user": name, "sync_filter": self.habits[name].sync_filter}
            if self.habits[name].sync_method != "outlook_client":
                raw["sync_method"] = self.habits[name].sync_method
            line = self._emit(raw, FIRST_DAY, past)
            if line:
                yield line
        for day in range(days):
            start = FIRST_DAY + timedelta(days=day + (day // 5) * 2)  # working days only
            for tick in range(TICKS_PER_DAY):
                at = start + tick * TICK
                for name in self.names:
                    for raw in self._user_tick(name, at, tick):
                        line = self._emit(raw, at, past)
                        if line:
                            yield line
                        if max_events is not None and self.events >= max_events:
                            return

    def _user_tick(self, name: str, at: datetime, tick: int) -> Iterator[dict[str, Any]]:
        rng, habits, user = self.rng, self.habits[name], self.world.users[name]
        if habits.laptop and not user.online and rng.random() < 0.3:
            yield {"do": "online", "user": name}
        elif habits.laptop and user.online and rng.random() < 0.02:
            yield {"do": "offline", "user": name}
        for _ in range(self._poisson(habits.busy)):
            yield self._action(name, habits)
        if user.online:
            yield {"do": "sync", "user": name}

    def _poisson(self, mean: float) -> int:
        n, threshold, p = 0, pow(2.718281828, -mean), self.rng.random()
        while p > threshold:
            n += 1
            p *= self.rng.random()
        return n

    def _action(self, name: str, habits: Habits) -> dict[str, Any]:
        rng, world = self.rng, self.world
        user = world.users[name]
        owned = list(user.owned)
        items = list(user.items)
        colleague = rng.choice(self.names)
        subject = {"subject": f"{rng.choice(SUBJECTS)} {self.serial}"}
        # people clean up more the fuller their mailbox and their CRM lists are: the organisation stays a size
        if len(items) > ITEMS_KEPT and rng.random() < 0.5:
            return {"do": "outlook.delete", "user": name, "item": items[0]}
        if len(owned) > RECORDS_KEPT and rng.random() < 0.5:
            return {"do": "crm.delete", "actor": name, "record": owned[0]}
        roll = rng.random()
        if roll < 0.20:  # mail arrives
            return {"do": "outlook.create", "user": name, "item": f"m{self.serial}", "type": "email", "fields": subject}
        if roll < 0.30 and items:
            candidate = rng.choice(items) if rng.random() > habits.tracks_mail else items[-1]
            if rng.random() < 0.2 and candidate.startswith("m") and owned:
                return {"do": "outlook.set_regarding", "user": name, "item": candidate, "regarding": rng.choice(owned)}
            return {"do": "outlook.track", "user": name, "item": candidate}
        if roll < 0.40:  # CRM web client: a new record for oneself or a colleague
            kind = rng.choice(("contact", "contact", "appointment", "task", "task", "phonecall", "letter", "fax"))
            raw: dict[str, Any] = {
                "do": "crm.create",
                "actor": name,
                "record": f"r{self.serial}",
                "type": kind,
                "owner": name if rng.random() < 0.7 else colleague,
                "fields": subject,
            }
            if kind == "appointment":
                raw["start"] = FIRST_DAY + timedelta(days=rng.randint(0, 60), hours=rng.randint(1, 9))
            return raw
        if roll < 0.55 and owned:
            return {"do": "crm.update", "actor": name, "record": rng.choice(owned), "fields": subject}
        if roll < 0.65 and items:
            return {"do": "outlook.update", "user": name, "item": rng.choice(items), "fields": subject}
        if roll < 0.70 and items:
            return {"do": "outlook.complete", "user": name, "item": rng.choice(items)}
        if roll < 0.75 and owned:
            return {"do": "crm.complete", "actor": name, "record": rng.choice(owned)}
        if roll < 0.80 and owned:
            return {"do": "crm.share", "actor": name, "record": rng.choice(owned), "with": colleague}
        if roll < 0.83 and owned:
            return {"do": "crm.assign", "actor": name, "record": rng.choice(owned), "to": colleague}
        if roll < 0.85 and owned:
            return {"do": "crm.deactivate", "actor": name, "record": rng.choice(owned)}
        if roll < 0.87 and user.links_by_item:
            item = rng.choice(list(user.links_by_item))
            return {"do": "outlook.untrack", "user": name, "item": item}
        if roll < 0.94 and items:  # keeping the mailbox and the task list small
            return {"do": "outlook.delete", "user": name, "item": rng.choice(items)}
        if owned:  # old records are cleaned up, so the organisation reaches a steady size
            return {"do": "crm.delete", "actor": name, "record": owned[0]}
        return {"do": "sync", "user": name}


def generate(
    users: int, days: int, seed: int, max_events: int | None = None, server_side: float = 0.0
) -> Iterator[dict[str, Any]]:
    """Action lines (with `id` and `at`) of a synthetic organisation; `server_side` is the share of its users who
    synchronise server-side (RULES-SSS.md), the others with the Outlook client."""
    return Organisation(users, seed, server_side).run(days, max_events)


def write_lines(
    out: BinaryIO, users: int, days: int, seed: int, max_events: int | None = None, server_side: float = 0.0
) -> int:
    """Write the organisation's action lines (JSON Lines) to `out`, with a progress bar; how many were written."""
    count = 0
    with progress("generating") as update:
        for count, line in enumerate(generate(users, days, seed, max_events, server_side), 1):
            line["at"] = iso(line["at"])
            if "start" in line:
                line["start"] = iso(line["start"])
            out.write(orjson.dumps(line) + b"\n")
            if count % 5000 == 0:
                update(count, count)
    return count
