"""The sync engine: turns one user action into the events to record, in causal order.

Shape (the imperative shell around a functional core): the action is checked, then recorded; for each
consequence the engine gathers a situation from the state (`ledger.rules.situations`), the rule table decides
it (`ledger.rules`: the rule and its effects), and the engine records the decision with its cause and the
operations it queues. Immediate operations decide in the same batch; queued ones ride on the event as pending
operations until the user's sync. Each recorded event is folded at once, so the next situation sees the state
after the previous decision. No clock and no I/O: time comes with the action, positions follow the world's.

`handle` folds into the world it is given (the write side); `decide` answers the same on a draft of it
(`ledger.draft`) and leaves the world as it was (a dry run).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from . import effects as fx
from . import rules
from . import vocabulary as v
from .checks import RefusedError, check
from .draft import draft
from .evolve import evolve
from .rules import RuleSet, Verdict
from .values import FieldValue
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
    unlinked_of,
)

__all__ = ["RefusedError", "decide", "handle"]

Queue = Callable[[int], Iterable[v.Queued]]


def handle(world: World, action: v.Action) -> list[Recorded]:
    """Check the action, then record it and everything it causes, folding each event into `world`. Raises
    `RefusedError` and records nothing."""
    if action.at is None:
        raise RefusedError("the action has no time")
    check(world, action)
    batch = _Batch(world)
    if action.id is None:
        action = action.model_copy(update={"id": f"auto-{world.position + 1}"})
    _HANDLERS[type(action)](batch, action)
    return batch.recorded


def decide(world: World, action: v.Action) -> list[Recorded]:
    """What `handle` would record for the action, decided against a draft: `world` is left as it was."""
    return handle(draft(world), action)


def _rules(user: User) -> RuleSet:
    """The rule table that decides for the user: the one of their synchronisation method at the decision."""
    return rules.METHODS[user.sync_method]


class _Batch:
    """The events one action records, each folded into the world as soon as it is recorded."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.recorded: list[Recorded] = []
        self.carried: list[fx.Effect] = []  # effects the next decision takes along (a replay settling its op)
        self.sync: int | None = None  # the sync (or going online) this batch runs: its decisions record it

    @property
    def next_position(self) -> int:
        return self.world.position + 1

    def record(self, event: v.Action | v.Decided, queue: Queue | None = None) -> int:
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
        verdict: Verdict,
        cause: int,
        at: datetime,
        actor: str,
        ends: tuple[str, str, str],
        queue: Queue | None = None,
        merged: tuple[int, ...] = (),
    ) -> None:
        """Record the verdict as a decision about `ends` (user, item, record), as far as its rule is about them;
        `merged` are the causes of every queued change it decides, when there are several (`cause` the latest)."""
        user, item, record = ends
        kind = verdict.rule.about
        if kind == "none":
            return  # a rule that records no decision (FILTER-SKIP-DELETED)
        if kind == "both":
            about = [v.crm_ref(record), v.outlook_ref(user, item)]
        else:
            about = [v.outlook_ref(user, item)] if kind == "item" else [f"user:{user}"]
        effects, self.carried = (*self.carried, *verdict.effects), []
        decision = v.Decided(
            at=at,
            actor=actor,
            rule=verdict.rule.id,
            cause=cause,
            about=tuple(dict.fromkeys(about)),
            effects=effects,
            reason=verdict.reason,
            method=self.world.users[user].sync_method,
            facts=verdict.facts,
            sync=self.sync,
            causes=merged if len(merged) > 1 else None,
        )
        self.record(decision, queue)


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
    situation = rules.Untracking(
        user=a.user,
        item=a.item,
        record=link.record,
        delete_in_crm=a.delete_in_crm,
        is_email=_known(world, link.record).type == "email",
        email_option=user.delete_untracked_email_in_crm,
    )
    cause = batch.record(a)
    queue = _self_queue(a.user, a.do, link.record, a.item, cause, designated=rules.designation(situation))
    batch.decide(_rules(user).decide(situation), cause, a.when, a.user, (a.user, a.item, link.record), queue)


