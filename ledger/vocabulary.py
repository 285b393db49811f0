"""The ledger's vocabulary: user actions (one model per `do:`) and decisions, the events the ledger stores.

Every user action is an event in the past tense: it happened in CRM or in someone's Outlook, and the ledger
records it. Decisions are the sync engine's answers, each naming the rule behind it and the event that caused
it, and carrying what it changes (`ledger.effects`). A class's name is its stored topic: never rename one.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .effects import Effect
from .values import CrmState, CrmType, Fields, Model, Origin, OutlookType, encodable

CRM_TYPES = ("contact", "appointment", "task", "email", "phonecall", "letter", "fax")
OUTLOOK_TYPES = ("contact", "appointment", "task", "email")
TASK_LIKE = ("task", "phonecall", "letter", "fax")
SYNC_FILTERS = ("owned", "owned_and_shared")
SYNC_METHODS = ("outlook_client", "server_side")  # the Dynamics CRM client for Outlook; server-side sync
ORG_OPTIONS = ("distinct_logical_deletes",)


def _not_a_number(value: object) -> object:
    """pydantic would read a number as a Unix timestamp; a time here is written as ISO 8601."""
    if isinstance(value, (int, float)) or (
        isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit()
    ):
        raise ValueError("a time is written as ISO 8601 with a time zone (e.g. 2026-03-02T11:00:00Z), not a number")
    return value


# ------------------------------------------------------------------ input guards: what no back end can keep
# Every value of an action reaches the store, its read models and the terminal. What one back end cannot keep
# (PostgreSQL text cannot hold NUL; UTF-8 cannot encode a lone surrogate) would be appended on another and then
# fail every later command there, and a time past the calendar's end fails where it is converted to UTC. So
# these are refused where a value becomes an action, for every back end alike.

EARLIEST_TIME = datetime(1, 1, 2, tzinfo=UTC)  # a day inside the calendar's ends: any time zone can show them
LATEST_TIME = datetime(9999, 12, 30, 23, 59, 59, tzinfo=UTC)


def representable(t: datetime) -> datetime:
    """A time the ledger can convert, compare and show in any time zone; ValueError otherwise."""
    try:
        utc = t.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST_TIME <= utc <= LATEST_TIME:
        raise ValueError(
            f"{t.isoformat()} is outside the times the ledger can represent (0001-01-02 to 9999-12-30 UTC)"
        )
    return t


def text_problem(text: str) -> str | None:
    """Why a back end could not store this text, or None when every back end can."""
    if "\x00" in text:
        return "holds a NUL character (\\x00), which the ledger cannot store"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "holds an undecodable byte (a lone surrogate), which the ledger cannot store"
    return None


def unstorable(value: object, where: tuple[object, ...] = ()) -> tuple[str, str] | None:
    """(the dotted key, the problem) of the first text, key or value, in `value` that no back end can store.
    A loop, not a recursion: input nested a thousand deep is refused elsewhere, and must not crash here."""
    pending: list[tuple[object, tuple[object, ...]]] = [(value, where)]
    while pending:
        value, where = pending.pop()
        if isinstance(value, str):
            if (problem := text_problem(value)) is not None:
                return ".".join(map(str, where)) or "value", problem
        elif isinstance(value, dict):
            for key in value:
                if isinstance(key, str) and (problem := text_problem(key)) is not None:
                    return ".".join(map(str, (*where, key))), f"the key {problem}"
            pending += reversed([(inner, (*where, key)) for key, inner in value.items()])
        elif isinstance(value, (list, tuple)):
            pending += reversed([(inner, (*where, number)) for number, inner in enumerate(value)])
    return None


def _every_text_storable(action: BaseModel) -> BaseModel:
    """The model check of every action: each of its texts, whatever field holds it (one added later too). An
    import validates a million actions: all their texts are checked at once, and looked at one by one (to say
    which) only when that finds something, or when a value nests deeper than the flat `fields`."""
    if _all_storable(action.__dict__):
        return action
    fields = type(action).model_fields
    for name, value in action.__dict__.items():
        if name != "queued" and not isinstance(value, BaseModel):
            found = unstorable(value, (fields[name].alias or name,) if name in fields else (name,))
            if found is not None:
                raise PydanticCustomError("unstorable", "{key}: {problem}", {"key": found[0], "problem": found[1]})
    return action


def _all_storable(values: dict[str, object]) -> bool:
    """True if every text among the values (and the keys and values of a flat mapping) is storable; False
    when one is not, or when a value is nested deeper (then `unstorable` looks)."""
    texts: list[str] = []
    for name, value in values.items():
        kind = type(value)
        if kind is str:
            texts.append(value)  # type: ignore[arg-type]
        elif kind is dict:
            for key, inner in value.items():  # type: ignore[attr-defined]
                if type(key) is not str:
                    return False
                texts.append(key)
                if type(inner) is str:
                    texts.append(inner)
                elif isinstance(inner, (dict, list, tuple)):
                    return False
        elif kind in (list, tuple) and value and name != "queued":
            return False
    text = "".join(texts)
    if "\x00" in text:
        return False
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


SyncFilter = Literal["owned", "owned_and_shared"]
SyncMethod = Literal["outlook_client", "server_side"]
Name = Annotated[StrictStr, Field(min_length=1, max_length=200), AfterValidator(encodable)]
Time = Annotated[AwareDatetime, BeforeValidator(_not_a_number), AfterValidator(representable)]


def outlook_type_of(crm_type: str) -> str:
    """Outlook shows task-like activities (phone calls, letters, faxes) as tasks."""
    return "task" if crm_type in TASK_LIKE else crm_type


SourceValue = Annotated[StrictStr, AfterValidator(encodable)] | StrictBool | int
Source = dict[Name, SourceValue]  # provenance: {system: dataverse|m365|baseline|inferred, id, file, row, ...}


class Queued(Model):
    """One pending operation for one user, created by the event that carries it."""

    user: str
    operation: str
    record: str | None = None
    item: str | None = None
    cause: int
    designated: bool | None = None
    replay: OfflineAction | None = None


# --------------------------------------------------------------------------------------------- actions


Cycle = Annotated[StrictStr, Field(pattern=r"^[1-9][0-9]{0,5}[smh]$")]


class Action(Model):
    """A user action; `at` and `id` are filled in by the ledger when the input leaves them out."""

    at: Time | None = None
    id: Name | None = None
    queued: tuple[Queued, ...] = ()
    do: str  # every action names itself: each subclass narrows this to its own literal (and it is the tag)
    source: Source | None = None  # where an imported action came from (SOURCES.md "Provenance"); typed: none

    _storable = model_validator(mode="after")(_every_text_storable)  # see "input guards" above

    @property
    def user_name(self) -> str:
        # from the fields themselves: getattr of a field this class lacks goes through pydantic's slow path
        return str(self.__dict__.get("user") or self.__dict__.get("actor", ""))

    @property
    def when(self) -> datetime:
        assert self.at is not None, "the ledger stamps every action before it is recorded"
        return self.at


class UserAdded(Action):
    do: Literal["user.add"]
    user: Name
    sync_filter: SyncFilter = "owned"
    delete_untracked_email_in_crm: StrictBool = False
    cycle: Cycle | None = None  # how often the user's sync runs, as people.yaml says (inferred syncs)
    sync_method: SyncMethod | None = None  # None: outlook_client (left out, so older user.add rows stay as they were)


class OptionChanged(Action):
    do: Literal["option"]
    user: Name
    name: Literal["sync_filter", "delete_untracked_email_in_crm", "sync_method"]
    value: SyncFilter | SyncMethod | StrictBool


class OrgOptionChanged(Action):
    """An administrator sets an organisation option (RULES-SSS.md: `distinct_logical_deletes`)."""

    do: Literal["org.option"]
    actor: Name
    name: Literal["distinct_logical_deletes"]
    value: StrictBool


class OutlookItemCreated(Action):
    do: Literal["outlook.create"]
    user: Name
    item: Name
    type: OutlookType
    fields: Fields = {}
    start: Time | None = None


class OutlookItemEdited(Action):
    do: Literal["outlook.update"]
    user: Name
    item: Name
    fields: Fields = {}
    start: Time | None = None
    changed: tuple[Name, ...] | None = None  # the properties a mailbox audit names, without their values


class OutlookTaskCompleted(Action):
    do: Literal["outlook.complete"]
    user: Name
    item: Name


class OutlookItemDeleted(Action):
    do: Literal["outlook.delete"]
    user: Name
    item: Name


class OutlookItemTracked(Action):
    do: Literal["outlook.track"]
    user: Name
    item: Name
    record: Name | None = None


class OutlookItemUntracked(Action):
    do: Literal["outlook.untrack"]
    user: Name
    item: Name
    delete_in_crm: StrictBool | None = None


class OutlookRegardingSet(Action):
    do: Literal["outlook.set_regarding"]
    user: Name
    item: Name
    regarding: Name


class CrmRecordCreated(Action):
    do: Literal["crm.create"]
    actor: Name
    record: Name
    type: CrmType
    owner: Name | None = None
    fields: Fields = {}
    start: Time | None = None
    regarding: Name | None = None  # an e-mail's regarding record, as Dataverse recorded it (unchecked)


class CrmRecordEdited(Action):
    do: Literal["crm.update"]
    actor: Name
    record: Name
    fields: Fields = {}
    start: Time | None = None
    # an e-mail's regarding record as Dataverse recorded it (unchecked); "" clears it (SOURCES.md: the column set
    # to null), where leaving the key out leaves it as it is
    regarding: Name | Literal[""] | None = None


class CrmActivityCompleted(Action):
    do: Literal["crm.complete"]
    actor: Name
    record: Name


class CrmActivityCanceled(Action):
    do: Literal["crm.cancel"]
    actor: Name
    record: Name


class CrmContactDeactivated(Action):
    do: Literal["crm.deactivate"]
    actor: Name
    record: Name


class CrmContactActivated(Action):
    do: Literal["crm.activate"]
    actor: Name
    record: Name


class CrmRecordDeleted(Action):
    do: Literal["crm.delete"]
    actor: Name
    record: Name


class CrmRecordAssigned(Action):
    do: Literal["crm.assign"]
    actor: Name
    record: Name
    to: Name


class CrmRecordShared(Action):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    do: Literal["crm.share"]
    actor: Name
    record: Name
    with_: Name = Field(alias="with")


class CrmRecordUnshared(Action):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    do: Literal["crm.unshare"]
    actor: Name
    record: Name
    with_: Name = Field(alias="with")


class SyncRequested(Action):
    do: Literal["sync"]
    user: Name


class WentOffline(Action):
    do: Literal["offline"]
    user: Name


class WentOnline(Action):
    do: Literal["online"]
    user: Name


class RowRef(Model):
    file: Name
    row: Annotated[int, Field(ge=0)]
    id: Name


class DecisionRef(Model):
    rule: Name
    position: Annotated[int, Field(ge=1)]
    at: Time


class DiscrepancyFound(Action):
    """A row of a real organisation's export that the ledger would refuse only because of a state its own rules
    (or inferred syncs) produced: recorded as a lead for the support engineer, it changes nothing. Not a
    decision: `decision` names the one it contradicts (none when the synchronisation did what no rule did)."""

    do: Literal["discrepancy"]
    row: RowRef
    action: dict[str, Any]
    refusal: Annotated[StrictStr, Field(min_length=1, max_length=2000)]
    decision: DecisionRef | None = None

    @property
    def user_name(self) -> str:
        return str(self.action.get("user") or self.action.get("actor", ""))


class ItemAliased(Action):
    """The mailbox audit's id of an item the synchronisation created (SOURCES.md: aliases): references accept
    either."""

    do: Literal["alias"]
    user: Name
    item: Name
    alias: Name


# ------------------------------------------------------------------------------------------ the baseline
# What an organisation reported it held before the first event (SOURCES.md "The baseline"): one action that
# names the records, items and links as they were; the BASELINE decisions set them (`ledger.engine`).


class BaselineRecord(Model):
    id: Name
    type: CrmType
    owner: Name
    state: CrmState = "active"
    fields: Fields = {}
    start: Time | None = None
    shared_with: tuple[Name, ...] = ()
    regarding: Name | None = None


class BaselineItem(Model):
    id: Name
    type: OutlookType
    fields: Fields = {}
    start: Time | None = None
    completed: StrictBool = False


class BaselineLink(Model):
    user: Name
    item: Name
    record: Name
    origin: Origin


class BaselineDocument(Model):
    """The document of a baseline file, of a `baseline` action line, of a scenario's `baseline:` key."""

    at: Time
    records: tuple[BaselineRecord, ...] = ()
    items: dict[Name, tuple[BaselineItem, ...]] = {}
    links: tuple[BaselineLink, ...] = ()

    def canonical(self) -> str:
        """The document as canonical JSON (sorted keys, no spaces, defaults left out): what its id hashes."""
        data = self.model_dump(mode="json", exclude_defaults=True)
        data["at"] = self.model_dump(mode="json")["at"]
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def refs(self) -> tuple[str, ...]:
        """Every record and item the document sets, as references."""
        return (
            *(crm_ref(r.id) for r in self.records),
            *(outlook_ref(user, i.id) for user, items in self.items.items() for i in items),
        )


