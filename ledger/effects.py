"""What a decision changes: the effects a `Decided` event carries, which the fold (`ledger.evolve`) applies
without deciding anything again.

Effects are instructions (`DeleteRecord`), where actions are what a user did (`CrmRecordDeleted`). They are
stored inside their decision, told apart by `kind`: the `kind` values and the field names are the stored form
and never change (a class may be renamed; its `kind` may not).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from .values import CrmState, CrmType, Fields, Model, Origin, OutlookType


class CreateRecord(Model):
    kind: Literal["record.created"] = "record.created"
    record: str
    type: CrmType
    owner: str
    state: CrmState = "active"
    fields: Fields = {}
    start: datetime | None = None


class ChangeRecord(Model):
    """A partial change of a CRM record: only the named parts change; `fields` are merged."""

    kind: Literal["record.changed"] = "record.changed"
    record: str
    fields: Fields = {}
    start: datetime | None = None
    state: CrmState | None = None
    regarding: str | None = None
    keeps_skip: str | None = None  # a user whose FILTER-SKIP-DELETED this change does not lift (their own push)


class DeleteRecord(Model):
    kind: Literal["record.deleted"] = "record.deleted"
    record: str


class CreateItem(Model):
    kind: Literal["item.created"] = "item.created"
    user: str
    item: str
    type: OutlookType
    fields: Fields = {}
    start: datetime | None = None
    completed: bool = False


class ReplaceItem(Model):
    """The Outlook copy takes the CRM record's current values."""

    kind: Literal["item.replaced"] = "item.replaced"
    user: str
    item: str
    fields: Fields = {}
    start: datetime | None = None
    completed: bool = False


class DeleteItem(Model):
    kind: Literal["item.deleted"] = "item.deleted"
    user: str
    item: str


class LinkItem(Model):
    """Join the user's Outlook item to the CRM record."""

    kind: Literal["linked"] = "linked"
    user: str
    item: str
    record: str
    origin: Origin
    in_filter: bool


class UnlinkItem(Model):
    """End the link of the user's Outlook item (it stays in the ledger as `unlinked`)."""

    kind: Literal["unlinked"] = "unlinked"
    user: str
    item: str
    record: str


class NoteFilter(Model):
    """Remember whether the linked record was in the user's filter at this sync (the filter-leave rules)."""

    kind: Literal["filter.noted"] = "filter.noted"
    user: str
    item: str
    in_filter: bool


class SettleOperation(Model):
    """Drop a pending operation of the user that this decision has dealt with (an offline replay)."""

    kind: Literal["settled"] = "settled"
    user: str
    cause: int


class ClearPending(Model):
    """The user's sync takes every pending operation: afterwards the user has none."""

    kind: Literal["sync.started"] = "sync.started"
    user: str


Effect = Annotated[
    CreateRecord
    | ChangeRecord
    | DeleteRecord
    | CreateItem
    | ReplaceItem
    | DeleteItem
    | LinkItem
    | UnlinkItem
    | NoteFilter
    | SettleOperation
    | ClearPending,
    Field(discriminator="kind"),
]
RECORD_EFFECTS = (CreateRecord, ChangeRecord, DeleteRecord)  # the effects that change CRM
