"""`why` tells the whole story (issue 14, point 1): five support tickets written from RULES.md, each answered
through the real `syncledger` command, naming the events, rules and recorded facts that are the answer; the
JSON shape; and `--short`, the one-paragraph answer `why` gave before, unchanged."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from syncledger.ledger.application import Ledger
from syncledger.ledger.vocabulary import Decided
from syncledger.projections.index import ItemIndex
from syncledger.tools.explain.story import story
from tests import randomwalk

Run = Callable[..., subprocess.CompletedProcess[str]]


def _ledger(run_cli: Run, tmp_path: Path, text: str, name: str = "t") -> Path:
    scenario, db = tmp_path / f"{name}.yaml", tmp_path / f"{name}.db"
    scenario.write_text(text, encoding="utf-8")
    result = run_cli("run", scenario, "--db", db)
    assert result.returncode == 0, result.stdout + result.stderr
    return db


def _story(run_cli: Run, db: Path, ref: str) -> tuple[dict[str, Any], str]:
    found = run_cli("why", ref, "--json", "--db", db)
    text = run_cli("why", ref, "--db", db)
    assert found.returncode == 0 and text.returncode == 0, found.stderr + text.stderr
    return json.loads(found.stdout), text.stdout


def _at(story: dict[str, Any], position: int) -> dict[str, Any]:
    return next(step for step in story["chain"] if step["position"] == position)


def _decisions(story: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    return [step for step in story["chain"] if step["rule"] == rule]


# ------------------------------------------------------------------ ticket 1: a reassigned tracked contact
# "Alice's tracked contact was reassigned to Bob; why do Bob's edits keep showing up in her Outlook?"
REASSIGNED = """\
title: Alice tracks a contact; Bob takes it over and edits it
start: 2026-03-02T09:00:00Z
users:
  alice: {}
  bob: {}
steps:
  - {do: outlook.create, user: alice, item: o1, type: contact, fields: {fullname: Sam Lee, phone: "100"}}  # @3
  - {do: outlook.track, user: alice, item: o1}                                                            # @4, @5
  - {do: sync, user: alice}                                                                               # @6
  - {do: crm.assign, actor: bob, record: o1, to: bob}                                                     # @7
  - {do: crm.update, actor: bob, record: o1, fields: {phone: "200"}}                                      # @8
  - {do: sync, user: alice}                                                                               # @9, @10
  - {do: crm.update, actor: bob, record: o1, fields: {phone: "300"}}                                      # @11
  - {do: sync, user: alice}                                                                               # @12, @13
"""


def test_ticket_reassigned_tracked_contact_names_the_assignment_and_filter_leave_tracked(
    run_cli: Run, tmp_path: Path
) -> None:
    db = _ledger(run_cli, tmp_path, REASSIGNED)
    story, text = _story(run_cli, db, "outlook:alice/o1")
    assert story["rule"] == "CRM-EDIT-PULL"  # the latest decision, as `expect: why` checks
    assert story["since"] == {"position": 5, "what": "its link was made"}
    events = [(s["position"], s["event"], s["rule"]) for s in story["chain"]]
    assert events == [
        (3, "outlook.create", None),
        (4, "outlook.track", None),
        (5, "decision", "TRACK-ITEM"),
        (7, "crm.assign", None),
        (8, "crm.update", None),
        (10, "decision", "FILTER-LEAVE-TRACKED"),
        (11, "crm.update", None),
        (13, "decision", "CRM-EDIT-PULL"),
    ]
    leave = _at(story, 10)
    assert leave["causes"] == [7, 8] and leave["cause"] == 8 and leave["sync"] == 9
    assert leave["facts"] == {
        "origin": "tracked",
        "in_filter_before": True,
        "in_filter_now": False,
        "owner": "bob",
        "state": "active",
        "shared_with_user": False,
        "sync_filter": "owned",
    }
    pull = _at(story, 13)
    assert pull["facts"]["origin"] == "tracked" and pull["facts"]["in_filter_now"] is False
    assert pull["causes"] == [11] and pull["sync"] == 12
    assert _at(story, 7)["role"] == "cause" and _at(story, 5)["role"] == "about"
    assert "bob assigned contact o1 to bob in CRM at 09:03." in text
    assert "Because of @7 and @8: 2 queued changes, merged into this one decision." in text
    assert "It read: CRM contact o1 was in alice's sync filter before and was not at this sync" in text
    assert "alice's copy came from alice tracking it; CRM contact o1: owner bob, active" in text
    short = run_cli("why", "outlook:alice/o1", "--short", "--db", db).stdout
    assert "bob assigned" not in short and "FILTER-LEAVE-TRACKED" not in short  # what the short answer leaves out


# ------------------------------------------------------------------ ticket 2: an offline edit dropped
# "Alice edited Jane's phone on the plane; when she landed her edit was gone. Why?"
OFFLINE = """\
title: Alice edits a shared contact offline; Bob deletes it in CRM before she goes online
start: 2026-03-02T09:00:00Z
users:
  alice: {sync_filter: owned_and_shared}
  bob: {}
