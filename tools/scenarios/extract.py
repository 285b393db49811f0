"""`extract`: a ticket as a scenario. From a ledger, the scenario file that reproduces where one item is and why
(SOURCES.md "extract: a ticket as a scenario" and its precise rules): the users involved with their options at
the start, a `baseline:` when the item's history starts in one, the actions that touched the item, its record
and their other linked copies (its *family*), the actions that created records those name, every option,
offline, online and sync of the users involved up to the family's last event, each with its time; and an
`expect:` of every property of the family's records and items, and the rule of the last decision about each.

Reads only what the item index files under the family and its users (a lookup, not a scan of the ledger).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml

from syncledger.ledger import effects as fx
from syncledger.ledger import vocabulary as v
from syncledger.ledger.world import World, known_record
from syncledger.projections.index import ORG_REF
from syncledger.projections.reader import Reader

USER_ACTIONS = ("option", "offline", "online", "sync", "org.option")  # a user's own actions, kept up to the end
MAX_FAMILY = 200  # records and items: a family larger than this is cut (the scenario says so)
_HASHED = re.compile(r"^(?P<base>.+)#(?P<n>[0-9]+)$")


def _time(t: datetime | None) -> str:
    assert t is not None
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class _Family:
    """The records and Outlook items of the extract, joined by every link any of them ever had."""

    refs: dict[str, None] = field(default_factory=dict)
    positions: set[int] = field(default_factory=set)
    events: dict[int, v.Action | v.Decided] = field(default_factory=dict)
    cut: bool = False


def _family(reader: Reader, ref: str) -> _Family:
    found = _Family()
    queue = [ref]
    while queue:
        current = queue.pop()
        if current in found.refs:
            continue
        if len(found.refs) >= MAX_FAMILY:
            found.cut = True
            break
        found.refs[current] = None
        positions = [p for p in reader.index.touched.get(current, []) if p not in found.events]
        for position, event in reader.events(positions):
            found.events[position] = event
        for position in reader.index.touched.get(current, []):
            found.positions.add(position)
            event = found.events[position]
            if event.do == "alias":  # the importers' other name of an item: both names are the item
                named = event.__dict__
                both = [v.outlook_ref(named["user"], named["item"]), v.outlook_ref(named["user"], named["alias"])]
                queue += [r for r in both if r not in found.refs]
            if not isinstance(event, v.Decided):
                continue
            for effect in event.effects:
                if isinstance(effect, fx.LinkItem):
                    pair = (v.outlook_ref(effect.user, effect.item), v.crm_ref(effect.record))
                    if current in pair:
                        queue += [r for r in pair if r not in found.refs]
    return found


def _step(event: v.Action) -> dict[str, Any]:
    """The action as a scenario step: its time first, then its own keys (no id, no provenance)."""
    data = v.dump(event)
    for key in ("id", "queued", "source", "at"):
        data.pop(key, None)
    return {"at": _time(event.at), **data}


def _named_users(event: v.Action) -> list[str]:
    values = event.__dict__
    return [str(values[k]) for k in ("user", "actor", "owner", "to", "with_") if values.get(k)]


def _named_records(event: v.Action) -> list[str]:
    """Records an action names without being about them: a Regarding, a track's chosen id."""
    if isinstance(event, v.OutlookRegardingSet):
        return [event.regarding]
    if isinstance(event, v.OutlookItemTracked) and event.record is not None:
        return [event.record]
    if isinstance(event, (v.CrmRecordCreated, v.CrmRecordEdited)):
        regarding = event.__dict__.get("regarding")
        return [regarding] if regarding else []
    return []


