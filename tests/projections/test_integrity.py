"""`verify` finds what was changed, inserted or removed behind the ledger's back, and says where first."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from syncledger.ledger.seal import unwrap, wrap
from syncledger.projections.integrity import verify
from syncledger.projections.keys import KeyRefused
from syncledger.projections.reader import open_reader
from tests import randomwalk


def _ledger(path: Path, count: int = 120) -> str:
    location = str(path / "ledger.db")
    reader = open_reader(location, checkpoint_every=40)
    for action in randomwalk.actions(5, count):
        reader.ledger.append([action])
    return location


def _verify(location: str):
    reader = open_reader(location)
    return verify(reader.ledger.store, reader.projector.models)


def _sql(location: str, statement: str, *params: object) -> None:
    with sqlite3.connect(location) as db:
        db.execute(statement, params)


def _state(location: str, position: int) -> bytes:
    with sqlite3.connect(location) as db:
        return bytes(
            db.execute("SELECT state FROM stored_events WHERE originator_version = ?", (position,)).fetchone()[0]
        )


def test_a_clean_ledger_verifies(tmp_path: Path) -> None:
    report = _verify(_ledger(tmp_path))
    assert report.ok, report.findings
    assert report.events > 100 and report.checkpoints >= 2


def test_an_event_changed_behind_the_ledgers_back_is_found_at_its_position(tmp_path: Path) -> None:
    location = _ledger(tmp_path)
    kind, seal, payload = unwrap(_state(location, 30))
    changed = payload.replace(b'"at":"2026', b'"at":"2025')
    assert changed != payload
    _sql(location, "UPDATE stored_events SET state = ? WHERE originator_version = 30", wrap(seal, changed, False))
    report = _verify(location)
    assert [(f.position, f.check) for f in report.findings if f.check == "seal"] == [(30, "seal")]
    assert report.findings[0].position <= 30


def test_a_removed_event_is_found(tmp_path: Path) -> None:
    location = _ledger(tmp_path)
    _sql(location, "DELETE FROM stored_events WHERE originator_version = 44")
    report = _verify(location)
    assert not report.ok
    assert (44, "sequence") in [(f.position, f.check) for f in report.findings]


def test_an_event_inserted_and_resealed_without_the_key_is_found_when_the_key_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCLEDGER_SEAL_KEY", "kept-outside-the-database")
    location = _ledger(tmp_path)
    assert _verify(location).ok
    # someone with write access re-seals a changed event with the unkeyed chain: without the key they cannot
    from syncledger.ledger.seal import seal as chain

    _, before, _ = unwrap(_state(location, 9))
    _, _, payload = unwrap(_state(location, 10))
    forged = wrap(chain(before, 10, "ledger.vocabulary:SyncRequested", payload, None), payload, False)
    _sql(location, "UPDATE stored_events SET state = ? WHERE originator_version = 10", forged)
    assert (10, "seal") in [(f.position, f.check) for f in _verify(location).findings]
    monkeypatch.delenv("SYNCLEDGER_SEAL_KEY")
    with pytest.raises(KeyRefused, match="is sealed with a key"):  # never "clean" without the key
        _verify(location)


def test_an_invalid_event_resealed_with_the_whole_chain_after_it_is_still_found(tmp_path: Path) -> None:
    """Reading trusts the store's own rows (`ledger.serial`); `verify` must not: it validates every event."""
    from syncledger.ledger.seal import seal as chain

    location = _ledger(tmp_path)
    with sqlite3.connect(location) as db:
        rows = db.execute("SELECT originator_version, topic, state FROM stored_events ORDER BY 1").fetchall()
    _, previous, _ = unwrap(bytes(rows[8][2]))
    for position, topic, state in rows[9:]:  # from position 10 on, as someone without a seal key could
        payload = unwrap(bytes(state))[2]
        if position == 10:
            payload = payload.replace(b'"at":"2026-03-02T09:', b'"at":"2026-03-02 09:').replace(b'Z"', b'"', 1)
        previous = chain(previous, position, topic, payload, None)
        _sql(
            location,
            "UPDATE stored_events SET state = ? WHERE originator_version = ?",
            wrap(previous, payload, False),
            position,
        )
    findings = [(f.position, f.check) for f in _verify(location).findings]
    assert findings[0] == (10, "decode") and "seal" not in {check for _, check in findings}, findings


def test_read_models_that_differ_from_a_rebuild_are_found(tmp_path: Path) -> None:
    location = _ledger(tmp_path)
    _sql(
        location,
        "DELETE FROM syncledger_index WHERE (ref, position) IN (SELECT ref, position FROM syncledger_index LIMIT 3)",
    )
    checkpoint = min(p for (p,) in sqlite3.connect(location).execute("SELECT position FROM syncledger_checkpoints"))
    other = (
        sqlite3.connect(location)
        .execute("SELECT state FROM syncledger_checkpoints WHERE position > ? ORDER BY position LIMIT 1", (checkpoint,))
        .fetchone()[0]
    )
    _sql(location, "UPDATE syncledger_checkpoints SET state = ? WHERE position = ?", other, checkpoint)
    checks = {f.check for f in _verify(location).findings}
    assert checks == {"index", "checkpoint", "read model"}  # the index rows differ from their seal too