steps:
  - {do: crm.create, actor: bob, record: c1, type: contact, fields: {fullname: Jane Doe, phone: "100"}}  # @3
  - {do: crm.share, actor: bob, record: c1, with: alice}                                                # @4
  - {do: sync, user: alice}                                                                             # @5, @6
  - {do: offline, user: alice}                                                                          # @7
  - {do: outlook.update, user: alice, item: c1, fields: {phone: "200"}}                                 # @8, @9
  - {do: crm.delete, actor: bob, record: c1}                                                            # @10
  - {do: online, user: alice}                                                                           # @11..
"""


def test_ticket_offline_edit_dropped_by_offline_conflict_names_the_drop_and_what_it_read(
    run_cli: Run, tmp_path: Path
) -> None:
    db = _ledger(run_cli, tmp_path, OFFLINE)
    story, text = _story(run_cli, db, "outlook:alice/c1")
    rules = [s["rule"] for s in story["chain"] if s["rule"]]
    assert rules == ["FILTER-CREATE", "OFFLINE-QUEUE", "OFFLINE-CONFLICT", "CONTACT-DEL-CRM-NONOWNER"]
    (dropped,) = _decisions(story, "OFFLINE-CONFLICT")
    assert dropped["dropped"] is True and dropped["cause"] == 8 and dropped["sync"] == 11
    assert dropped["facts"] == {
        "operation": "update",
        "item_exists": True,
        "queued_record": "c1",
        "linked_record": "c1",
        "queued_record_exists": False,
    }
    events = {s["position"]: s["event"] for s in story["chain"]}
    assert events[8] == "outlook.update" and events[10] == "crm.delete" and events[11] == "online"
    assert _at(story, 11)["role"] == "cause"  # going online, as the decision recorded it (its sync)
    (deleted,) = _decisions(story, "CONTACT-DEL-CRM-NONOWNER")
    assert deleted["facts"]["owner_at_deletion"] == "bob" and deleted["sync"] == 11
    assert "alice's edit of contact c1, queued offline, was dropped because CRM record 'c1' was deleted" in text
    assert "The offline operation was dropped; nothing of it reached CRM." in text
    assert "Held offline, then replayed when alice went online (@11)." in text
    assert "It read: when alice went online: the edit was queued offline on CRM contact c1" in text
    assert "that record had been deleted" in text


# ------------------------------------------------------------------ ticket 3: a filter leave
# "Bob's contact vanished from Alice's Outlook, but nobody deleted it."
LEAVE = """\
title: Bob stops sharing a contact with Alice
start: 2026-03-02T09:00:00Z
users:
  alice: {sync_filter: owned_and_shared}
  bob: {}
steps:
  - {do: crm.create, actor: bob, record: c1, type: contact, fields: {fullname: Jane Doe}}   # @3
  - {do: crm.share, actor: bob, record: c1, with: alice}                                   # @4
  - {do: sync, user: alice}                                                                # @5, @6
  - {do: crm.update, actor: bob, record: c1, fields: {phone: "555"}}                       # @7
  - {do: crm.unshare, actor: bob, record: c1, with: alice}                                 # @8
  - {do: sync, user: alice}                                                                # @9, @10
