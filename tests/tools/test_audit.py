"""The support commands end to end: `why` for every rule, `pending`, `preview` (a dry run that equals the sync it
previews and appends nothing) and `diff`, through the real `syncledger` command on SQLite ledgers."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger
from syncledger.ledger.rules import RULES
from syncledger.projections.document import iso
from syncledger.tools import scenarios
from syncledger.tools.actionlines import to_line
from syncledger.tools.explain.diff import diff_worlds
from tests.reference import world_at

Run = Callable[..., subprocess.CompletedProcess[str]]
SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SHARED = [
    "share-then-delete",
    "appointment-deleted-in-crm",
    "email-delete-in-outlook",
    "email-untrack-designated",
    "offline-edit-wins",
    "task-completed-before-sync",
]

# What the sentence of each rule's decision must say, beyond the rule's ID and source.
SAYS = {
    "TRACK-EMAIL": "was created from alice's e-mail m1 and linked to it, owned by alice",
    "TRACK-ITEM": "was created from alice's contact o1 and linked to it, owned by alice",
    "SET-REGARDING": "was set Regarding contact c9",
    "OUTLOOK-EDIT-PUSH": "CRM task t1 was marked completed",
    "EDIT-ORPHAN": "the edit stayed in alice's Outlook only",
    "UNTRACK-LINK": "the link between alice's contact o1 and CRM contact o1 ended",
    "OFFLINE-QUEUE": "alice was offline, so the tracking of e-mail m1 waited until alice went online",
    "OFFLINE-CONFLICT": "When alice went online at 09:04, alice's tracking of e-mail m1, queued offline, was dropped",
    "FILTER-CREATE": "a copy of CRM contact c1 was created in alice's Outlook as contact c1",
    "CRM-EDIT-PULL": "alice's contact c1 took the current values of CRM contact c1",
    "CONTACT-DEL-CRM-NONOWNER": "contact c1 was deleted from alice's Outlook because CRM contact c1 was deleted and "
    "alice was not its owner",
    "CONTACT-DEL-CRM-OWNER": "alice's contact o1 was kept and unlinked because CRM contact o1 was deleted and alice "
    "was its owner",
    "APPT-DEL-CRM-FUTURE": "appointment a1 was deleted from alice's Outlook because CRM appointment a1 was deleted "
    "and starts after the sync",
    "APPT-DEL-CRM-PAST": "alice's appointment a1 was kept and unlinked because CRM appointment a1 was deleted and "
    "does not start after the sync",
    "TASK-DEL-CRM-OPEN": "task t1 was deleted from alice's Outlook because CRM task t1 was deleted and alice's copy "
    "was not completed",
    "TASK-DEL-CRM-DONE": "alice's task t1 was kept and unlinked because CRM task t1 was deleted and alice's copy "
    "was completed",
    "EMAIL-DEL-CRM": "alice's e-mail m1 was kept and unlinked because CRM e-mail m1 was deleted",
    "FILTER-LEAVE-SYNCED": "contact c1 was deleted from alice's Outlook because CRM contact c1 left alice's sync "
    "filter",
    "FILTER-LEAVE-TRACKED": "stayed linked and took the current values of CRM task t1",
    "DELETED-BOTH-SIDES": "the link between alice's contact c1 and CRM contact c1 ended; nothing else to do",
    "EMAIL-DEL-OUTLOOK": "CRM e-mail m1 was kept and the link ended",
    "EMAIL-UNTRACK-KEEP": "CRM e-mail m1 was kept because alice did not designate it for deletion",
    "EMAIL-UNTRACK-DELETE": "CRM e-mail m1 was deleted because alice designated it for deletion",
    "CONTACT-DEL-OUTLOOK": "CRM contact c1 was kept and the link ended",
    "APPT-DEL-OUTLOOK-OWNER": "CRM appointment a1 was deleted because alice owned it, it was active and it starts "
    "after the sync",
    "APPT-DEL-OUTLOOK-KEEP": "CRM appointment a1 was kept and the link ended because bob, not alice, owns it",
    "TASK-DEL-OUTLOOK-OPEN": "CRM task t1 was deleted because it was still open",
    "TASK-DEL-OUTLOOK-DONE": "CRM task t1 was kept and the link ended because it was completed",
    "UNTRACK-ITEM": "CRM contact o1 was deleted because alice owned it and designated it for deletion",
    "BASELINE": "CRM e-mail e0e0e0e0 was observed in the baseline of 2026-03-01 (owned by bob, active), linked to "
    "bob's e-mail AAMkAGI2TG93AAE1 (tracked)",
    # server-side sync (RULES-SSS.md), from tests/scenarios/sss-rule-<id>.yaml
    "SSS-EXCHANGE-EDIT-PUSH": "CRM task t1 took alice's edit (subject: Call Ann back) and was marked completed",
    "SSS-EXCHANGE-EDIT-CLOSED": "did not reach CRM appointment a1: CRM appointment 'a1' is completed",
    "SSS-CONTACT-DEL-EXCHANGE-OWNER": "CRM contact c1 was deleted because alice deleted it in the mailbox and owns it",
    "SSS-CONTACT-DEL-EXCHANGE-KEEP": "CRM contact c1 was kept and the link ended because alice deleted it in the "
    "mailbox but does not own it",
    "SSS-TASK-DEL-EXCHANGE": "CRM task t1 was deleted because alice deleted it in the mailbox",
    "SSS-APPT-DEL-CRM-ORGANIZER": "appointment a1 was deleted from alice's Outlook because CRM appointment a1 was "
    "deleted, alice organized it, and it starts after the cycle",
    "SSS-APPT-DEL-CRM-KEEP": "alice's appointment a1 was kept and unlinked because CRM appointment a1 was deleted "
    "and bob, not alice, organized it",  # which of the rule's two reasons held, from the facts it recorded
    "SSS-FILTER-LEAVE": "contact o1 was deleted from alice's Outlook because CRM contact o1 left alice's sync filter",
    "SSS-FILTER-LEAVE-UNLINK": "alice's contact c1 was kept and unlinked because CRM contact c1 left alice's sync "
    "filter and distinct_logical_deletes is on",
}
# Not here: FILTER-SKIP-DELETED records no decision, GO-ONLINE-SYNC is about a user, and SSS-EXCHANGE-EDIT-ORPHAN
# is always followed in the same cycle by the deletion's decision about the same item, which `why` then names
# (its sentence is checked in the item's history, tests/tools/test_history.py)
NOT_LATEST = ("FILTER-SKIP-DELETED", "GO-ONLINE-SYNC", "SSS-EXCHANGE-EDIT-ORPHAN")
DECIDED_ABOUT_ITEMS = [rule for rule in RULES if rule not in NOT_LATEST]


def _scenario_file(rule: str) -> Path:
    return SCENARIOS / f"{'sss-' if rule.startswith('SSS-') else ''}rule-{rule.lower()}.yaml"


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _rule_scenario(rule: str, tmp_path: Path) -> tuple[Path, str]:
    """The rule's scenario file and a reference whose latest decision is the rule's: from the final checks, or
    else the scenario cut just before the step that checks it."""
    doc = yaml.safe_load(_scenario_file(rule).read_text())
    for ref, found in ((doc.get("expect") or {}).get("why") or {}).items():
        if found == rule:
            return _scenario_file(rule), ref
    for number, step in enumerate(doc["steps"]):
        for ref, found in ((step.get("expect") or {}).get("why") or {}).items():
            if found == rule:
                cut = tmp_path / f"{rule.lower()}-cut.yaml"
                cut.write_text(yaml.safe_dump({**doc, "steps": doc["steps"][:number], "expect": None}))
                return cut, ref
    raise AssertionError(f"no scenario check names {rule}")


@pytest.mark.parametrize("rule", DECIDED_ABOUT_ITEMS)
def test_why_explains_every_rule_with_its_sentence_and_a_chain_from_a_user_action(
    rule: str, tmp_path: Path, run_cli: Run
) -> None:
    assert set(SAYS) == set(DECIDED_ABOUT_ITEMS), "every rule that decides about an item needs its sentence here"
    path, ref = _rule_scenario(rule, tmp_path)
    db = tmp_path / "l.db"
    assert run_cli("run", path, "--db", db).returncode == 0
    found = _json(run_cli("why", ref, "--json", "--db", db))
    assert found["ref"] == ref and found["rule"] == rule
    steps = {step["position"]: step for step in found["chain"]}
    decision = [step for step in found["chain"] if step["rule"] == rule][-1]
    assert SAYS[rule] in decision["sentence"]
    assert f"({rule}; source: " in decision["sentence"]
    step = decision
    while step["event"] == "decision":  # every cause is in the chain, back to the user action that started it
        step = steps[step["cause"]]
    assert step["rule"] is None and not step["event"].startswith("decision")
    assert found["chain"][0]["event"] != "decision"
    assert [s["position"] for s in found["chain"]] == sorted(steps)
    text = run_cli("why", ref, "--db", db)
    assert text.returncode == 0 and SAYS[rule] in text.stdout and found["now"] in text.stdout


def test_why_tells_the_story_with_names_types_and_times(tmp_path: Path, run_cli: Run) -> None:
    db = tmp_path / "l.db"
    run_cli("run", SCENARIOS / "share-then-delete.yaml", "--db", db)
    text = run_cli("why", "outlook:alice/c1", "--short", "--db", db).stdout
    assert "Contact c1 is no longer in alice's Outlook" in text
    assert "bob deleted contact c1 in CRM on 2 March 2026 at 11:00." in text
    assert "At alice's sync at 11:01, contact c1 was deleted from alice's Outlook because" in text
    assert "source: the white paper's table" in text
    whole = run_cli("why", "outlook:alice/c1", "--db", db).stdout  # the date once, at the story's first event
    assert "bob shared contact c1 with alice in CRM on 2 March 2026 at 09:01." in whole
    assert "bob deleted contact c1 in CRM at 11:00." in whole
    assert "It read: bob, not alice, owned CRM contact c1 when it was deleted" in whole
    kept = _json(run_cli("why", "outlook:bob/c1", "--json", "--db", db))
    assert kept["exists"] and kept["type"] == "contact" and kept["link"]["state"] == "unlinked"
    assert "no longer linked to CRM" in kept["now"] and "CONTACT-DEL-CRM-OWNER" in kept["now"]


def test_why_of_a_linked_item_says_since_when_and_which_decision_made_the_link(tmp_path: Path, run_cli: Run) -> None:
    db = tmp_path / "l.db"
    run_cli("run", SCENARIOS / "rule-crm-edit-pull.yaml", "--db", db)
    found = _json(run_cli("why", "outlook:alice/c1", "--json", "--db", db))
    assert found["link"]["state"] == "linked" and found["link"]["rule"] == "FILTER-CREATE"
    assert "linked to CRM contact c1, since" in found["now"] and "(at alice's sync; FILTER-CREATE)" in found["now"]
    rules = [step["rule"] for step in found["chain"] if step["rule"]]
    assert rules[0] == "FILTER-CREATE" and rules[-1] == "CRM-EDIT-PULL"


def test_why_follows_causes_through_earlier_decisions(tmp_path: Path, run_cli: Run) -> None:
    db = tmp_path / "l.db"
    run_cli("run", SCENARIOS / "rule-outlook-edit-push.yaml", "--db", db)
    chain = _json(run_cli("why", "outlook:carol/c1", "--json", "--db", db))["chain"]
    pull = chain[-1]
    push = next(step for step in chain if step["position"] == pull["cause"])
    assert pull["rule"] == "CRM-EDIT-PULL" and push["rule"] == "OUTLOOK-EDIT-PUSH"
    assert "which queued the change for the next sync of carol" in push["sentence"]
    assert next(step for step in chain if step["position"] == push["cause"])["event"] == "outlook.update"


def test_why_of_an_item_no_rule_decided_about_names_the_actions(tmp_path: Path, run_cli: Run) -> None:
    db = tmp_path / "l.db"
    run_cli("do", "user.add", "user=alice", "--at", "2026-03-02T09:00:00Z", "--db", db)
    run_cli("do", "outlook.create", "user=alice", "item=x1", "type=contact", "--at", "2026-03-02T09:05:00Z", "--db", db)
    found = _json(run_cli("why", "outlook:alice/x1", "--json", "--db", db))
    assert found["rule"] is None and "has never been linked to CRM" in found["now"]
    assert [step["event"] for step in found["chain"]] == ["outlook.create"]
    assert "No sync rule has decided anything about it" in run_cli("why", "outlook:alice/x1", "--db", db).stdout


def test_why_refuses_an_unknown_reference_and_suggests_close_ones(tmp_path: Path, run_cli: Run) -> None:
    db = tmp_path / "l.db"
    run_cli("run", SCENARIOS / "share-then-delete.yaml", "--db", db)
    assert "unknown reference 'crm:c2' (did you mean crm:c1" in _one_error_line(run_cli("why", "crm:c2", "--db", db))
    assert "did you mean outlook:alice/c1" in _one_error_line(run_cli("why", "outlook:Alice/c1", "--db", db))
    assert "did you mean crm:c1 or outlook:alice/c1" in _one_error_line(run_cli("why", "c1", "--db", db))
    long = _one_error_line(run_cli("why", "crm:" + "x" * 100_000, "--db", db))
    assert "is not a reference" in long and len(long) < 300
    assert "\\udcff" in _one_error_line(run_cli("why", "crm:c\udcff", "--db", db)), "undecodable bytes, escaped"


# ------------------------------------------------------------------------------------------------- preview


def _timed_actions(name: str) -> list[v.Action]:
    """The scenario's actions with their times, each given an id, as an import would carry them."""
    actions = [step.action for step in scenarios.load(str(SCENARIOS / f"{name}.yaml")).steps if step.action]
    return [a.model_copy(update={"id": f"{name}-{n}"}) for n, a in enumerate(actions, 1)]


