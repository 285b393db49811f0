"""Test data in the formats of SOURCES.md, written by hand: Dataverse audit rows and pages, Microsoft 365 audit
CSVs in both header forms, people files; the renderer of action lines as those exports is the bench's
(`syncledger.tools.perf.audits`), with alice, bob and carol."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from syncledger.tools.perf import audits
from syncledger.tools.perf.audits import csv_text, guid, m365, organisation, page, render

__all__ = ["csv_text", "guid", "m365", "organisation", "page", "render"]

ALICE = "4026BE43-6B69-E111-8F65-78E7D1620F5E"  # upper case: GUIDs match whatever their case
BOB = "39e0dbe4-131b-e111-ba7e-78e7d1620f5e"
SYNC_USER = audits.SYNC_USER
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

TYPES = audits.TYPES


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
    return audits.dv(n, action, table, record, at, user, old, new, details, caller)


def share(
    n: int, record: str, at: str, with_: str, old: str, new: str, user: str = BOB, action: int = 14
) -> dict[str, Any]:
    return audits.share(n, record, at, with_, old, new, user, action)


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ a random organisation

ORG_PEOPLE = audits.small_org().people
GUIDS["carol"] = "11111111-2222-4333-8444-555555555555"
MAILBOXES["carol"] = "carol@contoso.com"