class _Baseline:
    """The `baseline:` block being built: records, items by user, links, in the order met."""

    def __init__(self) -> None:
        self.at: datetime | None = None
        self.position: int | None = None  # of the baseline action the family's BASELINE decisions came from
        self.records: dict[str, dict[str, Any]] = {}
        self.items: dict[str, dict[str, dict[str, Any]]] = {}
        self.links: list[dict[str, Any]] = []

    def empty(self) -> bool:
        return not (self.records or self.items)

    def record(self, effect: fx.CreateRecord) -> None:
        data = effect.model_dump(mode="json", exclude_none=True, exclude={"kind"})
        data["id"] = data.pop("record")
        self.records.setdefault(data["id"], {"id": data.pop("id"), **data})

    def item(self, effect: fx.CreateItem) -> None:
        data = effect.model_dump(mode="json", exclude_none=True, exclude={"kind", "user"})
        data["id"] = data.pop("item")
        if not data.get("completed"):
            data.pop("completed", None)
        self.items.setdefault(effect.user, {}).setdefault(data["id"], {"id": data.pop("id"), **data})

    def link(self, effect: fx.LinkItem) -> None:
        self.links.append({"user": effect.user, "item": effect.item, "record": effect.record, "origin": effect.origin})

    def users(self) -> list[str]:
        names = [*self.items, *(k["user"] for k in self.links)]
        for r in self.records.values():
            names += [r["owner"], *r.get("shared_with", [])]
        return names

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"at": _time(self.at)}
        if self.records:
            doc["records"] = list(self.records.values())
        if self.items:
            doc["items"] = {user: list(items.values()) for user, items in self.items.items()}
        if self.links:
            doc["links"] = self.links
        return doc


@dataclass
class Extract:
    ref: str
    title: str
    start: datetime
    users: dict[str, dict[str, Any]]
    baseline: dict[str, Any] | None
    steps: list[dict[str, Any] | str]  # a text is a comment (a discrepancy, where it happened)
    expect: dict[str, Any]
    notes: list[str]

    def yaml(self) -> str:
        """The scenario file: flow-style steps, one a line, as the project's scenarios are written."""
        lines = [f"# syncledger extract {self.ref}", *(f"# {note}" for note in self.notes)]
        lines.append(_dump({"title": self.title}).rstrip())
        lines.append(f"start: {_time(self.start)}")
        lines.append("users:")
        lines += [f"  {_flow(name)}: {_flow(options)}" for name, options in self.users.items()]
        if self.baseline is not None:
            lines.append(_dump({"baseline": self.baseline}).rstrip())
        lines.append("steps:" if self.steps else "steps: []")
        lines += [f"  # {step}" if isinstance(step, str) else f"  - {_flow(step)}" for step in self.steps]
        lines.append(_dump({"expect": self.expect}).rstrip())
        return "\n".join(lines) + "\n"


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000, default_flow_style=False)


def _flow(data: Any) -> str:
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100_000, default_flow_style=True)
    return text.removesuffix("\n...\n").strip()  # a lone scalar ends its document


