"""The values that actions (`ledger.vocabulary`) and effects (`ledger.effects`) share: the frozen model every
event is built on, field values, and the CRM and Outlook types."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
)


class Model(BaseModel):
    # validators and serializers are built when first used, not on import: a command that only reads builds its
    # events without them (`ledger.serial`), and building all of them was a third of importing the vocabulary
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def encodable(text: str) -> str:
    """Text must be valid Unicode (no lone surrogates from undecodable bytes): the store writes UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text is not valid Unicode (it holds an undecodable byte)") from None
    return text


CrmType = Literal["contact", "appointment", "task", "email", "phonecall", "letter", "fax"]
OutlookType = Literal["contact", "appointment", "task", "email"]
CrmState = Literal["active", "inactive", "completed", "canceled"]
Origin = Literal["tracked", "synced"]


def _a_float(value: object) -> object:
    """An integer too large for the store is refused, not rounded into a float."""
    if not isinstance(value, float):
        raise ValueError("a number must be an integer between -2**63 and 2**63-1, or a decimal")
    return value


Text = Annotated[StrictStr, AfterValidator(encodable)]
FieldValue = (
    Text
    | StrictBool
    | Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]  # what the store's JSON keeps exactly
    | Annotated[float, BeforeValidator(_a_float), Field(allow_inf_nan=False)]
    | None
)
Fields = dict[Annotated[StrictStr, Field(min_length=1, max_length=200), AfterValidator(encodable)], FieldValue]
