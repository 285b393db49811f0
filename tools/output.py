"""Output shared by every command: rich tables on a terminal, plain text when piped, JSON on request, and
one-line errors on standard error."""

from __future__ import annotations

import os
import shlex
import sys
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

# piped output is for scripts and files: no colour, and lines as long as they need to be
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 400)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(doc: Any) -> None:
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS).decode() + "\n")


def one_line(message: str, limit: int = 500) -> str:
    """A message safe to print: on one line, lone surrogates (undecodable bytes) escaped, the middle of a long
    one elided, so that hostile input is never echoed at full length."""
    text = " ".join(message.split()).encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    return f"{text[:head]}...{text[-(limit - head - 3) :]}"


def fail(message: str) -> None:
    """One line on standard error: what is wrong and where (never wrapped, never a traceback)."""
    sys.stderr.write(f"syncledger: {one_line(message, 900)}\n")


def db_option(db: str | None) -> str:
    """` --db D` for a command line to paste (quoted for the shell), or nothing for the default ledger."""
    return f" --db {shlex.quote(db)}" if db else ""


def warn(message: str) -> None:
    """One line on standard error that does not stop the command."""
    sys.stderr.write(f"syncledger: {one_line(message, 900)}\n")


def cell(value: object) -> str:
    """A value from the ledger as a table cell: shown as it is, never read as rich markup (`[alice]` stays)."""
    return escape(str(value))


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