def _import(actions: list[v.Action], db: Path, run_cli: Run, tmp_path: Path) -> None:
    if actions:
        lines = tmp_path / "prefix.jsonl"
        lines.write_bytes(b"".join(to_line(a) for a in actions))
        assert run_cli("import", lines, "--db", db).returncode == 0


@pytest.mark.parametrize("name", SHARED)
def test_preview_before_each_sync_is_what_the_sync_then_decides_and_appends_nothing(
    name: str, tmp_path: Path, run_cli: Run
) -> None:
    db = tmp_path / "l.db"
    actions = _timed_actions(name)
    done = 0
    for number, action in enumerate(actions):
        if action.do not in ("sync", "online"):
            continue
        _import(actions[done:number], db, run_cli, tmp_path)
        user, at = action.user_name, iso(action.at)
        before = run_cli("state", "--json", "--db", db).stdout
        preview = _json(run_cli("preview", user, "--at", at, "--json", "--db", db))
        assert run_cli("state", "--json", "--db", db).stdout == before, "a preview appends nothing"
        assert preview["does"] == action.do and preview["appended"] is False
        recorded = _json(run_cli("do", action.do, f"user={user}", "--at", at, "--json", "--db", db))
        decided = [e for e in recorded if e["do"] == "decision"]
        keys = ("position", "rule", "cause", "about", "effects")
        assert [tuple(d[k] for k in keys) for d in preview["decisions"]] == [tuple(d[k] for k in keys) for d in decided]
        assert all(" would " in d["sentence"] for d in preview["decisions"])
        done = number + 1