def extract(reader: Reader, ref: str) -> Extract:
    """The scenario that reproduces `ref` (a known item reference: `crm:<record>` or `outlook:<user>/<item>`)."""
    world = reader.world
    family = _family(reader, ref)
    events = family.events
    notes: list[str] = []
    if family.cut:
        notes.append(f"the family of linked records and items was cut at {MAX_FAMILY}: it may not reproduce")
    last = max(family.positions) if family.positions else 0

    # the baseline: what BASELINE decisions set for the family (and the action they came from)
    baseline = _Baseline()
    for position in sorted(family.positions):
        event = events[position]
        if isinstance(event, v.Decided) and event.rule == "BASELINE":
            baseline.position, baseline.at = event.cause, event.at
            for effect in event.effects:
                if isinstance(effect, fx.CreateRecord):
                    baseline.record(effect)
                elif isinstance(effect, fx.CreateItem) and v.outlook_ref(effect.user, effect.item) in family.refs:
                    baseline.item(effect)
                elif isinstance(effect, fx.LinkItem):
                    baseline.link(effect)

    # the family's actions, and the users they name; a discrepancy (an imported row the rules contradict) is no
    # step: it changed nothing, and the scenario says it in a comment in its place
    comments = {p: _discrepancy(p, e) for p, e in events.items() if e.do == "discrepancy"}
    actions = {
        p: e
        for p, e in events.items()
        if isinstance(e, v.Action) and not isinstance(e, v.BaselineObserved) and e.do != "discrepancy"
    }
    actions = {p: e for p, e in actions.items() if not isinstance(e, v.UserAdded)}
    users: dict[str, None] = {}
    for ref_ in family.refs:
        if ref_.startswith("outlook:"):
            users[ref_[8:].partition("/")[0]] = None
    for event in actions.values():
        users.update(dict.fromkeys(_named_users(event)))
    users.update(dict.fromkeys(baseline.users()))

    # records named by those actions that are not in the family: the actions that created (and deleted) them
    for event in list(actions.values()):
        for record in _named_records(event):
            if v.crm_ref(record) in family.refs:
                continue
            _named_record(reader, record, actions, baseline, users)

    # ids of the family chosen as `<id>#n` depend on `<id>`, `<id>#2`... being used in that store then
    _hashed_ids(reader, world, family, actions, baseline)
    users.update(dict.fromkeys(baseline.users()))

    # every organisation option up to the family's last event (whoever set it), and its actor
    for position, event in reader.events([p for p in reader.index.touched.get(ORG_REF, []) if p <= last]):
        if isinstance(event, v.Action):
            actions[position] = event
            users.update(dict.fromkeys(_named_users(event)))

    # every option, offline, online and sync of the users involved, up to the family's last event
    user_events: dict[str, list[tuple[int, v.Action | v.Decided]]] = {}
    for name in list(users):
        positions = [p for p in reader.index.touched.get(f"user:{name}", []) if p <= max(last, 0)]
        user_events[name] = reader.events(positions)
        for position, event in user_events[name]:
            if isinstance(event, v.Action) and event.do in USER_ACTIONS:
                actions[position] = event

    # where the scenario starts: at the baseline (what came before it folds into the users' options and online
    # state), or else at its first step
    steps: list[dict[str, Any] | str]
    if baseline.position is not None:
        start_position, start = baseline.position, baseline.at
        after = [_step(actions[p]) for p in sorted(actions) if p > start_position]
        steps = _with_comments(after, actions, comments, start_position)
        offline = [name for name in users if not _online_at(user_events.get(name, []), start_position)]
        steps = [*({"at": _time(start), "do": "offline", "user": name} for name in offline), *steps]
    else:
        start_position = min(actions) if actions else last
        start = actions[start_position].when if actions else _event_time(reader, last)
        steps = _with_comments([_step(actions[p]) for p in sorted(actions)], actions, comments, 0)
        start_position -= 1
    assert start is not None
    if not baseline.empty() and baseline.at is None:
        baseline.at = start
    options = {name: _options_at(user_events.get(name, []), start_position) for name in users}

    expect = _expectations(reader, world, family)
    title = f"Extract of {ref}" + (f" ({expect['label']})" if expect.get("label") else "")
    expect.pop("label", None)
    return Extract(
        ref=ref,
        title=title,
        start=start,
        users=options,
        baseline=None if baseline.empty() else baseline.document(),
        steps=steps,
        expect=expect,
        notes=notes,
    )


def _discrepancy(position: int, event: v.Action | v.Decided) -> str:
    """`discrepancy @15 10:20 (m365-audit.csv row 1): outlook.update by alice of AAMk...: <refusal>; contradicts
    FILTER-LEAVE-SYNCED @14`, from the importers' `discrepancy` action (read by name: its keys are theirs)."""
    values = event.__dict__
    row, action, decision = values.get("row"), values.get("action") or {}, values.get("decision")
    where = f" ({getattr(row, 'file', '?')} row {getattr(row, 'row', '?')})" if row is not None else ""
    did = f"{action.get('do', '?')} by {action.get('user') or action.get('actor') or '?'}"
    of = action.get("item") or action.get("record")
    against = f"; contradicts {decision.rule} @{decision.position}" if decision is not None else ""
    return (
        f"discrepancy @{position} {_time(event.at)}{where}: {did}{f' of {of}' if of else ''}: "
        f"{values.get('refusal', '')}{against}"
    )


