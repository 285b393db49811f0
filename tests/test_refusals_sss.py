"""End-to-end tests of the refusals RULES-SSS.md adds (server-side synchronization), in the pattern of
`tests/test_refusals.py`: a valid prefix, accepted on its own, then one bad step; exit status 2, exactly one line
naming the file, the step and the problem; and, with `--db` or through `do`, nothing appended."""

from __future__ import annotations

import json

import pytest

from tests.test_refusals import (
    CRM_CONTACT,
    assert_refused,
    case,
    check_refusal,
    no_traceback,
    one_error_line,
    write_scenario,
)

SSS_USERS = {"alice": "{sync_method: server_side}", "bob": "{}"}
TASK_OF_BOB = "{do: crm.create, actor: bob, record: t1, type: task, owner: bob, fields: {subject: Call}}"
SWITCH_BOB = "{do: option, user: bob, name: sync_method, value: server_side}"

REFUSALS = [
    case("offline-of-server-side-user", [], "{do: offline, user: alice}", r"server.side", users=SSS_USERS),
    case("online-of-server-side-user", [], "{do: online, user: alice}", r"server.side", users=SSS_USERS),
    case(
        "offline-after-a-switch",
        [SWITCH_BOB],
        "{do: offline, user: bob}",
        r"server.side",
        also=(r"\bbob\b",),
    ),
    case(
        "switch-with-pending-operations",
        [TASK_OF_BOB],  # queued for bob: the task is in his filter
        SWITCH_BOB,
        (r"pending",),
        also=(r"sync first",),
    ),
    case(
        "switch-back-with-pending-mailbox-edits",
        [
            "{do: crm.create, actor: bob, record: t1, type: task, owner: alice}",
            "{do: sync, user: alice}",
            "{do: outlook.update, user: alice, item: t1, fields: {subject: X}}",
        ],
        "{do: option, user: alice, name: sync_method, value: outlook_client}",
        (r"pending",),
        users=SSS_USERS,
    ),
    case(
        "switch-while-offline",
        ["{do: offline, user: bob}"],
        SWITCH_BOB,
        (r"offline",),
        also=(r"sync first",),
    ),
    case(
        "sync_method-unknown-value",
        [],
        "{do: option, user: bob, name: sync_method, value: exchange}",
        (r"exchange",),
        also=(r"sync_method",),
    ),
    case(
        "sync_method-boolean",
        [],
        "{do: option, user: bob, name: sync_method, value: true}",
        (r"sync_method",),
    ),
    case(
        "user.add-unknown-sync_method",
        [],
        "{do: user.add, user: carol, sync_method: exchange}",
        (r"exchange",),
        also=(r"sync_method",),
    ),
    case(
        "org.option-unknown-name",
        [],
        "{do: org.option, actor: bob, name: distinct_deletes, value: true}",
        (r"distinct_deletes",),
        also=(r"distinct_logical_deletes",),
    ),
    case(
        "org.option-a-user-option",
        [],
        "{do: org.option, actor: bob, name: sync_filter, value: true}",
        (r"sync_filter",),
    ),
    case(
        "org.option-string-true",
        [],
        "{do: org.option, actor: bob, name: distinct_logical_deletes, value: 'true'}",
        (r"bool",),
        also=(r"\bvalue\b",),
    ),
    case(
        "org.option-without-actor",
        [],
        "{do: org.option, name: distinct_logical_deletes, value: true}",
        (r"missing",),
        also=(r"actor",),
    ),
    case(
        "org.option-unknown-actor",
        [],
        "{do: org.option, actor: admin, name: distinct_logical_deletes, value: true}",
        (r"unknown user",),
        also=(r"admin",),
    ),
]


@pytest.mark.parametrize("refusal", REFUSALS)
def test_a_server_side_refusal(run_cli, tmp_path, refusal):
    check_refusal(run_cli, tmp_path, refusal)


ACCEPTED = [
    pytest.param(["{do: option, user: alice, name: sync_method, value: server_side}"], id="sync_method-as-it-is"),
    pytest.param([TASK_OF_BOB, "{do: option, user: bob, name: sync_method, value: outlook_client}"], id="same-pending"),
    pytest.param([TASK_OF_BOB, "{do: sync, user: bob}", SWITCH_BOB], id="switch-after-a-sync"),
    pytest.param(
        [
            "{do: org.option, actor: bob, name: distinct_logical_deletes, value: false}",
            "{do: org.option, actor: alice, name: distinct_logical_deletes, value: true}",
            "{do: org.option, actor: alice, name: distinct_logical_deletes, value: true}",
            "{expect: {pending: {alice: 0, bob: 0}}}",
        ],
        id="org.option-current-value-and-twice",
    ),
]


@pytest.mark.parametrize("steps", ACCEPTED)
def test_what_is_not_refused(run_cli, tmp_path, steps):
    scenario = write_scenario(tmp_path / "accepted.yaml", steps, SSS_USERS)
    result = run_cli("run", scenario)
    no_traceback(result)
    assert result.returncode == 0, f"expected exit 0, got {result.returncode}:\n{result.stdout}\n{result.stderr}"


def _state(run_cli, db) -> dict:
    result = run_cli("state", "--json", "--db", db)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_refused_do_verbs_and_files_append_nothing(run_cli, tmp_path):
    db = tmp_path / "l.db"
    good = write_scenario(tmp_path / "good.yaml", [CRM_CONTACT], SSS_USERS)
    assert run_cli("run", good, "--db", db).returncode == 0
    before = _state(run_cli, db)
    assert before["users"]["alice"]["sync_method"] == "server_side"
    assert before["users"]["bob"]["sync_method"] == "outlook_client"
    assert before["org"] == {"distinct_logical_deletes": False}
    at = ["--at", "2026-03-02T12:00:00Z"]
    for verb in (
        ["offline", "user=alice"],
        ["online", "user=alice"],
        ["option", "user=bob", "name=sync_method", "value=server_side"],  # bob has c1 pending
        ["option", "user=bob", "name=sync_method", "value=exchange"],
        ["org.option", "actor=bob", "name=sync_filter", "value=true"],
        ["org.option", "actor=bob", "name=distinct_logical_deletes", "value=yes"],
        ["org.option", "actor=nobody", "name=distinct_logical_deletes", "value=true"],
    ):
        refused = run_cli("do", *verb, *at, "--db", db)
        no_traceback(refused)
        assert refused.returncode == 2, (verb, refused.stdout, refused.stderr)
        one_error_line(refused)
        assert _state(run_cli, db) == before, verb
    bad = write_scenario(
        tmp_path / "bad.yaml",
        ["{do: crm.create, actor: carol, record: leak, type: contact}", "{do: offline, user: carol}"],
        {"carol": "{sync_method: server_side}"},
        start="2026-03-02T12:00:00Z",
    )
    assert_refused(run_cli("run", bad, "--db", db), bad, 2, (r"server.side",))
    assert _state(run_cli, db) == before
    accepted = run_cli("do", "org.option", "actor=bob", "name=distinct_logical_deletes", "value=true", *at, "--db", db)
    assert accepted.returncode == 0, accepted.stderr
    after = _state(run_cli, db)
    assert after["org"] == {"distinct_logical_deletes": True} and after["pending"] == before["pending"]
