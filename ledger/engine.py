"""The sync engine: turns one user action into the events to record, in causal order.

Shape (the imperative shell around a functional core): the action is checked, then recorded; immediate
operations append their decisions in the same batch; queued ones ride on the event as pending operations; a
sync gathers the user's pending operations and the state at sync time, asks the rule table (`ledger.rules`)
for each, and records every decision with its rule and cause. Each recorded event is folded into the world at
once, so the next decision sees the state after the previous one. No clock and no I/O: time comes with the
action, positions follow the world's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from . import rules
from . import vocabulary as v
from .checks import Refused, check
from .evolve import evolve
from .vocabulary import Recorded
from .world import (
    Pending,
    Record,
    User,
    World,
    active_link,
    filter_users,
    fresh_id,
    in_filter,
    item_id_used,
    known_record,
    record_id_used,
    shows_completed,
    skips_deleted,
)

__all__ = ["Refused", "handle"]


def handle(world: World, action: v.Action) -> list[Recorded]:
    """Check the action, then record it and everything it causes. Raises `Refused` and records nothing."""
    if action.at is None:
        raise Refused("the action has no time")
    check(world, action)
    batch = _Batch(world)
    if action.id is None:
        action = action.model_copy(update={"id": f"auto-{world.position + 1}"})
    _HANDLERS[type(action)](batch, action)
    return batch.recorded


class _Batch:
    """The events one action records, each folded into the world as soon as it is recorded."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.recorded: list[Recorded] = []
        self.carried: list[object] = []  # effects the next decision takes along (a replay settling its op)

    @property
    def next_position(self) -> int:
        return self.world.position + 1

    def record(self, event: v.Action | v.Decided, queue: Callable[[int], Iterable[v.Queued]] | None = None) -> int:
        """Fold and keep the event. `queue(position)` names the pending operations it creates, computed from
        the state after the event (who has the record in their filter *after* the change)."""
        position = self.next_position
        evolve(self.world, event, position)
        if queue is not None:
            queued = tuple(queue(position))
            if queued:
                event = event.model_copy(update={"queued": queued})
                for q in queued:
                    self.world.users[q.user].pending.append(Pending.of(q, event.when))
        self.recorded.append((position, event))
        return position

    def decide(
        self,
        rule: str,
        cause: int,
        at: datetime,
        actor: str,
        about: Iterable[str],
        effects: Iterable[object] = (),
        reason: str | None = None,
        queue: Callable[[int], Iterable[v.Queued]] | None = None,
    ) -> int:
        effects = (*self.carried, *effects)
        self.carried = []
        decision = v.Decided(
            at=at,
            actor=actor,
            rule=rule,
            cause=cause,
            about=tuple(dict.fromkeys(about)),
            effects=effects,
            reason=reason,
        )
        return self.record(decision, queue)


# ------------------------------------------------------------------------------------------ queueing


def change_queue(
    world: World, record_id: str, operation: str, *, except_user: str | None = None, cause: int | None = None
) -> Callable[[int], list[v.Queued]]:
    """A CRM change queues one operation for each user with an active link to the record, and each user who
    has it in their filter after the change without an active link; never for the user whose Outlook made it.
    """

    def queue(position: int) -> list[v.Queued]:
        users = dict.fromkeys(world.links_to.get(record_id, {}))
        record = world.records.get(record_id)
        if record is not None:
            users.update(dict.fromkeys(filter_users(world, record)))
        users.pop(except_user, None)  # type: ignore[arg-type]
        return [
            v.Queued(
                user=name,
                operation=operation,
                record=record_id,
                cause=cause or position,
                item=_linked_item(world, name, record_id),
            )
            for name in users
            if record is None
            or active_link(world, name, record_id) is not None
            or not skips_deleted(world.users[name], record)
        ]

    return queue


def _linked_item(world: World, user: str, record_id: str) -> str | None:
    link = active_link(world, user, record_id)
    return link.item if link is not None else None


def _self_queue(
    user: str, operation: str, record: str | None, item: str | None, cause: int, **extra: object
) -> Callable[[int], list[v.Queued]]:
    return lambda position: [v.Queued(user=user, operation=operation, record=record, item=item, cause=cause, **extra)]


# ------------------------------------------------------------------------------------------ handlers


def _plain(batch: _Batch, action: v.Action) -> None:
    batch.record(action)


def _option(batch: _Batch, a: v.OptionChanged) -> None:
    world = batch.world
    user = world.users[a.user]
    if a.name != "sync_filter" or a.value == user.sync_filter:
        batch.record(a)
        return
    before = {rid: in_filter(world.records[rid], user) for rid in user.shared}

    def queue(position: int) -> list[v.Queued]:
        queued = []
        for rid, was_in in before.items():
            record = world.records[rid]
            now_in = in_filter(record, user)
            link = active_link(world, a.user, rid)
            if was_in == now_in or (link is None and (not now_in or skips_deleted(user, record))):
                continue
            queued.append(
                v.Queued(user=a.user, operation="option", record=rid, cause=position, item=link.item if link else None)
            )
        return queued

    batch.record(a, queue)


