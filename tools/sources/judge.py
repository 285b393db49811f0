"""Judging every row of one command against the ledger, in time order (SOURCES.md "Judging a row"), with the
syncs inferred at cycle boundaries between them: each row is skipped and counted, refused as bad input, recorded
as a discrepancy, or staged as actions. Nothing is stored here: the caller commits, or rolls back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger
from syncledger.ledger.checks import RefusedError, check
from syncledger.ledger.world import World, unalias

from ..actionlines import differences
from ..inputs import BadInputError, parse_action, shown
from ..transfer import Stager
from . import dataverse, m365
from .baseline import Baseline
from .dataverse import UnknownPerson
from .errors import LooseError, SourceError
from .load import Row, Rows, SourceFile
from .people import People
from .report import Report
from .times import iso

MIDNIGHT = timedelta(0)
MICROSECOND = timedelta(microseconds=1)
USER_KEYS = ("user", "actor", "owner", "to", "with_")


class Judge:
    def __init__(
        self,
        ledger: Ledger,
        people: People | None,
        files: list[SourceFile],
        rows: Rows,
        *,
        skip_unknown_records: bool = False,
        collect: Callable[[v.Action], None] | None = None,
        stager: Stager | None = None,
    ) -> None:
        self.ledger = ledger
        self.stager = stager if stager is not None else Stager(ledger)  # where staged actions go until published
        self.people = people
        self.rows = rows
        self.skip_unknown_records = skip_unknown_records
        self.collect = collect
        self.report = Report(files, rows=len(rows))
        self.infer = people is not None and any(f.kind in ("dataverse", "m365") for f in files)
        self.stored = ledger.world.position
        self.started_at = ledger.world.at
        self.baseline_at: datetime | None = None
        self.waiting: list[_Waiting] = []  # sync clients' Create rows whose copy may come within a cycle
        self._matching = False
        self.report.window = rows.window
        # each user's cycle in seconds, in people.yaml's order, and the boundaries computed: `_infer_until` asks
        # them for every user at every row
        self._cycles = {name: p.seconds for name, p in people.users.items()} if people is not None else {}
        self._boundaries: dict[tuple[datetime, int], datetime] = {}
        self._cycle_lengths = set(self._cycles.values())
        # after a look at every user found no sync due: (the world's position and time then, the earliest boundary)
        self._scanned: tuple[int, datetime | None, datetime | None] | None = None

    @property
    def world(self) -> World:
        return self.ledger.world

    # ------------------------------------------------------------------------------------------ the run

    def run(self) -> Report:
        self._users_as_declared()
        for row in self.rows:
            if self.infer:
                self._infer_until(row.at, inclusive=False)
            self._expire(row.at)
            self._judge(row)
        if self.infer and self.report.window is not None:
            self._infer_until(self.report.window[1], inclusive=True)
        self._expire(None)
        if self.people is not None:
            self.report.pending_at_end = {
                name: len(self.world.users[name].pending) for name in self.people.users if name in self.world.users
            }
        return self.report

    def _users_as_declared(self) -> None:
        """A user the ledger has with other options than people.yaml's is refused: change it with `option`."""
        if self.people is None:
            return
        for name, person in self.people.users.items():
            user = self.world.users.get(name)
            if user is None:
                continue
            wanted = {
                "sync_filter": person.sync_filter or "owned",
                "delete_untracked_email_in_crm": bool(person.delete_untracked_email_in_crm),
            }
            if hasattr(user, "sync_method"):
                wanted["sync_method"] = person.method
            for option, value in wanted.items():
                if getattr(user, option) != value:
                    raise SourceError(
                        self.people.file,
                        f"users.{name}: the ledger has {name} with {option} {getattr(user, option)}, not {value}: "
                        f"change it with `option` first",
                    )

    def _judge(self, row: Row) -> None:
        try:
            if row.kind == "baseline":
                self._baseline(row)
            elif row.kind == "actions":
                self._action_line(row)
            elif row.kind == "dataverse":
                self._dataverse(row)
            else:
                self._m365(row)
        except LooseError as e:
            raise SourceError(row.file.path, str(e), row.number) from None
        except UnknownPerson as e:
            raise self._unknown_person(e, row) from None

    def _bad(self, row: Row, problem: str) -> SourceError:
        return SourceError(row.file.path, problem, row.number)

    def _in_time(self, row: Row) -> None:
        if self.baseline_at is not None and row.at < self.baseline_at:
            raise self._bad(row, f"the row ({iso(row.at)}) is earlier than the baseline ({iso(self.baseline_at)})")
        if self.started_at is not None and row.at < self.started_at:
            raise self._bad(
                row, f"the row ({iso(row.at)}) is earlier than the ledger's last event ({iso(self.started_at)})"
            )

    # ------------------------------------------------------------------------------------------ staging

    def _event_at(self, position: int) -> v.Action | v.Decided | None:
        return self.stager.event(position)

    def _held(self, action_id: str) -> v.Action | v.Decided | None:
        position = self.world.past.action(action_id)
        return self._event_at(position) if position is not None else None

    def _stage(self, action: v.Action) -> None:
        recorded = self.stager.stage(action)
        self.report.appended[action.do] += 1
        if self.report.first is None:
            self.report.first = recorded[0][0]
        self.report.last = recorded[-1][0]
        if self.collect is not None:
            self.collect(action)
        if self.waiting and not self._matching:
            self._match_waiting()

    def _declare(self, name: str, at: datetime) -> None:
        if name in self.world.users or self.people is None or name not in self.people.users:
            return
        self._stage(self.people.user_add(name, at))

    def _declare_named(self, action: v.Action) -> None:
        if isinstance(action, v.UserAdded) or action.at is None:
            return
        for key in USER_KEYS:
            name = action.__dict__.get(key)
            if isinstance(name, str):
                self._declare(name, action.at)

    def _try(self, row: Row, action: v.Action, discrepancy: bool = True) -> None:
        """Stage the action; a refusal is a discrepancy when a decision caused it, else bad input."""
        self._in_time(row)
        self._declare_named(action)
        try:
            check(self.world, action)
        except RefusedError as e:
            blamed = self._blame(action) if discrepancy else None
            if blamed is None:
                raise self._bad(row, str(e)) from None
            self._discrepancy(row, action, str(e), blamed)
            return
        self._stage(action)

    def _discrepancy(self, row: Row, action: v.Action, refusal: str, decision: v.DecisionRef | None) -> None:
        assert action.id is not None and action.at is not None
        self._in_time(row)
        data = v.dump(action)
        data.pop("queued", None)
        found = v.DiscrepancyFound(
            do="discrepancy",
            id=action.id,
            at=action.at,
            row=v.RowRef(file=row.file.name, row=row.number, id=action.id),
            action=data,
            refusal=refusal,
            decision=decision,
            source=action.source,
        )
        self._stage(found)
        self.report.discrepancies += 1

    # ------------------------------------------------------------------------------------------ blame

    def _decision_at(self, position: int | None) -> v.DecisionRef | None:
        if position is None:
            return None
        event = self._event_at(position)
        if isinstance(event, v.Decided) and event.rule != "BASELINE":
            return v.DecisionRef(rule=event.rule, position=position, at=event.at)
        return None

    def _item_deleter(self, user: str, item: str) -> v.DecisionRef | None:
        """The decision that deleted the item, or None if its user (or the baseline) did."""
        past = self.world.past
        position = past.since.items.get((user, item))
        if position is None:
            link = past.last_link(user, item)
            if link is None:
                return None
            event = self._event_at(link.position)
            deletes = isinstance(event, v.Decided) and any(
                e.kind == "item.deleted" and e.item == item for e in event.effects
            )
            return self._decision_at(link.position) if deletes else None
        return self._decision_at(position)

    def _blame(self, action: v.Action) -> v.DecisionRef | None:
        """The decision behind the state that refuses the action, if a decision made it so (SOURCES.md point 3)."""
        world = self.world
        if isinstance(action, (v.OutlookItemEdited, v.OutlookItemDeleted, v.OutlookTaskCompleted)):
            user = world.users.get(action.user)
            if user is not None and action.item not in user.items and world.past.item_deleted(action.user, action.item):
                return self._item_deleter(action.user, action.item)
            return None
        record_id = action.__dict__.get("record")
        if not action.do.startswith("crm.") or not isinstance(record_id, str) or action.do == "crm.create":
            return None
        record = world.records.get(record_id)
        if record is None:
            gone = world.past.record(record_id)
            return self._decision_at(gone.changed) if gone is not None else None
        if action.do in v.STATE_AFTER and record.state == v.STATE_AFTER[action.do]:
            return self._decision_at(record.changed)
        if isinstance(action, v.CrmRecordAssigned) and record.owner == action.to:
            return self._decision_at(record.changed)
        return None

    # ------------------------------------------------------------------------------------------ syncs

    def _infer_until(self, t: datetime, inclusive: bool) -> None:
        """Every sync due before `t` (at `t` too when `inclusive`): at the first boundary strictly after each online
        user's earliest pending operation; at one instant, in people.yaml's order."""
        assert self.people is not None
        if self._none_due(t, inclusive):
            return
        users = self.world.users
        while True:
            due: tuple[datetime, str] | None = None
            earliest: datetime | None = None  # the earliest boundary of any user, due or not
            for name, seconds in self._cycles.items():
                user = users.get(name)
                if user is None or not user.online or not user.pending:
                    continue
                boundary = self._boundary_after(min(p.at for p in user.pending), seconds)
                if self.world.at is not None and boundary < self.world.at:
                    boundary = _boundary_at_or_after(self.world.at, seconds)
                if (boundary < t or (inclusive and boundary <= t)) and (due is None or boundary < due[0]):
                    due = (boundary, name)
                earliest = boundary if earliest is None or boundary < earliest else earliest
            if due is None:
                self._scanned = (self.world.position, self.world.at, earliest)
                return
            at, name = due
            sync_id = f"inferred:{name}@{iso(at)}"
            if self.world.past.action(sync_id) is not None:
                return  # already there: an import completed after a crash, whose world is past this point
            person = self.people.users[name]
            source = {"system": "inferred", "cycle": person.effective_cycle}
            self._stage(v.SyncRequested(do="sync", id=sync_id, at=at, user=name, source=source))
            self.report.syncs_inferred += 1

    def _none_due(self, t: datetime, inclusive: bool) -> bool:
        """Whether no sync can be due before `t` (at `t` when `inclusive`), known without asking every user: the
        last full look found none due and its earliest boundary later; whatever was staged since is at or after
        the world's time then (time never goes backwards), so the operations it queued (or a user it brought
        online) are due no earlier than the first boundary of any cycle at or after that time."""
        if self._scanned is None:
            return False
        position, then, earliest = self._scanned
        if position != self.world.position:
            if then is None:
                return False
            first = min(self._boundary_after(then - MICROSECOND, seconds) for seconds in self._cycle_lengths)
            earliest = first if earliest is None or first < earliest else earliest
            self._scanned = (self.world.position, then, earliest)
        return earliest is not None and (earliest > t or (not inclusive and earliest == t))

    def _boundary_after(self, t: datetime, seconds: int) -> datetime:
        """`_boundary_after`, remembered: every row asks it for every user with pending operations, and their
        earliest pending operation stays the same from row to row until their sync."""
        found = self._boundaries.get((t, seconds))
        if found is None:
            if len(self._boundaries) >= 10_000:  # a bound on what is remembered, whatever the size of the import
                self._boundaries.clear()
            found = self._boundaries[(t, seconds)] = _boundary_after(t, seconds)
        return found

    # ------------------------------------------------------------------------------------------ baseline

    def _baseline(self, row: Row) -> None:
        found: Baseline = row.data
        self.baseline_at = found.at
        source = {"system": "baseline", "file": row.file.name, "row": 1}
        try:
            action = parse_action({"do": "baseline", "document": found.document, "source": source})
        except BadInputError as e:
            raise self._bad(row, str(e)) from None
        assert action.id is not None
        if self.world.past.action(action.id) is not None:
            self.report.skip("duplicate")
            return
        if self.world.records or any(u.items for u in self.world.users.values()) or self.world.past.since.records:
            raise self._bad(row, "the ledger already has records or items, and this baseline is not the one it has")
        if self.started_at is not None and found.at < self.started_at:
            raise self._bad(row, f"the baseline ({iso(found.at)}) is earlier than the ledger's last event")
        for name in found.users:
            self._declare(name, found.at)
        self._try(row, action, discrepancy=False)
        self.report.baseline_unlinked += found.unlinked

    # ------------------------------------------------------------------------------------------ action lines

    def _action_line(self, row: Row) -> None:
        action: v.Action = row.data
        if action.id is not None:
            held = self._held(action.id)
            if held is not None:
                self._same(row, action, held)
                self.report.skip("duplicate")
                return
        self._try(row, action, discrepancy=False)

    def _same(self, row: Row, action: v.Action, held: v.Action | v.Decided, provenance: bool = False) -> None:
        """Refuse a row whose id the ledger holds with other content: the action's own keys, and with
        `provenance` where it came from (the system, the source's id, how the mailbox was opened...) but for the
        file and row it was read from, which an overlapping export of the next window numbers otherwise."""
        if not isinstance(held, v.Action):
            raise self._bad(row, f"action id '{action.id}' is in the ledger but that position holds no action")
        if isinstance(held, v.DiscrepancyFound) and not isinstance(action, v.DiscrepancyFound):
            other = dict(held.action)
            mine = v.dump(action)
            mine.pop("queued", None)
            differ = [k for k in dict.fromkeys([*other, *mine]) if k != "source" and other.get(k) != mine.get(k)]
            if differ and _times_equal(other, mine, differ):
                differ = []
        else:
            differ = [k for k in differences(held, action) if k != "source"]
        if provenance and _provenance(held.source) != _provenance(action.source):
            differ.append("source")
        if not differ:
            return
        raise self._bad(
            row, f"id '{action.id}' is already in the ledger with different content ({', '.join(differ)} differ)"
        )

    # ------------------------------------------------------------------------------------------ Dataverse

    def _dataverse(self, row: Row) -> None:
        people = self.people
        assert people is not None
        r: dataverse.DataverseRow = row.data
        first_id = r.id
        held = self._held(first_id)
        if held is not None:
            mapped = dataverse.map_row(r, people)
            if mapped.actions is None:
                raise self._bad(row, f"id '{first_id}' is already in the ledger with different content ({mapped.skip})")
            if mapped.by_sync and not isinstance(held, v.DiscrepancyFound):
                raise self._bad(
                    row, f"id '{first_id}' is already in the ledger with different content (made by synchronisation)"
                )
            for number, raw in enumerate(mapped.actions, 1):  # a row is judged whole: each action it gave
                action_id = first_id if number == 1 else f"{first_id}/{number}"
                found = held if number == 1 else self._held(action_id)
                if found is not None:
                    self._same(row, self._crm_action(row, raw, action_id), found, provenance=True)
            self.report.skip("duplicate")
            return
        mapped = dataverse.map_row(r, people)
        if mapped.skip is not None:
            self.report.skip(mapped.skip)
            return
        assert mapped.actions is not None
        if mapped.by_sync:
            self._by_synchronisation(row, mapped.actions, first_id)
            return
        for number, raw in enumerate(mapped.actions, 1):
            action_id = first_id if number == 1 else f"{first_id}/{number}"
            if raw["do"] != "crm.create" and not self._record_known(raw["record"]):
                if self.skip_unknown_records:
                    self.report.skip("unknown record")
                    return
                raise self._unknown_record(row, raw["record"])
            self._try(row, self._crm_action(row, raw, action_id))

    def _crm_action(self, row: Row, raw: dict[str, Any], action_id: str) -> v.Action:
        auditid = action_id.removeprefix("dataverse:").split("/")[0]
        source = {"system": "dataverse", "id": auditid, "file": row.file.name, "row": row.number}
        try:
            return parse_action({**raw, "id": action_id, "at": row.at, "source": source})
        except BadInputError as e:
            raise self._bad(row, str(e)) from None

    def _record_known(self, record: str) -> bool:
        return record in self.world.records or self.world.past.record(record) is not None

    def _by_synchronisation(self, row: Row, actions: list[dict[str, Any]], first_id: str) -> None:
        """A row the synchronisation made: skipped, unless it changed a record's existence, state or owner to what
        the ledger's record does not have (then the synchronisation did what no rule did: a discrepancy)."""
        for number, raw in enumerate(actions, 1):
            record = self.world.records.get(raw["record"])
            did = None
            if raw["do"] == "crm.create":  # a record the ledger has (a track made it): the rules did it too
                if record is None:
                    did = f"the synchronisation created record '{raw['record']}'; the rules did not"
            elif record is None:
                continue
            elif raw["do"] == "crm.delete":
                did = f"the synchronisation deleted record '{record.id}'; the rules did not"
            elif raw["do"] in v.STATE_AFTER and record.state != v.STATE_AFTER[raw["do"]]:
                did = f"the synchronisation made record '{record.id}' {v.STATE_AFTER[raw['do']]}; the rules did not"
            elif raw["do"] == "crm.assign" and record.owner != raw["to"]:
                did = f"the synchronisation assigned record '{record.id}' to {raw['to']}; the rules did not"
            if did is not None:
                action_id = first_id if number == 1 else f"{first_id}/{number}"
                auditid = first_id.removeprefix("dataverse:")
                source = {"system": "dataverse", "id": auditid, "file": row.file.name, "row": row.number}
                action = v.ACTION_ADAPTER.validate_python({**raw, "id": action_id, "at": row.at, "source": source})
                self._discrepancy(row, action, did, None)
                return
        self.report.skip("made by synchronisation")

    # ------------------------------------------------------------------------------------------ Microsoft 365

    def _m365(self, row: Row) -> None:
        people = self.people
        assert people is not None
        r: m365.M365Row = row.data
        data = r.data
        if not isinstance(data.get("Id"), str) or not data["Id"]:
            raise LooseError("AuditData.Id is missing")
        kind = m365.record_type(data)
        operation = data.get("Operation")
        held = self._held(r.id)
        if held is not None and (kind not in m365.EXCHANGE_ITEM_TYPES or operation not in m365.OPERATIONS):
            what = "another record type" if kind not in m365.EXCHANGE_ITEM_TYPES else "another operation"
            raise self._bad(row, f"id '{r.id}' is already in the ledger with different content ({what})")
        if kind not in m365.EXCHANGE_ITEM_TYPES:
            self.report.skip("another record type")
            return
        if operation not in m365.OPERATIONS:
            self.report.skip("another operation")
            return
        mailbox = data.get("MailboxOwnerUPN")
        if not isinstance(mailbox, str) or not mailbox:
            raise LooseError("AuditData.MailboxOwnerUPN is missing")
        user = people.mailbox_user(mailbox)
        by_sync = people.is_sync_client(data.get("ClientInfoString"))
        if held is not None and user is None:
            raise self._bad(row, f"id '{r.id}' is already in the ledger with different content (unnamed mailbox)")
        if user is None:
            if people.others_skip:
                self.report.skip("unnamed mailbox")
                return
            if not by_sync:
                raise UnknownPerson("mailbox", mailbox.lower())
        items = m365.items_of(data)
        if user is None:
            self.report.skip("made by synchronisation")
            return
        logon = data.get("LogonType")
        for number, item in enumerate(items, 1):
            action_id = r.id if number == 1 else f"{r.id}/{number}"
            source: v.Source = {"system": "m365", "id": r.id.removeprefix("m365:"), "file": row.file.name}
            source["row"] = row.number
            if isinstance(logon, int) and not isinstance(logon, bool):
                source["logon_type"] = logon
            self._m365_item(row, user, operation, item, action_id, by_sync, source)

    def _m365_item(
        self, row: Row, user: str, operation: str, item: m365.Touched, action_id: str, by_sync: bool, source: v.Source
    ) -> None:
        kind = m365.folder_type(item.folder)
        held = self._held(action_id)
        if held is not None:
            self._same_m365(row, user, operation, item, kind, action_id, by_sync, source, held)
            self.report.skip("duplicate")
            return
        if by_sync:
            if operation == "Create":
                self._alias(row, user, item, kind, action_id, source, exact_time=True)
            else:
                self.report.skip("made by synchronisation")
            return
        world_user = self.world.users.get(user)
        item_id = unalias(world_user, item.id) if world_user is not None else item.id
        exists = world_user is not None and item_id in world_user.items
        deleted = world_user is not None and not exists and self.world.past.item_deleted(user, item_id)
        base = {"id": action_id, "at": row.at, "user": user, "item": item_id, "source": source}
        if operation == "Create":
            fields = {"subject": item.subject} if item.subject else {}
            self._try(row, v.OutlookItemCreated(do="outlook.create", type=kind, fields=fields, **base))
            return
        if deleted:
            decision = self._item_deleter(user, item_id)
            if operation in m365.LATER_STAGES or (operation == "MoveToDeletedItems" and decision is None):
                self.report.skip("later stage of a deletion")
                return
            if decision is None:
                self.report.skip("item already deleted by its user")
                return
        elif not exists:
            if self._alias(row, user, item, kind, action_id + "/alias", source, exact_time=False):
                item_id = unalias(self.world.users[user], item.id)
                base["item"] = item_id
            elif operation in m365.LATER_STAGES:
                self.report.skip("deleted before the window")
                return
            else:
                self._first_seen(row, user, item, kind, action_id, source)
        if operation == "Update":
            changed = tuple(p for p in (row.data.data.get("ModifiedProperties") or ()) if isinstance(p, str) and p)
            self._try(row, v.OutlookItemEdited(do="outlook.update", changed=changed, **base))
        else:
            self._try(row, v.OutlookItemDeleted(do="outlook.delete", **base))

    def _same_m365(
        self,
        row: Row,
        user: str,
        operation: str,
        item: m365.Touched,
        kind: str,
        action_id: str,
        by_sync: bool,
        source: v.Source,
        held: v.Action | v.Decided,
    ) -> None:
        """A mailbox row whose id the ledger holds: the action it would give again (its item named by the id the
        row gives, or by the item that id is the alias of), compared with what is held."""
        if by_sync:  # a sync client's Create row is held as the alias it gave
            if not isinstance(held, v.ItemAliased) or operation != "Create":
                raise self._bad(row, f"id '{action_id}' is already in the ledger with different content (do differ)")
            mine: v.Action = held.model_copy(update={"user": user, "alias": item.id, "source": source})
            self._same(row, mine, held, provenance=True)
            return
        owner = self.world.users.get(user)
        held_item = held.action.get("item") if isinstance(held, v.DiscrepancyFound) else held.__dict__.get("item")
        item_id = item.id
        if owner is not None and held_item == unalias(owner, item.id):
            item_id = held_item
        base = {"id": action_id, "at": row.at, "user": user, "item": item_id, "source": source}
        if operation == "Create":
            fields = {"subject": item.subject} if item.subject else {}
            mine = v.OutlookItemCreated(do="outlook.create", type=kind, fields=fields, **base)
        elif operation == "Update":
            changed = tuple(p for p in (row.data.data.get("ModifiedProperties") or ()) if isinstance(p, str) and p)
            mine = v.OutlookItemEdited(do="outlook.update", changed=changed, **base)
        else:
            mine = v.OutlookItemDeleted(do="outlook.delete", **base)
        self._same(row, mine, held, provenance=True)

    def _first_seen(self, row: Row, user: str, item: m365.Touched, kind: str, action_id: str, source: v.Source) -> None:
        fields = {"subject": item.subject} if item.subject else {}
        seen = {**source, "first_seen": True}
        create = v.OutlookItemCreated(
            do="outlook.create",
            id=f"{action_id}/seen",
            at=row.at,
            user=user,
            item=item.id,
            type=kind,
            fields=fields,
            source=seen,
        )
        self._try(row, create, discrepancy=False)
        self.report.first_seen += 1

    def _match_waiting(self) -> None:
        self._matching = True
        try:
            for waiting in list(self.waiting):
                if self._alias(*waiting.args, exact_time=True, wait=False):
                    self.waiting.remove(waiting)
        finally:
            self._matching = False

    def _expire(self, now: datetime | None) -> None:
        """Sync clients' Create rows whose cycle has passed without a copy to name: counted as unmatched."""
        for waiting in list(self.waiting):
            if now is None or now > waiting.deadline:
                self.waiting.remove(waiting)
                self.report.skip("made by synchronisation (unmatched)")

    def _alias(
        self,
        row: Row,
        user: str,
        item: m365.Touched,
        kind: str,
        action_id: str,
        source: v.Source,
        exact_time: bool,
        wait: bool = True,
    ) -> bool:
        """The mailbox's id of a copy FILTER-CREATE made: within one cycle of a sync client's `Create` row (of the
        same type and label, without an alias yet); for a later row, the one copy of that label without one. The
        copies are the world's (`User.copies`), whichever import's sync made them."""
        assert self.people is not None
        window = timedelta(seconds=self.people.users[user].seconds)
        label = _label(item.subject)
        owner = self.world.users.get(user)
        found = []
        if owner is not None and label is not None and item.id not in owner.aliases:
            for copy_id, made in owner.copies.items():
                copy = owner.items[copy_id]
                if _label(copy.fields.get("subject") or copy.fields.get("fullname")) != label:
                    continue
                if not exact_time or (copy.type == kind and abs(made - row.at) <= window):
                    found.append(copy_id)
        if not found or (not exact_time and len(found) != 1):
            if exact_time and wait:  # the sync may make its copy after the mailbox logged it: wait one cycle
                self.waiting.append(_Waiting((row, user, item, kind, action_id, source), row.at + window))
            return False
        at = max(row.at, self.world.at or row.at)
        alias = v.ItemAliased(do="alias", id=action_id, at=at, user=user, item=found[0], alias=item.id, source=source)
        self._try(row, alias, discrepancy=False)
        self.report.aliases += 1
        return True

    # ------------------------------------------------------------------------------------------ bad input

    def _unknown_person(self, error: UnknownPerson, row: Row) -> SourceError:
        """Named where it first appears, with how many rows name it: at least the row that met it (the search of
        the rows' raw text misses a name JSON or CSV wrote with escapes, such as a line break in it)."""
        rows = [r for r in self.rows if _names(r, error.key)] or [row]
        first = rows[0]
        count = f"in {len(rows)} row{'s' if len(rows) != 1 else ''}"
        problem = f"unknown {error.kind} {shown(error.key)} {count} (first: {first.file.name} row {first.number})"
        return SourceError(first.file.path, f"{problem}: add it to people.yaml{self._near(error)}", first.number)

    def _near(self, error: UnknownPerson) -> str:
        """Where people.yaml has the name but for spaces around it or inside it: say so, or the line reads as if
        the name were missing from the file."""
        if self.people is None:
            return ""
        known = self.people.by_mailbox if error.kind == "mailbox" else self.people.by_crm
        bare = "".join(error.key.split()).lower()
        found = next((key for key in known if key == bare), None)
        return f" (people.yaml has {shown(found)}: the row's value has spaces or line breaks in it)" if found else ""

    def _unknown_record(self, row: Row, record: str) -> SourceError:
        rows = [r for r in self.rows if r.kind == "dataverse" and record.encode() in r.data.blob.lower()]
        rows = [r for r in rows if str(r.data.raw.get("_objectid_value", "")).lower() == record]
        rows = rows or [row]  # at least the row that met it (the search of raw text misses an escaped name)
        first = rows[0]
        return SourceError(
            first.file.path,
            f"record {shown(record)} is not in the ledger, not in the baseline and not created by an earlier row "
            f"({len(rows)} row{'s' if len(rows) != 1 else ''} name{'' if len(rows) != 1 else 's'} it): add it to "
            "the baseline, or give "
            "--skip-unknown-records to count and skip those rows",
            first.number,
        )


