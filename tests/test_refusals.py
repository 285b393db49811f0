"""End-to-end tests of bad input: every refusal listed in SCENARIOS.md ("Refused (exit status 2 ...)").

Each case writes a scenario file whose steps are a valid prefix followed by one bad step, and runs the real
command line (`python -m syncledger run FILE`, the same program as `syncledger run FILE`). The prefix alone is run
first and must be accepted, so a refusal can only come from the bad step. A refusal is exit status 2 and exactly
one line on standard error that names the file, `step N` (1-based index in `steps:`) and the problem.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

START = "2026-03-02T09:00:00Z"
DEFAULT_USERS = {"alice": "{}", "bob": "{}"}

# Steps shared by many cases (flow-style YAML, as in the example scenarios).
CRM_CONTACT = "{do: crm.create, actor: bob, record: c1, type: contact, fields: {fullname: Jane Doe}}"
CRM_TASK = "{do: crm.create, actor: bob, record: t1, type: task, fields: {subject: Call back}}"
OUT_EMAIL = "{do: outlook.create, user: alice, item: m1, type: email, fields: {subject: Quote}}"
OUT_CONTACT = "{do: outlook.create, user: alice, item: o1, type: contact, fields: {fullname: Sam Lee}}"
OUT_TASK = "{do: outlook.create, user: alice, item: ot1, type: task, fields: {subject: Send contract}}"
TRACK_M1 = "{do: outlook.track, user: alice, item: m1}"
ALICE_OFFLINE = "{do: offline, user: alice}"

MISSING = (r"missing", r"required", r"\bneed")
TIME_WORDS = (r"backward", r"earlier", r"before", r"precede", r"goes back", r"went back", r"\btime\b")


@dataclass(frozen=True)
class Refusal:
    """A valid prefix of steps, then one bad step; the error line must match one of `fragments` (regexes,
    case-insensitive) and, if given, one of `also`."""

    prefix: tuple[str, ...]
    bad: str
    fragments: tuple[str, ...]
    also: tuple[str, ...] = ()
    users: tuple[tuple[str, str], ...] = ()


def case(
    case_id: str,
    prefix: list[str],
    bad: str,
    fragments: tuple[str, ...] | str,
    *,
    also: tuple[str, ...] = (),
    users: dict[str, str] | None = None,
) -> object:
    if isinstance(fragments, str):
        fragments = (fragments,)
    return pytest.param(
        Refusal(tuple(prefix), bad, fragments, also, tuple((users or DEFAULT_USERS).items())), id=case_id
    )


def write_scenario(
    path: Path,
    steps: list[str],
    users: dict[str, str] | None = None,
    *,
    start: str = START,
    title: str = "refusal test",
) -> Path:
    """Write a scenario file, checking it is the YAML we mean (one mapping per step)."""
    users = DEFAULT_USERS if users is None else users
    lines = [f"title: {title}", f"start: {start}", "users:"]
    lines += [f"  {name}: {options}" for name, options in users.items()]
    lines.append("steps:")
    lines += [f"  - {step}" for step in steps]
    text = "\n".join(lines) + "\n"
    document = yaml.safe_load(text)
    assert isinstance(document["steps"], list) and len(document["steps"]) == len(steps), text
    assert all(isinstance(step, dict) for step in document["steps"]), text
    path.write_text(text)
    return path


def no_traceback(result) -> None:
    assert "Traceback" not in result.stdout, result.stdout
    assert "Traceback" not in result.stderr, result.stderr


def one_error_line(result) -> str:
    """The single non-empty line on standard error."""
    err = result.stderr.rstrip("\n")
    lines = err.split("\n")
    assert len(lines) == 1 and err.strip(), f"expected exactly one line on stderr, got:\n{result.stderr!r}"
    return lines[0]


def without_path(line: str, path: Path) -> str:
    """The error line with the file's path removed, so fragments cannot match the (test-named) tmp dir."""
    for text in sorted(
        {str(path), str(path.resolve()), str(path.parent), str(path.parent.resolve())}, key=len, reverse=True
    ):
        line = line.replace(text, " ")
    return line.replace(path.name, " ")


def matches_any(patterns: tuple[str, ...], text: str) -> bool:
    return any(re.search(pattern, text, re.IGNORECASE) for pattern in patterns)


