"""Audit exports of a random organisation, as an administrator would give them (SOURCES.md): Dataverse `audits`
pages (5,000 rows a page, as the Web API pages them) and Microsoft 365 audit CSVs (50,000 rows a file, newest
first, as `Search-UnifiedAuditLog -ResultSize 5000 -SessionCommand ReturnLargeSet` gives at most per search),
with noise the importer must skip, and the people.yaml that names everyone. The random actions are valid whatever
the inferred syncs decide, so an import of the exports is exactly those actions (tests/tools/test_sources_property.py
checks that on small ones; `syncledger bench --sources` imports large ones). Written a page at a time: the
generator's memory grows with the records and mails alive, not with the rows written."""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TYPES = {"contact": 2, "appointment": 4201, "task": 4212, "email": 4202}
SYNC_USER = "5c8c7b2a-3e55-4b0e-9d0e-0f1a2b3c4d5e"
PAGE_ROWS = 5_000  # the Web API's page of `audits`
CSV_ROWS = 50_000  # the mailbox audit rows of one export
# ids of the rows the renderer adds beside an action's own (later stages, noise), far above any action's number
LATER, NOISE_ROW, NOISE_RECORD, NOISE_MAIL = 5 * 10**10, 7 * 10**10, 8 * 10**10, 9 * 10**10


@dataclass
class Org:
    """Who is who: the users (in people.yaml's order), their CRM GUIDs and mailboxes, and people.yaml itself."""

    users: list[str]
    guids: dict[str, str]
    mailboxes: dict[str, str]
    people: str
    options: dict[str, str] = field(default_factory=dict)


def small_org() -> Org:
    """alice (Outlook client), bob (server-side) and carol (owned and shared records), as the tests know them."""
    alice, bob, carol = (
        "4026BE43-6B69-E111-8F65-78E7D1620F5E",
        "39e0dbe4-131b-e111-ba7e-78e7d1620f5e",
        ("11111111-2222-4333-8444-555555555555"),
    )
    people = f"""
users:
  carol: {{crm: {carol}, mailbox: carol@contoso.com, sync_filter: owned_and_shared}}
  alice: {{crm: {alice}, mailbox: Alice@Contoso.com}}
  bob:   {{crm: {bob}, mailbox: bob@contoso.com, sync_method: server_side}}
synchronisation:
  crm_users: [{SYNC_USER}]
  mailbox_clients: ["Client=WebServices;Microsoft Dynamics CRM"]
"""
    users = ["alice", "bob", "carol"]
    guids = {"alice": alice.lower(), "bob": bob, "carol": carol}
    mailboxes = {u: f"{u}@contoso.com" for u in users}
    return Org(users, guids, mailboxes, people)


