"""The ledger's promises against an attacker and an unlucky operator (issue 11), through the real `syncledger`
command on SQLite and PostgreSQL: heads kept outside the ledger show a ledger cut short; derived data (checkpoints,
the archive, action ids) never decides unverified; a keyed ledger refuses writers and checkers without its key;
rows damaged with SQL are findings, never crashes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from syncledger.ledger import vocabulary as v
from syncledger.ledger.seal import fingerprint, seal, unwrap, wrap
from syncledger.ledger.store import EventStore
from syncledger.projections.codec import compressed, decompressed
from syncledger.projections.reader import open_reader
from syncledger.tools.actionlines import to_line
from tests import randomwalk
from tests.conftest import Locations

Run = Callable[..., subprocess.CompletedProcess[str]]
KEY = "kept-outside-the-database"


def _ledger(stored: Locations, count: int = 120) -> str:
    """A ledger of random valid actions (with ids), with a checkpoint every 40 events."""
    location = stored.new()
    assert location is not None
    reader = open_reader(location, checkpoint_every=40)
    for action in randomwalk.actions(5, count):
        reader.ledger.append([action])
    reader.projector.models.close()
    reader.ledger.store.close()
    return location


def _sql(location: str, statement: str, *params: object) -> list[Any]:
    """Run SQL behind the ledger's back, as an attacker or an operator could."""
    if "://" not in location:
        import sqlite3

        with sqlite3.connect(location) as db:
            return db.execute(statement, params).fetchall()
    import psycopg

    base, schema = location.split("?schema=")
    with psycopg.connect(base, options=f"-c search_path={schema}", autocommit=True) as db:
        cursor = db.execute(statement.replace("?", "%s"), params)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("syncledger: warning:")]
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    return lines[0]


