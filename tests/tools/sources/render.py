"""Test data in the formats of SOURCES.md, written by hand: Dataverse audit rows and pages, Microsoft 365 audit
CSVs in both header forms, people files; and a renderer of action lines as those exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ALICE = "4026BE43-6B69-E111-8F65-78E7D1620F5E"  # upper case: GUIDs match whatever their case
BOB = "39e0dbe4-131b-e111-ba7e-78e7d1620f5e"
SYNC_USER = "5c8c7b2a-3e55-4b0e-9d0e-0f1a2b3c4d5e"
TEAM = "77777777-7777-4777-8777-777777777777"
SYNC_CLIENT = "Client=WebServices;Microsoft Dynamics CRM;Action=ServerSideSync"
GUIDS = {"alice": ALICE.lower(), "bob": BOB}
MAILBOXES = {"alice": "alice@contoso.com", "bob": "bob@contoso.com"}

PEOPLE = f"""
users:
  alice: {{crm: {ALICE}, mailbox: Alice@Contoso.com}}
  bob:   {{crm: {BOB}, mailbox: bob@contoso.com, sync_method: server_side}}
synchronisation:
  crm_users: [{SYNC_USER}]
  mailbox_clients: ["Client=WebServices;Microsoft Dynamics CRM"]
"""

TYPES = {"contact": 2, "appointment": 4201, "task": 4212, "email": 4202}


def guid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def when(day: int, hour: int, minute: int = 0) -> str:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC).isoformat().replace("+00:00", "Z")


def dv(
    n: int,
    action: int,
    table: str | int,
    record: str,
    at: str,
    user: str = BOB,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    details: Any = "attribute",
    caller: str | None = None,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "@odata.etag": 'W/"1"',
        "auditid": guid(n),
        "action": action,
        "operation": 2,
        "objecttypecode": table,
        "_objectid_value": record,
        "_userid_value": user,
        "_callinguserid_value": caller,
        "createdon": at,
    }
    if details == "attribute":
        row["details"] = {
            "@odata.type": "#Microsoft.Dynamics.CRM.AttributeAuditDetail",
            "OldValue": {"@odata.type": "#Microsoft.Dynamics.CRM.x", **(old or {})},
            "NewValue": {"@odata.type": "#Microsoft.Dynamics.CRM.x", **(new or {})},
        }
    elif details is not None:
        row["details"] = details
    return row


def share(
    n: int, record: str, at: str, with_: str, old: str, new: str, user: str = BOB, action: int = 14
) -> dict[str, Any]:
    detail = {
        "@odata.type": "#Microsoft.Dynamics.CRM.ShareAuditDetail",
        "Principal": {"@odata.type": "#Microsoft.Dynamics.CRM.systemuser", "systemuserid": with_},
        "OldPrivileges": old,
        "NewPrivileges": new,
    }
    return dv(n, action, "contact", record, at, user, details=detail)


def page(rows: list[dict[str, Any]], next_link: bool = False) -> str:
    doc: dict[str, Any] = {
        "@odata.context": "https://contoso.crm4.dynamics.com/api/data/v9.2/$metadata#audits",
        "value": rows,
    }
    if next_link:
        doc["@odata.nextLink"] = "https://contoso.crm4.dynamics.com/api/data/v9.2/audits?$skiptoken=x"
    return json.dumps(doc, indent=1)


def m365(
    n: int,
    operation: str,
    mailbox: str,
    at: str,
    items: list[tuple[str, str, str]] | None = None,
    record_type: int = 2,
    client: str = "Client=MSExchangeRPC",
    modified: list[str] | None = None,
    group: bool = False,
) -> dict[str, Any]:
    """An AuditData object; items are (id, subject, folder)."""
    data: dict[str, Any] = {
        "CreationTime": at.removesuffix("Z"),
        "Id": f"6A1B2C3D-0000-4000-8000-{n:012d}",
        "Operation": operation,
        "RecordType": record_type,
        "UserId": mailbox,
        "ClientInfoString": client,
        "LogonType": 0,
        "MailboxOwnerUPN": mailbox,
    }
    listed = [{"Id": i, "Subject": s, "ParentFolder": {"Id": "LgAA", "Path": f}} for i, s, f in items or []]
    if group or len(listed) > 1:
        data["AffectedItems"] = listed
        data["RecordType"] = 3 if record_type == 2 else record_type
    elif listed:
        data["Item"] = listed[0]
    if modified is not None:
        data["ModifiedProperties"] = modified
    return data


def csv_text(rows: list[dict[str, Any]], header: str = "purview", bom: bool = False, type_line: bool = False) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if type_line:
        out.write("#TYPE Deserialized.Microsoft.Exchange.Management.SystemConfigurationTasks.AuditRecord\r\n")
    if header == "purview":
        writer.writerow(["CreationDate", "UserIds", "Operations", "AuditData"])
        for r in rows:
            writer.writerow([r.get("CreationTime", "") + "Z", r.get("UserId", ""), r["Operation"], json.dumps(r)])
    else:
        writer.writerow(["RecordId", "CreationDate", "RecordType", "Operation", "UserId", "AuditData", "ResultIndex"])
        for n, r in enumerate(rows, 1):
            writer.writerow(
                [r["Id"], r["CreationTime"], r["RecordType"], r["Operation"], r.get("UserId"), json.dumps(r), n]
            )
    return ("\ufeff" if bom else "") + out.getvalue()


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ a random organisation

CAROL = (
    "  carol: {crm: 11111111-2222-4333-8444-555555555555, mailbox: carol@contoso.com, sync_filter: owned_and_shared}"  # noqa: E501
)
ORG_PEOPLE = PEOPLE.replace("users:\n", f"users:\n{CAROL}\n")
GUIDS["carol"] = "11111111-2222-4333-8444-555555555555"
MAILBOXES["carol"] = "carol@contoso.com"


def organisation(seed: int, steps: int) -> list[dict[str, Any]]:
    """Random user actions of three users (action-line mappings without ids), valid whatever the syncs decide:
    CRM actions on records, and Outlook actions on e-mails that arrived in a mailbox (never linked)."""
    import random
    from datetime import timedelta

    rng = random.Random(seed)
    users = ["alice", "bob", "carol"]
    t = datetime(2026, 3, 2, 8, 0, 3, tzinfo=UTC)
    records: dict[str, dict[str, Any]] = {}
    mails: dict[str, list[str]] = {u: [] for u in users}
    out: list[dict[str, Any]] = []
    live: list[str] = []  # records not deleted, in order of creation
    for n in range(steps):
        t += timedelta(seconds=rng.randint(20, 900))
        at = t.isoformat().replace("+00:00", "Z")
        actor = rng.choice(users)
        choice = rng.random()
        if choice < 0.25 or not live:
            kind = rng.choice(["contact", "task", "appointment", "email"])
            rid = guid(100000 + n)
            owner = rng.choice(users)
            fields = {"subject" if kind != "contact" else "fullname": f"{kind} {n}"}
            action = {"do": "crm.create", "actor": actor, "record": rid, "type": kind, "owner": owner, "fields": fields}
            if kind == "appointment":
                action["start"] = (t + timedelta(days=rng.randint(-2, 5))).isoformat().replace("+00:00", "Z")
            records[rid] = {"type": kind, "owner": owner, "state": "active", "shared": set(), "fields": dict(fields)}
            live.append(rid)
        elif choice < 0.65:
            at_index = rng.randrange(len(live))
            rid = live[at_index]
            record = records[rid]
            options = ["update", "assign", "delete", "share"]
            options += ["state"] if record["type"] != "email" else []
            what = rng.choice(options)
            others = [u for u in users if u != record["owner"]]
            if what == "update":
                value = f"v{n}"
                action = {"do": "crm.update", "actor": actor, "record": rid, "fields": {"telephone1": value}}
                record["fields"]["telephone1"] = value
            elif what == "assign":
                to = rng.choice(others)
                action = {"do": "crm.assign", "actor": actor, "record": rid, "to": to}
                record["owner"] = to
            elif what == "delete":
                action = {"do": "crm.delete", "actor": actor, "record": rid}
                live[at_index] = live[-1]  # out of the live ones in O(1)
                live.pop()
            elif what == "share":
                who = rng.choice(others)
                do = "crm.unshare" if who in record["shared"] else "crm.share"
                action = {"do": do, "actor": actor, "record": rid, "with": who}
                (record["shared"].discard if do == "crm.unshare" else record["shared"].add)(who)
            else:
                if record["type"] == "contact":
                    do = "crm.deactivate" if record["state"] == "active" else "crm.activate"
                elif record["state"] == "active":
                    do = rng.choice(["crm.complete", "crm.cancel"])
                else:
                    continue
                action = {"do": do, "actor": actor, "record": rid}
                record["state"] = {
                    "crm.deactivate": "inactive",
                    "crm.activate": "active",
                    "crm.complete": "completed",
                    "crm.cancel": "canceled",
                }[do]
        else:
            user = actor
            if not mails[user] or rng.random() < 0.4:
                item = f"AAMk{user}{n}"
                mails[user].append(item)
                action = {
                    "do": "outlook.create",
                    "user": user,
                    "item": item,
                    "type": "email",
                    "fields": {"subject": f"mail {n}"},
                }
            elif rng.random() < 0.6:
                action = {"do": "outlook.update", "user": user, "item": rng.choice(mails[user]), "changed": ["Body"]}
            else:
                item = mails[user].pop(rng.randrange(len(mails[user])))
                action = {"do": "outlook.delete", "user": user, "item": item}
        out.append({"at": at, **action})
    return out


def render(actions: list[dict[str, Any]], seed: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The actions as an administrator would export them: Dataverse audit rows (with their details) and mailbox
    audit rows, with noise the importer must skip (another table, sign-ins, later stages of deletions)."""
    import random

    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    mails: list[dict[str, Any]] = []
    records: dict[str, dict[str, Any]] = {}
    for n, a in enumerate(actions, 1):
        at, do = a["at"], a["do"]
        actor = GUIDS.get(a.get("actor") or a.get("user") or "", "")
        code: Any = rng.choice([True, False])
        if do == "crm.create":
            records[a["record"]] = r = {"type": a["type"], "owner": a["owner"], "fields": dict(a["fields"]), "state": 0}
            new = {**a["fields"], "_ownerid_value": GUIDS[a["owner"]].upper(), "statecode": 0}
            if "start" in a:
                new["scheduledstart"] = a["start"]
            table = TYPES[a["type"]] if code else a["type"]
            rows.append(dv(n, 1, table, a["record"], at, actor, new=new))
        elif do.startswith("crm."):
            r = records[a["record"]]
            table = r["type"]
            if do == "crm.update":
                old = {k: r["fields"].get(k) for k in a["fields"]}
                rows.append(dv(n, 2, table, a["record"], at, actor, old=old, new=a["fields"]))
                r["fields"].update(a["fields"])
            elif do == "crm.assign":
                old_owner, r["owner"] = GUIDS[r["owner"]], a["to"]
                rows.append(
                    dv(
                        n,
                        13,
                        table,
                        a["record"],
                        at,
                        actor,
                        old={"_ownerid_value": old_owner},
                        new={"_ownerid_value": GUIDS[a["to"]]},
                    )
                )
            elif do == "crm.delete":
                rows.append(dv(n, 3, table, a["record"], at, actor, old={**r["fields"]}, new={}))
            elif do in ("crm.share", "crm.unshare"):
                give = do == "crm.share"
                rows.append(
                    share(
                        n,
                        a["record"],
                        at,
                        GUIDS[a["with"]],
                        "None" if give else "ReadAccess",
                        "ReadAccess" if give else "None",
                        actor,
                        14 if give else 49,
                    )
                )
            else:
                code_after = {"crm.complete": 1, "crm.cancel": 2, "crm.deactivate": 1, "crm.activate": 0}[do]
                if rng.random() < 0.5:
                    rows.append(
                        dv(
                            n,
                            2,
                            table,
                            a["record"],
                            at,
                            actor,
                            old={"statecode": r["state"], "statuscode": 1},
                            new={"statecode": code_after, "statuscode": 5},
                        )
                    )
                else:
                    number = {"crm.complete": 18, "crm.cancel": 17, "crm.deactivate": 5, "crm.activate": 4}[do]
                    rows.append(dv(n, number, table, a["record"], at, actor, details=None))
                r["state"] = code_after
        else:
            mailbox = MAILBOXES[a["user"]]
            item = (a["item"], f"mail {a['item']}", "\\Inbox")
            if do == "outlook.create":
                item = (a["item"], a["fields"]["subject"], "\\Inbox")
                mails.append(m365(n, "Create", mailbox, at, [item]))
            elif do == "outlook.update":
                mails.append(m365(n, "Update", mailbox, at, [item], modified=a["changed"]))
            else:
                mails.append(m365(n, "MoveToDeletedItems", mailbox, at, [item]))
                later = at.replace("Z", ".5Z")
                mails.append(m365(n + 500000, "SoftDelete", mailbox, later, [(a["item"], "x", "\\Deleted Items")]))
        if rng.random() < 0.05:
            rows.append(dv(n + 700000, 1, "account", guid(n + 800000), at, actor, new={"name": "noise"}))
            mails.append(m365(n + 900000, "UserLoggedIn", MAILBOXES["alice"], at, record_type=15))
    return rows, mails