def _immediate(batch: _Batch, a: v.OfflineAction) -> None:
    """Tracking, Set Regarding and edits of linked items: at once online, queued offline (OFFLINE-QUEUE)."""
    world = batch.world
    user = world.users[a.user]
    link = user.links_by_item.get(a.item)
    is_edit = isinstance(a, (v.OutlookItemEdited, v.OutlookTaskCompleted))
    if is_edit and link is not None and user.sync_method == "server_side":
        # server-side sync: the mailbox edit reaches CRM at the next cycle, in step 1 (SSS-EXCHANGE-EDIT-*)
        batch.record(a, _self_queue(a.user, a.do, link.record, a.item, batch.next_position, replay=a))
        return
    cause = batch.record(a)
    if is_edit and link is None:
        return  # an edit of an unlinked item stays in Outlook
    if not user.online:
        record = link.record if link is not None else getattr(a, "record", None)
        queue = _self_queue(user.name, f"offline:{a.do}", record, a.item, cause, replay=a)
        verdict = _rules(user).decide(rules.OfflineOperation(user=user.name, item=a.item))
        batch.decide(verdict, cause, a.when, user.name, (user.name, a.item, record or ""), queue)
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
    situation = rules.OutlookEdit(
        kind=a.do.removeprefix("outlook."),
        user=user.name,
        item=item_id,
        record=link.record,
        record_exists=link.record in world.records,
        fields=getattr(a, "fields", {}),
        start=getattr(a, "start", None),
        regarding=getattr(a, "regarding", None),
    )
    verdict = _rules(user).decide(situation)
    if _audit_edit(a):  # the audit log names what changed, not to what: no CRM change, nothing for anyone
        verdict = verdict.without_record_changes()
        queue = None
    else:
        queue = _crm_changed(world, verdict, link.record, a.do, user.name)
    batch.decide(verdict, cause, at, actor, (user.name, item_id, link.record), queue)


def _audit_edit(a: v.Action) -> bool:
    """An edit read from a mailbox audit (SOURCES.md "Outlook edits without values"): it carries `changed` and no
    value, so it changes nothing in CRM and lifts no one's FILTER-SKIP-DELETED."""
    return isinstance(a, v.OutlookItemEdited) and a.changed is not None and not a.fields and a.start is None


def _crm_changed(world: World, verdict: Verdict, record: str, operation: str, user: str) -> Queue | None:
    """A decision that changes or deletes a CRM record is a CRM change like any other, queued for every other
    user it concerns (a record a user's own track creates concerns no one else yet)."""
    if any(isinstance(e, (fx.ChangeRecord, fx.DeleteRecord)) for e in verdict.effects):
        return change_queue(world, record, operation, except_user=user)
    return None


def _track(
    batch: _Batch, user: User, item_id: str, record_id: str | None, cause: int, at: datetime, actor: str
) -> None:
    world = batch.world
    item = user.items[item_id]
    record_id = record_id or fresh_id(item_id, lambda rid: record_id_used(world, rid))
    probe = Record(record_id, item.type, user.name, "completed" if item.completed else "active")
    situation = rules.Tracking(
        user=user.name,
        item=item_id,
        record=record_id,
        type=item.type,
        completed=item.completed,
        fields=item.fields,
        start=item.start,
        in_filter=in_filter(probe, user),
    )
    batch.decide(_rules(user).decide(situation), cause, at, actor, (user.name, item_id, record_id))


def _known(world: World, record_id: str) -> Record:
    """A record that a link or a pending operation names exists, or existed: ids are never forgotten."""
    known = known_record(world, record_id)
    assert known is not None, f"record '{record_id}' is named but was never recorded"
    return known


# ------------------------------------------------------------------------------------------ offline