def _findings(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert result.returncode == 1, result.stdout + result.stderr
    found: list[dict[str, Any]] = json.loads(result.stdout)["findings"]
    return found


def _last(location: str) -> int:
    return int(_sql(location, "SELECT max(originator_version) FROM stored_events")[0][0])


# ------------------------------------------------------------------------------------------------- heads


def test_a_head_kept_outside_shows_a_ledger_cut_short_and_its_read_models_rolled_back(
    stored: Locations, run_cli: Run, tmp_path: Path
) -> None:
    location = _ledger(stored)
    heads = tmp_path / "heads.txt"
    early = run_cli("head", "--db", location)
    assert early.returncode == 0, early.stderr
    first, at, keyed = early.stdout.split()
    assert first.startswith(f"{_last(location)}:") and at.startswith("2026-") and keyed == "unkeyed"
    # the item index's digest tree before zoe (one copy of its values: the leaves and groups are updated in place)
    tree = {table: _sql(location, f"SELECT * FROM syncledger_{table}") for table in ("leaves", "groups")}
    assert run_cli("do", "user.add", "user=zoe", "--db", location).returncode == 0
    doc = json.loads(run_cli("head", "--json", "--db", location).stdout)
    assert doc["position"] == _last(location) and doc["head"] == f"{doc['position']}:{doc['seal']}"
    heads.write_text(f"# heads of the team ledger\n{early.stdout}\n{doc['head']} taken after zoe\n")
    assert run_cli("verify", "--heads", heads, "--db", location).returncode == 0
    # the newest event removed, and the read models rolled back with it: nothing inside the ledger remembers it
    _sql(location, "DELETE FROM stored_events WHERE originator_version = ?", doc["position"])
    for table in ("checkpoints", "index", "actions", "past_records", "past_items", "past_links"):
        _sql(location, f"DELETE FROM syncledger_{table} WHERE position >= ?", doc["position"])
    _sql(location, "DELETE FROM syncledger_batches WHERE last >= ?", doc["position"])
    _sql(location, "UPDATE syncledger_tracking SET position = ? WHERE name != 'format'", doc["position"] - 1)
    _sql(location, "DELETE FROM syncledger_refs WHERE ref = 'user:zoe'")
    _sql(location, "DELETE FROM syncledger_listed WHERE ref = 'user:zoe'")
    for table, rows in tree.items():
        _sql(location, f"DELETE FROM syncledger_{table}")
        for row in rows:
            _sql(location, f"INSERT INTO syncledger_{table} VALUES (?, ?)", *row)
    assert run_cli("verify", "--db", location).returncode == 0, "without a head, a careful cut is not seen"
    found = _findings(run_cli("verify", "--json", "--heads", heads, "--db", location))
    assert [(f["position"], f["check"]) for f in found] == [(doc["position"], "head")]
    assert "ends at position" in found[0]["problem"]
    assert run_cli("verify", "--head", first, "--db", location).returncode == 0, "the earlier head is still held"
    # the same position holding another event: the head names a seal the ledger no longer has
    assert run_cli("do", "user.add", "user=yves", "--db", location).returncode == 0
    replaced = _findings(run_cli("verify", "--json", "--head", doc["head"], "--db", location))
    assert [(f["position"], f["check"]) for f in replaced] == [(doc["position"], "head")]
    assert "not the one this head names" in replaced[0]["problem"]


def test_bad_heads_and_an_empty_ledger_are_one_line(stored: Locations, run_cli: Run, tmp_path: Path) -> None:
    location = _ledger(stored, 5)
    assert "is not a head" in _one_error_line(run_cli("verify", "--head", "12:zz", "--db", location))
    bad = tmp_path / "heads.txt"
    bad.write_text("\n7:" + "ab" * 32 + "\nnonsense here\n")
    assert f"{bad}:3" in _one_error_line(run_cli("verify", "--heads", bad, "--db", location))
    assert "cannot read" in _one_error_line(run_cli("verify", "--heads", tmp_path / "none", "--db", location))
    empty = stored.new()
    # a missing file or schema is not made into a ledger by reading it
    assert "no ledger at" in _one_error_line(run_cli("head", "--db", empty))
    assert run_cli("pending", "--db", empty).returncode == 2
    open_reader(empty).ledger.store.close()  # an empty ledger
    assert "no events yet" in _one_error_line(run_cli("head", "--db", empty))
    assert run_cli("verify", "--db", empty).returncode == 0


def test_without_a_head_read_models_past_the_last_event_are_reported_as_truncation(
    stored: Locations, run_cli: Run
) -> None:
    location = _ledger(stored)
    last = _last(location)
    cut = int(_sql(location, "SELECT max(position) FROM syncledger_actions")[0][0]) - 1  # the newest action id goes
    _sql(location, "DELETE FROM stored_events WHERE originator_version > ?", cut)
    found = _findings(run_cli("verify", "--json", "--db", location))
    truncation = [f for f in found if f["check"] == "truncation"]
    names = " ".join(f["problem"] for f in truncation)
    for what in ("tracking positions", "checkpoints", "item index", "action ids", "sealed batches"):
        assert f"the {what} name position" in names, names
    assert all(f["position"] == cut + 1 for f in truncation)
    # the other commands refuse the gap instead of appending over it, and keep the evidence
    refused = _one_error_line(run_cli("do", "user.add", "user=zoe", "--db", location))
    assert f"ends at position {cut}, but its read models reach {last}" in refused
    assert _last(location) == cut
    # an older copy restored on purpose: accepted by rebuilding the read models from the events
    assert run_cli("verify", "--rebuild", "--db", location).returncode == 1
    assert run_cli("verify", "--db", location).returncode == 0
    assert run_cli("do", "user.add", "user=zoe", "--db", location).returncode == 0


# ------------------------------------------------------------------------------------------------- derived data


def _forge_newest_checkpoint(location: str, change: Callable[[dict[str, Any]], None]) -> int:
    position, state = _sql(location, "SELECT position, state FROM syncledger_checkpoints ORDER BY position DESC")[0]
    data = orjson.loads(decompressed(bytes(state)))
    change(data)
    _sql(
        location,
        "UPDATE syncledger_checkpoints SET state = ? WHERE position = ?",
        compressed(orjson.dumps(data)),
        position,
    )
    return int(position)


def _other_filter(data: dict[str, Any]) -> None:
    for user in data["users"]:
        user["sync_filter"] = "owned_and_shared" if user["sync_filter"] == "owned" else "owned"


def _without_alice(data: dict[str, Any]) -> None:
    data["users"] = [u for u in data["users"] if u["name"] != "alice"]


@pytest.mark.parametrize("change", [_other_filter, _without_alice], ids=["sync-filter-changed", "user-removed"])
def test_a_checkpoint_changed_with_sql_decides_nothing(
    stored: Locations, run_cli: Run, change: Callable[[dict[str, Any]], None]
) -> None:
    forged, twin = _ledger(stored), _ledger(stored)
    position = _forge_newest_checkpoint(forged, change)
    for location in (forged, twin):
        done = run_cli("do", "sync", "user=alice", "--at", "2026-03-05T09:00:00Z", "--json", "--db", location)
        assert done.returncode == 0, done.stderr
    state = [run_cli("state", "--json", "--db", location) for location in (forged, twin)]
    assert state[0].returncode == 0 and state[0].stdout == state[1].stdout, "decided from the events, not the forgery"
    assert "does not match its seal" in state[0].stderr  # reported, as a warning, not silently ignored
    found = _findings(run_cli("verify", "--json", "--db", forged))
    assert [(f["position"], f["check"]) for f in found] == [(position, "checkpoint")]
    assert "does not match its seal" in found[0]["problem"]


def test_a_deleted_action_id_row_does_not_let_a_reimport_append_it_twice(
    stored: Locations, run_cli: Run, tmp_path: Path
) -> None:
    location = stored.new()
    lines = tmp_path / "actions.jsonl"
    walk = randomwalk.actions(7, 40)
    lines.write_bytes(b"".join(to_line(a.model_copy(update={"id": a.id or f"line-{n}"})) for n, a in enumerate(walk)))
    assert run_cli("import", lines, "--db", location).returncode == 0
    events = _last(str(location))
    (held,) = _sql(str(location), "SELECT id, position FROM syncledger_actions ORDER BY position DESC LIMIT 1")
    _sql(str(location), "DELETE FROM syncledger_actions WHERE id = ?", held[0])
    again = run_cli("import", lines, "--db", location)
    assert again.returncode == 0, again.stderr
    assert _last(str(location)) == events, "nothing appended: the id is in the events"
    assert "does not match" in again.stderr or "differ from what was sealed" in again.stderr
    found = _findings(run_cli("verify", "--json", "--db", location))
    assert {f["check"] for f in found} == {"read model", "archive"}
    assert any("action ids" in f["problem"] for f in found)


def test_verify_finds_an_action_id_appended_twice(stored: Locations, run_cli: Run) -> None:
    location = stored.new()
    reader = open_reader(location)
    actions = list(randomwalk.actions(3, 10))
    twice = v.ACTION_ADAPTER.validate_python({"do": "sync", "user": "alice", "at": actions[-1].at, "id": "dup"})
    reader.ledger.append([*actions, twice])
    last = reader.ledger.store.last_position()
    reader.ledger.store.append([(last + 1, twice)])  # past every check, as a writer with database access could
    reader.ledger.store.close()
    found = _findings(run_cli("verify", "--json", "--db", location))
    ids = [f for f in found if f["check"] == "action id"]
    assert [f["position"] for f in ids] == [last + 1]
    assert f"action id '{twice.id}' is already at position" in ids[0]["problem"]


def test_rows_written_into_the_events_table_outside_the_ledgers_stream_are_a_finding(
    stored: Locations, run_cli: Run
) -> None:
    """Nothing reads another stream's rows, so they change no answer; but syncledger never writes one, so they
    were written behind its back: `verify` says so, below and above the ledger's stream id alike."""
    location = _ledger(stored, count=20)
    clean = run_cli("verify", "--json", "--db", location)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    before = run_cli("state", "--json", "--db", location)
    for stream in ("aaa-intruder", "zzz-intruder", "zzz-intruder"):
        _sql(
            location,
            "INSERT INTO stored_events (originator_id, originator_version, topic, state) SELECT ?, "
            "originator_version + (SELECT count(*) FROM stored_events WHERE originator_id = ?), topic, state "
            "FROM stored_events WHERE originator_id = 'syncledger' AND originator_version = 1",
            stream,
            stream,
        )
    found = [f for f in _findings(run_cli("verify", "--json", "--db", location)) if f["check"] == "stream"]
    assert [f["position"] for f in found] == [0]
    assert found[0]["problem"].startswith(
        "the events table holds 3 rows outside the ledger's stream (the first in stream 'aaa-intruder'): "
        "syncledger never writes such rows"
    )
    after = run_cli("state", "--json", "--db", location)
    assert after.returncode == 0 and after.stdout == before.stdout


@pytest.mark.parametrize("how", ["deleted", "set back"])
def test_a_tracking_row_deleted_or_set_back_is_one_finding_and_nothing_is_added_twice(
    stored: Locations, run_cli: Run, how: str
) -> None:
    """A projection's tracking position behind its own sealed batches: caught up from there, it would add their
    rows again (the item index's tree would count them twice). `verify` says what changed, once, and checks the
    rest against the sealed batches; the other commands refuse with one line until `verify --rebuild`."""
    location = _ledger(stored, count=60)
    last = _last(location)
    if how == "deleted":
        _sql(location, "DELETE FROM syncledger_tracking WHERE name = 'index'")
    else:
        _sql(location, "UPDATE syncledger_tracking SET position = 3 WHERE name = 'index'")
    found = _findings(run_cli("verify", "--json", "--db", location))
    shown = "missing" if how == "deleted" else "3"
    assert found == [
        {
            "position": last,
            "check": "tracking",
            "problem": f"the tracking position of the item index and action ids is {shown}, behind the last sealed "
            f"batch (position {last}): it was deleted or set back behind the ledger's back (`syncledger verify "
            "--rebuild` rebuilds the read models)",
        }
    ]
    line = _one_error_line(run_cli("why", "user:alice", "--db", location))
    assert "were changed behind its back: the tracking position of the item index and action ids is" in line
    assert "run 'syncledger verify', then 'syncledger verify --rebuild'" in line
    assert _findings(run_cli("verify", "--json", "--db", location)) == found  # still the evidence
    rebuilt = run_cli("verify", "--rebuild", "--db", location)
    assert rebuilt.returncode == 1, rebuilt.stderr  # it reports, then rebuilds
    again = run_cli("verify", "--json", "--db", location)
    assert again.returncode == 0 and json.loads(again.stdout)["findings"] == [], again.stdout + again.stderr


# ------------------------------------------------------------------------------------------------- keys


def test_a_keyed_ledger_refuses_writers_and_checkers_without_its_key(
    stored: Locations, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCLEDGER_SEAL_KEY", KEY)
    location = _ledger(stored, 20)
    events = _last(location)
    assert run_cli("verify", "--db", location).returncode == 0
    fingerprint = _sql(location, "SELECT value FROM syncledger_ledger")[0][0]
    assert KEY not in fingerprint and len(fingerprint) == 32
    monkeypatch.delenv("SYNCLEDGER_SEAL_KEY")
    assert "is sealed with a key" in _one_error_line(run_cli("do", "user.add", "user=zoe", "--db", location))
    assert "cannot verify" in _one_error_line(run_cli("verify", "--db", location))
    monkeypatch.setenv("SYNCLEDGER_SEAL_KEY", "another key")
    assert "is not the key of the ledger" in _one_error_line(run_cli("do", "user.add", "user=zoe", "--db", location))
    assert _last(location) == events, "nothing appended"
    # re-sealed from the start without a key, as someone with database access could: keyless verify is not clean
    monkeypatch.delenv("SYNCLEDGER_SEAL_KEY")
    _resealed(location, 1)
    assert "cannot verify" in _one_error_line(run_cli("verify", "--db", location))
    monkeypatch.setenv("SYNCLEDGER_SEAL_KEY", KEY)
    found = _findings(run_cli("verify", "--json", "--db", location))
    assert found[0]["position"] == 1 and "not sealed with the key" in found[0]["problem"]


def test_a_keyed_ledger_whose_fingerprint_was_deleted_is_still_keyed(
    stored: Locations, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its rows say they are keyed, and the newest seal tells the right key from a wrong one."""
    monkeypatch.setenv("SYNCLEDGER_SEAL_KEY", KEY)
    location = _ledger(stored, 10)
    _sql(location, "DELETE FROM syncledger_ledger")
    monkeypatch.delenv("SYNCLEDGER_SEAL_KEY")
    assert "is sealed with a key" in _one_error_line(run_cli("state", "--db", location))
    monkeypatch.setenv("SYNCLEDGER_SEAL_KEY", "another key")
    assert "newest seal was made with another" in _one_error_line(run_cli("do", "user.add", "user=z", "--db", location))
    monkeypatch.setenv("SYNCLEDGER_SEAL_KEY", KEY)
    assert run_cli("verify", "--db", location).returncode == 0
    assert len(_sql(location, "SELECT value FROM syncledger_ledger")) == 1, "recorded again"


def _forge_unkeyed(location: str, count: int) -> int:
    """Append `count` valid actions sealed without a key, each chained on the row before, as someone with database
    access and the program, but not the key, could. The position of the first."""
    store = EventStore(location, create=False)
    first = store.last_position() + 1
    syncs = [{"do": "sync", "user": "alice", "at": datetime(2027, 1, 1, n, tzinfo=UTC)} for n in range(count)]
    store.append([(first + n, v.ACTION_ADAPTER.validate_python(sync)) for n, sync in enumerate(syncs)])
    store.close()
    return first


def test_a_keyed_ledger_gone_unkeyed_behind_its_back_is_checked_as_far_as_each_can(
    stored: Locations, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fingerprint deleted and events appended sealed without the key: `verify` without the key says which
    events it cannot check and where the ledger goes unkeyed, and checks the rest; with the key, it names the
    first event not sealed with it; a writer without the key is refused (the first event says the ledger is
    keyed)."""
    monkeypatch.setenv("SYNCLEDGER_SEAL_KEY", KEY)
    location = _ledger(stored, 20)
    keyed = _last(location)
    _sql(location, "DELETE FROM syncledger_ledger")
    monkeypatch.delenv("SYNCLEDGER_SEAL_KEY")
    forged = _forge_unkeyed(location, 3)
    _change_payload(location, forged + 1)
    assert "is sealed with a key" in _one_error_line(run_cli("do", "user.add", "user=zoe", "--db", location))
    assert _last(location) == forged + 2, "nothing appended"
    found = _findings(run_cli("verify", "--json", "--db", location))
    seals = [(f["position"], f["problem"]) for f in found if f["check"] == "seal"]
    assert [p for p, _ in seals] == [1, forged, forged + 1], found
    assert f"positions 1 to {keyed} are sealed with a key" in seals[0][1]
    assert "not sealed with a key, but the event before it is" in seals[1][1]
    assert "does not match" in seals[2][1]
    assert "without its key" in _one_error_line(run_cli("verify", "--rebuild", "--db", location))
    monkeypatch.setenv("SYNCLEDGER_SEAL_KEY", KEY)
    found = _findings(run_cli("verify", "--json", "--db", location))
    assert (found[0]["position"], found[0]["check"]) == (forged, "seal"), found
    assert "not sealed with the key" in found[0]["problem"]
    assert "is not sealed with a key" in _one_error_line(run_cli("do", "user.add", "user=zoe", "--db", location))
    assert _last(location) == forged + 2, "nothing appended"


def _change_payload(location: str, position: int) -> None:
    """Change an event's payload with SQL, keeping its seal: half an hour later."""
    (state,) = _sql(location, "SELECT state FROM stored_events WHERE originator_version = ?", position)[0]
    kind, stored_seal, payload = unwrap(bytes(state))
    changed = payload.replace(b":00:00Z", b":30:00Z", 1)
    assert changed != payload
    _sql(
        location,
        "UPDATE stored_events SET state = ? WHERE originator_version = ?",
        bytes((kind,)) + stored_seal + changed,
        position,
    )


def test_a_writer_is_refused_where_the_newest_seal_is_not_its_keys(
    stored: Locations, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fingerprint replaced with another key's: the holder of that key is refused, since the newest seal is
    not its key's; `verify` with the ledger's key says the fingerprint was replaced. A fingerprint recorded but an
    event sealed without a key at the head: the key's holder is refused too."""
    monkeypatch.setenv("SYNCLEDGER_SEAL_KEY", KEY)
    location = _ledger(stored, 20)
    events = _last(location)
    _sql(location, "UPDATE syncledger_ledger SET value = ?", fingerprint(b"another key"))
    monkeypatch.setenv("SYNCLEDGER_SEAL_KEY", "another key")
    refused = _one_error_line(run_cli("do", "user.add", "user=zoe", "--db", location))
    assert f"position {events}" in refused and "was not sealed with SYNCLEDGER_SEAL_KEY" in refused, refused
    assert _last(location) == events, "nothing appended"
    monkeypatch.setenv("SYNCLEDGER_SEAL_KEY", KEY)
    found = _findings(run_cli("verify", "--json", "--db", location))
    assert [(f["position"], f["check"]) for f in found] == [(0, "key")], found
    assert fingerprint(b"another key") in found[0]["problem"]
    _sql(location, "UPDATE syncledger_ledger SET value = ?", fingerprint(KEY.encode()))
    monkeypatch.delenv("SYNCLEDGER_SEAL_KEY")
    forged = _forge_unkeyed(location, 1)
    monkeypatch.setenv("SYNCLEDGER_SEAL_KEY", KEY)
    refused = _one_error_line(run_cli("do", "user.add", "user=zoe", "--db", location))
    assert f"position {forged}" in refused and "is not sealed with a key" in refused, refused
    assert _last(location) == forged, "nothing appended"


def test_a_key_is_not_added_to_an_unkeyed_ledger_midway(
    stored: Locations, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    location = _ledger(stored, 5)
    monkeypatch.setenv("SYNCLEDGER_SEAL_KEY", KEY)
    assert "is not sealed with a key" in _one_error_line(run_cli("do", "user.add", "user=zoe", "--db", location))
    monkeypatch.delenv("SYNCLEDGER_SEAL_KEY")
    assert run_cli("verify", "--db", location).returncode == 0


# ------------------------------------------------------------------------------------------------- damaged rows


def _append_row(location: str, state: bytes) -> int:
    position = _last(location) + 1
    _sql(
        location,
        "INSERT INTO stored_events (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
        "syncledger",
        position,
        "ledger.vocabulary:SyncRequested",
        state,
    )
    return position


@pytest.mark.parametrize("row", ["garbage", "unsealed"])
def test_a_garbage_or_unsealed_row_after_the_last_checkpoint_is_a_finding_and_one_line(
    stored: Locations, run_cli: Run, row: str
) -> None:
    location = _ledger(stored, 20)
    state = b"\x00garbage" if row == "garbage" else b'{"do":"sync","user":"alice","at":"2026-03-04T00:00:00Z"}'
    position = _append_row(location, state)
    found = _findings(run_cli("verify", "--json", "--db", location))
    assert (position, "seal") in [(f["position"], f["check"]) for f in found]
    for command in (["state"], ["do", "user.add", "user=zoe"], ["why", "user:alice"]):
        line = _one_error_line(run_cli(*command, "--db", location))
        assert f"position {position}" in line, line


@pytest.mark.parametrize("row", ["garbage", "unsealed"])
def test_a_damaged_row_before_the_last_checkpoint_is_one_line_where_a_command_reads_it(
    stored: Locations, run_cli: Run, row: str
) -> None:
    """A row in the middle, behind checkpoints that let most commands start past it: the commands that read it
    (the events of a window, an export, the state just after it) say which position in one line, exit 2, as
    they do for the last row; they once ended in an internal error (exit 70)."""
    location = _ledger(stored, 120)
    middle = 60
    state = b"\x00garbage" if row == "garbage" else b'{"do":"sync","user":"alice","at":"2026-03-04T00:00:00Z"}'
    _sql(location, "UPDATE stored_events SET state = ? WHERE originator_version = ?", state, middle)
    found = _findings(run_cli("verify", "--json", "--db", location))
    assert middle in [f["position"] for f in found]
    for command in (["export"], ["state", "--position", str(middle)], ["diff", str(middle - 5), str(middle + 5)]):
        line = _one_error_line(run_cli(*command, "--db", location))
        assert f"position {middle}" in line, (command, line)


def test_text_where_a_position_belongs_stops_nothing_and_is_named(tmp_path: Path, run_cli: Run) -> None:
    """SQLite keeps whatever SQL writes, and text sorts after every number: a tracking position of 'abc' made
    every command, `verify --rebuild` too, an internal error. Derived data so garbled is rebuilt from the events;
    the read models' other tables are STRICT and refuse such a write; an event's position that is no number is
    the ledger's damage, named in one line (exit 2) and a `verify` finding (exit 1)."""
    location = _ledger(Locations("sqlite", tmp_path), 60)
    for table in ("syncledger_tracking", "syncledger_actions"):
        with pytest.raises(sqlite3.IntegrityError, match="cannot store TEXT"):
            _sql(location, f"UPDATE {table} SET position = 'x'")
    # a ledger made before the tables were STRICT keeps its tracking table as it was (it is never dropped)
    _sql(location, "CREATE TABLE loose (name TEXT PRIMARY KEY, position BIGINT NOT NULL)")
    _sql(location, "INSERT INTO loose SELECT * FROM syncledger_tracking")
    _sql(location, "DROP TABLE syncledger_tracking")
    _sql(location, "ALTER TABLE loose RENAME TO syncledger_tracking")
    _sql(location, "UPDATE syncledger_tracking SET position = 'abc' WHERE name = 'index'")
    assert run_cli("state", "--db", location).returncode == 0
    assert run_cli("verify", "--db", location).returncode == 0
    _sql(location, "UPDATE stored_events SET originator_version = '30x' WHERE originator_version = 30")
    line = _one_error_line(run_cli("state", "--db", location))
    assert "a position that is no number ('30x')" in line
    found = _findings(run_cli("verify", "--json", "--db", location))
    assert [f["check"] for f in found] == ["storage"] and "'30x'" in found[0]["problem"]


def test_a_row_turned_into_text_with_sql_is_a_finding_and_one_line(tmp_path: Path, run_cli: Run) -> None:
    sqlite = Locations("sqlite", tmp_path)
    location = _ledger(sqlite, 20)
    last = _last(location)
    _sql(location, "UPDATE stored_events SET state = replace(state, 'a', 'e') WHERE originator_version = ?", last)
    assert _sql(location, "SELECT typeof(state) FROM stored_events WHERE originator_version = ?", last) == [("text",)]
    found = _findings(run_cli("verify", "--json", "--db", location))
    assert (last, "storage") in [(f["position"], f["check"]) for f in found]
    line = _one_error_line(run_cli("why", "user:alice", "--db", location))
    assert f"position {last} is stored as text" in line


def _resealed(location: str, position: int, old: bytes = b"", new: bytes = b"") -> None:
    """Seal every event from `position` on again without a key (changing `old` to `new` in its payload first, if
    given), as anyone with access to the database can: the unkeyed chain holds."""
    rows = _sql(location, "SELECT originator_version, topic, state FROM stored_events ORDER BY originator_version")
    previous = bytes(32)
    for at, topic, state in rows:
        _, stored_seal, payload = unwrap(bytes(state))
        if at == position and old:
            assert old in payload
            payload = payload.replace(old, new, 1)
        if at >= position:
            stored_seal = seal(previous, at, topic, payload, None)
            _sql(
                location,
                "UPDATE stored_events SET state = ? WHERE originator_version = ?",
                wrap(stored_seal, payload, False),
                at,
            )
        previous = stored_seal


def test_an_event_sealed_again_that_does_not_apply_is_one_line_and_a_finding(stored: Locations, run_cli: Run) -> None:
    """An event changed to name a user the ledger never had, sealed again: every command that folds it says which
    event, in one line (exit 2), instead of an internal error; `verify` names it (exit 1)."""
    location = _ledger(stored, 40)
    position, user = next(
        (at, orjson.loads(unwrap(bytes(state))[2])["user"])
        for at, state in _sql(location, "SELECT originator_version, state FROM stored_events ORDER BY 1")
        if orjson.loads(unwrap(bytes(state))[2]).get("do") == "sync"
    )
    reader = open_reader(location)
    reader.projector.models.reset()  # the read models are folded again, as after `verify --rebuild`
    reader.close()
    _resealed(location, position, f'"user":"{user}"'.encode(), b'"user":"nobody-known"')
    for command in (("state",), ("history", f"user:{user}"), ("do", "user.add", "user=zoe")):
        line = _one_error_line(run_cli(*command, "--db", location))
        assert f"the event at position {position} does not apply to the state before it" in line, command
    found = _findings(run_cli("verify", "--json", "--db", location))
    assert (position, "fold") in [(f["position"], f["check"]) for f in found], found
