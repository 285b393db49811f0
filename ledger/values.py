"""The values events are made of: names, times, field values, the CRM and Outlook types, and the frozen model
every event and effect is built on. Actions (`ledger.vocabulary`) and effects (`ledger.effects`) share them."""

from __future__ import annotations

from typing import Annotated, Literal

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
)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _encodable(text: str) -> str:
    """Text must be valid Unicode (no lone surrogates from undecodable bytes): the store writes UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text is not valid Unicode (it holds an undecodable byte)") from None
    return text


def _not_a_number(value: object) -> object:
    """pydantic would read a number as a Unix timestamp; a time here is written as ISO 8601."""
    if isinstance(value, (int, float)) or (
        isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit()
    ):
        raise ValueError("a time is written as ISO 8601 with a time zone (e.g. 2026-03-02T11:00:00Z), not a number")
    return value


CrmType = Literal["contact", "appointment", "task", "email", "phonecall", "letter", "fax"]
OutlookType = Literal["contact", "appointment", "task", "email"]
CrmState = Literal["active", "inactive", "completed", "canceled"]
SyncFilter = Literal["owned", "owned_and_shared"]
Origin = Literal["tracked", "synced"]
Name = Annotated[StrictStr, Field(min_length=1, max_length=200), AfterValidator(_encodable)]


def _a_float(value: object) -> object:
    """An integer too large for the store is refused, not rounded into a float."""
    if not isinstance(value, float):
        raise ValueError("a number must be an integer between -2**63 and 2**63-1, or a decimal")
    return value


Time = Annotated[AwareDatetime, BeforeValidator(_not_a_number)]
Text = Annotated[StrictStr, AfterValidator(_encodable)]
FieldValue = (
    Text
    | StrictBool
    | Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]  # what the store's JSON keeps exactly
    | Annotated[float, BeforeValidator(_a_float), Field(allow_inf_nan=False)]
    | None
)
Fields = dict[Annotated[StrictStr, Field(min_length=1, max_length=200), AfterValidator(_encodable)], FieldValue]