"""


def test_ticket_filter_leave_names_the_unshare_and_the_filter_facts(run_cli: Run, tmp_path: Path) -> None:
    db = _ledger(run_cli, tmp_path, LEAVE)
    story, text = _story(run_cli, db, "outlook:alice/c1")
    assert story["exists"] is False and story["rule"] == "FILTER-LEAVE-SYNCED"
    assert [(s["position"], s["event"], s["rule"]) for s in story["chain"]] == [
        (4, "crm.share", None),
        (6, "decision", "FILTER-CREATE"),
        (7, "crm.update", None),
        (8, "crm.unshare", None),
        (10, "decision", "FILTER-LEAVE-SYNCED"),
    ]
    leave = _at(story, 10)
    assert leave["causes"] == [7, 8]
    assert leave["facts"]["in_filter_before"] is True and leave["facts"]["in_filter_now"] is False
    assert leave["facts"]["shared_with_user"] is False and leave["facts"]["origin"] == "synced"
    assert "bob stopped sharing contact c1 with alice in CRM at 09:04." in text
    assert "contact c1 was deleted from alice's Outlook because CRM contact c1 left alice's sync filter" in text
    assert "alice's copy came from a sync; CRM contact c1: owner bob, active, not shared with alice" in text


# ------------------------------------------------------------------ ticket 4: an edit that reached someone else
# "Carol says Jane's phone changed by itself. Alice edited it in her Outlook: where did that go?"
PUSHED = """\
title: Alice edits her contact in Outlook; Carol, who shares it, sees the edit at her sync
start: 2026-03-02T09:00:00Z
users:
  alice: {}
  bob: {}
  carol: {sync_filter: owned_and_shared}
steps:
  - {do: crm.create, actor: bob, record: c1, type: contact, owner: alice, fields: {fullname: Jane Doe, phone: "100"}}
  - {do: crm.share, actor: alice, record: c1, with: carol}  # @5
  - {do: sync, user: alice}  # @6, @7
  - {do: sync, user: carol}  # @8, @9
  - {do: outlook.update, user: alice, item: c1, fields: {phone: "200"}}  # @10, @11
"""


def test_ticket_edit_pushed_to_crm_names_the_copy_it_reached_and_what_still_waits(run_cli: Run, tmp_path: Path) -> None:
    db = _ledger(run_cli, tmp_path, PUSHED)
    story, text = _story(run_cli, db, "outlook:alice/c1")
    (push,) = _decisions(story, "OUTLOOK-EDIT-PUSH")
    assert push["position"] == 11 and push["cause"] == 10 and push["sync"] is None  # immediate: no sync
    assert story["waiting"] == [
        {
            "user": "carol",
            "operation": "outlook.update",
            "cause": 11,
            "at": "2026-03-02T09:04:00Z",
            "sentence": "OUTLOOK-EDIT-PUSH changed CRM c1; for carol's copy, waiting for carol's next sync",
        }
    ]
    assert "Still waiting:" in text and "for carol's copy, waiting for carol's next sync" in text
    synced = run_cli("do", "sync", "user=carol", "--at", "2026-03-02T10:00:00Z", "--db", db)
    assert synced.returncode == 0, synced.stderr
    story, text = _story(run_cli, db, "outlook:alice/c1")
    (reached,) = [s for s in story["chain"] if s["role"] == "reached"]
    assert reached["rule"] == "CRM-EDIT-PULL" and reached["actor"] == "sync:carol"
    assert reached["reached_from"] == 11 and reached["cause"] == 11 and reached["position"] == 13
    assert reached["facts"]["shared_with_user"] is True and reached["facts"]["owner"] == "alice"
    assert story["waiting"] == []
    assert "At carol's sync at 10:00, carol's contact c1 took the current values of CRM contact c1" in text
    assert "Here @11, a decision about this item, reached another user's copy." in text


# ------------------------------------------------------------------ ticket 5: several changes, one decision
# "Bob changed Jane's contact three times this morning; Alice's sync shows one decision. Which changes?"
MERGED = """\
title: Three CRM edits between two of Alice's syncs
start: 2026-03-02T09:00:00Z
users:
  alice: {}
  bob: {}