def test_preview_explains_each_decision_and_its_cause(tmp_path: Path, run_cli: Run) -> None:
    db = tmp_path / "l.db"
    actions = _timed_actions("share-then-delete")
    _import(actions[:-2], db, run_cli, tmp_path)  # up to the deletion, before both syncs
    found = _json(run_cli("preview", "alice", "--at", "2026-03-02T11:05:00Z", "--json", "--db", db))
    (decision,) = found["decisions"]
    assert decision["rule"] == "CONTACT-DEL-CRM-NONOWNER"
    assert "contact c1 would be deleted from alice's Outlook" in decision["sentence"]
    assert decision["cause_sentence"] == "bob deleted contact c1 in CRM on 2 March 2026 at 11:00"
    text = run_cli("preview", "alice", "--at", "2026-03-02T11:05:00Z", "--db", db).stdout
    assert "alice's next sync on 2 March 2026 at 11:05 (UTC) would decide" in text
    assert "A dry run: nothing was appended." in text


def test_preview_of_an_offline_user_is_going_online(tmp_path: Path, run_cli: Run) -> None:
    db = tmp_path / "l.db"
    actions = _timed_actions("offline-edit-wins")
    online = next(n for n, a in enumerate(actions) if a.do == "online")
    _import(actions[:online], db, run_cli, tmp_path)
    found = _json(run_cli("preview", "alice", "--json", "--db", db))
    assert found["does"] == "online"
    assert [d["rule"] for d in found["decisions"]][:2] == ["OUTLOOK-EDIT-PUSH", "GO-ONLINE-SYNC"]
    assert "is offline: going online" in run_cli("preview", "alice", "--db", db).stdout


