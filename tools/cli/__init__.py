"""The `syncledger` command line: a thin layer over the ledger, its projections and the tools below it.

Each command group is a module of this package that registers on the shared app (`app.py`) and only wires:
options in, the work done below the command line (`tools.explain`, `tools.transfer`, `tools.scenarios`,
`tools.perf`), output out. Nothing but this module imports them, and only the module of the command asked for
(`load_commands`). Every command that prints data takes `--json`.
Exit status: 0 success, 1 a check failed (or verify found a problem), 2 bad input or usage, with one line on
standard error.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Protocol, runtime_checkable

import typer

from syncledger.ledger.location import StoreError

from ..output import fail
from ..perf.tuning import collect_for_bulk_work
from .app import COMMANDS, UsageError, app, storage_failure


@runtime_checkable
class _ClickError(Protocol):
    """A usage error of (typer's own copy of) click: we print its message our way."""

    exit_code: int

    def format_message(self) -> str: ...

    def show(self) -> None: ...


def load_commands(command: str | None = None) -> None:
    """Register `command` on the app by importing its module (`app.COMMANDS`), or, for any other word or none,
    every command (the usage lists them all, and click suggests a close one). A module imports what its commands
    work with (explaining, importing, measuring): importing all of them was a quarter of a cold `state`."""
    modules = [COMMANDS[command]] if command in COMMANDS else sorted(set(COMMANDS.values()))
    for module in modules:
        importlib.import_module(f"{__name__}.{module}")


def main() -> None:
    """Run the command line with one-line errors and the documented exit statuses."""
    collect_for_bulk_work()
    words = [word for word in sys.argv[1:2] if not word.startswith("-")]  # the app itself takes only --help
    load_commands(words[0] if words else None)
    try:
        code = app(standalone_mode=False, prog_name="syncledger")  # also as `python -m syncledger`
    except UsageError as e:
        fail(str(e))
        code = 2
    except KeyboardInterrupt:
        code = 130
    except Exception as e:
        if isinstance(e, typer.Abort):  # Ctrl-C at a prompt
            sys.exit(130)
        if isinstance(e, _ClickError) and type(e).__name__ == "NoArgsIsHelpError":  # a bare `syncledger`
            e.show()  # the usage and the commands, as typer itself shows them (exit 2)
            sys.exit(e.exit_code)
        if isinstance(e, _ClickError):
            fail(e.format_message())
            code = 2
            sys.exit(code)
        problem = storage_failure(e)  # a full disk, a damaged file, a lost server: not a bug
        if problem is not None:
            fail(problem)
            sys.exit(2)
        if isinstance(e, StoreError):  # a stored row read midway that cannot be an event: the ledger, not a bug
            fail(f"{e} (`syncledger verify` lists what is damaged)")
            sys.exit(2)
        # a bug: still one line, the traceback on request
        if os.environ.get("SYNCLEDGER_DEBUG"):
            raise
        fail(f"internal error: {type(e).__name__}: {e} (run with SYNCLEDGER_DEBUG=1 for the traceback)")
        code = 70
    sys.exit(code if isinstance(code, int) else 0)
