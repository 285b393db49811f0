"""The audit exports the bench generates, and `bench --sources`, for correctness only: numbers come from
`syncledger bench`, never from tests."""

from __future__ import annotations

import csv
import json
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from syncledger.ledger.application import Ledger
from syncledger.tools.perf import audits
from syncledger.tools.sources.importer import read_inputs, run_import

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_the_generated_exports_are_paged_as_exported_and_import_row_for_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audits, "PAGE_ROWS", 300)
    monkeypatch.setattr(audits, "CSV_ROWS", 500)
    exports = audits.write_exports(tmp_path, 2_000, users=12, seed=4)
    assert exports.rows == exports.dataverse_rows + exports.m365_rows >= 2_000
    pages = [f for f in exports.files if f.suffix == ".json"]
    csvs = [f for f in exports.files if f.suffix == ".csv"]
    assert len(pages) == -(-exports.dataverse_rows // 300) >= 3 and len(csvs) == -(-exports.m365_rows // 500) >= 2
    docs = [json.loads(p.read_text()) for p in pages]
    assert [len(d["value"]) for d in docs[:-1]] == [300] * (len(docs) - 1)
    assert ["@odata.nextLink" in d for d in docs] == [True] * (len(docs) - 1) + [False]  # as the Web API pages
    with csvs[0].open(newline="") as stream:
        times = [datetime.fromisoformat(json.loads(row["AuditData"])["CreationTime"]) for row in csv.DictReader(stream)]
    assert len(times) == 500 and times == sorted(times, reverse=True)  # newest first, as the search returns
    report = run_import(Ledger(), read_inputs(str(exports.people), [(str(f), None) for f in exports.files]))
    assert report.rows == exports.rows
    assert [f.rows for f in report.files] == [len(d["value"]) for d in docs] + [500] * (len(csvs) - 1) + [
        exports.m365_rows - 500 * (len(csvs) - 1)
    ]
    assert report.discrepancies == 0 and report.first_seen == 0  # the random actions are valid as they are


def test_bench_sources_imports_the_exports_and_their_action_lines_side_by_side(run_cli: Run) -> None:
    result = run_cli("bench", "--sources", "--events", "1000", "--users", "5", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for key in (
        "rows",
        "actions",
        "events",
        "sources_rows_per_s",
        "sources_aps",
        "sources_eps",
        "sources_import_peak_rss_mb",
        "lines_aps",
        "lines_eps",
        "lines_import_peak_rss_mb",
        "convert_rows_per_s",
        "speed_ratio",
        "cpu_ratio",
        "memory_ratio",
    ):
        assert report[key] > 0, key
    assert report["rows"] >= 1000 and report["events"] > report["actions"]
    assert abs(report["speed_ratio"] - report["sources_eps"] / report["lines_eps"]) < 1e-9
    assert (
        abs(report["memory_ratio"] - report["sources_import_peak_rss_mb"] / report["lines_import_peak_rss_mb"]) < 1e-9
    )
    refused = run_cli("bench", "--sources", "--events", "1000", "--db", "postgresql://x@127.0.0.1/none")
    assert refused.returncode == 2 and "give no --db" in refused.stderr