def _crm_change(batch: _Batch, a: v.Action) -> None:
    batch.record(a, change_queue(batch.world, a.record, a.do))  # type: ignore[attr-defined]


def _outlook_delete(batch: _Batch, a: v.OutlookItemDeleted) -> None:
    link = batch.world.users[a.user].links_by_item.get(a.item)
    if link is None:
        batch.record(a)
    else:
        batch.record(a, _self_queue(a.user, a.do, link.record, a.item, batch.next_position))


def _untrack(batch: _Batch, a: v.OutlookItemUntracked) -> None:
    world = batch.world
    user = world.users[a.user]
    link = user.links_by_item[a.item]
    if a.delete_in_crm is not None:
        designated = a.delete_in_crm
    else:
        is_email = _known(world, link.record).type == "email"
        designated = is_email and user.delete_untracked_email_in_crm
    cause = batch.record(a)
    batch.decide(
        "UNTRACK-LINK",
        cause,
        a.when,
        a.user,
        _ends(a.user, a.item, link.record),
        [v.Unlinked(user=a.user, item=a.item, record=link.record)],
        queue=_self_queue(a.user, a.do, link.record, a.item, cause, designated=designated),
    )


def _immediate(batch: _Batch, a: v.OfflineAction) -> None:
    """Tracking, Set Regarding and edits of linked items: at once online, queued offline (OFFLINE-QUEUE)."""
    world = batch.world
    user = world.users[a.user]
    link = user.links_by_item.get(a.item)
    is_edit = isinstance(a, (v.OutlookItemEdited, v.OutlookTaskCompleted))
    cause = batch.record(a)
    if is_edit and link is None:
        return  # an edit of an unlinked item stays in Outlook
    if not user.online:
        record = link.record if link is not None else getattr(a, "record", None)
        batch.decide(
            "OFFLINE-QUEUE",
            cause,
            a.when,
            user.name,
            [v.outlook_ref(user.name, a.item)],
            queue=_self_queue(
                user.name,
                f"offline:{a.do}",
                record,
                a.item,
                cause,
                replay=a,
            ),
        )
        return
    _apply_immediate(batch, a, cause, user.name, a.when)


def _apply_immediate(batch: _Batch, a: v.OfflineAction, cause: int, actor: str, at: datetime) -> None:
    """The effect of an immediate operation, online or replayed: TRACK-*, SET-REGARDING, OUTLOOK-EDIT-PUSH or
    EDIT-ORPHAN. The caller has made sure it can still be applied."""
    world = batch.world
    user = world.users[a.user]
    item_id: str = a.item
    link = user.links_by_item.get(item_id)
    if isinstance(a, v.OutlookItemTracked):
        _track(batch, user, item_id, a.record, cause, at, actor)
        return
    if isinstance(a, v.OutlookRegardingSet) and link is None:
        _track(batch, user, item_id, None, cause, at, actor)
        link = user.links_by_item[item_id]
    assert link is not None
    about = _ends(user.name, item_id, link.record)
    if link.record not in world.records:
        batch.decide(
            "EDIT-ORPHAN",
            cause,
            at,
            actor,
            [v.outlook_ref(user.name, item_id)],
            reason=f"CRM record '{link.record}' no longer exists",
        )
        return
    operation: str = a.do
    if isinstance(a, v.OutlookRegardingSet):
        change = v.RecordChanged(record=link.record, regarding=a.regarding)
        rule = "SET-REGARDING"
    elif isinstance(a, v.OutlookTaskCompleted):
        change = v.RecordChanged(record=link.record, state="completed")
        rule = "OUTLOOK-EDIT-PUSH"
    else:
        assert isinstance(a, v.OutlookItemEdited)
        change = v.RecordChanged(record=link.record, fields=a.fields, start=a.start)
        rule = "OUTLOOK-EDIT-PUSH"
    batch.decide(
        rule,
        cause,
        at,
        actor,
        about,
        [change],
        queue=change_queue(world, link.record, operation, except_user=user.name),
    )


def _track(
    batch: _Batch, user: User, item_id: str, record_id: str | None, cause: int, at: datetime, actor: str
) -> None:
    world = batch.world
    item = user.items[item_id]
    record_id = record_id or fresh_id(item_id, lambda rid: record_id_used(world, rid))
    state = "completed" if item.completed else "active"
    created = v.RecordCreated(
        record=record_id, type=item.type, owner=user.name, state=state, fields=item.fields, start=item.start
    )
    probe = Record(record_id, item.type, user.name, state)
    rule = "TRACK-EMAIL" if item.type == "email" else "TRACK-ITEM"
    batch.decide(
        rule,
        cause,
        at,
        actor,
        _ends(user.name, item_id, record_id),
        [
            created,
            v.Linked(
                user=user.name, item=item_id, record=record_id, origin="tracked", in_filter=in_filter(probe, user)
            ),
        ],
    )


