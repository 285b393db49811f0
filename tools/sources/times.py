"""Times as the sources write them: ISO 8601, a time without a zone is UTC, fractions past microseconds cut."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from syncledger.ledger import vocabulary as v

from ..inputs import shown
from .errors import LooseError

_FRACTION = re.compile(r"(\.\d{6})\d+")


def source_time(value: object, what: str) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise LooseError(f"{what} is missing or not a time")
    text = _FRACTION.sub(r"\1", value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    try:
        if len(text) > 10 and text[10] not in "Tt ":  # Python reads any character there: a line break too
            raise ValueError(text)
        t = datetime.fromisoformat(text)
    except ValueError:
        raise LooseError(f"{what} {shown(value)} is not an ISO 8601 time") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    try:
        return v.representable(t).astimezone(UTC)
    except ValueError as e:
        raise LooseError(f"{what}: {e}") from None


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")