def test_preview_refuses_a_time_before_the_ledger_and_an_unknown_user(tmp_path: Path, run_cli: Run) -> None:
    db = tmp_path / "l.db"
    run_cli("run", SCENARIOS / "share-then-delete.yaml", "--db", db)
    assert "before the ledger's last event" in _one_error_line(
        run_cli("preview", "alice", "--at", "2026-03-02T10:00:00Z", "--db", db)
    )
    assert "unknown user 'carol' (known: alice, bob)" in _one_error_line(run_cli("preview", "carol", "--db", db))
    assert "no time zone" in _one_error_line(run_cli("preview", "alice", "--at", "2026-03-02T12:00", "--db", db))


# ------------------------------------------------------------------------------------------------- pending


def test_pending_lists_each_queued_operation_and_what_queued_it(tmp_path: Path, run_cli: Run) -> None:
    db = tmp_path / "l.db"
    actions = _timed_actions("share-then-delete")
    _import(actions[:-2], db, run_cli, tmp_path)
    found = _json(run_cli("pending", "--json", "--db", db))
    assert {user: len(ops) for user, ops in found["pending"].items()} == {"alice": 1, "bob": 1}
    (op,) = found["pending"]["alice"]
    assert (op["operation"], op["record"], op["item"], op["waits_for"]) == ("crm.delete", "c1", "c1", "sync")
    assert op["sentence"] == "bob deleted contact c1 in CRM" and op["at"] == "2026-03-02T11:00:00Z"
    state = _json(run_cli("state", "--json", "--db", db))
    assert {k: op[k] for k in ("operation", "record", "item", "cause", "at")} == state["pending"]["alice"][0]
    assert set(_json(run_cli("pending", "--user", "bob", "--json", "--db", db))["pending"]) == {"bob"}
    text = run_cli("pending", "--db", db).stdout
    assert "alice: 1 operation waiting for the next sync" in text and "bob deleted contact c1 in CRM" in text
    assert "unknown user 'zoe'" in _one_error_line(run_cli("pending", "--user", "zoe", "--db", db))


