"""The `syncledger` command line: a thin layer over the ledger and its projections.

Each command group lives in its own `tools/cmd_*.py` module and registers on the shared app (`tools.app`).
Every command that prints data takes `--json`. Exit status: 0 success, 1 a check failed (or verify found a
problem), 2 bad input or usage, with one line on standard error.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

from syncledger import tools

from .app import Usage, app, collect_for_bulk_work, storage_failure
from .output import fail

for _module in pkgutil.iter_modules(tools.__path__):
    if _module.name.startswith("cmd_"):
        importlib.import_module(f"syncledger.tools.{_module.name}")


def main() -> None:
    """Run the command line with one-line errors and the documented exit statuses."""
    collect_for_bulk_work()
    try:
        code = app(standalone_mode=False)
    except Usage as e:
        fail(str(e))
        code = 2
    except KeyboardInterrupt:
        code = 130
    except Exception as e:
        if type(e).__name__ == "Abort":  # Ctrl-C at a prompt
            sys.exit(130)
        if hasattr(e, "format_message") and hasattr(e, "exit_code"):  # a usage error of (typer's) click
            fail(e.format_message())
            code = 2
            sys.exit(code)
        problem = storage_failure(e)  # a full disk, a damaged file, a lost server: not a bug
        if problem is not None:
            fail(problem)
            sys.exit(2)
        # a bug: still one line, the traceback on request
        if os.environ.get("SYNCLEDGER_DEBUG"):
            raise
        fail(f"internal error: {type(e).__name__}: {e} (run with SYNCLEDGER_DEBUG=1 for the traceback)")
        code = 70
    sys.exit(code if isinstance(code, int) else 0)