def test_a_checkpoint_whose_base_is_missing_is_found(tmp_path: Path) -> None:
    location = _ledger(tmp_path)
    assert _verify(location).ok
    with sqlite3.connect(location) as db:
        positions = [p for (p,) in db.execute("SELECT position FROM syncledger_checkpoints ORDER BY position")]
    _sql(location, "DELETE FROM syncledger_checkpoints WHERE position = ?", positions[0])  # a full one
    problems = [(f.position, f.problem) for f in _verify(location).findings if f.check == "checkpoint"]
    assert problems[0][0] == positions[1]
    assert problems[0][1].startswith(
        f"the checkpoint cannot be read: the checkpoint at {positions[0]}, which the one at {positions[1]} is a "
        "delta onto, is missing"
    )


@pytest.mark.parametrize(
    ("table", "what"),
    [
        ("past_records", "deleted records"),
        ("past_items", "deleted items"),
        ("past_links", "ended links"),
        ("actions", "action ids"),
    ],
)
def test_an_archived_past_that_differs_from_a_rebuild_is_found(tmp_path: Path, table: str, what: str) -> None:
    location = _ledger(tmp_path)
    assert _verify(location).ok
    _sql(location, f"DELETE FROM syncledger_{table} WHERE position = (SELECT max(position) FROM syncledger_{table})")
    problems = [f.problem for f in _verify(location).findings if f.check == "archive"]
    assert problems == [f"the archive's {what} differ from a rebuild from the events"]


def test_verify_through_the_command_exits_1_with_findings_and_0_when_clean(tmp_path: Path, run_cli) -> None:
    location = _ledger(tmp_path, 40)
    clean = run_cli("verify", "--db", location)
    assert clean.returncode == 0 and clean.stdout.startswith("ok:"), clean.stderr
    _sql(location, "DELETE FROM stored_events WHERE originator_version = 7")
    found = run_cli("verify", "--db", location, "--json")
    assert found.returncode == 1
    assert '"position":7' in found.stdout and '"ok":false' in found.stdout


def test_a_decisions_sync_or_merged_cause_after_it_is_found(tmp_path: Path) -> None:
    location = _ledger(tmp_path)
    reader = open_reader(location)
    decided = [(p, e) for p, e in reader.ledger.store.read() if getattr(e, "sync", None)]
    merged = [(p, e) for p, e in reader.ledger.store.read() if getattr(e, "causes", None)]
    reader.close()
    assert decided and merged
    (at_sync, sync_decision), (at_merge, merge_decision) = decided[0], merged[0]
    for position, old, new in (
        (at_sync, f'"sync":{sync_decision.sync}', f'"sync":{at_sync + 1}'),
        (at_merge, f'"causes":[{merge_decision.causes[0]}', f'"causes":[{at_merge + 1}'),
    ):
        kind, seal, payload = unwrap(_state(location, position))
        changed = payload.replace(old.encode(), new.encode())
        assert changed != payload
        _sql(
            location,
            f"UPDATE stored_events SET state = ? WHERE originator_version = {position}",
            wrap(seal, changed, False),
        )
    found = [(f.position, f.problem) for f in _verify(location).findings if f.check == "decision"]
    assert (at_sync, f"its sync {at_sync + 1} is not an earlier event") in found
    assert (at_merge, f"its merged cause {at_merge + 1} is not an event before its cause") in found


def test_a_decision_whose_rule_its_method_does_not_have_is_found(tmp_path: Path) -> None:
    """A decision names the method that took it: a rule of the other method's table alone cannot have been it."""
    from syncledger.ledger.rules import SERVER_SIDE
    from syncledger.ledger.seal import seal as chain

    location = _ledger(tmp_path)
    with sqlite3.connect(location) as db:
        rows = db.execute("SELECT originator_version, topic, state FROM stored_events ORDER BY 1").fetchall()
    target = next(
        position
        for position, topic, state in rows
        if topic.endswith("Decided")
        and (rule := orjson.loads(unwrap(bytes(state))[2])["rule"]) not in SERVER_SIDE.rules
        and rule != "GO-ONLINE-SYNC"
    )
    _, previous, _ = unwrap(bytes(rows[target - 2][2]))
    for position, topic, state in rows[target - 1 :]:  # resealed from there on, as someone without a seal key could
        payload = unwrap(bytes(state))[2]
        if position == target:
            payload = payload.replace(b'"method":"outlook_client"', b'"method":"server_side"')
        previous = chain(previous, position, topic, payload, None)
        _sql(
            location,
            "UPDATE stored_events SET state = ? WHERE originator_version = ?",
            wrap(previous, payload, False),
            position,
        )
    findings = [(f.position, f.check, f.problem) for f in _verify(location).findings if f.check == "decision"]
    assert len(findings) == 1 and findings[0][0] == target and "server_side's rules" in findings[0][2], findings
