"""Changes made to a stored document behind the ledger's back, for the tests of damaged data: each returns a
function that changes the decoded JSON in place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Change = Callable[[dict[str, Any]], None]


def setting(key: str, value: Any) -> Change:
    def change(data: dict[str, Any]) -> None:
        data[key] = value

    return change


def dropping(key: str) -> Change:
    def change(data: dict[str, Any]) -> None:
        del data[key]

    return change
