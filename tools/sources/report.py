"""The report of an import from the sources (SOURCES.md "The report"): its JSON shape and reasons are fixed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .load import SourceFile
from .times import iso

REASONS = (
    "another record type",
    "another table",
    "another operation",
    "another detail type",
    "another principal",
    "unnamed mailbox",
    "made by synchronisation",
    "made by synchronisation (unmatched)",
    "duplicate",
    "no change",
    "reopened",
    "later stage of a deletion",
    "deleted before the window",
    "item already deleted by its user",
    "unknown record",
)


@dataclass
class Report:
    files: list[SourceFile]
    rows: int = 0
    appended: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    first_seen: int = 0
    aliases: int = 0
    syncs_inferred: int = 0
    pending_at_end: dict[str, int] = field(default_factory=dict)
    discrepancies: int = 0
    baseline_unlinked: int = 0
    window: tuple[datetime, datetime] | None = None
    first: int | None = None  # positions appended
    last: int | None = None

    def skip(self, reason: str) -> None:
        assert reason in REASONS, reason
        self.skipped[reason] += 1

    def document(self) -> dict[str, Any]:
        return {
            "files": [{"name": f.name, "kind": f.kind, "rows": f.rows, "incomplete": f.incomplete} for f in self.files],
            "rows": self.rows,
            "appended": dict(sorted(self.appended.items())),
            "skipped": {reason: self.skipped[reason] for reason in REASONS if self.skipped[reason]},
            "first_seen": self.first_seen,
            "aliases": self.aliases,
            "syncs_inferred": self.syncs_inferred,
            "pending_at_end": dict(self.pending_at_end),
            "discrepancies": self.discrepancies,
            "baseline_unlinked": self.baseline_unlinked,
            "window": [iso(self.window[0]), iso(self.window[1])] if self.window else None,
        }

    def text(self) -> list[str]:
        lines = []
        for f in self.files:
            cut = " (it has an @odata.nextLink: the export is incomplete, fetch the next pages)" if f.incomplete else ""
            lines.append(f"{f.name}: {f.kind}, {f.rows} rows{cut}")
        total = sum(self.appended.values())
        where = f" at positions {self.first}..{self.last}" if self.first is not None else ""
        lines.append(f"Read {self.rows} rows; appended {total} actions{where}.")
        if self.appended:
            lines.append("  appended: " + ", ".join(f"{k} {n}" for k, n in sorted(self.appended.items())))
        if self.skipped:
            parts = [f"{reason} {self.skipped[reason]}" for reason in REASONS if self.skipped[reason]]
            lines.append(f"  skipped {sum(self.skipped.values())}: " + ", ".join(parts))
        lines.append(
            f"  items first seen {self.first_seen}, aliases {self.aliases}, syncs inferred {self.syncs_inferred}, "
            f"discrepancies {self.discrepancies}"
            + (" (syncledger discrepancies lists them)" if self.discrepancies else "")
        )
        if self.baseline_unlinked:
            lines.append(
                f"  baseline records in a filter without a link: {self.baseline_unlinked} (the next sync copies them)"
            )
        pending = {u: n for u, n in self.pending_at_end.items() if n}
        if pending:
            lines.append("  still pending at the end: " + ", ".join(f"{u} {n}" for u, n in pending.items()))
        if self.window:
            lines.append(f"  window {iso(self.window[0])} .. {iso(self.window[1])}")
        lines.append(
            "  (the logs show no Track or Set Regarding: tracked items appear as a crm.create and an unlinked item)"
        )
        return lines
