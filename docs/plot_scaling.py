"""Draw docs/scaling.png from `syncledger bench --json` results: how each measure grows with the ledger, one line
per back end (SQLite, PostgreSQL).

Not part of the product (it needs matplotlib, which syncledger does not depend on). Reproduce with:

    for n in 10000 100000 1000000; do syncledger bench --events $n --json > docs/bench/sqlite-$n.json; done
    pip install matplotlib && python docs/plot_scaling.py docs/bench/sqlite-*.json docs/bench/pg-*.json \
        docs/bench/runs/sqlite-10000000-738b867.json

A `lookups-<events>.json` (the query measures re-run on a kept SQLite ledger of that size, on later code) replaces
the query measures of the SQLite run of that size.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PANELS = (
    ("throughput / machine's limit", [("ingest_ratio", "ingest", 0.05), ("rebuild_ratio", "rebuild", 0.25)], False),
    (
        "seconds (p95)",
        [
            ("state_p95_s", "time travel", 0.2),
            ("why_p95_s", "why", 0.02),
            ("history_p95_s", "history", 0.02),
            ("preview_p95_s", "preview", None),
            ("diff_p95_s", "diff (1,000 events)", None),
        ],
        True,
    ),
    ("peak RSS, MB", [("peak_rss_mb", "rebuilding", 1024), ("import_peak_rss_mb", "importing", 1024)], False),
)


def main(paths: list[str]) -> None:
    runs = [json.loads(Path(p).read_text()) for p in paths if not Path(p).name.startswith("lookups-")]
    for path in (Path(p) for p in paths if Path(p).name.startswith("lookups-")):
        size = int(path.stem.removeprefix("lookups-"))
        again = {k: v for k, v in json.loads(path.read_text()).items() if k.endswith("_s")}
        for run in runs:
            if run.get("backend", "sqlite") == "sqlite" and round(_size(run), -3) == size:  # a few events over
                run.update(again)
    backends = sorted({r.get("backend", "sqlite") for r in runs})
    figure, axes = plt.subplots(1, len(PANELS), figsize=(12, 3.4), layout="constrained")
    for axis, (title, series, log) in zip(axes, PANELS, strict=True):
        for n, (key, label, bar) in enumerate(series):
            colour = f"C{n}"
            for backend, style in zip(backends, ("-", "--"), strict=False):
                mine = sorted((r for r in runs if r.get("backend", "sqlite") == backend and key in r), key=_size)
                name = f"{label} ({backend})" if len(backends) > 1 else label
                axis.plot([_size(r) for r in mine], [r[key] for r in mine], style, marker="o", color=colour, label=name)
            if bar is not None:
                axis.axhline(bar, color=colour, linestyle=":", linewidth=1)
        axis.set_xscale("log")
        if log:
            axis.set_yscale("log")
        axis.set_xlabel("events in the ledger")
        axis.set_title(title, fontsize=10)
        axis.legend(fontsize=6, ncol=2 if len(series) > 3 else 1, loc="lower right" if len(series) > 3 else "best")
    machine = runs[-1]["machine"]
    figure.suptitle(
        f"syncledger bench ({machine['cores']} cores, {machine['memory_gb']} GB, quiet; the runs' days: "
        f"{', '.join(sorted({r['run']['started'][:10] for r in runs if 'run' in r}))}: compare ratios); "
        "dotted lines: DESIGN.md's bars",
        fontsize=10,
    )
    out = Path(__file__).with_name("scaling.png")
    figure.savefig(out, dpi=110)
    print(f"wrote {out}")


def _size(run: dict[str, Any]) -> int:
    return int(run["events"])


if __name__ == "__main__":
    main(sys.argv[1:])