def large_org(users: int) -> Org:
    """`users` users: every third on server-side sync, every third (another) seeing owned and shared records."""
    names = [f"u{n:04d}" for n in range(1, users + 1)]
    guids = {u: f"{n:08x}-6b69-4111-8f65-78e7d1620f5e" for n, u in enumerate(names, 1)}
    mailboxes = {u: f"{u}@contoso.com" for u in names}
    lines = ["users:"]
    for n, u in enumerate(names):
        extra = ", sync_method: server_side" if n % 3 == 1 else ", sync_filter: owned_and_shared" if n % 3 == 2 else ""
        lines.append(f"  {u}: {{crm: {guids[u]}, mailbox: {mailboxes[u]}{extra}}}")
    lines += ["synchronisation:", f"  crm_users: [{SYNC_USER}]"]
    lines += ['  mailbox_clients: ["Client=WebServices;Microsoft Dynamics CRM"]']
    return Org(names, guids, mailboxes, "\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------------ rows, pages, CSVs


def guid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def dv(
    n: int,
    action: int,
    table: str | int,
    record: str,
    at: str,
    user: str,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    details: Any = "attribute",
    caller: str | None = None,
) -> dict[str, Any]:
    """A Dataverse audit row, its `RetrieveAuditDetails` merged in as `details`."""
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


def share(n: int, record: str, at: str, with_: str, old: str, new: str, user: str, action: int = 14) -> dict[str, Any]:
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
    """Mailbox audit rows as the CSV of Purview's export (`purview`) or of `Export-Csv` (`powershell`)."""
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


# ------------------------------------------------------------------------------------------ a random organisation


def organisation(seed: int, steps: int, org: Org | None = None) -> list[dict[str, Any]]:
    """Random user actions (action-line mappings without ids): see `actions`."""
    return list(actions(seed, steps, org))


def actions(seed: int, steps: int, org: Org | None = None) -> Iterator[dict[str, Any]]:
    """Random user actions of the organisation's users (three by default), valid whatever the syncs decide: CRM
    actions on records, and Outlook actions on e-mails that arrived in a mailbox (never linked). The more users,
    the closer together in time (about 460 s apart for three, 14 s for a hundred)."""
    rng = random.Random(seed)
    users = (org or small_org()).users
    t = datetime(2026, 3, 2, 8, 0, 3, tzinfo=UTC)
    records: dict[str, dict[str, Any]] = {}
    mails: dict[str, list[str]] = {u: [] for u in users}
    live: list[str] = []  # records not deleted, in order of creation
    for n in range(steps):
        t += timedelta(seconds=max(1, round(rng.randint(20, 900) * 3 / len(users))))
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
            records[rid] = {"type": kind, "owner": owner, "state": "active", "shared": set()}
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
                action = {"do": "crm.update", "actor": actor, "record": rid, "fields": {"telephone1": f"v{n}"}}
            elif what == "assign":
                to = rng.choice(others)
                action = {"do": "crm.assign", "actor": actor, "record": rid, "to": to}
                record["owner"] = to
            elif what == "delete":
                action = {"do": "crm.delete", "actor": actor, "record": rid}
                live[at_index] = live[-1]  # out of the live ones in O(1)
                live.pop()
                del records[rid]
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
        yield {"at": at, **action}


def render(
    actions: list[dict[str, Any]], seed: int = 0, org: Org | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The actions as an administrator would export them: Dataverse audit rows (with their details) and mailbox
    audit rows, with noise the importer must skip (another table, sign-ins, later stages of deletions)."""
    rows: list[dict[str, Any]] = []
    mails: list[dict[str, Any]] = []
    for kind, row in rendered(actions, seed, org):
        (rows if kind == "dataverse" else mails).append(row)
    return rows, mails


def rendered(actions: Iterable[dict[str, Any]], seed: int = 0, org: Org | None = None) -> Iterator[tuple[str, Any]]:
    """`render`, a row at a time: ("dataverse", audit row) or ("m365", AuditData), each kind in time order."""
    org = org or small_org()
    guids, mailboxes = org.guids, org.mailboxes
    rng = random.Random(seed)
    records: dict[str, dict[str, Any]] = {}
    for n, a in enumerate(actions, 1):
        at, do = a["at"], a["do"]
        actor = guids.get(a.get("actor") or a.get("user") or "", "")
        code: Any = rng.choice([True, False])
        if do == "crm.create":
            records[a["record"]] = {"type": a["type"], "owner": a["owner"], "fields": dict(a["fields"]), "state": 0}
            new = {**a["fields"], "_ownerid_value": guids[a["owner"]].upper(), "statecode": 0}
            if "start" in a:
                new["scheduledstart"] = a["start"]
            table = TYPES[a["type"]] if code else a["type"]
            yield "dataverse", dv(n, 1, table, a["record"], at, actor, new=new)
        elif do.startswith("crm."):
            r = records[a["record"]]
            table = r["type"]
            if do == "crm.update":
                old = {k: r["fields"].get(k) for k in a["fields"]}
                yield "dataverse", dv(n, 2, table, a["record"], at, actor, old=old, new=a["fields"])
                r["fields"].update(a["fields"])
            elif do == "crm.assign":
                old_owner, r["owner"] = guids[r["owner"]], a["to"]
                old, new = {"_ownerid_value": old_owner}, {"_ownerid_value": guids[a["to"]]}
                yield "dataverse", dv(n, 13, table, a["record"], at, actor, old=old, new=new)
            elif do == "crm.delete":
                yield "dataverse", dv(n, 3, table, a["record"], at, actor, old={**r["fields"]}, new={})
                del records[a["record"]]
            elif do in ("crm.share", "crm.unshare"):
                give = do == "crm.share"
                old_rights, new_rights = ("None", "ReadAccess") if give else ("ReadAccess", "None")
                number = 14 if give else 49
                yield "dataverse", share(n, a["record"], at, guids[a["with"]], old_rights, new_rights, actor, number)
            else:
                code_after = {"crm.complete": 1, "crm.cancel": 2, "crm.deactivate": 1, "crm.activate": 0}[do]
                if rng.random() < 0.5:
                    old, new = {"statecode": r["state"], "statuscode": 1}, {"statecode": code_after, "statuscode": 5}
                    yield "dataverse", dv(n, 2, table, a["record"], at, actor, old=old, new=new)
                else:
                    number = {"crm.complete": 18, "crm.cancel": 17, "crm.deactivate": 5, "crm.activate": 4}[do]
                    yield "dataverse", dv(n, number, table, a["record"], at, actor, details=None)
                r["state"] = code_after
        else:
            mailbox = mailboxes[a["user"]]
            item = (a["item"], f"mail {a['item']}", "\\Inbox")
            if do == "outlook.create":
                item = (a["item"], a["fields"]["subject"], "\\Inbox")
                yield "m365", m365(n, "Create", mailbox, at, [item])
            elif do == "outlook.update":
                yield "m365", m365(n, "Update", mailbox, at, [item], modified=a["changed"])
            else:
                yield "m365", m365(n, "MoveToDeletedItems", mailbox, at, [item])
                later = at.replace("Z", ".5Z")
                yield "m365", m365(n + LATER, "SoftDelete", mailbox, later, [(a["item"], "x", "\\Deleted Items")])
        if rng.random() < 0.05:
            yield "dataverse", dv(n + NOISE_ROW, 1, "account", guid(n + NOISE_RECORD), at, actor, new={"name": "noise"})
            yield "m365", m365(n + NOISE_MAIL, "UserLoggedIn", mailboxes[org.users[0]], at, record_type=15)


# ------------------------------------------------------------------------------------------ files for the bench


@dataclass
class Exports:
    folder: Path
    people: Path
    files: list[Path]  # the Dataverse pages, then the CSVs
    rows: int  # audit rows written, noise included
    dataverse_rows: int
    m365_rows: int


def write_exports(folder: Path, rows: int, users: int = 100, seed: int = 1) -> Exports:
    """About `rows` audit rows (noise included) of a random organisation of `users` users, in `folder`:
    people.yaml, `audits-NNNNN.json` pages of PAGE_ROWS rows (each but the last with an `@odata.nextLink`, as the
    Web API pages them) and `m365-NNN.csv` files of CSV_ROWS rows each, newest first, in Purview's header form."""
    folder.mkdir(parents=True, exist_ok=True)
    org = small_org() if users == 3 else large_org(users)
    people = folder / "people.yaml"
    people.write_text(org.people)
    pages: list[Path] = []
    csvs: list[Path] = []
    full: list[list[dict[str, Any]]] = []  # the last full page, written once it is known not to be the last
    dataverse: list[dict[str, Any]] = []
    mails: list[dict[str, Any]] = []
    counts = {"dataverse": 0, "m365": 0}

    def write_page(rows: list[dict[str, Any]], next_link: bool) -> None:
        path = folder / f"audits-{len(pages) + 1:05d}.json"
        path.write_text(page(rows, next_link), encoding="utf-8")
        pages.append(path)

    def write_csv() -> None:
        path = folder / f"m365-{len(csvs) + 1:03d}.csv"
        newest_first = sorted(mails, key=lambda row: row["CreationTime"], reverse=True)  # as the search returns
        path.write_text(csv_text(newest_first), encoding="utf-8")
        csvs.append(path)
        mails.clear()

    for kind, row in rendered(actions(seed, 10**11, org), seed, org):
        counts[kind] += 1
        if kind == "dataverse":
            dataverse.append(row)
            if len(dataverse) == PAGE_ROWS:
                if full:
                    write_page(full.pop(), next_link=True)
                full.append(dataverse)
                dataverse = []
        else:
            mails.append(row)
            if len(mails) == CSV_ROWS:
                write_csv()
        if counts["dataverse"] + counts["m365"] >= rows:
            break
    if full:
        write_page(full.pop(), next_link=bool(dataverse))
    if dataverse:
        write_page(dataverse, next_link=False)
    if mails:
        write_csv()
    total = counts["dataverse"] + counts["m365"]
    return Exports(folder, people, [*pages, *csvs], total, counts["dataverse"], counts["m365"])