def _known(world: World, record_id: str) -> Record:
    """A record that a link or a pending operation names exists, or existed: ids are never forgotten."""
    known = known_record(world, record_id)
    assert known is not None, f"record '{record_id}' is named but was never recorded"
    return known


def _ends(user: str, item: str, record: str) -> list[str]:
    return [v.crm_ref(record), v.outlook_ref(user, item)]


# ------------------------------------------------------------------------------------------ offline


def _go_online(batch: _Batch, a: v.WentOnline) -> None:
    world = batch.world
    user = world.users[a.user]
    cause = batch.record(a)
    for op in [p for p in user.pending if p.operation.startswith("offline:")]:
        replay = op.replay
        assert replay is not None, "every offline operation carries the action to replay"
        conflict = _offline_conflict(world, user, op, replay)
        batch.carried = [v.Settled(user=user.name, cause=op.cause)]
        if conflict is not None:
            batch.decide(
                "OFFLINE-CONFLICT",
                op.cause,
                a.when,
                user.name,
                [v.outlook_ref(user.name, op.item or "")],
                reason=conflict,
            )
        else:
            _apply_immediate(batch, replay, op.cause, user.name, a.when)
    _sync(batch, user, cause, a.when, "GO-ONLINE-SYNC")


def _offline_conflict(world: World, user: User, op: Pending, replay: v.Action) -> str | None:
    """Why a queued offline operation can no longer be applied, or None if it can."""
    item_id = op.item or ""
    if item_id not in user.items:
        return f"item '{item_id}' was deleted before {user.name} went online"
    link = user.links_by_item.get(item_id)
    if op.record is not None and not isinstance(replay, v.OutlookItemTracked):
        if link is None:
            return f"the link of '{item_id}' to '{op.record}' ended before {user.name} went online"
        if link.record != op.record:
            return f"'{item_id}' is now linked to '{link.record}', not '{op.record}'"
        if op.record not in world.records:
            return f"CRM record '{op.record}' was deleted before {user.name} went online"
    if isinstance(replay, v.OutlookRegardingSet) and replay.regarding not in world.records:
        return f"the Regarding record '{replay.regarding}' was deleted before {user.name} went online"
    if isinstance(replay, v.OutlookItemTracked):
        if link is not None:
            return f"item '{item_id}' is already linked to '{link.record}'"
        if replay.record is not None and record_id_used(world, replay.record):
            return f"record id '{replay.record}' was used in CRM meanwhile"
    return None


# ------------------------------------------------------------------------------------------ the sync


def _sync_requested(batch: _Batch, a: v.SyncRequested) -> None:
    user = batch.world.users[a.user]
    pending = list(user.pending)
    batch.record(a)  # folding it takes every pending operation
    _run_sync(batch, user, pending, a.when)


def _sync(batch: _Batch, user: User, cause: int, at: datetime, rule: str) -> None:
    pending = list(user.pending)
    batch.decide(rule, cause, at, user.name, [f"user:{user.name}"], [v.SyncStarted(user=user.name)])
    _run_sync(batch, user, pending, at)


def _run_sync(batch: _Batch, user: User, pending: list[Pending], at: datetime) -> None:
    """A sync of the user at `at`: (1) own deletions and untracks, (2) queued CRM changes, one decision per
    record, (3) reconciliation of the filter."""
    world = batch.world
    actor = f"sync:{user.name}"
    latest_cause: dict[str, int] = {}
    for op in pending:
        if op.operation in ("outlook.delete", "outlook.untrack"):
            _removal(batch, user, op, at, actor)
        elif op.record is not None and not op.operation.startswith("offline:"):
            latest_cause[op.record] = max(op.cause, latest_cause.get(op.record, 0))
    for record_id, cause in latest_cause.items():
        link = active_link(world, user.name, record_id)
        if link is not None:
            _crm_change_reaches(batch, user, record_id, cause, at, actor)
    for record in _missing_copies(world, user):
        _filter_create(batch, user, record, latest_cause.get(record.id, record.changed), at, actor)


def _missing_copies(world: World, user: User) -> list[Record]:
    """The records in the user's filter with no linked copy in their Outlook (and not skipped), oldest first.
    Every sync walks all the user's records, so the common case (already linked) is checked first."""
    missing = []
    for record_id in user.owned if user.sync_filter == "owned" else {**user.owned, **user.shared}:
        if user.name in world.links_to.get(record_id, ()):
            continue
        record = world.records[record_id]
        if in_filter(record, user) and not skips_deleted(user, record):
            missing.append(record)
    missing.sort(key=lambda r: r.created)
    return missing


