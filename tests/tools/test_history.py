"""`syncledger history` end to end: every rule that decides about an item shows up in the item's history with
its sentence and source, grouped by the sync that took it; cutting by position and time; field old -> new
values; unknown references; and a lookup that reads only the item's own events."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from syncledger.ledger.rules import RULES
from syncledger.projections.reader import open_reader
from syncledger.tools.explain.history import load_history

Run = Callable[..., subprocess.CompletedProcess[str]]
SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SHARE_THEN_DELETE = SCENARIOS / "share-then-delete.yaml"
GO_ONLINE = SCENARIOS / "rule-go-online-sync.yaml"

# Rules that record no decision about an item: FILTER-SKIP-DELETED records none, GO-ONLINE-SYNC is about a user.
NOT_ABOUT_AN_ITEM = {"FILTER-SKIP-DELETED", "GO-ONLINE-SYNC"}

# For each rule, an item its own scenario (tests/scenarios/rule-<id>.yaml) decides about with it; both kinds of
# reference are exercised.
ITEM_OF_RULE = {
    "TRACK-EMAIL": "crm:m1",
    "TRACK-ITEM": "outlook:alice/o1",
    "SET-REGARDING": "crm:m1",
    "OUTLOOK-EDIT-PUSH": "outlook:alice/c1",
    "EDIT-ORPHAN": "outlook:alice/c1",
    "UNTRACK-LINK": "crm:o1",
    "OFFLINE-QUEUE": "outlook:alice/m1",
    "OFFLINE-CONFLICT": "outlook:alice/m1",
    "FILTER-CREATE": "crm:c1",
    "CONTACT-DEL-CRM-NONOWNER": "outlook:alice/c2",
    "CONTACT-DEL-CRM-OWNER": "crm:c2",
    "APPT-DEL-CRM-FUTURE": "outlook:alice/a1",
    "APPT-DEL-CRM-PAST": "crm:a1",
    "TASK-DEL-CRM-OPEN": "outlook:alice/t2",
    "TASK-DEL-CRM-DONE": "crm:t1",
    "EMAIL-DEL-CRM": "outlook:alice/m1",
    "FILTER-LEAVE-SYNCED": "crm:c1",
    "FILTER-LEAVE-TRACKED": "outlook:alice/o1",
    "CRM-EDIT-PULL": "crm:c1",
    "DELETED-BOTH-SIDES": "outlook:alice/c1",
    "EMAIL-DEL-OUTLOOK": "crm:m1",
    "CONTACT-DEL-OUTLOOK": "outlook:alice/c1",
    "APPT-DEL-OUTLOOK-OWNER": "crm:a1",
    "APPT-DEL-OUTLOOK-KEEP": "outlook:alice/a1",
    "TASK-DEL-OUTLOOK-OPEN": "crm:t1",
    "TASK-DEL-OUTLOOK-DONE": "outlook:alice/t1",
    "EMAIL-UNTRACK-DELETE": "crm:m1",
    "EMAIL-UNTRACK-KEEP": "outlook:alice/m1",
    "UNTRACK-ITEM": "crm:o1",
    "BASELINE": "outlook:bob/AAMkAGI2TG93AAB1",
    # server-side sync's own rules, each in its scenario tests/scenarios/sss-rule-<id>.yaml
    "SSS-EXCHANGE-EDIT-PUSH": "crm:t1",
    "SSS-EXCHANGE-EDIT-CLOSED": "outlook:alice/a1",
    "SSS-EXCHANGE-EDIT-ORPHAN": "outlook:alice/c1",
    "SSS-CONTACT-DEL-EXCHANGE-OWNER": "crm:c1",
    "SSS-CONTACT-DEL-EXCHANGE-KEEP": "outlook:alice/c1",
    "SSS-TASK-DEL-EXCHANGE": "crm:p1",
    "SSS-APPT-DEL-CRM-ORGANIZER": "outlook:alice/a1",
    "SSS-APPT-DEL-CRM-KEEP": "crm:a2",
    "SSS-FILTER-LEAVE": "crm:o1",
    "SSS-FILTER-LEAVE-UNLINK": "outlook:alice/c1",
}


def _scenario_of(rule: str) -> Path:
    return SCENARIOS / f"{'sss-' if rule.startswith('SSS-') else ''}rule-{rule.lower()}.yaml"


def _history(run_cli: Run, db: Path, ref: str, *options: str) -> dict[str, Any]:
    result = run_cli("history", ref, "--json", "--db", db, *options)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _ledger(run_cli: Run, tmp_path: Path, scenario: Path) -> Path:
    db = tmp_path / "ledger.db"
    result = run_cli("run", scenario, "--db", db)
    assert result.returncode == 0, result.stdout + result.stderr
    return db


def _events(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [event for group in doc["groups"] for event in group["events"]]


def _sync_key(sync: dict[str, Any] | None) -> tuple[str, int] | None:
    return (sync["user"], sync["position"]) if sync else None


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    return result.stderr


def test_every_rule_that_decides_about_an_item_has_a_history_case() -> None:
    assert set(ITEM_OF_RULE) == set(RULES) - NOT_ABOUT_AN_ITEM


@pytest.mark.parametrize("rule", sorted(ITEM_OF_RULE))
def test_history_names_each_rule_with_its_sentence_and_source(rule: str, tmp_path: Path, run_cli: Run) -> None:
    db = _ledger(run_cli, tmp_path, _scenario_of(rule))
    doc = _history(run_cli, db, ITEM_OF_RULE[rule])
    positions = [e["position"] for e in _events(doc)]
    assert positions == sorted(positions) and doc["count"] == len(positions)
    decided = [(group["sync"], e) for group in doc["groups"] for e in group["events"] if e["rule"] == rule]
    assert decided, f"{rule} is not in the history of {ITEM_OF_RULE[rule]}"
    for sync, event in decided:
        assert event["sentence"] == RULES[rule].sentence and event["source"] == RULES[rule].source_text
        assert event["side"] == "link" and event["event"] == "decision" and event["cause"] < event["position"]
        if RULES[rule].timing == "queued":  # decided at a sync, and shown in that sync's group
            assert sync is not None and event["actor"] == f"sync:{sync['user']}" and event["sync"] == sync["position"]
            assert sync["position"] < event["position"]
        else:
            assert not event["actor"].startswith("sync:")
        if rule.startswith("SSS-"):  # only server-side sync decides by these, and the history says so
            assert event["method"] == "server_side" and sync is not None and sync["method"] == "server_side"
            assert sync["title"] == f"{sync['user']}'s server-side sync cycle"
            assert f"At {sync['user']}'s server-side sync cycle" in event["summary"]
        else:
            assert event["method"] == "outlook_client"


def test_history_groups_decisions_by_the_sync_that_took_them(tmp_path: Path, run_cli: Run) -> None:
    db = _ledger(run_cli, tmp_path, SHARE_THEN_DELETE)
    groups = _history(run_cli, db, "crm:c1")["groups"]
    shape = [(_sync_key(g["sync"]), [(e["position"], e["rule"]) for e in g["events"]]) for g in groups]
    assert shape == [
        (None, [(3, None), (4, None)]),
        (("alice", 5), [(6, "FILTER-CREATE")]),
        (("bob", 7), [(8, "FILTER-CREATE")]),
        (None, [(9, None)]),
        (("alice", 10), [(11, "CONTACT-DEL-CRM-NONOWNER")]),
        (("bob", 12), [(13, "CONTACT-DEL-CRM-OWNER")]),
    ]
    deletion = groups[3]["events"][0]
    assert deletion["event"] == "crm.delete" and deletion["queued_for"] == ["alice", "bob"]
    assert [e["cause"] for g in groups[4:] for e in g["events"]] == [9, 9]  # decided later, caused by @9


def test_going_online_groups_the_replay_and_the_sync_that_follows(tmp_path: Path, run_cli: Run) -> None:
    db = _ledger(run_cli, tmp_path, GO_ONLINE)
    groups = _history(run_cli, db, "outlook:alice/o1")["groups"]
    points = [(g["sync"]["kind"], [e["rule"] for e in g["events"]]) for g in groups if g["sync"]]
    assert points == [("online", ["OUTLOOK-EDIT-PUSH", "OUTLOOK-EDIT-PUSH"]), ("online-sync", ["CRM-EDIT-PULL"])]


def test_an_option_that_queued_a_decision_about_the_item_is_in_its_history(tmp_path: Path, run_cli: Run) -> None:
    """A sync filter narrowed is filed under the user, not under the records it moves out of the filter; the
    decision it queued names it as its cause, and the item's timeline shows it where it happened (it once showed
    '(cause @N)' with no @N), in text and JSON, as `why` does."""
    scenario = tmp_path / "narrowed.yaml"
    scenario.write_text(
        "title: Alice narrows her filter\nstart: 2026-03-02T09:00:00Z\n"
        "users: {alice: {sync_filter: owned_and_shared}, bob: {}}\nsteps:\n"
        "  - {do: crm.create, actor: bob, record: c1, type: contact, fields: {fullname: Ann}}\n"
        "  - {do: crm.share, actor: bob, record: c1, with: alice}\n"
        "  - {do: sync, user: alice}\n"
        "  - {do: option, user: alice, name: sync_filter, value: owned}\n"
        "  - {do: sync, user: alice}\n"
        "expect: {outlook: {alice: {c1: absent}}, why: {outlook:alice/c1: FILTER-LEAVE-SYNCED}}\n"
    )
    db = _ledger(run_cli, tmp_path, scenario)
    events = _events(_history(run_cli, db, "outlook:alice/c1"))
    narrowed = [e for e in events if e["event"] == "option"]
    assert len(narrowed) == 1
    left = next(e for e in events if e.get("rule") == "FILTER-LEAVE-SYNCED")
    assert left["cause"] == narrowed[0]["position"] < left["position"]
    text = run_cli("history", "outlook:alice/c1", "--db", db).stdout
    assert f"@{narrowed[0]['position']} " in text and "alice changed the sync filter to owned" in text


def test_history_shows_each_field_old_and_new_on_both_sides(tmp_path: Path, run_cli: Run) -> None:
    db = _ledger(run_cli, tmp_path, GO_ONLINE)
    events = _events(_history(run_cli, db, "outlook:alice/o1"))

    def changed(field: str) -> list[tuple[int, str, Any, Any]]:
        return [
            (e["position"], c["ref"], c["old"], c["new"]) for e in events for c in e["changes"] if c["field"] == field
        ]

    assert changed("fields.phone") == [
        (3, "outlook:alice/o1", None, "100"),  # created in Outlook
        (5, "crm:o1", None, "100"),  # TRACK-ITEM copies it to CRM
        (7, "outlook:alice/o1", "100", "200"),  # offline edits stay in Outlook...
        (9, "outlook:alice/o1", "200", "250"),
        (11, "crm:o1", "100", "300"),  # ...while Bob edits CRM
        (14, "crm:o1", "300", "200"),  # the replay pushes each edit in order
        (15, "crm:o1", "200", "250"),
    ]
    assert changed("fields.title")[-2:] == [
        (11, "crm:o1", "Buyer", "Head buyer"),
        (17, "outlook:alice/o1", "Buyer", "Head buyer"),
    ]
    assert changed("link") == [(5, "outlook:alice/o1", None, "o1 (tracked)")]


def test_since_and_until_cut_by_position_and_by_time(tmp_path: Path, run_cli: Run) -> None:
    db = _ledger(run_cli, tmp_path, SHARE_THEN_DELETE)

    def positions(*options: str) -> list[int]:
        return [e["position"] for e in _events(_history(run_cli, db, "crm:c1", *options))]

    assert positions() == [3, 4, 6, 8, 9, 11, 13]
    assert positions("--since", "6", "--until", "9") == [6, 8, 9]
    assert positions("--since", "2026-03-02T11:00:00Z") == [9, 11, 13]
    assert positions("--until", "2026-03-02T09:02:00Z") == [3, 4, 6]
    assert positions("--since", "2026-03-02T12:00:00+01:00", "--until", "11") == [9, 11]  # 11:00Z: zones count
    assert positions("--since", "14") == []
    cut = _events(_history(run_cli, db, "outlook:alice/c1", "--since", "11"))
    link = [(c["old"], c["new"]) for c in cut[0]["changes"] if c["field"] == "link"]
    assert link == [("c1 (synced)", None)]  # values are folded from the start: the old value survives the cut


def test_unknown_and_bad_references_and_bounds_exit_2_in_one_line(tmp_path: Path, run_cli: Run) -> None:
    db = _ledger(run_cli, tmp_path, SHARE_THEN_DELETE)
    assert "did you mean crm:c1" in _one_error_line(run_cli("history", "crm:c11", "--db", db))
    assert "did you mean outlook:alice/c1" in _one_error_line(run_cli("history", "outlook:alice/c2", "--db", db))
    assert "not an item" in _one_error_line(run_cli("history", "c1", "--db", db))
    assert "not an item" in _one_error_line(run_cli("history", "user:alice", "--db", db))
    assert "not an ISO 8601 time" in _one_error_line(run_cli("history", "crm:c1", "--since", "yesterday", "--db", db))
    assert "after --until" in _one_error_line(run_cli("history", "crm:c1", "--since", "9", "--until", "3", "--db", db))
    assert "no ledger" in _one_error_line(run_cli("history", "crm:c1", "--db", tmp_path / "missing.db"))


def test_a_position_or_a_time_is_parsed_alike_by_every_command(tmp_path: Path, run_cli: Run) -> None:
    """`²` is a digit to Python but no position: bad input everywhere (history once crashed on it, exit 70)."""
    db = _ledger(run_cli, tmp_path, SHARE_THEN_DELETE)
    for args in (
        ["history", "crm:c1", "--since", "²"],
        ["history", "crm:c1", "--until", "1²"],
        ["diff", "²", "3"],
        ["export", "--from", "²"],
    ):
        error = _one_error_line(run_cli(*args, "--db", db))
        assert "'²' is not an ISO 8601 time" in error or "'1²' is not an ISO 8601 time" in error
        assert "nor a position" in error
    assert _events(_history(run_cli, db, "crm:c1", "--since", "3", "--until", "2026-12-31T00:00:00Z"))


def test_piped_text_is_plain_and_grouped(tmp_path: Path, run_cli: Run) -> None:
    db = _ledger(run_cli, tmp_path, SHARE_THEN_DELETE)
    result = run_cli("history", "outlook:alice/c1", "--db", db)
    assert result.returncode == 0 and result.stderr == ""
    text = result.stdout
    assert "\x1b[" not in text  # no colour codes when piped
    assert re.search(r"^alice's sync  @10 2026-03-02T11:01:00Z$", text, re.M)
    assert "CONTACT-DEL-CRM-NONOWNER  (cause @9)" in text and RULES["CONTACT-DEL-CRM-NONOWNER"].sentence in text
    assert "crm:c1 fields.fullname" not in text and "crm:c1 created: type=contact, owner=bob" in text
    assert "outlook:alice/c1 link: c1 (synced) -> -" in text


def test_html_option_writes_a_self_contained_page(tmp_path: Path, run_cli: Run) -> None:
    db = _ledger(run_cli, tmp_path, SHARE_THEN_DELETE)
    page = tmp_path / "c1.html"
    assert run_cli("history", "crm:c1", "--html", page, "--db", db).returncode == 0
    html = page.read_text(encoding="utf-8")
    assert html.count('class="rule ') >= 4 and "CONTACT-DEL-CRM-OWNER" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing to fetch
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    unwritable = _one_error_line(run_cli("history", "crm:c1", "--html", tmp_path / "no" / "x.html", "--db", db))
    assert "cannot write" in unwritable


def test_a_lookup_reads_the_items_own_events_not_the_ledger(tmp_path: Path, run_cli: Run) -> None:
    db = _ledger(run_cli, tmp_path, SCENARIOS / "rule-task-del-crm-open.yaml")
    reader = open_reader(str(db))
    asked: set[int] = set()
    read = reader.events

    def counting(positions: Iterable[int]) -> list[Any]:
        wanted = set(positions)
        asked.update(wanted)
        return read(wanted)

    reader.events = counting  # type: ignore[method-assign]
    found = load_history(reader, "outlook:alice/t2")
    touched = reader.index.touched
    syncs = {e.sync for e in found.entries if e.sync is not None}
    assert syncs and asked == set(touched["outlook:alice/t2"]) | set(touched["crm:t2"]) | syncs
    assert len(asked) < reader.world.position / 2