def baseline_id(document: BaselineDocument) -> str:
    return "baseline:" + hashlib.sha256(document.canonical().encode("utf-8")).hexdigest()


class BaselineObserved(Action):
    """The state observed before the first event (`do: baseline`); its time and id follow from the document."""

    do: Literal["baseline"]
    document: BaselineDocument

    @model_validator(mode="after")
    def _time_and_id(self) -> BaselineObserved:
        if self.at is not None and self.at != self.document.at:
            raise ValueError(f"at must be the document's at ({self.document.at.isoformat()}), or left out")
        if self.id is not None and self.id != baseline_id(self.document):
            raise ValueError("id must be baseline:<sha256 of the document's canonical JSON>, or left out")
        if self.at is None or self.id is None:
            return self.model_copy(update={"at": self.document.at, "id": baseline_id(self.document)})
        return self


STATE_AFTER: dict[str, CrmState] = {  # the CRM state each state-changing action leaves its record in
    "crm.complete": "completed",
    "crm.cancel": "canceled",
    "crm.deactivate": "inactive",
    "crm.activate": "active",
}


AnyAction = Annotated[
    UserAdded
    | OptionChanged
    | OutlookItemCreated
    | OutlookItemEdited
    | OutlookTaskCompleted
    | OutlookItemDeleted
    | OutlookItemTracked
    | OutlookItemUntracked
    | OutlookRegardingSet
    | CrmRecordCreated
    | CrmRecordEdited
    | CrmActivityCompleted
    | CrmActivityCanceled
    | CrmContactDeactivated
    | CrmContactActivated
    | CrmRecordDeleted
    | CrmRecordAssigned
    | CrmRecordShared
    | CrmRecordUnshared
    | SyncRequested
    | WentOffline
    | WentOnline
    | DiscrepancyFound
    | ItemAliased
    | BaselineObserved
    | OrgOptionChanged,
    Field(discriminator="do"),
]
OfflineAction = OutlookItemEdited | OutlookTaskCompleted | OutlookItemTracked | OutlookRegardingSet