def _removal(batch: _Batch, user: User, op: Pending, at: datetime, actor: str) -> None:
    world = batch.world
    record_id, item_id = op.record or "", op.item or ""
    untrack = op.operation == "outlook.untrack"
    link = active_link(world, user.name, record_id)
    if not untrack and (link is None or link.item != item_id):
        return  # the link already ended another way: nothing left to decide
    record = world.records.get(record_id)
    known = _known(world, record_id)
    situation = rules.Removal(
        untrack=untrack,
        family=rules.family(known.type),
        record_exists=record is not None,
        user_owns=known.owner == user.name,
        record_state=known.state,
        starts_after_sync=known.start is not None and known.start > at,
        designated=bool(op.designated),
    )
    rule = rules.decide_removal(situation)
    effects: list[object] = [] if untrack else [v.Unlinked(user=user.name, item=item_id, record=record_id)]
    outcome = rule.outcome
    deletes = record is not None and (
        outcome in (rules.Outcome.DELETE_RECORD, rules.Outcome.DELETE_RECORD_IF_EXISTS)
        or (
            outcome is rules.Outcome.DELETE_RECORD_IF_OWNED_AND_DESIGNATED
            and situation.user_owns
            and situation.designated
        )
    )
    queue = None
    if deletes:
        effects.insert(0, v.RecordDeleted(record=record_id))
        queue = change_queue(world, record_id, "sync", except_user=user.name)
    batch.decide(rule.id, op.cause, at, actor, _ends(user.name, item_id, record_id), effects, queue=queue)


def _crm_change_reaches(batch: _Batch, user: User, record_id: str, cause: int, at: datetime, actor: str) -> None:
    world = batch.world
    link = active_link(world, user.name, record_id)
    assert link is not None
    item = user.items[link.item]
    record = world.records.get(record_id)
    known = _known(world, record_id)
    now_in = in_filter(record, user)
    rule = rules.decide_change(
        rules.Change(
            family=rules.family(known.type),
            record_exists=record is not None,
            owned_at_deletion=known.owner == user.name,
            started_after_sync=known.start is not None and known.start > at,
            copy_completed=item.completed,
            in_filter_now=now_in,
            in_filter_before=link.in_filter,
            origin=link.origin,
        )
    )
    unlink = v.Unlinked(user=user.name, item=link.item, record=record_id)
    effects: list[object]
    if rule.outcome is rules.Outcome.DELETE_ITEM:
        effects = [v.ItemDeleted(user=user.name, item=link.item), unlink]
    elif rule.outcome is rules.Outcome.UNLINK_ITEM:
        effects = [unlink]
    else:
        assert record is not None
        effects = [
            v.ItemReplaced(
                user=user.name,
                item=link.item,
                fields=record.fields,
                start=record.start,
                completed=shows_completed(record),
            ),
            v.FilterNoted(user=user.name, item=link.item, in_filter=now_in),
        ]
    batch.decide(rule.id, cause, at, actor, _ends(user.name, link.item, record_id), effects)


def _filter_create(batch: _Batch, user: User, record: Record, cause: int, at: datetime, actor: str) -> None:
    item_id = fresh_id(record.id, lambda item: item_id_used(batch.world, user.name, item))
    effects = [
        v.ItemCreated(
            user=user.name,
            item=item_id,
            type=v.outlook_type_of(record.type),
            fields=record.fields,
            start=record.start,
            completed=shows_completed(record),
        ),
        v.Linked(user=user.name, item=item_id, record=record.id, origin="synced", in_filter=True),
    ]
    batch.decide("FILTER-CREATE", cause, at, actor, _ends(user.name, item_id, record.id), effects)


_HANDLERS: dict[type, Callable[[_Batch, Any], None]] = {
    v.UserAdded: _plain,
    v.OptionChanged: _option,
    v.OutlookItemCreated: _plain,
    v.OutlookItemEdited: _immediate,
    v.OutlookTaskCompleted: _immediate,
    v.OutlookItemDeleted: _outlook_delete,
    v.OutlookItemTracked: _immediate,
    v.OutlookItemUntracked: _untrack,
    v.OutlookRegardingSet: _immediate,
    v.SyncRequested: _sync_requested,
    v.WentOffline: _plain,
    v.WentOnline: _go_online,
    **{
        cls: _crm_change
        for cls in (
            v.CrmRecordCreated,
            v.CrmRecordEdited,
            v.CrmActivityCompleted,
            v.CrmActivityCanceled,
            v.CrmContactDeactivated,
            v.CrmContactActivated,
            v.CrmRecordDeleted,
            v.CrmRecordAssigned,
            v.CrmRecordShared,
            v.CrmRecordUnshared,
        )
    },
}