# ------------------------------------------------------------------------------------------------- diff


def test_diff_shows_items_deleted_and_links_ended_with_the_decision_behind_each(tmp_path: Path, run_cli: Run) -> None:
    db = tmp_path / "l.db"
    run_cli("run", SCENARIOS / "share-then-delete.yaml", "--db", db)
    last = _json(run_cli("state", "--json", "--db", db))["position"]
    found = _json(run_cli("diff", "9", str(last), "--json", "--db", db))
    changes = {(c["side"], c["ref"], c["change"]): c for c in found["changes"]}
    gone = changes[("outlook", "outlook:alice/c1", "deleted")]
    assert gone["by"]["rule"] == "CONTACT-DEL-CRM-NONOWNER" and gone["fields"]["fields.fullname"]["old"] == "Jane Doe"
    ended = changes[("link", "outlook:bob/c1", "ended")]
    assert ended["record"] == "crm:c1"
    assert ended["fields"]["rule"] == {"old": "FILTER-CREATE", "new": "CONTACT-DEL-CRM-OWNER"}
    assert ended["fields"]["state"] == {"old": "linked", "new": "unlinked"}
    assert not any(c["side"] == "crm" for c in found["changes"]), "c1 was already deleted at position 9"
    by_time = _json(run_cli("diff", "2026-03-02T11:00:00Z", "2026-03-02T12:00:00Z", "--json", "--db", db))
    assert by_time["changes"] == found["changes"]
    assert _json(run_cli("diff", "5", "5", "--json", "--db", db))["changes"] == []