steps:
  - {do: crm.create, actor: bob, record: c1, type: contact, owner: alice, fields: {fullname: Jane Doe}}  # @3
  - {do: sync, user: alice}                                                                             # @4, @5
  - {do: crm.update, actor: bob, record: c1, fields: {phone: "200"}}                                    # @6
  - {do: crm.update, actor: bob, record: c1, fields: {phone: "300"}}                                    # @7
  - {do: crm.update, actor: bob, record: c1, fields: {title: Buyer}}                                    # @8
  - {do: sync, user: alice}                                                                             # @9, @10
"""


def test_ticket_several_queued_changes_name_every_merged_cause(run_cli: Run, tmp_path: Path) -> None:
    db = _ledger(run_cli, tmp_path, MERGED)
    story, text = _story(run_cli, db, "outlook:alice/c1")
    (pull,) = _decisions(story, "CRM-EDIT-PULL")
    assert pull["causes"] == [6, 7, 8] and pull["cause"] == 8 and pull["sync"] == 9
    assert [_at(story, p)["event"] for p in (6, 7, 8)] == ["crm.update"] * 3
    assert "Because of @6, @7 and @8: 3 queued changes, merged into this one decision." in text
    assert "(phone: 200) at 09:02." in text and "(phone: 300) at 09:03." in text and "(title: Buyer)" in text
    short = json.loads(run_cli("why", "outlook:alice/c1", "--short", "--json", "--db", db).stdout)
    assert [s["position"] for s in short["chain"] if s["event"] == "crm.update"] == [8]  # the short answer: the latest
    record = json.loads(run_cli("why", "crm:c1", "--json", "--db", db).stdout)
    assert _decisions(record, "CRM-EDIT-PULL")[0]["causes"] == [6, 7, 8]


# ------------------------------------------------------------------ facts told as recorded, after later changes

KEPT = """\
title: Alice deletes Bob's appointment in Outlook; later Bob hands it to her and moves it
start: 2026-03-02T09:00:00Z
users:
  alice: {sync_filter: owned_and_shared}
  bob: {}
steps:
  - {do: crm.create, actor: bob, record: a1, type: appointment, start: 2026-03-05T10:00:00Z, fields: {subject: Review}}
  - {do: crm.share, actor: bob, record: a1, with: alice}  # @4
  - {do: sync, user: alice}  # @5, @6
  - {do: outlook.delete, user: alice, item: a1}  # @7
  - {do: sync, user: alice}  # @8, @9
  - {do: crm.assign, actor: bob, record: a1, to: alice}  # @10
  - {do: crm.update, actor: bob, record: a1, start: 2026-03-01T08:00:00Z}  # @11
