"""Progress bars (rich) on standard error for long work: shown only on a terminal, and only when the work runs
longer than a second; silenced by SYNCLEDGER_QUIET=1."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from .output import errors

Update = Callable[[int, int], None]  # (done, total)


@contextmanager
def progress(description: str) -> Iterator[Update]:
    """An `update(done, total)` callback that draws a bar once the work has run for a second."""
    enabled = errors.is_terminal and not os.environ.get("SYNCLEDGER_QUIET")
    started = time.monotonic()
    bar: Progress | None = None
    task = None

    def update(done: int, total: int) -> None:
        nonlocal bar, task
        if not enabled or time.monotonic() - started < 1.0:
            return
        if bar is None:
            bar = Progress(
                TextColumn(description),
                BarColumn(),
                TextColumn("{task.completed:,.0f}{task.fields[of]}"),
                TimeRemainingColumn(),
                console=errors,
                transient=True,
            )
            bar.start()
            task = bar.add_task(description, total=total or None, of="")
        assert task is not None
        # a total of 0 means not known yet: the bar pulses and shows the count alone
        bar.update(task, completed=done, total=total or None, of=f" of {total:,}" if total else "")

    try:
        yield update
    finally:
        if bar is not None:
            bar.stop()