@dataclass
class _Waiting:
    args: tuple[Row, str, m365.Touched, str, str, v.Source]
    deadline: datetime


def _names(row: Row, key: str) -> bool:
    if row.kind == "dataverse":
        if key.encode() not in row.data.blob.lower():
            return False
        raw = row.data.raw
        return any(str(raw.get(k) or "").lower() == key for k in ("_userid_value", "_callinguserid_value"))
    if row.kind == "m365":
        return key in row.data.text.lower() and str(row.data.data.get("MailboxOwnerUPN") or "").lower() == key
    return False


def _provenance(source: v.Source | None) -> dict[str, Any]:
    """Where an action came from, but for the file and row it was read from."""
    return {k: value for k, value in (source or {}).items() if k not in ("file", "row")}


def _label(text: object) -> str | None:
    return text.strip() if isinstance(text, str) and text.strip() else None


def _times_equal(a: dict[str, Any], b: dict[str, Any], keys: list[str]) -> bool:
    """Held JSON and a new action's dump differ only in how they write the same instants."""
    for key in keys:
        x, y = a.get(key), b.get(key)
        if not (isinstance(x, str) and isinstance(y, str)):
            return False
        try:
            if datetime.fromisoformat(x.replace("Z", "+00:00")) != datetime.fromisoformat(y.replace("Z", "+00:00")):
                return False
        except ValueError:
            return False
    return True


def _boundary_after(t: datetime, seconds: int) -> datetime:
    """The first multiple of the cycle since 00:00 UTC of that day strictly later than `t`."""
    t = t.astimezone(UTC)
    midnight = t.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = (t - midnight).total_seconds()
    steps = int(elapsed // seconds) + 1
    boundary = midnight + timedelta(seconds=steps * seconds)
    next_midnight = midnight + timedelta(days=1)
    return min(boundary, next_midnight) if boundary > next_midnight else boundary


def _boundary_at_or_after(t: datetime, seconds: int) -> datetime:
    after = _boundary_after(t - timedelta(microseconds=1), seconds)
    return after