ACTION_CLASSES: dict[str, type[Action]] = {
    cls.model_fields["do"].annotation.__args__[0]: cls
    for cls in AnyAction.__origin__.__args__  # type: ignore[attr-defined]
}


FactValue = StrictStr | StrictBool | StrictInt | float | None
Facts = dict[str, FactValue]  # a decision's facts: names to JSON values (times as ISO 8601 text)


class Decided(Model):
    """The ledger's decision: a rule applied, because of an earlier event (`cause`, a position)."""

    do: Literal["decision"] = "decision"
    at: Time
    actor: str
    rule: str
    cause: int
    about: tuple[str, ...]
    effects: tuple[Effect, ...] = ()
    reason: str | None = None
    method: str | None = None  # the synchronisation method whose rule set decided; None (older rows): outlook_client
    queued: tuple[Queued, ...] = ()
    # Recorded since issue 14 (absent from older ledgers' decisions): what the rule read of its situation, the
    # sync (or going online) whose batch decided it, and every queued change merged into it (`cause` the latest).
    facts: Facts | None = None
    sync: int | None = None
    causes: tuple[int, ...] | None = None

    @property
    def when(self) -> datetime:
        return self.at

    @property
    def decided_by(self) -> str:
        """The method whose rule set decided: `outlook_client` for decisions recorded before methods existed."""
        return self.method or "outlook_client"


Event = Annotated[AnyAction | Decided, Field(discriminator="do")]
Recorded = tuple[int, Action | Decided]  # an event and its position in the ledger
EVENT_CLASSES: dict[str, type[Model]] = {**ACTION_CLASSES, "decision": Decided}
ACTION_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyAction, config=ConfigDict(defer_build=True))

Queued.model_rebuild()


def dump(event: Model) -> dict[str, Any]:
    """The event as JSON-ready data: what the store keeps and what `--json` prints."""
    return event.model_dump(mode="json", by_alias=True, exclude_none=True)


def crm_ref(record: str) -> str:
    return f"crm:{record}"


def outlook_ref(user: str, item: str) -> str:
    return f"outlook:{user}/{item}"