def _go_online(batch: _Batch, a: v.WentOnline) -> None:
    world = batch.world
    user = world.users[a.user]
    cause = batch.sync = batch.record(a)
    for op in [p for p in user.pending if p.operation.startswith("offline:")]:
        replay = op.replay
        assert replay is not None, "every offline operation carries the action to replay"
        batch.carried = [fx.SettleOperation(user=user.name, cause=op.cause)]
        conflict = _rules(user).match(_replay_situation(world, user, op, replay))
        if conflict is not None:
            batch.decide(conflict, op.cause, a.when, user.name, (user.name, op.item or "", op.record or ""))
        else:
            _apply_immediate(batch, replay, op.cause, user.name, a.when)
    verdict = _rules(user).decide(rules.GoingOnline(user=user.name))
    pending = list(user.pending)
    batch.decide(verdict, cause, a.when, user.name, (user.name, "", ""))
    _run_sync(batch, user, pending, a.when)


def _replay_situation(world: World, user: User, op: Pending, replay: v.OfflineAction) -> rules.OfflineReplay:
    item_id = op.item or ""
    link = user.links_by_item.get(item_id)
    regarding = replay.regarding if isinstance(replay, v.OutlookRegardingSet) else None
    return rules.OfflineReplay(
        user=user.name,
        item=item_id,
        kind=replay.do.removeprefix("outlook."),
        item_exists=item_id in user.items,
        queued_record=op.record,
        linked_record=link.record if link is not None else None,
        queued_record_exists=op.record in world.records if op.record is not None else False,
        queued_record_used=record_id_used(world, op.record) if op.record is not None else False,
        regarding=regarding,
        regarding_exists=regarding is None or regarding in world.records,
    )


# ------------------------------------------------------------------------------------------ the sync


def _sync_requested(batch: _Batch, a: v.SyncRequested) -> None:
    user = batch.world.users[a.user]
    pending = list(user.pending)
    batch.sync = batch.record(a)  # folding it takes every pending operation
    _run_sync(batch, user, pending, a.when)


def _run_sync(batch: _Batch, user: User, pending: list[Pending], at: datetime) -> None:
    """A sync of the user at `at`: (1) own deletions and untracks, (2) queued CRM changes, one decision per
    record, (3) reconciliation of the filter."""
    world = batch.world
    actor = f"sync:{user.name}"
    causes: dict[str, list[int]] = {}  # record -> the causes of its queued changes, merged into one decision
    edits: dict[tuple[str | None, str | None], list[Pending]] = {}  # a server_side user's queued mailbox edits
    for op in pending:
        if _mailbox_edit(op):
            edits.setdefault((op.item, op.record), []).append(op)
    for op in pending:
        if _mailbox_edit(op):
            group = edits[(op.item, op.record)]
            if op is group[-1]:  # the edits of one link give one decision, caused by the latest of them
                _mailbox_edits(batch, user, group, at, actor)
        elif op.operation in ("outlook.delete", "outlook.untrack"):
            _removal(batch, user, op, at, actor)
        elif op.record is not None and not op.operation.startswith("offline:"):
            causes.setdefault(op.record, []).append(op.cause)
    merged = {record_id: tuple(sorted(set(found))) for record_id, found in causes.items()}
    for record_id, found in merged.items():
        link = active_link(world, user.name, record_id)
        if link is not None:
            _crm_change_reaches(batch, user, record_id, found, at, actor)
    for record in _unlinked_in_filter(world, user):
        _filter_entry(batch, user, record, merged.get(record.id, (record.changed,)), at, actor)


def _mailbox_edit(op: Pending) -> bool:
    """A server_side user's own edit or completion of a linked mailbox item, queued for step 1 of the cycle (an
    offline operation carries its action too, but only the Outlook client queues those)."""
    return op.replay is not None and not op.operation.startswith("offline:")


