"""Real data in (SOURCES.md): every mapping row, every skip reason, both CSV headers, pages, group rows, case,
each kind of discrepancy, bad input, re-import; on data written by hand (`sources/render.py`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger
from syncledger.projections.document import state_document
from syncledger.tools.sources.errors import SourceError
from syncledger.tools.sources.importer import read_inputs, run_import
from syncledger.tools.sources.report import Report

from .sources.render import (
    ALICE,
    BOB,
    PEOPLE,
    SYNC_CLIENT,
    SYNC_USER,
    TEAM,
    csv_text,
    dv,
    guid,
    m365,
    page,
    share,
    when,
    write,
)

C1, C2, T1, A1, E1 = guid(901), guid(902), guid(903), guid(904), guid(905)
KEN = ("AAMkK1", "Ken Ito", "\\Contacts")  # bob's copy of C1, as the mailbox audit names it


def run(
    tmp: Path,
    files: dict[str, str],
    people: str = PEOPLE,
    ledger: Ledger | None = None,
    extra: list[Path] = (),  # type: ignore[assignment]
    **kw: Any,
) -> tuple[Ledger, Report]:
    """Import `files` (written here) and `extra` (paths as they are) into `ledger` (a new one by default)."""
    p = write(tmp, "people.yaml", people)
    paths = [(str(write(tmp, name, text)), None) for name, text in files.items()]
    paths += [(str(path), None) for path in extra]
    ledger = ledger if ledger is not None else Ledger()
    report = run_import(ledger, read_inputs(str(p), paths), **kw)  # type: ignore[arg-type]
    return ledger, report


def actions(ledger: Ledger) -> list[dict[str, Any]]:
    out = []
    for _, e in ledger.events():
        if isinstance(e, v.Action) and e.do not in ("user.add", "sync"):
            d = v.dump(e)
            d.pop("queued", None)
            out.append(d)
    return out


def rules(ledger: Ledger) -> list[tuple[str, str]]:
    return [(e.rule, e.at.isoformat()[11:16]) for _, e in ledger.events() if isinstance(e, v.Decided)]


def bad(tmp: Path, files: dict[str, str], people: str = PEOPLE, **kw: Any) -> str:
    ledger = Ledger()
    with pytest.raises(SourceError) as e:
        run(tmp, files, people, ledger, **kw)
    assert ledger.world.position == 0 and list(ledger.events()) == []
    assert "\n" not in str(e.value)
    return str(e.value)


def contact(n: int, record: str, at: str, owner: str = BOB, name: str = "Ken Ito", user: str = BOB) -> dict[str, Any]:
    return dv(n, 1, "contact", record, at, user, new={"fullname": name, "_ownerid_value": owner, "statecode": 0})


# ------------------------------------------------------------------------------------------ Dataverse rows


def test_a_create_row_becomes_crm_create_with_owner_fields_start_and_initial_state(tmp_path: Path) -> None:
    rows = [
        dv(
            1,
            1,
            "appointment",
            A1.upper(),
            when(4, 9),
            new={
                "subject": "QBR",
                "scheduledstart": "2026-03-10T14:00:00.1234567Z",
                "_ownerid_value": ALICE,
                "statecode": 3,
                "prioritycode": 1,
                "isonline": True,
                "description": None,
            },
        ),
        dv(
            2,
            1,
            4212,
            T1,
            when(4, 9, 1),
            new={
                "subject": "Call",
                "statecode": 2,
                "statuscode": 6,
                "name@OData.Community.Display.V1.FormattedValue": "x",
            },
        ),
        dv(3, 1, "email", E1, when(4, 9, 2), new={"subject": "Re", "_regardingobjectid_value": C1.upper()}),
        dv(4, 1, "2", C1, when(4, 9, 3), new={"fullname": "Jo", "statecode": 1}),
    ]
    ledger, report = run(tmp_path, {"a.json": page(rows)})
    got = actions(ledger)
    assert [(a["do"], a["id"]) for a in got] == [
        ("crm.create", f"dataverse:{guid(1)}"),
        ("crm.create", f"dataverse:{guid(2)}"),
        ("crm.cancel", f"dataverse:{guid(2)}/2"),
        ("crm.create", f"dataverse:{guid(3)}"),
        ("crm.create", f"dataverse:{guid(4)}"),
        ("crm.deactivate", f"dataverse:{guid(4)}/2"),
    ]
    appointment = got[0]
    assert appointment["record"] == A1 and appointment["owner"] == "alice" and appointment["actor"] == "bob"
    assert appointment["start"] == "2026-03-10T14:00:00.123456Z"  # fractions past microseconds are cut
    assert appointment["fields"] == {"subject": "QBR", "prioritycode": "1", "isonline": "true"}
    assert appointment["source"] == {"system": "dataverse", "id": guid(1), "file": "a.json", "row": 1}
    assert got[1]["type"] == "task" and got[1]["owner"] == "bob" and got[1]["fields"] == {"subject": "Call"}
    assert got[3]["regarding"] == C1 and got[4]["type"] == "contact"
    assert report.appended["crm.create"] == 4 and report.first_seen == 0


def test_an_update_row_gives_update_assign_state_in_that_order_with_numbered_ids(tmp_path: Path) -> None:
    rows = [
        contact(1, C1, when(4, 9)),
        dv(
            2,
            2,
            "contact",
            C1,
            when(4, 10),
            old={"telephone1": "1", "_ownerid_value": BOB, "statecode": 0, "jobtitle": "x"},
            new={"telephone1": "2", "_ownerid_value": ALICE, "statecode": 1},
        ),
        dv(3, 41, "contact", C1, when(4, 11), ALICE, old={"statecode": 1}, new={"statecode": 0}),
        dv(4, 1, "appointment", A1, when(4, 12), new={"subject": "Q", "scheduledstart": when(10, 14)}),
        dv(
            5,
            47,
            "appointment",
            A1,
            when(4, 13),
            old={"scheduledstart": when(10, 14)},
            new={"scheduledstart": when(11, 9)},
        ),
        dv(6, 13, "appointment", A1, when(4, 14), old={"_ownerid_value": BOB}, new={"_ownerid_value": ALICE}),
        dv(7, 3, "appointment", A1, when(4, 15), ALICE, details=None),
    ]
    ledger, _ = run(tmp_path, {"a.json": page(rows)})
    got = [(a["do"], a["id"].removeprefix("dataverse:")) for a in actions(ledger)]
    assert got[1:] == [
        ("crm.update", guid(2)),
        ("crm.assign", f"{guid(2)}/2"),
        ("crm.deactivate", f"{guid(2)}/3"),
        ("crm.activate", guid(3)),
        ("crm.create", guid(4)),
        ("crm.update", guid(5)),
        ("crm.assign", guid(6)),
        ("crm.delete", guid(7)),
    ]
    update = actions(ledger)[1]
    assert update["fields"] == {"telephone1": "2", "jobtitle": None}  # a column left out of NewValue was cleared
    # SOURCES.md: null removes the field: the state holds no `jobtitle`, not a `jobtitle` of null
    assert state_document(ledger.world)["crm"][C1]["fields"] == {"fullname": "Ken Ito", "telephone1": "2"}
    assert actions(ledger)[6]["start"] == "2026-03-11T09:00:00Z"


def test_an_e_mails_regarding_set_changed_and_cleared_by_update_rows(tmp_path: Path) -> None:
    """`_regardingobjectid_value` sets `regarding`; set to null it clears it (a `crm.update` with `regarding: ""`),
    which was once skipped as "no change", the e-mail keeping the record it no longer regarded."""
    rows = [
        contact(1, C1, when(4, 9)),
        dv(2, 1, "email", E1, when(4, 9, 1), new={"subject": "Re"}),
        dv(3, 2, "email", E1, when(4, 9, 2), old={}, new={"_regardingobjectid_value": C1.upper()}),
        dv(
            4,
            2,
            "email",
            E1,
            when(4, 9, 3),
            old={"_regardingobjectid_value": C1},
            new={"_regardingobjectid_value": None},
        ),
        dv(
            5,
            2,
            "email",
            E1,
            when(4, 9, 4),
            old={"_regardingobjectid_value": None},
            new={"_regardingobjectid_value": None},
        ),
    ]
    ledger, report = run(tmp_path, {"a.json": page(rows)})
    updates = [a for a in actions(ledger) if a["do"] == "crm.update"]
    assert [a.get("regarding") for a in updates] == [C1, ""]
    assert report.skipped["no change"] == 1  # null to null
    assert state_document(ledger.world)["crm"][E1]["regarding"] is None


def test_state_actions_of_activities_with_and_without_details(tmp_path: Path) -> None:
    t2 = guid(906)
    rows = [
        dv(1, 1, "task", T1, when(4, 9), new={"subject": "a"}),
        dv(2, 1, "task", t2, when(4, 9), new={"subject": "b"}),
        dv(3, 18, "task", T1, when(4, 10), details=None),
        dv(4, 17, "task", t2, when(4, 10), old={"statecode": 0}, new={"statecode": 2}),
        dv(5, 2, "task", T1, when(4, 11), old={"statecode": 1}, new={"statecode": 0}),  # reopened
    ]
    ledger, report = run(tmp_path, {"a.json": page(rows)})
    assert [a["do"] for a in actions(ledger)][2:] == ["crm.complete", "crm.cancel"]
    assert report.skipped == {"reopened": 1}


def test_shares_read_access_only(tmp_path: Path) -> None:
    rows = [
        contact(1, C1, when(4, 9)),
        share(2, C1, when(4, 10), ALICE, "None", "ReadAccess, WriteAccess"),
        share(3, C1, when(4, 11), ALICE, "ReadAccess,WriteAccess", "ReadAccess", action=48),  # no change
        share(4, C1, when(4, 12), TEAM, "None", "ReadAccess"),  # a team: another principal
        share(5, C1, when(4, 13), ALICE.lower(), "ReadAccess", "None", action=49),
    ]
    ledger, report = run(tmp_path, {"a.json": page(rows)})
    got = actions(ledger)
    assert [(a["do"], a.get("with")) for a in got] == [
        ("crm.create", None),
        ("crm.share", "alice"),
        ("crm.unshare", "alice"),
    ]
    assert report.skipped == {"no change": 1, "another principal": 1}


def test_every_dataverse_skip_reason_is_counted(tmp_path: Path) -> None:
    rows = [
        contact(1, C1, when(4, 9)),
        dv(2, 1, "account", guid(950), when(4, 9, 1), new={"name": "Contoso"}),
        dv(3, 64, "contact", C1, when(4, 9, 2)),  # user access audit: another operation
        dv(
            4,
            2,
            "contact",
            C1,
            when(4, 9, 3),
            details={"@odata.type": "#Microsoft.Dynamics.CRM.RelationshipAuditDetail"},
        ),
        dv(5, 1, "contact", C2, when(4, 9, 4), new={"fullname": "T", "_ownerid_value": TEAM}),
        dv(6, 2, "contact", C1, when(4, 9, 5), SYNC_USER, old={"telephone1": "1"}, new={"telephone1": "2"}),
        dv(
            7,
            2,
            "contact",
            C1,
            when(4, 9, 6),
            ALICE,
            old={"telephone1": "1"},
            new={"telephone1": "2"},
            caller=SYNC_USER.upper(),
        ),
        dv(
            8, 2, "contact", C1, when(4, 9, 7), old={"fullname": "Ken Ito", "x": 1}, new={"fullname": "Ken Ito", "x": 1}
        ),
    ]
    _, report = run(tmp_path, {"a.json": page(rows)})
    assert report.document()["skipped"] == {
        "another table": 1,
        "another operation": 1,
        "another detail type": 1,
        "another principal": 1,
        "made by synchronisation": 2,
        "no change": 1,
    }
    assert report.rows == 8 and report.appended["crm.create"] == 1


def test_unknown_records_are_bad_input_or_counted_with_the_option(tmp_path: Path) -> None:
    rows = [dv(n, 2, "contact", C1, when(4, 9 + n), old={"a": "1"}, new={"a": str(n + 1)}) for n in range(1, 4)]
    message = bad(tmp_path, {"a.json": page(rows)})
    assert f"row 1: record '{C1}' is not in the ledger" in message and "(3 rows name it)" in message
    assert "--skip-unknown-records" in message
    _, report = run(tmp_path, {"a.json": page(rows)}, skip_unknown_records=True)
    assert report.skipped == {"unknown record": 3} and sum(report.appended.values()) == 0


# ------------------------------------------------------------------------------------------ Microsoft 365 rows


@pytest.mark.parametrize("header", ["purview", "powershell"])
def test_both_csv_headers_with_a_bom_and_a_type_line(tmp_path: Path, header: str) -> None:
    rows = [
        m365(1, "Create", "alice@contoso.com", when(4, 9), [("RgAAAAx1", "Lunch", "\\Calendar")]),
        m365(2, "Create", "ALICE@contoso.com", when(4, 9, 1), [("AAMkC1", "Jo", "\\Contacts\\Work")]),
        m365(3, "Create", "alice@contoso.com", when(4, 9, 2), [("AAMkT1", "Do it", "\\Tasks")]),
        m365(4, "Create", "alice@contoso.com", when(4, 9, 3), [("AAMkE1", "Hi", "\\Inbox")]),
        m365(5, "UserLoggedIn", "alice@contoso.com", when(4, 9, 4), record_type=15),
        m365(6, "MailItemsAccessed", "alice@contoso.com", when(4, 9, 5), [("AAMkE1", "Hi", "\\Inbox")], record_type=50),
        m365(7, "Send", "alice@contoso.com", when(4, 9, 6), [("AAMkE1", "Hi", "\\Inbox")]),
    ]
    rows[3]["RecordType"] = "ExchangeItem"  # some exports name the record type
    ledger, report = run(tmp_path, {"m.csv": csv_text(rows, header, bom=True, type_line=header == "powershell")})
    got = actions(ledger)
    assert [(a["type"], a["item"], a["fields"]) for a in got] == [
        ("appointment", "RgAAAAx1", {"subject": "Lunch"}),
        ("contact", "AAMkC1", {"subject": "Jo"}),
        ("task", "AAMkT1", {"subject": "Do it"}),
        ("email", "AAMkE1", {"subject": "Hi"}),
    ]
    assert got[0]["id"] == "m365:6a1b2c3d-0000-4000-8000-000000000001"  # GUIDs lower-cased, item ids as written
    assert got[0]["source"] == {
        "system": "m365",
        "id": "6a1b2c3d-0000-4000-8000-000000000001",
        "file": "m.csv",
        "row": 1,
        "logon_type": 0,
    }
    assert report.skipped == {"another record type": 2, "another operation": 1}
    assert report.document()["files"] == [{"name": "m.csv", "kind": "m365", "rows": 7, "incomplete": False}]


def test_updates_deletions_first_seen_and_later_stages(tmp_path: Path) -> None:
    inbox = "\\Inbox"
    rows = [
        m365(1, "Update", "alice@contoso.com", when(4, 9), [("AAMkE1", "Hi", inbox)], modified=["Subject", "Body"]),
        m365(2, "MoveToDeletedItems", "alice@contoso.com", when(4, 10), [("AAMkE1", "Hi", inbox)]),
        m365(3, "SoftDelete", "alice@contoso.com", when(4, 11), [("AAMkE1", "Hi", "\\Deleted Items")]),
        m365(4, "Update", "alice@contoso.com", when(4, 12), [("AAMkE1", "Hi", "\\Deleted Items")], modified=["Body"]),
        m365(5, "HardDelete", "alice@contoso.com", when(4, 13), [("AAMkOld", "Old", "\\Deleted Items")]),
        m365(
            6,
            "HardDelete",
            "alice@contoso.com",
            when(4, 14),
            [("AAMkE2", "x", inbox), ("AAMkE3", "y", inbox)],
            group=True,
        ),
    ]
    ledger, report = run(tmp_path, {"m.csv": csv_text(rows)})
    got = actions(ledger)
    first = "m365:6a1b2c3d-0000-4000-8000-000000000001"
    assert [(a["do"], a["id"]) for a in got] == [
        ("outlook.create", f"{first}/seen"),
        ("outlook.update", first),
        ("outlook.delete", "m365:6a1b2c3d-0000-4000-8000-000000000002"),
    ]
    assert got[0]["source"]["first_seen"] is True and got[0]["type"] == "email"
    assert got[1]["changed"] == ["Subject", "Body"] and got[1]["fields"] == {}
    assert report.first_seen == 1
    assert report.skipped == {
        "later stage of a deletion": 1,
        "item already deleted by its user": 1,
        "deleted before the window": 3,  # the group row's two items each
    }


def test_group_rows_give_one_action_per_item_with_numbered_ids(tmp_path: Path) -> None:
    items = [("AAMkE1", "a", "\\Inbox"), ("AAMkE2", "b", "\\Inbox"), ("AAMkE3", "c", "\\Inbox")]
    rows = [m365(n, "Create", "bob@contoso.com", when(4, 9), [it]) for n, it in enumerate(items, 1)]
    rows.append(m365(9, "MoveToDeletedItems", "bob@contoso.com", when(4, 10), items))
    ledger, _ = run(tmp_path, {"m.csv": csv_text(rows)})
    deletes = [a for a in actions(ledger) if a["do"] == "outlook.delete"]
    base = "m365:6a1b2c3d-0000-4000-8000-000000000009"
    assert [(a["id"], a["item"]) for a in deletes] == [
        (base, "AAMkE1"),
        (f"{base}/2", "AAMkE2"),
        (f"{base}/3", "AAMkE3"),
    ]


def test_mailboxes_the_file_does_not_name(tmp_path: Path) -> None:
    rows = [m365(1, "Create", "carol@contoso.com", when(4, 9), [("AAMkE1", "a", "\\Inbox")])] * 2
    message = bad(tmp_path, {"m.csv": csv_text(rows)})
    assert message.startswith(
        f"{tmp_path / 'm.csv'} row 1: unknown mailbox 'carol@contoso.com' in 2 rows (first: m.csv row 1)"
    )
    _, report = run(tmp_path, {"m.csv": csv_text(rows)}, people=PEOPLE + "others: skip\n")
    assert report.skipped == {"unnamed mailbox": 2}


def test_unknown_crm_users_are_named_with_their_rows(tmp_path: Path) -> None:
    stranger = "1B2E0000-0000-4000-8000-000000000000"
    rows = [
        contact(1, C1, when(4, 9)),
        *[dv(n, 2, "contact", C1, when(4, 10 + n), stranger, old={"a": "1"}, new={"a": "2"}) for n in (2, 3)],
    ]
    message = bad(tmp_path, {"a.json": page(rows)})
    assert (
        "row 2: unknown CRM user '1b2e0000-0000-4000-8000-000000000000' in 2 rows (first: a.json row 2): "
        "add it to people.yaml" in message
    )


def test_a_name_with_spaces_or_a_line_break_in_it_is_named_at_its_row_and_said_why(tmp_path: Path) -> None:
    """A user GUID people.yaml has but for a space around it is said to be there; one with a line break in it (the
    file holds it escaped, so a search of the rows' text missed it) is still named at its row, not "in 0 rows" of
    people.yaml."""
    spaced = bad(tmp_path, {"a.json": page([contact(1, C1, when(4, 9), user=BOB + " ")])})
    assert f"unknown CRM user '{BOB}' in 1 row (first: a.json row 1)" in spaced
    assert f"(people.yaml has '{BOB}': the row's value has spaces or line breaks in it)" in spaced
    broken = bad(tmp_path, {"a.json": page([contact(1, C1, when(4, 9), user="abc\ndef")])})
    assert broken.startswith(
        f"{tmp_path / 'a.json'} row 1: unknown CRM user 'abc\\ndef' in 1 row (first: a.json row 1)"
    )
    assert "people.yaml has" not in broken


def test_sync_client_creates_become_aliases_of_the_copies_filter_create_made(tmp_path: Path) -> None:
    rows = [contact(1, C1, when(4, 9))]
    mails = [
        # logged at 09:05, before the sync inferred at 09:05 made the copy: matched within one cycle
        m365(1, "Create", "bob@contoso.com", when(4, 9, 5), [("AAMkK1", "Ken Ito", "\\Contacts")], client=SYNC_CLIENT),
        m365(2, "Create", "bob@contoso.com", when(4, 9, 6), [("AAMkK2", "Nobody", "\\Contacts")], client=SYNC_CLIENT),
        m365(3, "Update", "bob@contoso.com", when(4, 11), [("AAMkK1", "Ken Ito", "\\Contacts")], modified=["Email1"]),
    ]
    ledger, report = run(tmp_path, {"a.json": page(rows), "m.csv": csv_text(mails)})
    alias = [a for a in actions(ledger) if a["do"] == "alias"]
    assert alias == [{**alias[0], "user": "bob", "item": C1, "alias": "AAMkK1"}]
    update = [a for a in actions(ledger) if a["do"] == "outlook.update"]
    assert update[0]["item"] == C1  # the alias names the copy
    assert report.aliases == 1 and report.skipped == {"made by synchronisation (unmatched)": 1}


def test_an_alias_an_earlier_import_recorded_names_the_copy_in_the_next_one(tmp_path: Path) -> None:
    """The next window's export is another command: the alias recorded by the first still names the copy (the
    ledger knows aliases from its events, not from the command that recorded them)."""
    first = {
        "a.json": page([contact(1, C1, when(4, 9))]),
        "m.csv": csv_text([m365(1, "Create", "bob@contoso.com", when(4, 9, 5), [KEN], client=SYNC_CLIENT)]),
    }
    ledger, report = run(tmp_path, first)
    assert report.aliases == 1 and ledger.world.users["bob"].aliases == {"AAMkK1": C1}
    update = m365(2, "Update", "bob@contoso.com", when(4, 11), [("AAMkK1", "Ken Ito", "\\Contacts")], modified=["Body"])
    second = {"m2.csv": csv_text([update])}
    _, again = run(tmp_path, second, ledger=ledger)
    got = [a for a in actions(ledger) if a["do"] == "outlook.update"]
    assert [(a["item"], a["changed"]) for a in got] == [(C1, ["Body"])]
    assert again.first_seen == 0 and again.aliases == 0


def test_a_copy_an_earlier_import_made_without_an_alias_takes_a_later_row_s_id(tmp_path: Path) -> None:
    """A copy FILTER-CREATE made in the first command, whose creation the mailbox audit did not log: a row of the
    next command about an item id never seen, of the one such copy with that label, names it (once)."""
    rows = [
        contact(1, C1, when(4, 9)),
        contact(2, C2, when(4, 9, 10), name="Jo"),
        dv(3, 1, "account", guid(950), when(4, 9, 20), new={"name": "Contoso"}),  # skipped: the window goes on
    ]
    ledger, report = run(tmp_path, {"a.json": page(rows)})
    sync = [e for _, e in ledger.events() if isinstance(e, v.Decided) and e.rule == "FILTER-CREATE"]
    assert report.aliases == 0 and len(sync) == 2 and ledger.world.users["bob"].copies.keys() == {C1, C2}
    rows = [
        m365(3, "Update", "bob@contoso.com", when(4, 11), [("AAMkK9", "Ken Ito", "\\Contacts")], modified=["Body"]),
        m365(4, "Update", "bob@contoso.com", when(4, 12), [("AAMkK9", "Ken Ito", "\\Contacts")], modified=["Email1"]),
        m365(5, "Update", "bob@contoso.com", when(4, 13), [("AAMkK8", "Ken Ito", "\\Contacts")], modified=["Body"]),
    ]
    _, again = run(tmp_path, {"m.csv": csv_text(rows)}, ledger=ledger)
    assert again.aliases == 1 and ledger.world.users["bob"].aliases == {"AAMkK9": C1}
    assert ledger.world.users["bob"].copies.keys() == {C2}
    got = [(a["do"], a["item"], a["id"][-8:]) for a in actions(ledger) if a["do"].startswith(("outlook.", "alias"))]
    assert got == [
        ("alias", C1, "03/alias"),
        ("outlook.update", C1, "00000003"),
        ("outlook.update", C1, "00000004"),  # the alias again: no second one
        ("outlook.create", "AAMkK8", "005/seen"),  # C1 has its alias: AAMkK8 is an item first seen
        ("outlook.update", "AAMkK8", "00000005"),
    ]


def test_the_ledger_s_aliases_are_the_fold_of_its_events_through_checkpoints(tmp_path: Path) -> None:
    """Aliases and alias-less copies live in the world folded from the events: a world read back through
    checkpoints (full and deltas) equals the fold from zero."""
    from syncledger.projections.reader import open_reader
    from tests.reference import world_at

    location = str(tmp_path / "l.db")
    reader = open_reader(location, checkpoint_every=3)
    rows = [contact(n, guid(900 + n), when(4, 9, n), name=f"P{n}") for n in range(1, 6)]
    mails = [
        m365(n, "Create", "bob@contoso.com", when(4, 9, 5), [(f"AAMkP{n}", f"P{n}", "\\Contacts")], client=SYNC_CLIENT)
        for n in (1, 3)
    ]
    mails.append(m365(9, "HardDelete", "bob@contoso.com", when(4, 10), [("AAMkP1", "P1", "\\Contacts")]))
    run(tmp_path, {"a.json": page(rows), "m.csv": csv_text(mails)}, ledger=reader.ledger)
    assert len(reader.projector.models.checkpoints()) > 3
    for position in range(1, reader.ledger.world.position + 1):
        through = reader.world_at(position)
        assert through == world_at(reader.ledger.store, position), position
        assert (
            through.users.get("bob") is None
            or through.users["bob"].aliases == world_at(reader.ledger.store, position).users["bob"].aliases
        )
    bob = reader.world_at(reader.ledger.world.position).users["bob"]
    assert bob.aliases == {"AAMkP1": guid(901), "AAMkP3": guid(903)}  # P1's copy is deleted; its alias stays
    assert set(bob.copies) == {guid(902), guid(904), guid(905)}


def test_references_and_extract_resolve_an_alias_an_earlier_import_recorded(tmp_path: Path, run_cli: Any) -> None:
    people = write(tmp_path, "people.yaml", PEOPLE)
    created = m365(1, "Create", "bob@contoso.com", when(4, 9, 5), [KEN], client=SYNC_CLIENT)
    write(tmp_path, "a.json", page([contact(1, C1, when(4, 9))]))
    write(tmp_path, "m1.csv", csv_text([created]))
    update = m365(2, "Update", "bob@contoso.com", when(4, 11), [("AAMkK1", "Ken Ito", "\\Contacts")], modified=["Body"])
    write(tmp_path, "m2.csv", csv_text([update]))
    db = tmp_path / "l.db"
    for files in (["a.json", "m1.csv"], ["m2.csv"]):
        done = run_cli("import", "--people", people, *(tmp_path / f for f in files), "--db", db)
        assert done.returncode == 0, done.stderr
    for ref in ("outlook:bob/AAMkK1", "outlook:bob/AAMk"):
        why = run_cli("why", ref, "--json", "--db", db)
        assert why.returncode == 0, why.stderr
        assert json.loads(why.stdout)["ref"] == f"outlook:bob/{C1}"
        history = run_cli("history", ref, "--db", db)
        assert history.returncode == 0 and "AAMkK1" in history.stdout and "Body" in history.stdout
    scenario = run_cli("extract", "outlook:bob/AAMkK1", "--db", db)
    assert scenario.returncode == 0, scenario.stderr
    assert "do: alias" in scenario.stdout and "outlook.update" in scenario.stdout
    # the item is expected under its id; its alias is another name of it, not an absent item of its own
    expect = yaml.safe_load(scenario.stdout)["expect"]
    assert set(expect["outlook"]["bob"]) == {C1} and f"outlook:bob/{C1}" in expect["why"]
    assert not any("AAMkK1" in ref for ref in expect["why"])
    path = write(tmp_path, "ticket.yaml", scenario.stdout)
    ran = run_cli("run", path)
    assert ran.returncode == 0, ran.stdout + ran.stderr


# ------------------------------------------------------------------------------------------ files and merge


def test_pages_merge_by_time_and_a_next_link_marks_the_export_incomplete(tmp_path: Path) -> None:
    one = page(
        [contact(1, C1, when(4, 9)), dv(3, 2, "contact", C1, when(4, 11), old={"a": "1"}, new={"a": "3"})],
        next_link=True,
    )
    two = page([dv(2, 2, "contact", C1, when(4, 10), old={"a": "0"}, new={"a": "1"})])
    ledger, report = run(tmp_path, {"p1.json": one, "p2.json": two})
    assert [a["id"][-2:] for a in actions(ledger)] == ["01", "02", "03"]
    assert [f["incomplete"] for f in report.document()["files"]] == [True, False]
    assert report.document()["window"] == ["2026-03-04T09:00:00Z", "2026-03-04T11:00:00Z"]


def test_syncs_are_inferred_at_the_first_boundary_strictly_after_and_not_after_the_last_row(tmp_path: Path) -> None:
    rows = [
        contact(1, C1, when(4, 9, 5)),  # exactly at bob's boundary: decided at the next one, 09:10
        dv(2, 2, "contact", C1, when(4, 9, 30), old={"a": "0"}, new={"a": "1"}),
        dv(3, 2, "contact", C1, when(4, 9, 31), old={"a": "1"}, new={"a": "2"}),  # pending at the end
    ]
    ledger, report = run(tmp_path, {"a.json": page(rows)})
    syncs = [(e.id, e.source) for _, e in ledger.events() if isinstance(e, v.SyncRequested)]
    assert syncs == [("inferred:bob@2026-03-04T09:10:00Z", {"system": "inferred", "cycle": "5m"})]
    assert report.syncs_inferred == 1 and report.pending_at_end == {"bob": 2}


def test_action_lines_in_the_same_command_take_part(tmp_path: Path) -> None:
    lines = "\n".join(
        json.dumps(line)
        for line in [
            {"id": "x1", "at": when(4, 9, 2), "do": "sync", "user": "bob"},
        ]
    )
    rows = [contact(1, C1, when(4, 9))]
    ledger, report = run(tmp_path, {"a.json": page(rows), "b.jsonl": lines})
    assert [e.id for _, e in ledger.events() if isinstance(e, v.SyncRequested)] == ["x1"]
    assert report.syncs_inferred == 0


def test_importing_again_appends_nothing_and_convert_reimports_to_the_same_ledger(tmp_path: Path, run_cli: Any) -> None:
    rows = [contact(1, C1, when(4, 9)), dv(2, 2, "contact", C1, when(4, 10), old={"a": "0"}, new={"a": "1"})]
    files = {
        "a.json": page(rows),
        "m.csv": csv_text(
            [m365(1, "Update", "alice@contoso.com", when(4, 11), [("AAMkE1", "Hi", "\\Inbox")], modified=["Body"])]
        ),
    }
    ledger, first = run(tmp_path, files)
    before = ledger.world.position
    _, again = run(tmp_path, files, ledger=ledger)
    assert ledger.world.position == before and sum(again.appended.values()) == 0
    assert again.skipped == {"duplicate": 3}  # 2 Dataverse rows, one m365 row (its /seen is not judged again)
    people = write(tmp_path, "people.yaml", PEOPLE)
    converted = run_cli("convert", "--people", people, tmp_path / "a.json", tmp_path / "m.csv")
    assert converted.returncode == 0, converted.stderr
    lines = write(tmp_path, "c.jsonl", converted.stdout)
    assert run_cli("import", lines, "--db", tmp_path / "c.db").returncode == 0
    state = json.loads(run_cli("state", "--json", "--db", tmp_path / "c.db").stdout)
    mine = json.loads(json.dumps(state_document(ledger.world)))
    assert state["crm"] == mine["crm"] and state["outlook"] == mine["outlook"] and state["pending"] == mine["pending"]


# ------------------------------------------------------------------------------------------ discrepancies


def _discrepancies(ledger: Ledger) -> list[v.DiscrepancyFound]:
    return [e for _, e in ledger.events() if isinstance(e, v.DiscrepancyFound)]


BASELINE = {
    "at": when(1, 0),
    "records": [
        {"id": C2.upper(), "type": "contact", "owner": "alice", "state": "active", "fields": {"fullname": "Linda"}},
        {"id": T1, "type": "task", "owner": "bob", "fields": {"subject": "Send"}},
    ],
    "items": {
        "alice": [{"id": "AAMkL1", "type": "contact", "fields": {"fullname": "Linda"}}],
        "bob": [{"id": "AAMkT1", "type": "task", "fields": {"subject": "Send"}}],
    },
    "links": [
        {"user": "alice", "item": "AAMkL1", "record": C2, "origin": "synced"},
        {"user": "bob", "item": "AAMkT1", "record": T1, "origin": "synced"},
    ],
}


def test_an_edit_and_a_deletion_of_an_item_a_sync_deleted_are_discrepancies(tmp_path: Path) -> None:
    rows = [dv(1, 13, "contact", C2, when(5, 10), ALICE, old={"_ownerid_value": ALICE}, new={"_ownerid_value": BOB})]
    mails = [
        m365(1, "Update", "alice@contoso.com", when(5, 10, 20), [("AAMkL1", "Linda", "\\Contacts")], modified=["Body"]),
        m365(2, "MoveToDeletedItems", "alice@contoso.com", when(5, 10, 30), [("AAMkL1", "Linda", "\\Contacts")]),
        m365(3, "SoftDelete", "alice@contoso.com", when(5, 10, 40), [("AAMkL1", "Linda", "\\Deleted Items")]),
    ]
    files = {"b.json": json.dumps(BASELINE), "a.json": page(rows), "m.csv": csv_text(mails)}
    ledger, report = run(tmp_path, files)
    found = _discrepancies(ledger)
    assert [(d.action["do"], d.decision.rule if d.decision else None) for d in found] == [
        ("outlook.update", "FILTER-LEAVE-SYNCED"),
        ("outlook.delete", "FILTER-LEAVE-SYNCED"),
    ]
    assert found[0].row == v.RowRef(file="m.csv", row=1, id="m365:6a1b2c3d-0000-4000-8000-000000000001")
    assert found[0].decision is not None and found[0].decision.at.isoformat()[11:16] == "10:15"
    assert "deleted" in found[0].refusal
    assert report.discrepancies == 2 and report.skipped == {"later stage of a deletion": 1}
    assert state_document(ledger.world)["outlook"]["alice"] == {}  # a discrepancy changes nothing


def test_an_update_of_a_record_a_sync_deleted_and_a_state_a_decision_set(tmp_path: Path) -> None:
    rows = [
        contact(1, C1, when(4, 9)),
        dv(2, 2, "contact", C1, when(4, 10, 30), ALICE, old={"a": "1"}, new={"a": "2"}),
        dv(3, 18, "task", T1, when(4, 11, 30), details=None),
    ]
    mails = [
        m365(1, "Create", "bob@contoso.com", when(4, 9, 5), [("AAMkK1", "Ken Ito", "\\Contacts")], client=SYNC_CLIENT),
        m365(2, "MoveToDeletedItems", "bob@contoso.com", when(4, 10), [("AAMkK1", "Ken Ito", "\\Contacts")]),
    ]
    line = json.dumps({"id": "done", "at": when(4, 11), "do": "outlook.complete", "user": "bob", "item": "AAMkT1"})
    files = {"b.json": json.dumps(BASELINE), "a.json": page(rows), "m.csv": csv_text(mails), "l.jsonl": line}
    ledger, report = run(tmp_path, files)
    found = _discrepancies(ledger)
    assert [(d.action["do"], d.decision.rule if d.decision else None) for d in found] == [
        ("crm.update", "SSS-CONTACT-DEL-EXCHANGE-OWNER"),
        ("crm.complete", "SSS-EXCHANGE-EDIT-PUSH"),
    ]
    assert found[0].id == f"dataverse:{guid(2)}"  # the id the row's action would have had
    assert report.discrepancies == 2


def test_a_row_the_synchronisation_made_that_no_rule_made_is_a_discrepancy(tmp_path: Path) -> None:
    rows = [
        dv(1, 18, "task", T1, when(4, 9), SYNC_USER, details=None),  # the task is active in the ledger
        dv(2, 2, "task", T1, when(4, 9, 1), SYNC_USER, old={"subject": "Send"}, new={"subject": "Sent"}),
        dv(3, 3, "contact", C2, when(4, 9, 2), SYNC_USER, details=None),
    ]
    # a Create the synchronisation made of a record the ledger does not have: its existence, which no rule made;
    # one of a record the ledger has (a track, say, made it too) is skipped
    c3 = guid(906)
    rows.append(dv(4, 1, "contact", c3, when(4, 9, 3), SYNC_USER, new={"fullname": "Ann", "_ownerid_value": BOB}))
    rows.append(dv(5, 1, "task", T1, when(4, 9, 4), SYNC_USER, new={"subject": "Send", "_ownerid_value": BOB}))
    ledger, report = run(tmp_path, {"b.json": json.dumps(BASELINE), "a.json": page(rows)})
    found = _discrepancies(ledger)
    assert [(d.action["do"], d.decision) for d in found] == [
        ("crm.complete", None),
        ("crm.delete", None),
        ("crm.create", None),
    ]
    assert "the rules did not" in found[0].refusal
    assert found[2].refusal == f"the synchronisation created record '{c3}'; the rules did not"
    assert report.skipped == {"made by synchronisation": 2}
    assert state_document(ledger.world)["crm"][T1]["state"] == "active"
    assert c3 not in ledger.world.records  # a discrepancy changes nothing


# ------------------------------------------------------------------------------------------ bad input


def test_bad_input_is_one_line_naming_file_and_row_and_appends_nothing(tmp_path: Path) -> None:
    good = page([contact(1, C1, when(4, 9))])
    assert "is not valid JSON" in bad(tmp_path, {"a.json": good, "b.json": '{"value": [1,'})
    missing = dv(2, 2, "contact", C1, when(4, 10), old={"a": "1"}, new={"a": "2"})
    del missing["_objectid_value"]
    assert "b.json row 1: _objectid_value is missing" in bad(tmp_path, {"a.json": good, "b.json": page([missing])})
    assert "row 1: details" not in bad(tmp_path, {"b.json": page([dv(2, 2, "contact", C1, when(4, 10), details=None)])})
    no_time = dv(3, 1, "contact", C1, "yesterday")
    assert "b.json row 1: createdon 'yesterday' is not an ISO 8601 time" in bad(tmp_path, {"b.json": page([no_time])})
    broken = dv(3, 1, "contact", C1, "2026-03-04\n09:00:00Z")  # Python's reader takes any character there
    assert "createdon '2026-03-04\\n09:00:00Z' is not an ISO 8601 time" in bad(tmp_path, {"b.json": page([broken])})
    broken = "CreationDate,UserIds,Operations,AuditData\r\n2026-03-04,x,Create,{not json\r\n"
    assert "m.csv row 1: AuditData is not valid JSON" in bad(tmp_path, {"a.json": good, "m.csv": broken})
    assert "is of no known kind" in bad(tmp_path, {"a.json": good, "x.txt": "hello\n"})
    later = {**BASELINE, "at": when(5, 0)}
    assert "is earlier than the baseline" in bad(tmp_path, {"b.json": json.dumps(later), "a.json": good})
    assert "unknown key 'colour'" in bad(tmp_path, {"a.json": good}, people=PEOPLE.replace("sync_method", "colour"))


def test_a_different_baseline_or_a_changed_row_is_refused_after_an_import(tmp_path: Path) -> None:
    rows = [contact(1, C1, when(4, 9))]
    ledger, _ = run(tmp_path, {"b.json": json.dumps(BASELINE), "a.json": page(rows)})
    position = ledger.world.position
    other = {**BASELINE, "records": BASELINE["records"][:1], "links": BASELINE["links"][:1]}
    other["items"] = {"alice": BASELINE["items"]["alice"]}
    with pytest.raises(SourceError, match="already has records or items"):
        run(tmp_path, {"b.json": json.dumps(other)}, ledger=ledger)
    changed = [contact(1, C1, when(4, 9), name="Ken Itō")]
    with pytest.raises(
        SourceError,
        match=r"a.json row 1: id 'dataverse:.*' is already in the ledger with different content \(fields differ\)",
    ):
        run(tmp_path, {"a.json": page(changed)}, ledger=ledger)
    assert ledger.world.position == position


def test_a_user_the_ledger_has_with_other_options_is_refused(tmp_path: Path) -> None:
    ledger = Ledger()
    ledger.append(
        [
            v.UserAdded(
                do="user.add",
                user="alice",
                sync_filter="owned_and_shared",
                at=v.representable(__import__("datetime").datetime(2026, 3, 1, tzinfo=__import__("datetime").UTC)),
            )
        ]
    )
    with pytest.raises(SourceError, match="change it with `option` first"):
        run(tmp_path, {"a.json": page([contact(1, C1, when(4, 9))])}, ledger=ledger)


def test_details_are_optional_where_the_action_says_enough_and_actions_may_be_text(tmp_path: Path) -> None:
    rows = [
        contact(1, C1, when(4, 9)),
        {**dv(2, 5, "contact", C1, when(4, 10), details=None), "action": "5"},  # Deactivate, its code as text
        dv(3, 41, "contact", C1, when(4, 11), details=None),  # SetState without values: nothing to read
    ]
    ledger, report = run(tmp_path, {"a.json": page(rows)})
    assert [a["do"] for a in actions(ledger)] == ["crm.create", "crm.deactivate"]
    assert report.skipped == {"no change": 1}


# ------------------------------------------------------------------------------------------ rule 0: duplicates


def _refused_after(tmp: Path, ledger: Ledger, files: dict[str, str], fragment: str, where: str) -> None:
    """The command is refused whole: one line naming the file, the row and what differs; nothing appended."""
    position = ledger.world.position
    with pytest.raises(SourceError) as e:
        run(tmp, files, ledger=ledger)
    message = str(e.value)
    assert "\n" not in message and where in message and "with different content" in message, message
    assert fragment in message, message
    assert ledger.world.position == position


def _mailbox_rows() -> list[dict[str, Any]]:
    inbox = "\\Inbox"
    return [
        m365(1, "Create", "alice@contoso.com", when(4, 9), [("AAMkE1", "Hi", inbox)]),
        m365(2, "Update", "alice@contoso.com", when(4, 10), [("AAMkE1", "Hi", inbox)], modified=["Body"]),
        m365(3, "Update", "alice@contoso.com", when(4, 10, 1), [("AAMkE2", "Yo", inbox)], modified=["Body"]),
        m365(4, "MoveToDeletedItems", "alice@contoso.com", when(4, 11), [("AAMkE1", "Hi", inbox)]),
        m365(5, "Create", "bob@contoso.com", when(4, 9, 5), [KEN], client=SYNC_CLIENT),
        m365(6, "Update", "bob@contoso.com", when(4, 12), [KEN], modified=["Email1"]),
    ]


def test_a_mailbox_row_held_with_the_same_content_is_a_duplicate_wherever_it_is_read(tmp_path: Path) -> None:
    """Each kind of action a mailbox row gives (create, update, first seen, delete, an alias, an edit of an
    aliased copy): read again, even from another file at another row (the next window's overlapping export),
    it is counted as a duplicate and appends nothing."""
    rows = _mailbox_rows()
    files = {"a.json": page([contact(1, C1, when(4, 9))]), "m.csv": csv_text(rows)}
    ledger, first = run(tmp_path, files)
    assert first.aliases == 1 and first.first_seen == 1
    position = ledger.world.position
    _, again = run(tmp_path, {"overlap.csv": csv_text([rows[5], *rows[:5]])}, ledger=ledger)
    assert again.skipped == {"duplicate": 6} and sum(again.appended.values()) == 0
    assert ledger.world.position == position


@pytest.mark.parametrize(
    ("n", "change", "fragment"),
    [
        (1, {"Item": {"Id": "AAMkE1", "Subject": "Hello", "ParentFolder": {"Path": "\\Inbox"}}}, "(fields differ)"),
        (1, {"Item": {"Id": "AAMkE1", "Subject": "Hi", "ParentFolder": {"Path": "\\Calendar"}}}, "(type differ)"),
        (2, {"ModifiedProperties": ["Subject"]}, "(changed differ)"),
        (2, {"LogonType": 1}, "(source differ)"),
        (2, {"MailboxOwnerUPN": "bob@contoso.com"}, "user"),
        (2, {"CreationTime": "2026-03-04T10:30:00"}, "(at differ)"),
        (4, {"Operation": "Update"}, "(do"),
        (4, {"Operation": "Send"}, "(another operation)"),
        (4, {"RecordType": 15}, "(another record type)"),
        (4, {"MailboxOwnerUPN": "carol@contoso.com"}, "(unnamed mailbox)"),
        (5, {"Item": {"Id": "AAMkK2", "Subject": "Ken Ito", "ParentFolder": {"Path": "\\Contacts"}}}, "(alias differ)"),
        (5, {"ClientInfoString": "Client=MSExchangeRPC"}, "(do, "),
        (6, {"Item": {"Id": "AAMkK3", "Subject": "Ken Ito", "ParentFolder": {"Path": "\\Contacts"}}}, "(item differ)"),
    ],
)
def test_a_mailbox_row_held_with_other_content_is_refused(
    tmp_path: Path, n: int, change: dict[str, Any], fragment: str
) -> None:
    rows = _mailbox_rows()
    files = {"a.json": page([contact(1, C1, when(4, 9))]), "m.csv": csv_text(rows)}
    ledger, _ = run(tmp_path, files, people=PEOPLE + "others: skip\n")
    changed = {**rows[n - 1], **change}
    if "Item" in change:
        changed["Item"]["ParentFolder"]["Id"] = "LgAA"
    _refused_after(tmp_path, ledger, {"later.csv": csv_text([rows[0], changed])}, fragment, "later.csv row 2: ")


def test_a_dataverse_row_held_with_the_same_content_is_a_duplicate_wherever_it_is_read(tmp_path: Path) -> None:
    rows = [
        contact(1, C1, when(4, 9)),
        dv(
            2,
            2,
            "contact",
            C1,
            when(4, 10),
            old={"a": "1", "_ownerid_value": BOB},
            new={"a": "2", "_ownerid_value": ALICE},
        ),
        share(3, C1, when(4, 11), BOB, "None", "ReadAccess", user=ALICE),
    ]
    ledger, first = run(tmp_path, {"a.json": page(rows)})
    assert first.appended["crm.assign"] == 1 and first.appended["crm.share"] == 1
    position = ledger.world.position
    _, again = run(tmp_path, {"audits-next.json": page([rows[2], rows[1]])}, ledger=ledger)
    assert again.skipped == {"duplicate": 2} and ledger.world.position == position


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"new": {"a": "3", "_ownerid_value": ALICE}}, "(fields differ)"),  # the row's first action
        ({"new": {"a": "2", "_ownerid_value": BOB.upper()}, "old": {"a": "1", "_ownerid_value": ALICE}}, "(to differ)"),
        ({"new": {"a": "1", "_ownerid_value": BOB}}, "(no change)"),  # held, now a row that gives nothing
        ({"user": SYNC_USER}, "(made by synchronisation)"),
        ({"at": when(4, 10, 30)}, "(at differ)"),
    ],
)
def test_a_dataverse_row_held_with_other_content_is_refused(
    tmp_path: Path, change: dict[str, Any], fragment: str
) -> None:
    """Every action a row gave is compared, the second (`/2`) as much as the first."""
    old = {"a": "1", "_ownerid_value": BOB}
    rows = [
        contact(1, C1, when(4, 9)),
        dv(2, 2, "contact", C1, when(4, 10), old=old, new={"a": "2", "_ownerid_value": ALICE}),
    ]
    ledger, _ = run(tmp_path, {"a.json": page(rows)})
    kw = {"old": old, "new": {"a": "2", "_ownerid_value": ALICE}, "user": BOB, "at": when(4, 10), **change}
    changed = dv(2, 2, "contact", C1, kw.pop("at"), kw.pop("user"), **kw)
    _refused_after(tmp_path, ledger, {"b.json": page([changed])}, fragment, "b.json row 1: ")


def test_a_baseline_held_is_a_duplicate_and_another_is_refused(tmp_path: Path) -> None:
    """A baseline's id hashes its document: the same document again is a duplicate, counted; another one into a
    ledger that has records or items is refused, one line naming its file, and nothing is appended."""
    ledger, first = run(tmp_path, {"b.json": json.dumps(BASELINE), "a.json": page([contact(1, C1, when(4, 9))])})
    position = ledger.world.position
    _, again = run(tmp_path, {"baseline-copy.json": json.dumps(BASELINE, indent=2)}, ledger=ledger)
    assert again.skipped == {"duplicate": 1} and ledger.world.position == position
    other = {**BASELINE, "records": [{**BASELINE["records"][1], "fields": {"subject": "Sent"}}, BASELINE["records"][0]]}
    with pytest.raises(SourceError) as e:
        run(tmp_path, {"other.json": json.dumps(other)}, ledger=ledger)
    assert "other.json row 1: " in str(e.value) and "not the one it has" in str(e.value)
    assert ledger.world.position == position


# ------------------------------------------------------------------------------ the rest of issue 16, point 6


def test_an_activate_row_and_each_deletion_of_a_live_item(tmp_path: Path) -> None:
    """`action` 4 (Activate) of an inactive contact; SoftDelete and HardDelete of an item not yet deleted are
    deletions as much as MoveToDeletedItems."""
    rows = [
        dv(1, 1, "contact", C1, when(4, 9), new={"fullname": "Jo", "statecode": 1}),
        dv(2, 4, "contact", C1, when(4, 10), details=None),
    ]
    inbox = "\\Inbox"
    mails = [
        m365(1, "Create", "alice@contoso.com", when(4, 9), [("AAMkE1", "a", inbox)]),
        m365(2, "Create", "alice@contoso.com", when(4, 9), [("AAMkE2", "b", inbox)]),
        m365(3, "SoftDelete", "alice@contoso.com", when(4, 10), [("AAMkE1", "a", inbox)]),
        m365(4, "HardDelete", "alice@contoso.com", when(4, 10), [("AAMkE2", "b", inbox)]),
    ]
    ledger, report = run(tmp_path, {"a.json": page(rows), "m.csv": csv_text(mails)})
    got = [(a["do"], a.get("record") or a.get("item")) for a in actions(ledger)]
    assert ("crm.activate", C1) in got and ("outlook.delete", "AAMkE1") in got and ("outlook.delete", "AAMkE2") in got
    assert report.appended["outlook.delete"] == 2 and report.skipped == {}
    assert state_document(ledger.world)["crm"][C1]["state"] == "active"


def test_mailbox_rows_the_synchronisation_made_are_counted(tmp_path: Path) -> None:
    """A sync client's Update or deletion in a named mailbox, and any sync client row of a mailbox people.yaml
    does not name: the ledger decides those itself."""
    inbox = "\\Inbox"
    mails = [
        m365(1, "Create", "alice@contoso.com", when(4, 9), [("AAMkE1", "a", inbox)]),
        m365(2, "Update", "alice@contoso.com", when(4, 10), [("AAMkE1", "a", inbox)], client=SYNC_CLIENT),
        m365(3, "HardDelete", "alice@contoso.com", when(4, 11), [("AAMkE1", "a", inbox)], client=SYNC_CLIENT),
        m365(4, "Update", "carol@contoso.com", when(4, 12), [("AAMkC1", "c", inbox)], client=SYNC_CLIENT),
    ]
    ledger, report = run(tmp_path, {"m.csv": csv_text(mails)})
    assert report.skipped == {"made by synchronisation": 3}
    assert [a["do"] for a in actions(ledger)] == ["outlook.create"]


def test_an_owner_a_decision_set_and_a_synchronisation_s_assign_are_discrepancies(tmp_path: Path) -> None:
    """Rule 3's other kinds: an assign to the owner a decision already gave the record (TRACK-ITEM made alice
    its owner), and an assign the synchronisation made that no rule made."""
    c3 = guid(977)
    lines = [
        {"id": "l1", "at": when(4, 8), "do": "outlook.create", "user": "alice", "item": c3, "type": "contact"},
        {"id": "l2", "at": when(4, 8, 1), "do": "outlook.track", "user": "alice", "item": c3},
    ]
    rows = [
        dv(1, 13, "contact", c3, when(4, 9), ALICE, old={"_ownerid_value": BOB}, new={"_ownerid_value": ALICE}),
        dv(2, 13, "contact", c3, when(4, 10), SYNC_USER, old={"_ownerid_value": ALICE}, new={"_ownerid_value": BOB}),
    ]
    text = "\n".join(json.dumps(line) for line in lines)
    ledger, report = run(tmp_path, {"l.jsonl": text, "a.json": page(rows)})
    found = _discrepancies(ledger)
    assert [(d.action["do"], d.action["to"], d.decision.rule if d.decision else None) for d in found] == [
        ("crm.assign", "alice", "TRACK-ITEM"),
        ("crm.assign", "bob", None),
    ]
    assert "the rules did not" in found[1].refusal and report.discrepancies == 2
    assert state_document(ledger.world)["crm"][c3]["owner"] == "alice"


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        (
            "short.csv",
            "CreationDate,UserIds,Operations,AuditData\r\n2026-03-04T09:00:00Z,x\r\n",
            "row 1: has no AuditData",
        ),
        (
            "quote.csv",
            'CreationDate,UserIds,Operations,AuditData\r\n2026-03-04T09:00:00Z,x,Create,"{""Id"": ""1""\r\n',
            "row 1: AuditData is not valid JSON",
        ),
        ("nul.csv", "CreationDate,UserIds,Operations,AuditData\r\n" + "\x00" * 3, "row 1: has no AuditData"),
        ("latin.csv", "CreationDate,UserIds,Operations,AuditData\r\ncaf\xe9", "UTF-8"),
    ],
)
def test_a_malformed_csv_is_one_line_naming_file_and_row(tmp_path: Path, name: str, text: str, problem: str) -> None:
    good = page([contact(1, C1, when(4, 9))])
    if name == "latin.csv":
        (tmp_path / name).write_bytes(text.encode("latin-1"))
        message = bad(tmp_path, {"a.json": good}, extra=[tmp_path / name])
    else:
        message = bad(tmp_path, {"a.json": good, name: text})
    assert name in message and problem in message, message


@pytest.mark.parametrize(
    ("drop", "problem"),
    [
        ("Id", "row 1: AuditData.Id is missing"),
        ("MailboxOwnerUPN", "row 1: AuditData.MailboxOwnerUPN is missing"),
        ("CreationTime", "row 1: AuditData.CreationTime"),
        ("Item", "row 1: the row names no item"),
    ],
)
def test_a_mailbox_row_missing_a_needed_field_is_bad_input(tmp_path: Path, drop: str, problem: str) -> None:
    row = m365(1, "Update", "alice@contoso.com", when(4, 9), [("AAMkE1", "a", "\\Inbox")], modified=["Body"])
    del row[drop]
    message = bad(tmp_path, {"a.json": page([contact(1, C1, when(4, 9))]), "m.csv": csv_text([row])})
    assert "m.csv " in message and problem in message, message


def test_an_unreadable_file_is_one_line_naming_it(tmp_path: Path) -> None:
    good = page([contact(1, C1, when(4, 9))])
    message = bad(tmp_path, {"a.json": good}, extra=[tmp_path / "missing.json"])
    assert "missing.json: cannot read it" in message, message
    (tmp_path / "folder.json").mkdir()
    message = bad(tmp_path, {"a.json": good}, extra=[tmp_path / "folder.json"])
    assert "folder.json: cannot read it" in message, message
