"""The generator and the benchmark, for correctness only: numbers come from `syncledger bench`, never from tests."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from syncledger.ledger.world import World
from syncledger.tools.perf import generate
from syncledger.tools.perf.generate import Organisation
from syncledger.tools.transfer import PastFile

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_generate_is_deterministic_and_every_line_imports(tmp_path: Path, run_cli: Run) -> None:
    first = run_cli("generate", "--users", "12", "--days", "2", "--seed", "3")
    again = run_cli("generate", "--users", "12", "--days", "2", "--seed", "3")
    other = run_cli("generate", "--users", "12", "--days", "2", "--seed", "4")
    assert first.returncode == 0 and first.stdout == again.stdout != other.stdout
    lines = [json.loads(line) for line in first.stdout.splitlines()]
    kinds = Counter(line["do"] for line in lines)
    assert {"crm.create", "outlook.track", "crm.share", "sync", "outlook.delete", "crm.delete"} <= set(kinds)
    (tmp_path / "org.jsonl").write_text(first.stdout)
    imported = run_cli("import", "org.jsonl", "--db", "org.db", "--json")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["appended"] == len(lines)
    assert run_cli("verify", "--db", "org.db").returncode == 0


def test_generate_stops_at_the_number_of_events_asked_for(tmp_path: Path, run_cli: Run) -> None:
    capped = run_cli("generate", "--users", "20", "--days", "50", "--events", "3000")
    (tmp_path / "capped.jsonl").write_text(capped.stdout)
    assert run_cli("import", "capped.jsonl", "--db", "capped.db").returncode == 0
    position = json.loads(run_cli("state", "--json", "--db", "capped.db").stdout)["position"]
    assert 3000 <= position < 3100  # the last action's own decisions may overrun


def test_bench_reports_every_measure_beside_the_machines_limit(run_cli: Run) -> None:
    result = run_cli("bench", "--events", "3000", "--users", "10", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for key in (
        "actions",
        "events",
        "ingest_aps",
        "ingest_raw_rps",
        "ingest_ratio",
        "rebuild_eps",
        "rebuild_raw_eps",
        "rebuild_ratio",
        "state_p50_s",
        "state_p95_s",
        "why_p95_s",
        "history_p95_s",
        "peak_rss_mb",
        "whatif_s",
        "whatif_eps",
        "peak_rss_whatif_mb",
        "preview_p95_s",
        "diff_p95_s",
        "peer_save_eps",
        "peer_read_eps",
    ):
        assert report[key] > 0, key
    assert report["events"] >= 3000
    assert abs(report["ingest_ratio"] - report["ingest_aps"] / report["ingest_raw_rps"]) < 1e-9


def test_bench_leaves_out_what_it_is_told_to_and_keeps_the_measured_ledger(tmp_path: Path, run_cli: Run) -> None:
    kept = tmp_path / "kept.db"
    result = run_cli(
        "bench", "--events", "2000", "--users", "8", "--skip", "whatif,peer", "--keep", str(kept), "--json"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["skipped"] == ["peer", "whatif"] and report["kept"] == str(kept)
    assert "whatif_s" not in report and "peer_save_eps" not in report and report["rebuild_eps"] > 0
    verified = run_cli("verify", "--json", "--db", str(kept))
    assert verified.returncode == 0 and json.loads(verified.stdout)["events"] == report["events"]
    again = run_cli("bench", "--events", "2000", "--keep", str(kept))
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr
    wrong = run_cli("bench", "--events", "2000", "--skip", "rebuild")
    assert wrong.returncode == 2 and "--skip takes whatif, peer, writers" in wrong.stderr


def test_generate_moves_its_past_to_a_file_and_writes_the_same_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """Generating 10^7 events held every action id, deleted record and ended link in memory (over 1 GiB); the past
    now moves to a scratch file every PAST_EVERY events, as an import's does. The engine, asking that file, decides
    as in memory: the same lines and events; what memory holds is only the past since the last move."""
    in_memory = Organisation(20, seed=5)
    expected = list(in_memory.run(30, max_events=6000))
    assert in_memory.world.past.upto == 0  # PAST_EVERY is far beyond this size

    monkeypatch.setattr(generate, "PAST_EVERY", 400)
    moves: list[int] = []
    real = generate.move_past

    def move(world: World, past: PastFile) -> None:
        moves.append(world.position)
        real(world, past)

    monkeypatch.setattr(generate, "move_past", move)
    spilled = Organisation(20, seed=5)
    with PastFile() as past:
        lines = list(spilled._run(30, 6000, past))
        assert lines == expected and spilled.events == in_memory.events
        assert len(moves) >= 10 and spilled.world.past.upto == moves[-1]
        since = spilled.world.past.since
        assert len(since.actions) < 400 < len(in_memory.world.past.since.actions)
        assert len(spilled.world.changed_records) < len(in_memory.world.changed_records)
        deleted = sorted({line["record"] for line in lines if line["do"] == "crm.delete"})
        found = [r for r in deleted if spilled.world.past.record(r) is not None]
        assert found == [r for r in deleted if in_memory.world.past.record(r) is not None]
        assert any(r not in since.records for r in found)  # answered from the file
        first = lines[0]["id"]  # staged long before the last move: found through the file
        assert spilled.world.past.action(first) == in_memory.world.past.action(first) == 1