def assert_refused(result, path: Path, step: int | None, fragments: tuple[str, ...], also: tuple[str, ...] = ()) -> str:
    no_traceback(result)
    assert result.returncode == 2, (
        f"expected exit 2, got {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    line = one_error_line(result)
    assert path.name in line, f"the error line does not name the file {path.name!r}: {line!r}"
    rest = without_path(line, path)
    if step is not None:
        assert re.search(rf"\bstep\s+{step}\b", rest, re.IGNORECASE), f"no 'step {step}' in {line!r}"
    assert matches_any(fragments, rest), f"none of {fragments} in {line!r}"
    if also:
        assert matches_any(also, rest), f"none of {also} in {line!r}"
    return line


def check_refusal(run_cli, tmp_path: Path, refusal: Refusal) -> None:
    users = dict(refusal.users)
    if refusal.prefix:
        prefix_file = write_scenario(tmp_path / "accepted-prefix.yaml", list(refusal.prefix), users)
        accepted = run_cli("run", prefix_file)
        no_traceback(accepted)
        assert accepted.returncode == 0, (
            f"the valid prefix must be accepted (exit 0), got {accepted.returncode}:\n{accepted.stderr}"
        )
    steps = [*refusal.prefix, refusal.bad]
    bad_file = write_scenario(tmp_path / "refused-scenario.yaml", steps, users)
    result = run_cli("run", bad_file)
    assert_refused(result, bad_file, len(steps), refusal.fragments, refusal.also)


# --- an unknown action, a missing or unknown key, a value of the wrong type ---------------------------------

UNKNOWN_ACTIONS = [
    case("crm.explode", [CRM_CONTACT], "{do: crm.explode, actor: bob, record: c1}", r"crm\.explode"),
    case("outlook.archive", [OUT_EMAIL], "{do: outlook.archive, user: alice, item: m1}", r"outlook\.archive"),
    case("first-step-teleport", [], "{do: teleport, user: alice}", r"teleport"),
]


@pytest.mark.parametrize("refusal", UNKNOWN_ACTIONS)
def test_unknown_action_is_refused(run_cli, tmp_path, refusal):
    check_refusal(run_cli, tmp_path, refusal)


MISSING_KEYS = [
    case("crm.share-without-with", [CRM_CONTACT], "{do: crm.share, actor: bob, record: c1}", r"\bwith\b", also=MISSING),
    case("crm.assign-without-to", [CRM_CONTACT], "{do: crm.assign, actor: bob, record: c1}", r"\bto\b", also=MISSING),
    case(
        "outlook.create-without-type",
        [CRM_CONTACT],
        "{do: outlook.create, user: alice, item: m1}",
        r"\btype\b",
        also=MISSING,
    ),
    case("sync-without-user", [OUT_EMAIL], "{do: sync}", r"\buser\b", also=MISSING),
    case(
        "option-without-value", [OUT_EMAIL], "{do: option, user: alice, name: sync_filter}", r"\bvalue\b", also=MISSING
    ),
    case("crm.delete-without-record", [CRM_CONTACT], "{do: crm.delete, actor: bob}", r"\brecord\b", also=MISSING),
]


@pytest.mark.parametrize("refusal", MISSING_KEYS)
def test_missing_key_is_refused(run_cli, tmp_path, refusal):
    check_refusal(run_cli, tmp_path, refusal)


UNKNOWN_KEYS = [
    case(
        "crm.create-colour",
        [OUT_EMAIL],
        "{do: crm.create, actor: bob, record: c1, type: contact, colour: red}",
        r"colour",
    ),
    case("sync-force", [OUT_EMAIL], "{do: sync, user: alice, force: true}", r"force"),
    # delete_in_crm belongs to outlook.untrack, not outlook.delete
    case(
        "outlook.delete-delete_in_crm",
        [OUT_EMAIL],
        "{do: outlook.delete, user: alice, item: m1, delete_in_crm: true}",
        r"delete_in_crm",
    ),
    # owner belongs to crm.create, not outlook.update
    case(
        "outlook.update-owner", [OUT_CONTACT], "{do: outlook.update, user: alice, item: o1, owner: bob}", r"\bowner\b"
    ),
]


@pytest.mark.parametrize("refusal", UNKNOWN_KEYS)
def test_unknown_key_is_refused(run_cli, tmp_path, refusal):
    check_refusal(run_cli, tmp_path, refusal)


WRONG_VALUES = [
    case(
        "fields-is-a-list",
        [OUT_EMAIL],
        "{do: crm.create, actor: bob, record: c1, type: contact, fields: [Jane, Doe]}",
        r"\bfields\b",
    ),
    case("user-is-a-list", [OUT_EMAIL], "{do: sync, user: [alice]}", r"\buser\b"),
    case(
        "option-bool-maybe",
        [OUT_EMAIL],
        "{do: option, user: alice, name: delete_untracked_email_in_crm, value: maybe}",
        (r"maybe", r"delete_untracked_email_in_crm", r"\bvalue\b", r"bool"),
    ),
    case(
        "option-sync_filter-everyone",
        [OUT_EMAIL],
        "{do: option, user: alice, name: sync_filter, value: everyone}",
        (r"everyone", r"sync_filter", r"\bvalue\b"),
    ),
    case("option-unknown-name", [OUT_EMAIL], "{do: option, user: alice, name: theme, value: dark}", r"theme"),
    case(
        "user.add-sync_filter-everyone",
        [OUT_EMAIL],
        "{do: user.add, user: carol, sync_filter: everyone}",
        (r"everyone", r"sync_filter"),
    ),
    case(
        "untrack-delete_in_crm-sometimes",
        [OUT_EMAIL, TRACK_M1],
        "{do: outlook.untrack, user: alice, item: m1, delete_in_crm: sometimes}",
        (r"sometimes", r"delete_in_crm"),
    ),
    case("crm-type-meeting", [OUT_EMAIL], "{do: crm.create, actor: bob, record: x1, type: meeting}", r"meeting"),
    case(
        "at-not-a-time",
        [CRM_CONTACT],
        "{at: not-a-time, do: crm.delete, actor: bob, record: c1}",
        (r"not-a-time", r"\bat\b", r"time", r"date"),
    ),
    # "at: (ISO 8601 with a time zone)"
    case(
        "at-without-time-zone",
        [CRM_CONTACT],
        "{at: 2026-03-02T10:00:00, do: crm.delete, actor: bob, record: c1}",
        (r"zone", r"\btz", r"offset", r"aware", r"naive", r"\bat\b", r"time"),
    ),
    case(
        "start-not-a-time",
        [OUT_EMAIL],
        "{do: crm.create, actor: bob, record: a1, type: appointment, start: someday}",
        (r"someday", r"\bstart\b"),
    ),
]


@pytest.mark.parametrize("refusal", WRONG_VALUES)
def test_value_of_wrong_type_is_refused(run_cli, tmp_path, refusal):
    check_refusal(run_cli, tmp_path, refusal)


# --- an unknown user, item or record (including one already deleted) --------------------------------------

GONE_CONTACT = "{do: outlook.create, user: alice, item: gone-note, type: contact, fields: {fullname: Old}}"
DELETE_GONE_CONTACT = "{do: outlook.delete, user: alice, item: gone-note}"
GONE_RECORD = "{do: crm.create, actor: bob, record: gone-rec, type: contact, fields: {fullname: Old}}"
DELETE_GONE_RECORD = "{do: crm.delete, actor: bob, record: gone-rec}"

UNKNOWN_REFERENCES = [
    case("user-sync", [CRM_CONTACT], "{do: sync, user: carol}", r"carol"),
    case("user-crm-actor", [OUT_EMAIL], "{do: crm.create, actor: carol, record: c1, type: contact}", r"carol"),
    case(
        "user-crm-owner", [OUT_EMAIL], "{do: crm.create, actor: bob, record: c1, type: contact, owner: carol}", r"carol"
    ),
    case("user-share-with", [CRM_CONTACT], "{do: crm.share, actor: bob, record: c1, with: carol}", r"carol"),
    case("user-assign-to", [CRM_CONTACT], "{do: crm.assign, actor: bob, record: c1, to: carol}", r"carol"),
    case("user-option", [CRM_CONTACT], "{do: option, user: carol, name: sync_filter, value: owned}", r"carol"),
    case("user-offline", [CRM_CONTACT], "{do: offline, user: carol}", r"carol"),
    case("user-outlook-create", [CRM_CONTACT], "{do: outlook.create, user: carol, item: m1, type: email}", r"carol"),
    case("item-never-created", [OUT_EMAIL], "{do: outlook.delete, user: alice, item: nope}", r"nope"),
    case("item-track-never-created", [OUT_EMAIL], "{do: outlook.track, user: alice, item: nope}", r"nope"),
    # Outlook stores are per user: alice's item is unknown in bob's Outlook.
    case(
        "item-in-another-users-outlook",
        ["{do: outlook.create, user: alice, item: alices-card, type: contact, fields: {fullname: Sam Lee}}"],
        "{do: outlook.update, user: bob, item: alices-card, fields: {fullname: Sam Li}}",
        r"alices-card",
    ),
    case(
        "item-deleted-update",
        [GONE_CONTACT, DELETE_GONE_CONTACT],
        "{do: outlook.update, user: alice, item: gone-note, fields: {fullname: New}}",
        r"gone-note",
    ),
    case(
        "item-deleted-delete-again",
        [GONE_CONTACT, DELETE_GONE_CONTACT],
        "{do: outlook.delete, user: alice, item: gone-note}",
        r"gone-note",
    ),
    case(
        "item-deleted-track",
        [GONE_CONTACT, DELETE_GONE_CONTACT],
        "{do: outlook.track, user: alice, item: gone-note}",
        r"gone-note",
    ),
    case("record-never-created-delete", [CRM_CONTACT], "{do: crm.delete, actor: bob, record: nope}", r"nope"),
    case(
        "record-never-created-update",
        [CRM_CONTACT],
        "{do: crm.update, actor: bob, record: nope, fields: {fullname: X}}",
        r"nope",
    ),
    case(
        "record-never-created-regarding",
        [OUT_EMAIL],
        "{do: outlook.set_regarding, user: alice, item: m1, regarding: nope}",
        r"nope",
    ),
    case(
        "record-deleted-delete-again",
        [GONE_RECORD, DELETE_GONE_RECORD],
        "{do: crm.delete, actor: bob, record: gone-rec}",
        r"gone-rec",
    ),
    case(
        "record-deleted-share",
        [GONE_RECORD, DELETE_GONE_RECORD],
        "{do: crm.share, actor: bob, record: gone-rec, with: alice}",
        r"gone-rec",
    ),
    case(
        "record-deleted-update",
        [GONE_RECORD, DELETE_GONE_RECORD],
        "{do: crm.update, actor: bob, record: gone-rec, fields: {fullname: New}}",
        r"gone-rec",
    ),
    case(
        "record-deleted-regarding",
        [GONE_RECORD, DELETE_GONE_RECORD, OUT_EMAIL],
        "{do: outlook.set_regarding, user: alice, item: m1, regarding: gone-rec}",
        r"gone-rec",
    ),
]


@pytest.mark.parametrize("refusal", UNKNOWN_REFERENCES)
def test_unknown_user_item_or_record_is_refused(run_cli, tmp_path, refusal):
    check_refusal(run_cli, tmp_path, refusal)


# --- an id already used in that store; a user declared twice -----------------------------------------------

ID_REUSE = [
    case(
        "crm-live-holder",
        ["{do: crm.create, actor: bob, record: dup-1, type: contact}"],
        "{do: crm.create, actor: alice, record: dup-1, type: task}",
        r"dup-1",
    ),
    case(
        "crm-deleted-holder",
        ["{do: crm.create, actor: bob, record: dup-1, type: contact}", "{do: crm.delete, actor: bob, record: dup-1}"],
        "{do: crm.create, actor: bob, record: dup-1, type: contact}",
        r"dup-1",
    ),
    # tracking created CRM e-mail dup-1 (the natural id: the item id)
    case(
        "crm-holder-created-by-tracking",
        [
            "{do: outlook.create, user: alice, item: dup-1, type: email, fields: {subject: Hi}}",
            "{do: outlook.track, user: alice, item: dup-1}",
        ],
        "{do: crm.create, actor: bob, record: dup-1, type: contact}",
        r"dup-1",
    ),
    # an explicit `record:` for a track names the id of something new in CRM
    case(
        "crm-track-asks-for-used-record-id",
        ["{do: crm.create, actor: bob, record: dup-1, type: contact}", OUT_EMAIL],
        "{do: outlook.track, user: alice, item: m1, record: dup-1}",
        r"dup-1",
    ),
    # SOURCES.md: ids and aliases are unique among every id and alias used in a store; an alias once given to a
    # copy FILTER-CREATE made is never an id of something new there (it was, and references found the copy)
    case(
        "outlook-alias-holder",
        [
            "{do: crm.create, actor: bob, record: c1, type: contact, owner: alice, fields: {fullname: Ann Lee}}",
            "{do: sync, user: alice}",
            "{do: alias, user: alice, item: c1, alias: AAMkX1}",
        ],
        "{do: outlook.create, user: alice, item: AAMkX1, type: contact}",
        (r"AAMkX1", r"alias"),
    ),
    case(
        "outlook-live-holder",
        ["{do: outlook.create, user: alice, item: dup-2, type: contact}"],
        "{do: outlook.create, user: alice, item: dup-2, type: task}",
        r"dup-2",
    ),
    case(
        "outlook-deleted-holder",
        [
            "{do: outlook.create, user: alice, item: dup-2, type: contact}",
            "{do: outlook.delete, user: alice, item: dup-2}",
        ],
        "{do: outlook.create, user: alice, item: dup-2, type: contact}",
        r"dup-2",
    ),
    # alice's sync created her copy dup-3 (FILTER-CREATE, natural id: the record id)
    case(
        "outlook-holder-created-by-sync",
        [
            "{do: crm.create, actor: bob, record: dup-3, type: task, owner: alice, fields: {subject: Call}}",
            "{do: sync, user: alice}",
        ],
        "{do: outlook.create, user: alice, item: dup-3, type: task}",
        r"dup-3",
    ),
]


@pytest.mark.parametrize("refusal", ID_REUSE)
def test_id_already_used_in_that_store_is_refused(run_cli, tmp_path, refusal):
    check_refusal(run_cli, tmp_path, refusal)


USER_TWICE = [
    case("users-block-then-user.add", [CRM_CONTACT], "{do: user.add, user: alice}", r"alice"),
    case(
        "users-block-with-options-then-user.add",
        [CRM_CONTACT],
        "{do: user.add, user: alice, sync_filter: owned_and_shared}",
        r"alice",
        users={"alice": "{sync_filter: owned_and_shared}", "bob": "{}"},
    ),
    case(
        "user.add-twice", ["{do: user.add, user: carol}"], "{do: user.add, user: carol, sync_filter: owned}", r"carol"
    ),
]


@pytest.mark.parametrize("refusal", USER_TWICE)
def test_user_declared_twice_is_refused(run_cli, tmp_path, refusal):
    check_refusal(run_cli, tmp_path, refusal)


# a user name with a slash: outlook:a/b/c would name user a's item b/c and user a/b's item c at once
SLASHED_USERS = [
    case("user.add-with-slash", [], "{do: user.add, user: a/b}", (r"a/b", r"cannot hold '/'")),
]


@pytest.mark.parametrize("refusal", SLASHED_USERS)
def test_a_user_name_with_a_slash_is_refused(run_cli, tmp_path, refusal):
    check_refusal(run_cli, tmp_path, refusal)


# a new id or name no reference can name (references are typed on one line: why and history refused them as "not
# a reference"): a tab, a line break, a line separator, or white space around it
UNNAMEABLE = (r"tab, a line break or white space around it",)
UNNAMEABLE_IDS = [
    case("user.add-with-tab", [], '{do: user.add, user: "a\\tb"}', UNNAMEABLE),
    case("crm.create-with-line-break", [], '{do: crm.create, actor: bob, record: "c\\n1", type: task}', UNNAMEABLE),
    case(
        "outlook.create-with-line-separator",
        [],
        '{do: outlook.create, user: alice, item: "o\\u20281", type: task}',
        UNNAMEABLE,
    ),
    case("crm.create-with-space-after", [], '{do: crm.create, actor: bob, record: "c1 ", type: task}', UNNAMEABLE),
    case(
        "alias-with-carriage-return",
        [
            "{do: crm.create, actor: bob, record: c1, type: contact, owner: alice, fields: {fullname: Ann Lee}}",
            "{do: sync, user: alice}",
        ],
        '{do: alias, user: alice, item: c1, alias: "AAMk\\rX1"}',
        UNNAMEABLE,
    ),
]


@pytest.mark.parametrize("refusal", UNNAMEABLE_IDS)
def test_an_id_no_reference_can_name_is_refused(run_cli, tmp_path, refusal):
    check_refusal(run_cli, tmp_path, refusal)


# --- a type an action does not take -------------------------------------------------------------------------

LATER = "2026-03-09T09:30:00Z"
START_WORDS = (r"\bstart\b", r"appointment")

WRONG_TYPES = [
    case(
        "outlook.complete-contact",
        [OUT_CONTACT],
        "{do: outlook.complete, user: alice, item: o1}",
        (r"contact", r"task", r"\bo1\b"),
    ),
    case(
        "outlook.complete-email",
        [OUT_EMAIL],
        "{do: outlook.complete, user: alice, item: m1}",
        (r"e-?mail", r"task", r"\bm1\b"),
    ),
    case(
        "crm.deactivate-task",
        [CRM_TASK],
        "{do: crm.deactivate, actor: bob, record: t1}",
        (r"task", r"contact", r"\bt1\b"),
    ),
    case(
        "crm.activate-phonecall",
        ["{do: crm.create, actor: bob, record: p1, type: phonecall}"],
        "{do: crm.activate, actor: bob, record: p1}",
        (r"phonecall", r"contact", r"\bp1\b"),
    ),
    case(
        "crm.complete-contact",
        [CRM_CONTACT],
        "{do: crm.complete, actor: bob, record: c1}",
        (r"contact", r"activit", r"\bc1\b"),
    ),
    case(
        "crm.cancel-contact",
        [CRM_CONTACT],
        "{do: crm.cancel, actor: bob, record: c1}",
        (r"contact", r"activit", r"\bc1\b"),
    ),
    case(
        "start-crm.create-contact",
        [OUT_EMAIL],
        f"{{do: crm.create, actor: bob, record: c1, type: contact, start: {LATER}}}",
        START_WORDS,
    ),
    case(
        "start-crm.update-task", [CRM_TASK], f"{{do: crm.update, actor: bob, record: t1, start: {LATER}}}", START_WORDS
    ),
    case(
        "start-outlook.create-task",
        [OUT_EMAIL],
        f"{{do: outlook.create, user: alice, item: ot1, type: task, start: {LATER}}}",
        START_WORDS,
    ),
    case(
        "start-outlook.update-contact",
        [OUT_CONTACT],
        f"{{do: outlook.update, user: alice, item: o1, start: {LATER}}}",
        START_WORDS,
    ),
    case(
        "outlook.create-phonecall",
        [OUT_EMAIL],
        "{do: outlook.create, user: alice, item: p1, type: phonecall}",
        r"phonecall",
    ),
    case("outlook.create-letter", [OUT_EMAIL], "{do: outlook.create, user: alice, item: l1, type: letter}", r"letter"),
    case(
        "set_regarding-on-contact",
        [CRM_CONTACT, OUT_CONTACT],
        "{do: outlook.set_regarding, user: alice, item: o1, regarding: c1}",
        (r"e-?mail", r"contact", r"\bo1\b"),
    ),
    case(
        "set_regarding-on-task",
        [CRM_CONTACT, OUT_TASK],
        "{do: outlook.set_regarding, user: alice, item: ot1, regarding: c1}",
        (r"e-?mail", r"task", r"\bot1\b"),
    ),
]


@pytest.mark.parametrize("refusal", WRONG_TYPES)
def test_type_the_action_does_not_take_is_refused(run_cli, tmp_path, refusal):
    check_refusal(run_cli, tmp_path, refusal)


# --- an action that would change nothing ---------------------------------------------------------------------

NO_CHANGES = [
    case(
        "crm.complete-completed",
        [CRM_TASK, "{do: crm.complete, actor: bob, record: t1}"],
        "{do: crm.complete, actor: bob, record: t1}",
        (r"\bt1\b", r"already", r"completed"),
    ),
    case(
        "outlook.complete-completed",
        [OUT_TASK, "{do: outlook.complete, user: alice, item: ot1}"],
        "{do: outlook.complete, user: alice, item: ot1}",
        (r"\bot1\b", r"already", r"completed"),
    ),
    case(
        "crm.cancel-canceled",
        [CRM_TASK, "{do: crm.cancel, actor: bob, record: t1}"],
        "{do: crm.cancel, actor: bob, record: t1}",
        (r"\bt1\b", r"already", r"cancell?ed"),
    ),
    case(
        "crm.deactivate-inactive",
        [CRM_CONTACT, "{do: crm.deactivate, actor: bob, record: c1}"],
        "{do: crm.deactivate, actor: bob, record: c1}",
        (r"\bc1\b", r"already", r"inactive"),
    ),
    case(
        "crm.activate-active",
        [CRM_CONTACT],
        "{do: crm.activate, actor: bob, record: c1}",
        (r"\bc1\b", r"already", r"active"),
    ),
    case(
        "crm.activate-reactivated",
        [CRM_CONTACT, "{do: crm.deactivate, actor: bob, record: c1}", "{do: crm.activate, actor: bob, record: c1}"],
        "{do: crm.activate, actor: bob, record: c1}",
        (r"\bc1\b", r"already", r"active"),
    ),
    case(
        "crm.assign-to-default-owner",
        [CRM_CONTACT],
        "{do: crm.assign, actor: bob, record: c1, to: bob}",
        (r"\bbob\b", r"owner", r"already"),
    ),
    case(
        "crm.assign-to-explicit-owner",
        ["{do: crm.create, actor: bob, record: c1, type: contact, owner: alice}"],
        "{do: crm.assign, actor: bob, record: c1, to: alice}",
        (r"\balice\b", r"owner", r"already"),
    ),
    case(
        "crm.share-already-shared",
        [CRM_CONTACT, "{do: crm.share, actor: bob, record: c1, with: alice}"],
        "{do: crm.share, actor: bob, record: c1, with: alice}",
        (r"\balice\b", r"already"),
    ),
    case(
        "crm.share-with-owner",
        [CRM_CONTACT],
        "{do: crm.share, actor: bob, record: c1, with: bob}",
        (r"\bbob\b", r"owner"),
    ),
    case(
        "crm.unshare-never-shared",
        [CRM_CONTACT],
        "{do: crm.unshare, actor: bob, record: c1, with: alice}",
        (r"\balice\b", r"not shared"),
    ),
    case(
        "crm.unshare-twice",
        [
            CRM_CONTACT,
            "{do: crm.share, actor: bob, record: c1, with: alice}",
            "{do: crm.unshare, actor: bob, record: c1, with: alice}",
        ],
        "{do: crm.unshare, actor: bob, record: c1, with: alice}",
        (r"\balice\b", r"not shared"),
    ),
    case("untrack-never-tracked", [OUT_EMAIL], "{do: outlook.untrack, user: alice, item: m1}", (r"\bm1\b", r"link")),
    case(
        "untrack-twice",
        [OUT_EMAIL, TRACK_M1, "{do: outlook.untrack, user: alice, item: m1}"],
        "{do: outlook.untrack, user: alice, item: m1}",
        (r"\bm1\b", r"link"),
    ),
    # UNTRACK-LINK ends the link at once, offline too
    case(
        "untrack-twice-offline",
        [OUT_EMAIL, TRACK_M1, ALICE_OFFLINE, "{do: outlook.untrack, user: alice, item: m1}"],
        "{do: outlook.untrack, user: alice, item: m1}",
        (r"\bm1\b", r"link"),
    ),
    # a track queued offline: "the item is not linked yet"
    case(
        "untrack-while-track-queued-offline",
        [OUT_EMAIL, ALICE_OFFLINE, TRACK_M1],
        "{do: outlook.untrack, user: alice, item: m1}",
        (r"\bm1\b", r"link", r"queued", r"offline"),
    ),
    case("track-linked", [OUT_EMAIL, TRACK_M1], TRACK_M1, (r"\bm1\b", r"link", r"already")),
    case(
        "track-synced-copy",
        [
            "{do: crm.create, actor: bob, record: t1, type: task, owner: alice, fields: {subject: Call}}",
            "{do: sync, user: alice}",
        ],
        "{do: outlook.track, user: alice, item: t1}",
        (r"\bt1\b", r"link", r"already"),
    ),
    case(
        "track-linked-by-set_regarding",
        [CRM_CONTACT, OUT_EMAIL, "{do: outlook.set_regarding, user: alice, item: m1, regarding: c1}"],
        TRACK_M1,
        (r"\bm1\b", r"link", r"already"),
    ),
    case(
        "track-while-track-queued-offline",
        [OUT_EMAIL, ALICE_OFFLINE, TRACK_M1],
        TRACK_M1,
        (r"\bm1\b", r"queued", r"offline", r"already"),
    ),
    case(
        "track-while-set_regarding-queued-offline",
        [CRM_CONTACT, OUT_EMAIL, ALICE_OFFLINE, "{do: outlook.set_regarding, user: alice, item: m1, regarding: c1}"],
        TRACK_M1,
        (r"\bm1\b", r"queued", r"offline", r"regarding", r"already"),
    ),
    case("offline-when-offline", [OUT_EMAIL, ALICE_OFFLINE], ALICE_OFFLINE, (r"offline", r"already")),
    case("online-when-online-by-default", [OUT_EMAIL], "{do: online, user: alice}", (r"online", r"already")),
    case(
        "online-when-back-online",
        [OUT_EMAIL, ALICE_OFFLINE, "{do: online, user: alice}"],
        "{do: online, user: alice}",
        (r"online", r"already"),
    ),
]


@pytest.mark.parametrize("refusal", NO_CHANGES)
def test_action_that_would_change_nothing_is_refused(run_cli, tmp_path, refusal):
    check_refusal(run_cli, tmp_path, refusal)


# --- sync of an offline user; time going backwards -----------------------------------------------------------

SYNC_OFFLINE = [
    case("alice-offline", [OUT_EMAIL, ALICE_OFFLINE], "{do: sync, user: alice}", r"offline"),
    # only the offline user's sync is refused
    case(
        "alice-offline-bob-syncs",
        [CRM_CONTACT, ALICE_OFFLINE, "{do: sync, user: bob}"],
        "{do: sync, user: alice}",
        r"offline",
    ),
]


@pytest.mark.parametrize("refusal", SYNC_OFFLINE)
def test_sync_of_an_offline_user_is_refused(run_cli, tmp_path, refusal):
    check_refusal(run_cli, tmp_path, refusal)


AT_TEN = "{at: 2026-03-02T10:00:00Z, do: crm.create, actor: bob, record: c1, type: contact, fields: {fullname: A}}"

TIME_BACKWARDS = [
    case(
        "explicit-earlier",
        [AT_TEN],
        "{at: 2026-03-02T09:30:00Z, do: crm.update, actor: bob, record: c1, fields: {fullname: B}}",
        (*TIME_WORDS, r"09:30"),
    ),
    case(
        "earlier-in-another-time-zone",
        [AT_TEN],
        "{at: 2026-03-02T10:30:00+01:00, do: crm.update, actor: bob, record: c1, fields: {fullname: B}}",
        (*TIME_WORDS, r"10:30", r"09:30"),
    ),
    # the step without `at:` happened at 10:01
    case(
        "earlier-than-implicit-minute",
        [AT_TEN, "{do: crm.update, actor: bob, record: c1, fields: {fullname: B}}"],
        "{at: 2026-03-02T10:00:30Z, do: crm.update, actor: bob, record: c1, fields: {fullname: C}}",
        (*TIME_WORDS, r"10:00:30"),
    ),
    # expect steps take no time, and do not reset the clock
    case(
        "earlier-after-an-expect-step",
        [AT_TEN, "{expect: {crm: {c1: {type: contact}}}}"],
        "{at: 2026-03-02T09:59:00Z, do: crm.delete, actor: bob, record: c1}",
        (*TIME_WORDS, r"09:59"),
    ),
    case(
        "before-start",
        [],
        "{at: 2026-03-02T08:59:00Z, do: crm.create, actor: bob, record: c1, type: contact}",
        (*TIME_WORDS, r"08:59", r"start"),
    ),
]


@pytest.mark.parametrize("refusal", TIME_BACKWARDS)
def test_time_going_backwards_is_refused(run_cli, tmp_path, refusal):
    check_refusal(run_cli, tmp_path, refusal)


# --- an unknown key in a check -------------------------------------------------------------------------------

UNKNOWN_CHECK_KEYS = [
    case("crm-record-property", [CRM_CONTACT], "{expect: {crm: {c1: {colour: red}}}}", r"colour"),
    case("top-level-section", [CRM_CONTACT], "{expect: {calendar: {alice: {}}}}", r"calendar"),
    # `owner` is a property of CRM records, not of Outlook items
    case("outlook-item-property", [OUT_CONTACT], "{expect: {outlook: {alice: {o1: {owner: alice}}}}}", r"owner"),
    case(
        "links-entry-key", [OUT_EMAIL, TRACK_M1], "{expect: {links: [{user: alice, item: m1, colour: red}]}}", r"colour"
    ),
]


# a property the state never holds as null: `null` is a value of the wrong type, not a check that passes
NULL_CHECKS = [
    case("crm-owner-null", [CRM_CONTACT], "{expect: {crm: {c1: {owner: null}}}}", (r"crm\.c1\.owner", r"never null")),
    case("crm-state-null", [CRM_CONTACT], "{expect: {crm: {c1: {state: null}}}}", (r"crm\.c1\.state", r"never null")),
    case("crm-type-null", [CRM_CONTACT], "{expect: {crm: {c1: {type: null}}}}", (r"crm\.c1\.type", r"never null")),
    case("crm-shared-null", [CRM_CONTACT], "{expect: {crm: {c1: {shared_with: null}}}}", r"never null"),
    case("crm-fields-null", [CRM_CONTACT], "{expect: {crm: {c1: {fields: null}}}}", r"never null"),
    case("item-linked-null", [OUT_CONTACT], "{expect: {outlook: {alice: {o1: {linked: null}}}}}", r"never null"),
    case("item-completed-null", [OUT_CONTACT], "{expect: {outlook: {alice: {o1: {completed: null}}}}}", r"never null"),
    case(
        "link-record-null",
        [OUT_EMAIL, TRACK_M1],
        "{expect: {links: [{user: alice, item: m1, record: null}]}}",
        (r"links\.0\.record", r"never null"),
    ),
]


# a rule no method has, named by a check: a typo, refused as an unknown user is, not a check that fails
UNKNOWN_RULES = [
    case("why-unknown-rule", [CRM_CONTACT], "{expect: {why: {crm:c1: CONTACT-DEL-NOWHERE}}}", r"CONTACT-DEL-NOWHERE"),
    case(
        "link-unknown-rule",
        [OUT_EMAIL, TRACK_M1],
        "{expect: {links: [{user: alice, item: m1, rule: TRACK-MAIL}]}}",
        (r"links\[1\]\.rule", r"TRACK-MAIL"),
    ),
]


@pytest.mark.parametrize("refusal", UNKNOWN_RULES)
def test_a_rule_no_method_has_named_by_a_check_is_refused(run_cli, tmp_path, refusal):
    check_refusal(run_cli, tmp_path, refusal)


@pytest.mark.parametrize("refusal", NULL_CHECKS)
def test_null_where_a_property_is_never_null_is_refused(run_cli, tmp_path, refusal):
    check_refusal(run_cli, tmp_path, refusal)


@pytest.mark.parametrize("refusal", UNKNOWN_CHECK_KEYS)
def test_unknown_key_in_a_check_is_refused(run_cli, tmp_path, refusal):
    check_refusal(run_cli, tmp_path, refusal)


# --- not refusals: edits, an option set to its current value, Set Regarding to the current record -----------

ACCEPTED = [
    pytest.param(
        [
            CRM_CONTACT,
            "{do: crm.update, actor: bob, record: c1, fields: {fullname: Jane Doe}}",
            "{expect: {crm: {c1: {fields: {fullname: Jane Doe}}}}}",
        ],
        None,
        id="crm.update-same-fields",
    ),
    pytest.param([CRM_CONTACT, "{do: crm.update, actor: bob, record: c1}"], None, id="crm.update-nothing"),
    pytest.param(
        [
            f"{{do: crm.create, actor: bob, record: a1, type: appointment, start: {LATER}}}",
            f"{{do: crm.update, actor: bob, record: a1, start: {LATER}}}",
        ],
        None,
        id="crm.update-same-start",
    ),
    pytest.param(
        [
            OUT_CONTACT,
            "{do: outlook.update, user: alice, item: o1, fields: {fullname: Sam Lee}}",
            "{expect: {outlook: {alice: {o1: {fields: {fullname: Sam Lee}}}}}}",
        ],
        None,
        id="outlook.update-same-fields",
    ),
    pytest.param(
        [
            OUT_CONTACT,
            "{do: outlook.track, user: alice, item: o1}",
            "{do: outlook.update, user: alice, item: o1, fields: {fullname: Sam Lee}}",
        ],
        None,
        id="outlook.update-same-fields-linked",
    ),
    pytest.param([OUT_CONTACT, "{do: outlook.update, user: alice, item: o1}"], None, id="outlook.update-nothing"),
    pytest.param(["{do: option, user: alice, name: sync_filter, value: owned}"], None, id="option-default-sync_filter"),
    pytest.param(
        ["{do: option, user: alice, name: delete_untracked_email_in_crm, value: false}"],
        None,
        id="option-default-delete_untracked_email_in_crm",
    ),
    pytest.param(
        ["{do: option, user: alice, name: sync_filter, value: owned_and_shared}"],
        {"alice": "{sync_filter: owned_and_shared}", "bob": "{}"},
        id="option-as-declared",
    ),
    pytest.param(
        [
            "{do: option, user: bob, name: delete_untracked_email_in_crm, value: true}",
            "{do: option, user: bob, name: delete_untracked_email_in_crm, value: true}",
        ],
        None,
        id="option-set-twice",
    ),
    pytest.param(
        [
            CRM_CONTACT,
            OUT_EMAIL,
            "{do: outlook.set_regarding, user: alice, item: m1, regarding: c1}",
            "{do: outlook.set_regarding, user: alice, item: m1, regarding: c1}",
            "{expect: {crm: {m1: {type: email, regarding: c1}}}}",
        ],
        None,
        id="set_regarding-current-record",
    ),
    pytest.param(
        [
            AT_TEN,
            "{at: 2026-03-02T10:00:00Z, do: crm.update, actor: bob, record: c1, fields: {fullname: B}}",
            "{at: 2026-03-02T11:00:00+01:00, do: crm.delete, actor: bob, record: c1}",
        ],
        None,
        id="time-equal-to-previous",
    ),
    # ids are per store: the same id in two Outlook stores and in CRM
    pytest.param(
        [
            "{do: outlook.create, user: alice, item: x1, type: contact}",
            "{do: outlook.create, user: bob, item: x1, type: task}",
            "{do: crm.create, actor: bob, record: x1, type: contact}",
        ],
        None,
        id="same-id-in-other-stores",
    ),
    # tracking picks the first free id when the natural one was used in CRM
    pytest.param(
        [
            CRM_CONTACT,
            "{do: outlook.create, user: alice, item: c1, type: contact, fields: {fullname: Al}}",
            "{do: outlook.track, user: alice, item: c1}",
            "{expect: {crm: {'c1#2': {type: contact, owner: alice}}, outlook: {alice: {c1: {linked: 'c1#2'}}}}}",
        ],
        None,
        id="track-takes-next-free-record-id",
    ),
]


@pytest.mark.parametrize(("steps", "users"), ACCEPTED)
def test_no_change_that_is_not_refused(run_cli, tmp_path, steps, users):
    scenario = write_scenario(tmp_path / "accepted.yaml", steps, users)
    result = run_cli("run", scenario)
    no_traceback(result)
    assert result.returncode == 0, f"expected exit 0, got {result.returncode}:\n{result.stdout}\n{result.stderr}"


# --- with --db, a refused file appends nothing; so does a refused `do` verb ---------------------------------

STATE_KEYS = {"crm", "outlook", "links", "pending"}


def state_document(run_cli, db: Path) -> dict:
    result = run_cli("state", "--json", "--db", db)
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert STATE_KEYS <= set(document), document
    return document


def write_good_file(tmp_path: Path) -> Path:
    return write_scenario(
        tmp_path / "good.yaml",
        [
            "{do: crm.create, actor: bob, record: good-task, type: task, owner: alice, fields: {subject: Call}}",
            "{do: sync, user: alice}",
        ],
    )


def test_refused_file_appends_nothing_with_db(run_cli, tmp_path):
    db = tmp_path / "l.db"
    bad = write_scenario(
        tmp_path / "bad-with-db.yaml",
        [
            "{do: crm.create, actor: bob, record: bad-rec, type: contact, owner: alice, fields: {fullname: Leak}}",
            "{do: outlook.create, user: alice, item: bad-item, type: email, fields: {subject: Leak}}",
            "{do: crm.delete, actor: bob, record: nope}",
        ],
    )
    assert_refused(run_cli("run", bad, "--db", db), bad, 3, (r"nope",))

    # Same users and times again: refused if the bad file had left its users or its times in the ledger.
    good = write_good_file(tmp_path)
    result = run_cli("run", good, "--db", db)
    no_traceback(result)
    assert result.returncode == 0, f"the refused file left something behind:\n{result.stderr}"

    document = state_document(run_cli, db)
    assert set(document["crm"]) == {"good-task"}, document["crm"]
    text = json.dumps(document)
    for leaked in ("bad-rec", "bad-item"):
        assert leaked not in text, f"{leaked!r} from the refused file is in the ledger: {document}"


def test_refused_file_and_do_verb_leave_a_ledger_unchanged(run_cli, tmp_path):
    db = tmp_path / "l.db"
    good = write_good_file(tmp_path)
    result = run_cli("run", good, "--db", db)
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    before = state_document(run_cli, db)

    # A later file with a new user, refused at step 3: its user, record and edit must not be appended.
    bad = write_scenario(
        tmp_path / "bad-later.yaml",
        [
            "{do: crm.create, actor: carol, record: carol-rec, type: contact, fields: {fullname: Leak}}",
            "{do: crm.update, actor: carol, record: carol-rec, fields: {fullname: Leak 2}}",
            "{do: crm.delete, actor: carol, record: nope}",
        ],
        {"carol": "{}"},
        start="2026-03-02T12:00:00Z",
    )
    assert_refused(run_cli("run", bad, "--db", db), bad, 3, (r"nope",))
    assert state_document(run_cli, db) == before

    refused = run_cli("do", "crm.delete", "actor=bob", "record=nope", "--db", db)
    no_traceback(refused)
    assert refused.returncode == 2, f"expected exit 2, got {refused.returncode}:\n{refused.stderr}"
    line = one_error_line(refused)
    assert "nope" in line, line
    assert state_document(run_cli, db) == before


# --- the baseline (SOURCES.md "Precise rules", Baseline) ------------------------------------------------------

GOOD_BASELINE = {
    "records": [
        {"id": "c1", "type": "contact", "owner": "bob", "fields": {"fullname": "Jane Doe"}},
        {"id": "t1", "type": "task", "owner": "bob", "state": "completed"},
    ],
    "items": {"alice": [{"id": "i1", "type": "contact"}], "bob": [{"id": "i2", "type": "task", "completed": True}]},
    "links": [
        {"user": "alice", "item": "i1", "record": "c1", "origin": "synced"},
        {"user": "bob", "item": "i2", "record": "t1", "origin": "tracked"},
    ],
}


def _baseline(change: dict[str, object]) -> dict[str, object]:
    document = json.loads(json.dumps(GOOD_BASELINE))
    document.update(change)
    return document


def _bad_record(**change: object) -> dict[str, object]:
    return _baseline({"records": [{**GOOD_BASELINE["records"][0], **change}, GOOD_BASELINE["records"][1]]})  # type: ignore[index]


def _bad_link(**change: object) -> dict[str, object]:
    return _baseline({"links": [{**GOOD_BASELINE["links"][0], **change}]})  # type: ignore[index]


BAD_BASELINES = [
    pytest.param(_bad_record(type="widget"), r"widget", id="unknown-type"),
    pytest.param(_bad_record(state="completed"), r"contact is active or inactive, not completed", id="state-of-type"),
    pytest.param(_bad_record(state="open"), r"open", id="unknown-state"),
    pytest.param(_bad_record(start="2026-03-10T14:00:00Z"), r"start is only for appointments", id="start-on-contact"),
    pytest.param(_bad_record(owner="carol"), r"owner: unknown user 'carol'", id="owner-undeclared"),
    pytest.param(_bad_record(shared_with=["carol"]), r"shared_with: unknown user 'carol'", id="share-undeclared"),
    pytest.param(_bad_record(shared_with=["bob"]), r"shared with its owner", id="shared-with-owner"),
    pytest.param(_baseline({"items": {"carol": []}}), r"items of 'carol'.*unknown user", id="store-undeclared"),
    pytest.param(
        _baseline({"items": {"alice": [{"id": "i1", "type": "contact", "completed": True}], "bob": []}, "links": []}),
        r"completed is only for tasks",
        id="completed-on-contact",
    ),
    pytest.param(
        _baseline({"records": [GOOD_BASELINE["records"][0]] * 2, "links": []}),  # type: ignore[index]
        r"listed twice",
        id="record-twice",
    ),
    pytest.param(_bad_link(item="nope"), r"no item 'nope'", id="link-to-unknown-item"),
    pytest.param(_bad_link(record="nope"), r"no record 'nope'", id="link-to-unknown-record"),
    pytest.param(_bad_link(record="t1"), r"a contact cannot be linked to a task", id="link-type-mismatch"),
    pytest.param(_bad_link(origin="imported"), r"origin.*imported", id="link-origin"),
    pytest.param(
        _baseline({"links": [GOOD_BASELINE["links"][0], {**GOOD_BASELINE["links"][0], "record": "c2"}]}),  # type: ignore[index]
        r"no record 'c2'|another link",
        id="item-linked-twice-unknown",
    ),
    pytest.param(
        _baseline(
            {
                "records": [*GOOD_BASELINE["records"], {"id": "c2", "type": "contact", "owner": "bob"}],  # type: ignore[misc]
                "links": [GOOD_BASELINE["links"][0], {**GOOD_BASELINE["links"][0], "record": "c2"}],  # type: ignore[index]
            }
        ),
        r"the item has another link",
        id="item-linked-twice",
    ),
    pytest.param(
        _baseline(
            {
                "items": {"alice": [{"id": "i1", "type": "contact"}, {"id": "i3", "type": "contact"}]},
                "links": [GOOD_BASELINE["links"][0], {**GOOD_BASELINE["links"][0], "item": "i3"}],  # type: ignore[index]
            }
        ),
        r"alice has another item linked to that record",
        id="user-record-linked-twice",
    ),
    pytest.param(_baseline({"at": "2026-03-02T08:00:00Z"}), r"before start", id="before-start"),
    pytest.param(_baseline({"colour": "blue"}), r"colour", id="unknown-key"),
]


def _baseline_scenario(path: Path, document: object, steps: list[str] | None = None) -> Path:
    text = yaml.safe_dump(
        {"title": "baseline", "start": START, "users": {"alice": {}, "bob": {}}, "baseline": document},
        sort_keys=False,
    )
    path.write_text(text + "steps:\n" + "".join(f"  - {step}\n" for step in steps or []))
    return path


def test_the_good_baseline_of_these_cases_is_accepted(run_cli, tmp_path):
    result = run_cli("run", _baseline_scenario(tmp_path / "good.yaml", GOOD_BASELINE, ["{do: sync, user: alice}"]))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("document", "fragment"), BAD_BASELINES)