def _mailbox_edits(batch: _Batch, user: User, group: list[Pending], at: datetime, actor: str) -> None:
    """SSS-EXCHANGE-EDIT-*: the queued edits of one link, as one decision: the union of the edited fields with
    their last values, the last start, completed if any completed it."""
    world = batch.world
    item_id, record_id = group[-1].item or "", group[-1].record or ""
    link = user.links_by_item.get(item_id)
    if link is None or link.record != record_id:
        return  # the link ended before the cycle (untracked meanwhile): dropped without a decision
    fields: dict[str, FieldValue] = {}
    start = None
    completes = False
    for op in group:
        if isinstance(op.replay, v.OutlookItemEdited):
            fields.update(op.replay.fields)
            start = op.replay.start or start
        else:
            completes = True
    known = _known(world, record_id)
    record = world.records.get(record_id)
    situation = rules.MailboxEdit(
        user=user.name,
        item=item_id,
        record=record_id,
        record_exists=record is not None,
        family=rules.family(known.type),
        record_state=known.state,
        fields=fields,
        start=start,
        completes=completes,
        keeps_skip=record is not None and skips_deleted(user, record),
        # an audit log's edit (`changed`, no values; SOURCES.md, once the vocabulary has it) is not a CRM change
        audit_only=all(
            isinstance(op.replay, v.OutlookItemEdited)
            and not op.replay.fields
            and op.replay.start is None
            and bool(getattr(op.replay, "changed", None))
            for op in group
        ),
    )
    verdict = _rules(user).decide(situation)
    if all(op.replay is not None and _audit_edit(op.replay) for op in group):  # a push of audit-log edits alone
        verdict, queue = verdict.without_record_changes(), None
    else:
        queue = _crm_changed(world, verdict, record_id, group[-1].operation, user.name)
    merged = tuple(sorted({op.cause for op in group}))
    batch.decide(verdict, group[-1].cause, at, actor, (user.name, item_id, record_id), queue, merged=merged)


def _unlinked_in_filter(world: World, user: User) -> list[Record]:
    """The records in the user's filter with no linked copy in their Outlook, oldest first (by the position that
    created them), from the user's unlinked records the fold keeps (`world.unlinked_of`), not a walk of every
    record they own at every sync."""
    missing = [r for r in map(world.records.__getitem__, unlinked_of(world, user)) if in_filter(r, user)]
    missing.sort(key=lambda r: r.created)
    if len({r.created for r in missing}) < len(missing):  # a tie (no two records are made by one event): the
        return _unlinked_by_walk(world, user)  # walk's order, which breaks it by the order the user got them in
    return missing


def _unlinked_by_walk(world: World, user: User) -> list[Record]:
    """`_unlinked_in_filter` by a walk of every record the user owns (and has shared with them), in the order they
    got them, then sorted stably by creation."""
    missing = []
    for record_id in user.owned if user.sync_filter == "owned" else {**user.owned, **user.shared}:
        if user.name in world.links_to.get(record_id, ()):
            continue
        record = world.records[record_id]
        if in_filter(record, user):
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
    known = _known(world, record_id)
    verdict = _rules(user).decide(
        rules.OutlookRemoval(
            untrack=untrack,
            family=rules.family(known.type),
            record_exists=record_id in world.records,
            user_owns=known.owner == user.name,
            record_state=known.state,
            starts_after_sync=known.start is not None and known.start > at,
            designated=bool(op.designated),
            user=user.name,
            item=item_id,
            record=record_id,
            owner=known.owner,
            start=known.start,
            sync_at=at,
        )
    )
    queue = _crm_changed(world, verdict, record_id, "sync", user.name)
    batch.decide(verdict, op.cause, at, actor, (user.name, item_id, record_id), queue)