"""


def test_facts_are_told_as_the_decision_recorded_them_even_after_the_record_changed(
    run_cli: Run, tmp_path: Path
) -> None:
    db = _ledger(run_cli, tmp_path, KEPT)
    story, text = _story(run_cli, db, "outlook:alice/a1")
    (kept,) = _decisions(story, "APPT-DEL-OUTLOOK-KEEP")
    assert kept["facts"]["owner"] == "bob" and kept["facts"]["start"] == "2026-03-05T10:00:00Z"
    assert kept["facts"]["starts_after_sync"] is True and kept["facts"]["sync_at"] == "2026-03-02T09:04:00Z"
    assert "CRM appointment a1 was kept and the link ended because bob, not alice, owns it" in text
    assert "owner bob, active, start 5 March 2026 at 10:00" in text
    now = json.loads(run_cli("state", "--json", "--db", db).stdout)["crm"]["a1"]
    assert now["owner"] == "alice" and now["start"] == "2026-03-01T08:00:00Z"  # the present says otherwise
    short = run_cli("why", "outlook:alice/a1", "--short", "--db", db).stdout
    assert "it was not an active appointment of alice's starting after the sync" in short  # reconstructed, vague


# ------------------------------------------------------------------ shape, and --short as before


def test_the_json_has_the_shape_the_text_tells(run_cli: Run, tmp_path: Path) -> None:
    db = _ledger(run_cli, tmp_path, REASSIGNED)
    story, text = _story(run_cli, db, "outlook:alice/o1")
    assert set(story) == {
        "ref",
        "label",
        "exists",
        "type",
        "now",
        "rule",
        "link",
        "since",
        "omitted",
        "chain",
        "waiting",
    }
    assert story["label"] == "Sam Lee"
    keys = {"position", "at", "actor", "event", "rule", "cause", "causes", "sync", "facts", "role", "dropped"}
    assert all(set(step) == keys | {"reached_from", "sentence", "read"} for step in story["chain"])
    assert story["omitted"] == 0 and story["link"]["origin"] == "tracked"
    positions = [step["position"] for step in story["chain"]]
    assert positions == sorted(positions)
    for step in story["chain"]:  # every line of the text is a step of the JSON, in the same order
        assert f"@{step['position']}  " in text and step["sentence"] in text
        if step["read"]:
            assert f"It read: {step['read']}." in text
    assert text.index("@7  ") < text.index("@10  ") < text.index("@13  ")


# What `why outlook:alice/o1` printed before the whole story, for the reassigned contact (copied from main), with
# the item's label beside its reference since references show labels (issue 16).
SHORT_BEFORE = """\
outlook:alice/o1 (Sam Lee)
Contact o1 is in alice's Outlook since 2 March 2026 at 09:00, linked to CRM contact o1 since 09:01 (when alice \
tracked contact o1 in CRM; TRACK-ITEM).

How it came to this (times in UTC):
  @4  alice tracked contact o1 in CRM on 2 March 2026 at 09:01.
  @5  At once, CRM contact o1 was created from alice's contact o1 and linked to it, owned by alice (TRACK-ITEM; \
source: CRM help, "Synchronizing information").
  @11  bob edited contact o1 in CRM (phone: 300) at 09:06.
  @13  At alice's sync at 09:07, alice's contact o1 took the current values of CRM contact o1, because the record \
had changed in CRM (CRM-EDIT-PULL; source: CRM help, "Synchronizing information").

Every event of it: syncledger history outlook:alice/o1 --db {db}
"""


def test_short_is_the_one_paragraph_answer_of_before(run_cli: Run, tmp_path: Path) -> None:
    db = _ledger(run_cli, tmp_path, REASSIGNED)
    result = run_cli("why", "outlook:alice/o1", "--short", "--db", db)
    assert result.returncode == 0 and result.stdout == SHORT_BEFORE.replace("{db}", str(db))
    short = json.loads(run_cli("why", "outlook:alice/o1", "--short", "--json", "--db", db).stdout)
    assert set(short) == {"ref", "label", "exists", "type", "now", "rule", "link", "chain"}
    assert [s["position"] for s in short["chain"]] == [4, 5, 11, 13]
    assert all(set(s) == {"position", "at", "actor", "event", "rule", "cause", "sentence"} for s in short["chain"])


# ------------------------------------------------------------------ a ledger from before facts were recorded


def test_a_ledger_from_before_facts_tells_its_story_without_them() -> None:
    ledger, index = Ledger(), ItemIndex()
    for action in randomwalk.actions(3, 250):
        index.add(ledger.append([action]))
    events = dict(ledger.store.read())
    older = {  # as the code before issue 14 stored them: no facts, no sync, no merged causes
        p: e.model_copy(update={"facts": None, "sync": None, "causes": None}) if isinstance(e, Decided) else e
        for p, e in events.items()
    }
    refs = [ref for ref in index.touched if not ref.startswith("user:")]
    assert len(refs) > 20
    for ref in refs:
        now, before = story(ref, ledger.world, index, events.get), story(ref, ledger.world, index, older.get)
        assert before.now == now.now and before.rule == now.rule
        assert all(s.facts is None and s.read is None and s.sync is None for s in before.steps)
        assert all(s.causes == (s.cause,) for s in before.steps if s.event == "decision")
        assert {s.position for s in before.steps} <= {s.position for s in now.steps}, ref