def test_a_baseline_that_could_not_be_the_state_before_the_first_event_is_refused(
    run_cli, tmp_path, document, fragment
):
    db = tmp_path / "l.db"
    path = _baseline_scenario(tmp_path / "bad-baseline.yaml", document)
    line = assert_refused(run_cli("run", path, "--db", db), path, None, (fragment,))
    assert "baseline" in without_path(line, path)
    assert not db.exists()  # nothing appended: not even the users


def test_a_baseline_after_records_exist_is_refused_as_a_step(run_cli, tmp_path):
    step = "{do: baseline, document: " + json.dumps({**GOOD_BASELINE, "at": START}) + "}"
    path = write_scenario(tmp_path / "late.yaml", [CRM_TASK.replace("t1", "t9"), step])
    assert_refused(run_cli("run", path), path, 2, (r"already has records or items",))


def _lines(path: Path, actions: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(a) + "\n" for a in actions))
    return path


USERS_LINES = [
    {"id": "u-alice", "at": START, "do": "user.add", "user": "alice"},
    {"id": "u-bob", "at": START, "do": "user.add", "user": "bob"},
]


def test_a_baseline_as_an_action_line_imports_once_and_a_different_one_is_refused(run_cli, tmp_path):
    db = tmp_path / "l.db"
    baseline = {"do": "baseline", "document": {**GOOD_BASELINE, "at": START}}
    first = _lines(tmp_path / "first.jsonl", [*USERS_LINES, baseline])
    assert run_cli("import", first, "--db", db).returncode == 0
    again = run_cli("import", first, "--db", db)  # the same baseline (the same id: its document's hash) is skipped
    assert again.returncode == 0 and "Nothing to import" in again.stdout, again.stdout + again.stderr
    before = state_document(run_cli, db)
    other = {"do": "baseline", "document": {**_bad_record(fields={"fullname": "Jane Roe"}), "at": START}}
    refused = run_cli("import", _lines(tmp_path / "other.jsonl", [other]), "--db", db)
    assert refused.returncode == 2 and "already has records or items" in one_error_line(refused)
    assert state_document(run_cli, db) == before


def test_a_baseline_later_than_other_events_is_refused(run_cli, tmp_path):
    db = tmp_path / "l.db"
    later = [{**u, "at": "2026-03-02T10:00:00Z"} for u in USERS_LINES]
    assert run_cli("import", _lines(tmp_path / "users.jsonl", later), "--db", db).returncode == 0
    baseline = {"do": "baseline", "document": {**GOOD_BASELINE, "at": START}}
    refused = run_cli("import", _lines(tmp_path / "b.jsonl", [baseline]), "--db", db)
    assert refused.returncode == 2 and "time goes backwards" in one_error_line(refused)


def test_a_baseline_line_with_another_id_or_time_than_its_document_is_refused(run_cli, tmp_path):
    db = tmp_path / "l.db"
    document = {**GOOD_BASELINE, "at": START}
    for wrong, fragment in (({"id": "b1"}, "id must be baseline:"), ({"at": "2026-03-02T10:00:00Z"}, "at must be")):
        line = {**wrong, "do": "baseline", "document": document}
        refused = run_cli("import", _lines(tmp_path / "b.jsonl", [*USERS_LINES, line]), "--db", db)
        assert refused.returncode == 2 and fragment in one_error_line(refused), refused.stderr
