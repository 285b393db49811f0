"""Output shared by every command: rich tables on a terminal, plain text when piped, JSON on request, and
one-line errors on standard error."""

from __future__ import annotations

import codecs
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

# What must not reach a terminal raw from a value: C0 and C1 control characters (escape sequences, NUL, bells,
# line breaks that would forge a line of output), DEL, the bidirectional overrides and isolates that reorder
# what is shown, line and paragraph separators, and lone surrogates (undecodable bytes).
# A JSON encoder escapes C0 itself but writes the others raw: valid JSON that a terminal still obeys.
_RAW_IN_JSON = "\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
_UNPRINTABLE = re.compile(f"[\x00-\x1f{_RAW_IN_JSON}\ud800-\udfff]")
_JSON_UNSAFE = re.compile(f"[{_RAW_IN_JSON}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: str) -> str:
    """Text from outside (ids, names, field values, titles) as every text output and error line shows it: the
    characters above escaped as Python writes them (`\\x1b`, `\\n`, `\\u202e`), everything else as it is."""
    return _UNPRINTABLE.sub(_escaped, text) if _UNPRINTABLE.search(text) else text


class _Console(Console):
    """rich's console, with every text it is given made `printable`. rich drops a few control characters but
    passes escape sequences, NUL and bidi overrides to the terminal. Line breaks at the start or end of a text
    are the command's own layout and stay; one inside a text is a value's and is shown escaped."""

    def print(self, *objects: Any, **options: Any) -> None:
        super().print(*(_printable_layout(o) if isinstance(o, str) else o for o in objects), **options)


def _printable_layout(text: str) -> str:
    body = text.strip("\n")
    if not body:
        return text
    head = text[: len(text) - len(text.lstrip("\n"))]
    tail = text[len(text.rstrip("\n")) :]
    return head + printable(body) + tail


# piped output is for scripts and files: no colour, and lines as long as they need to be
console = _Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 400)
errors = _Console(stderr=True, highlight=False, soft_wrap=True)


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def json_bytes(doc: Any, option: int = orjson.OPT_NON_STR_KEYS, default: Callable[[Any], Any] | None = None) -> bytes:
    """`doc` as one line of JSON (UTF-8) with DEL, C1 controls, the bidi marks, overrides and isolates and the line
    separators (what `printable` escapes beyond C0, which orjson escapes itself) written as `\\uXXXX`: the same
    value when parsed, and nothing raw in it that reorders or rewrites what a terminal or a viewer shows. Such a
    character can stand only inside a JSON string, where its escape means the same. `default` turns what orjson
    does not know (a dataclass too: it is passed through) into what it does, one value at a time."""
    if default is not None:
        option |= orjson.OPT_PASSTHROUGH_DATACLASS
    data = orjson.dumps(doc, option=option, default=default)
    if data.isascii() and 0x7F not in data:  # most documents: two cheap checks instead of a search
        return data
    return _JSON_UNSAFE.sub(_json_escape, data.decode()).encode()


def json_text(doc: Any) -> str:
    """`json_bytes` as text."""
    return json_bytes(doc).decode()


def print_json(doc: Any, default: Callable[[Any], Any] | None = None) -> None:
    """Every command's `--json`: one document, one line (`json_bytes`, with its `default`). A value of the
    document's that is an iterable of lists (not a list) is written as one list, a list at a time, never held
    whole (`json_pieces`: `state --links all` lists every link the ledger made, 700,000 at 10^7 events). Written
    as bytes where standard output is UTF-8 with bytes beneath (as text it was two more copies of it), else as
    text."""
    out = sys.stdout
    buffer = getattr(out, "buffer", None)
    if buffer is None or codecs.lookup(out.encoding or "ascii").name != "utf-8":
        for piece in json_pieces(doc, default):
            out.write(piece.decode())
        out.write("\n")
        return
    out.flush()  # what was written as text goes first
    for piece in json_pieces(doc, default):
        buffer.write(piece)
    buffer.write(b"\n")
    buffer.flush()


def _in_parts(value: Any) -> bool:
    """Whether a document's value is given a list at a time: iterable, but none of JSON's own values."""
    return isinstance(value, Iterable) and not isinstance(value, (str, bytes, list, tuple, dict))


def json_pieces(doc: Any, default: Callable[[Any], Any] | None = None) -> Iterator[bytes]:
    """`json_bytes(doc)` in pieces that join to it, where a value of the top-level dict `doc` is an iterable (not a
    list) of lists, such as `projections.document.LinkPages`: that value is written as the one list they make,
    each list made into JSON as it comes. Every other document is one piece."""
    if not isinstance(doc, dict) or not any(_in_parts(value) for value in doc.values()):
        yield json_bytes(doc, default=default)
        return
    yield b"{"
    comma, plain = b"", dict[Any, Any]()
    for key, value in doc.items():
        if not _in_parts(value):
            plain[key] = value
            continue
        if plain:  # the members before it, as they stand inside the whole object
            yield comma + json_bytes(plain, default=default)[1:-1]
            comma, plain = b",", {}
        yield comma + json_bytes(str(key)) + b":["
        first = True
        for part in value:
            if part:
                yield (b"" if first else b",") + json_bytes(part, default=default)[1:-1]
                first = False
        yield b"]"
        comma = b","
    if plain:
        yield comma + json_bytes(plain, default=default)[1:-1]
    yield b"}"


def one_line(message: str, limit: int = 500) -> str:
    """A message safe to print: on one line, control characters and lone surrogates (undecodable bytes) escaped
    (`printable`), the middle of a long one elided, so that hostile input is never echoed at full length."""
    text = " ".join(printable(message).split())
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
    return escape(printable(str(value)))


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