def _with_comments(
    steps: list[dict[str, Any]], actions: dict[int, v.Action], comments: dict[int, str], after: int
) -> list[dict[str, Any] | str]:
    """The steps with each discrepancy's comment where it happened."""
    positions = sorted(p for p in actions if p > after)
    merged: list[tuple[int, dict[str, Any] | str]] = list(zip(positions, steps, strict=True))
    merged += [(p, text) for p, text in comments.items() if p > after]
    return [step for _, step in sorted(merged, key=lambda pair: pair[0])]


def _event_time(reader: Reader, position: int) -> datetime:
    event = reader.event(position) if position else None
    return event.at if event is not None and event.at is not None else datetime(2026, 1, 1, 9, tzinfo=UTC)


def _online_at(events: list[tuple[int, v.Action | v.Decided]], upto: int) -> bool:
    online = True
    for position, event in events:
        if position <= upto and isinstance(event, (v.WentOffline, v.WentOnline)):
            online = isinstance(event, v.WentOnline)
    return online


def _options_at(events: list[tuple[int, v.Action | v.Decided]], upto: int) -> dict[str, Any]:
    """A user's options as `users:` declares them: their user.add's, with every option set before `upto`."""
    options: dict[str, Any] = {}
    for position, event in events:
        if isinstance(event, v.UserAdded):
            options = v.dump(event)
            for key in ("id", "at", "do", "user", "queued", "source"):
                options.pop(key, None)
        elif isinstance(event, v.OptionChanged) and position <= upto:
            options[event.name] = event.value
    return {k: value for k, value in options.items() if value != v.UserAdded.model_fields[k].default}


def _named_record(
    reader: Reader,
    record: str,
    actions: dict[int, v.Action],
    baseline: _Baseline,
    users: dict[str, None],
) -> None:
    """A record a step names: the action that created it (and its deletion), or else the record in the baseline."""
    positions = reader.index.touched.get(v.crm_ref(record), [])
    for position, event in reader.events(positions):
        if isinstance(event, (v.CrmRecordCreated, v.CrmRecordDeleted)):
            actions[position] = event
            users.update(dict.fromkeys(_named_users(event)))
        elif isinstance(event, v.Decided):
            created = [e for e in event.effects if isinstance(e, fx.CreateRecord) and e.record == record]
            if created:
                baseline.record(created[0])
                if event.rule == "BASELINE":
                    baseline.position, baseline.at = event.cause, event.at
                users.update(dict.fromkeys([created[0].owner, *(created[0].shared_with or ())]))
            if any(isinstance(e, fx.DeleteRecord) and e.record == record for e in event.effects):
                actor = event.actor.removeprefix("sync:")  # a decision deleted it: a deletion by that user stands in
                actions[position] = v.CrmRecordDeleted(do="crm.delete", actor=actor, record=record, at=event.at)


def _hashed_ids(
    reader: Reader, world: World, family: _Family, actions: dict[int, v.Action], baseline: _Baseline
) -> None:
    """For a family id `X#n`: the ids `X` .. `X#n-1` of its store that the family does not hold, in the baseline
    (deleted where they were deleted), so that the same id is chosen again."""
    for ref in list(family.refs):
        kind, _, name = ref.partition(":")
        user, _, item = name.partition("/") if kind == "outlook" else ("", "", name)
        match = _HASHED.match(item)
        if match is None:
            continue
        base, n = match["base"], int(match["n"])
        for taken in [base, *(f"{base}#{k}" for k in range(2, n))]:
            other = v.outlook_ref(user, taken) if kind == "outlook" else v.crm_ref(taken)
            if other in family.refs:
                continue
            touched = reader.index.touched.get(other, [])
            if kind == "crm":
                found = known_record(world, taken)
                if found is None:
                    continue
                baseline.record(fx.CreateRecord(record=taken, type=found.type, owner=found.owner))
            else:
                kind_of = _item_type(reader, other, touched)
                if kind_of is None:
                    continue
                baseline.item(fx.CreateItem(user=user, item=taken, type=kind_of))
            gone = _removal(reader, other, touched)
            if gone is not None:
                position, at, actor = gone
                if kind == "crm":
                    actions[position] = v.CrmRecordDeleted(do="crm.delete", actor=actor, record=taken, at=at)
                else:
                    actions[position] = v.OutlookItemDeleted(do="outlook.delete", user=user, item=taken, at=at)


