"""How a process of syncledger is tuned for bulk work."""

from __future__ import annotations

import gc


def collect_for_bulk_work() -> None:
    """Set the garbage collector for a process that folds and imports millions of small objects. They make no
    reference cycles, so reference counting frees them; but the cyclic collector's default thresholds made it
    walk the whole growing heap again and again: 40% of an import's time, measured. Start-up objects are
    frozen out of its sight and it runs far less often (still, so that a rare cycle is freed)."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