def test_diff_shows_a_link_made_and_ended_between_its_two_points(tmp_path: Path, run_cli: Run) -> None:
    """The links table at the second point holds an ended link that was not there at the first: the link was
    made and ended between them, and the diff says so with the decision that ended it (it once said nothing)."""
    db = tmp_path / "l.db"
    run_cli("run", SCENARIOS / "share-then-delete.yaml", "--db", db)
    last = _json(run_cli("state", "--json", "--db", db))["position"]
    found = _json(run_cli("diff", "2", str(last), "--json", "--db", db))
    links = {c["ref"]: c for c in found["changes"] if c["side"] == "link"}
    assert {ref: c["change"] for ref, c in links.items()} == {
        "outlook:alice/c1": "made and ended",
        "outlook:bob/c1": "made and ended",
    }
    assert links["outlook:bob/c1"]["by"]["rule"] == "CONTACT-DEL-CRM-OWNER"
    assert links["outlook:bob/c1"]["fields"]["state"] == {"old": None, "new": "unlinked"}
    before = {k["item"] for k in _json(run_cli("state", "--position", "2", "--json", "--db", db))["links"]}
    after = _json(run_cli("state", "--json", "--db", db))["links"]
    assert not before and {(k["user"], k["state"]) for k in after} == {("alice", "unlinked"), ("bob", "unlinked")}
    text = run_cli("diff", "2", str(last), "--db", db).stdout
    assert "made and ended" in text and "ended by CONTACT-DEL-CRM-OWNER" in text


def test_diff_shows_field_changes_old_to_new_in_text_and_json(tmp_path: Path, run_cli: Run) -> None:
    db = tmp_path / "l.db"
    for args in (
        ["user.add", "user=bob"],
        ["crm.create", "actor=bob", "record=c1", "type=contact", "fields.phone=555-0100"],
        ["crm.update", "actor=bob", "record=c1", "fields.phone=555-0199", "fields.title=Buyer"],
    ):
        assert run_cli("do", *args, "--at", "2026-03-02T09:00:00Z", "--db", db).returncode == 0
    changes = _json(run_cli("diff", "2", "3", "--json", "--db", db))["changes"]
    (change,) = [c for c in changes if c["side"] == "crm"]  # besides: bob's queue grew by the update
    assert change["change"] == "changed" and change["by"] == {"position": 3, "event": "crm.update", "rule": None}
    assert change["fields"] == {
        "fields.phone": {"old": "555-0100", "new": "555-0199"},
        "fields.title": {"old": None, "new": "Buyer"},
    }
    text = run_cli("diff", "2", "3", "--db", db).stdout
    assert "fields.phone: 555-0100 -> 555-0199; fields.title: - -> Buyer" in text
    assert "outside the ledger" in _one_error_line(run_cli("diff", "0", "99", "--db", db))
    assert "nor a position" in _one_error_line(run_cli("diff", "yesterday", "3", "--db", db))


def test_diff_worlds_is_a_pure_comparison_of_two_states() -> None:
    ledger = scenarios.run(scenarios.load(str(SCENARIOS / "share-then-delete.yaml"))).ledger
    before = world_at(ledger.store, 8)
    changes = {(c.side, c.ref, c.kind) for c in diff_worlds(before, ledger.world)}
    assert ("crm", "crm:c1", "deleted") in changes and ("outlook", "outlook:alice/c1", "deleted") in changes
    assert ("link", "outlook:bob/c1", "ended") in changes
    assert diff_worlds(ledger.world, ledger.world) == []
    assert diff_worlds(Ledger().world, before)[0].kind == "created"
