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


def share(n: int, record: str, at: str, with_: str, old: str, new: str, user: str = BOB, action: int = 14) -> dict[str, Any]:
    detail = {
        "@odata.type": "#Microsoft.Dynamics.CRM.ShareAuditDetail",
        "Principal": {"@odata.type": "#Microsoft.Dynamics.CRM.systemuser", "systemuserid": with_},
        "OldPrivileges": old,
        "NewPrivileges": new,
    }
    return dv(n, action, "contact", record, at, user, details=detail)


def page(rows: list[dict[str, Any]], next_link: bool = False) -> str:
    doc: dict[str, Any] = {"@odata.context": "https://contoso.crm4.dynamics.com/api/data/v9.2/$metadata#audits", "value": rows}
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
            writer.writerow([r["CreationTime"] + "Z", r.get("UserId", ""), r["Operation"], json.dumps(r)])
    else:
        writer.writerow(["RecordId", "CreationDate", "RecordType", "Operation", "UserId", "AuditData", "ResultIndex"])
        for n, r in enumerate(rows, 1):
            writer.writerow([r["Id"], r["CreationTime"], r["RecordType"], r["Operation"], r.get("UserId"), json.dumps(r), n])
    return ("\ufeff" if bom else "") + out.getvalue()


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path
