"""Output shared by every command: rich tables on a terminal, plain text when piped, JSON on request, and
one-line errors on standard error."""

from __future__ import annotations

import os
import sys
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(doc: Any) -> None:
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS).decode() + "\n")


def fail(message: str) -> None:
    """One line on standard error: what is wrong and where (never wrapped, never a traceback)."""
    sys.stderr.write(f"syncledger: {' '.join(message.split())}\n")


def table(title: str, *columns: str) -> Table:
    plain = not console.is_terminal or os.environ.get("NO_COLOR")
    return Table(
        *columns,
        title=title,
        title_justify="left",
        box=None if plain else Table().box,
        show_edge=not plain,
        pad_edge=False,
        header_style="bold" if not plain else "",
    )