def _item_type(reader: Reader, ref: str, touched: list[int]) -> str | None:
    user, _, item = ref[8:].partition("/")
    for _, event in reader.events(touched[:1]):
        if isinstance(event, v.OutlookItemCreated):
            return event.type
        if isinstance(event, v.Decided):
            for effect in event.effects:
                if isinstance(effect, fx.CreateItem) and effect.user == user and effect.item == item:
                    return effect.type
    return None


def _removal(reader: Reader, ref: str, touched: list[int]) -> tuple[int, datetime, str] | None:
    """Where a record or item outside the family left its store: position, time, and who did it."""
    for position, event in reader.events(touched):
        if isinstance(event, (v.CrmRecordDeleted, v.OutlookItemDeleted)):
            return position, event.when, event.user_name
        if isinstance(event, v.Decided):
            for effect in event.effects:
                if isinstance(effect, fx.DeleteRecord) and ref == v.crm_ref(effect.record):
                    return position, event.at, event.actor.removeprefix("sync:")
                if isinstance(effect, fx.DeleteItem) and ref == v.outlook_ref(effect.user, effect.item):
                    return position, event.at, effect.user
    return None


def _expectations(reader: Reader, world: World, family: _Family) -> dict[str, Any]:
    crm: dict[str, Any] = {}
    outlook: dict[str, dict[str, Any]] = {}
    why: dict[str, Any] = {}
    label: str | None = None
    for ref in family.refs:
        if _alias(world, ref):  # another name of an item of the family, which is checked under its own id
            continue
        last = reader.index.last_decision(ref)
        why[ref] = last[1] if last is not None else None
        kind, _, name = ref.partition(":")
        if kind == "crm":
            record = world.records.get(name)
            if record is None:
                crm[name] = "absent"
                gone = known_record(world, name)
                label = label or (_label(gone.fields) if gone is not None else None)
                continue
            crm[name] = {
                "type": record.type,
                "owner": record.owner,
                "state": record.state,
                "regarding": record.regarding,
                "start": _time(record.start) if record.start else None,
                "fields": dict(record.fields),
                "shared_with": sorted(record.shared_with),
            }
            label = label or _label(record.fields)
        else:
            user_name, _, item_id = name.partition("/")
            user = world.users.get(user_name)
            item = user.items.get(item_id) if user is not None else None
            if item is None or user is None:
                outlook.setdefault(user_name, {})[item_id] = "absent"
                continue
            link = user.links_by_item.get(item_id)
            outlook.setdefault(user_name, {})[item_id] = {
                "type": item.type,
                "linked": link.record if link is not None else False,
                "completed": item.completed,
                "start": _time(item.start) if item.start else None,
                "fields": dict(item.fields),
            }
            label = label or _label(item.fields)
    expect: dict[str, Any] = {}
    if crm:
        expect["crm"] = crm
    if outlook:
        expect["outlook"] = outlook
    expect["why"] = why
    if label:
        expect["label"] = label
    return expect


def _alias(world: World, ref: str) -> bool:
    """Whether `ref` names an Outlook item by its alias (SOURCES.md: aliases), not by its id."""
    kind, _, name = ref.partition(":")
    user_name, _, item_id = name.partition("/")
    user = world.users.get(user_name) if kind == "outlook" else None
    return user is not None and item_id in user.aliases


def _label(fields: dict[str, Any]) -> str | None:
    found = fields.get("fullname") or fields.get("subject")
    return str(found) if found not in (None, "") else None