def _crm_change_reaches(
    batch: _Batch, user: User, record_id: str, causes: tuple[int, ...], at: datetime, actor: str
) -> None:
    world = batch.world
    link = active_link(world, user.name, record_id)
    assert link is not None
    record = world.records.get(record_id)
    known = _known(world, record_id)
    verdict = _rules(user).decide(
        rules.QueuedCrmChange(
            family=rules.family(known.type),
            record_exists=record is not None,
            owned_at_deletion=known.owner == user.name,
            started_after_sync=known.start is not None and known.start > at,
            copy_completed=user.items[link.item].completed,
            in_filter_now=in_filter(record, user),
            in_filter_before=link.in_filter,
            origin=link.origin,
            user=user.name,
            item=link.item,
            record=record_id,
            distinct_logical_deletes=world.distinct_logical_deletes,
            fields=known.fields,
            start=known.start,
            completed=shows_completed(known),
            owner=known.owner,
            state=known.state,
            sync_at=at,
            sync_filter=user.sync_filter,
            shared_with_user=user.name in known.shared_with,
        )
    )
    batch.decide(verdict, causes[-1], at, actor, (user.name, link.item, record_id), merged=causes)


def _filter_entry(batch: _Batch, user: User, record: Record, causes: tuple[int, ...], at: datetime, actor: str) -> None:
    if skips_deleted(user, record):  # every sync asks again, for every copy the user ever removed: keep it cheap
        situation = rules.FilterEntry(user.name, record.id, None, v.outlook_type_of(record.type), skipped=True)
    else:
        situation = rules.FilterEntry(
            user=user.name,
            record=record.id,
            item=fresh_id(record.id, lambda item: item_id_used(batch.world, user.name, item)),
            type=v.outlook_type_of(record.type),
            skipped=False,
            fields=record.fields,
            start=record.start,
            completed=shows_completed(record),
            owner=record.owner,
            sync_filter=user.sync_filter,
            shared_with_user=user.name in record.shared_with,
        )
    verdict = _rules(user).decide(situation)
    batch.decide(verdict, causes[-1], at, actor, (user.name, situation.item or "", record.id), merged=causes)


# ------------------------------------------------------------------------------------------ the baseline


def _baseline(batch: _Batch, a: v.BaselineObserved) -> None:
    """A baseline is recorded, then one BASELINE decision per record (with the items linked to it) and one per
    item linked to nothing, each setting them as reported (`ledger.rules.observed`). A link remembers whether
    its record was in the user's filter at the baseline's time, as a sync would have noted it."""
    world, doc = batch.world, a.document
    cause = batch.record(a)
    linked: dict[str, list[v.BaselineLink]] = {}
    for k in doc.links:
        linked.setdefault(k.record, []).append(k)
    items = {(user, i.id): i for user, its in doc.items.items() for i in its}
    placed: set[tuple[str, str]] = set()
    for r in doc.records:
        probe = Record(r.id, r.type, r.owner, r.state, shared_with=dict.fromkeys(r.shared_with))
        links = linked.get(r.id, [])
        situation = rules.Baselining(
            record=r,
            items=tuple((k.user, items[(k.user, k.item)]) for k in links),
            links=tuple((k.user, k.item, k.origin, in_filter(probe, world.users[k.user])) for k in links),
        )
        placed.update((k.user, k.item) for k in links)
        about = (v.crm_ref(r.id), *(v.outlook_ref(k.user, k.item) for k in links))
        _observed(batch, situation, cause, a.when, about)
    for (user, item_id), item in items.items():
        if (user, item_id) not in placed:
            situation = rules.Baselining(record=None, items=((user, item),))
            _observed(batch, situation, cause, a.when, (v.outlook_ref(user, item_id),))


def _observed(batch: _Batch, situation: rules.Baselining, cause: int, at: datetime, about: tuple[str, ...]) -> None:
    verdict = rules.OBSERVED.decide(situation)
    decision = v.Decided(
        at=at, actor="baseline", rule=verdict.rule.id, cause=cause, about=about, effects=verdict.effects
    )
    batch.record(decision)


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
    v.DiscrepancyFound: _plain,
    v.ItemAliased: _plain,
    v.BaselineObserved: _baseline,
    v.OrgOptionChanged: _plain,  # queues nothing and decides nothing: read at the cycle that decides a leave
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
