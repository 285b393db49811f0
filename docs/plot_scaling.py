"""Draw docs/scaling.png from `syncledger bench --json` results: how each measure grows from 10^4 to 10^6 events.

Not part of the product (it needs matplotlib, which syncledger does not depend on). Reproduce with:

    for n in 10000 100000 1000000; do syncledger bench --events $n --json > docs/bench-$n.json; done
    pip install matplotlib && python docs/plot_scaling.py docs/bench-*.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PANELS = (
    ("throughput / machine's limit", [("ingest_ratio", "ingest", 0.05), ("rebuild_ratio", "rebuild", 0.25)], False),
    (
        "seconds (p95)",
        [("state_p95_s", "time travel", 0.2), ("why_p95_s", "why", 0.02), ("history_p95_s", "history", 0.02)],
        True,
    ),
    ("peak RSS rebuilding, MB", [("peak_rss_mb", "memory", 1024)], False),
)


def main(paths: list[str]) -> None:
    runs = sorted((json.loads(Path(p).read_text()) for p in paths), key=lambda r: r["events"])
    events = [r["events"] for r in runs]
    figure, axes = plt.subplots(1, len(PANELS), figsize=(12, 3.4), layout="constrained")
    for axis, (title, series, log) in zip(axes, PANELS, strict=True):
        for n, (key, label, bar) in enumerate(series):
            colour = f"C{n}"
            axis.plot(events, [r[key] for r in runs], marker="o", color=colour, label=label)
            axis.axhline(bar, color=colour, linestyle=":", linewidth=1)
        axis.set_xscale("log")
        if log:
            axis.set_yscale("log")
        axis.set_xlabel("events in the ledger")
        axis.set_title(title, fontsize=10)
        axis.legend(fontsize=8)
    machine = runs[-1]["machine"]
    figure.suptitle(
        f"syncledger bench ({machine['cores']} cores, {machine['memory_gb']} GB); dotted lines: DESIGN.md's bars",
        fontsize=10,
    )
    out = Path(__file__).with_name("scaling.png")
    figure.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
