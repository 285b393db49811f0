"""Text reports of the state document and of the rule table."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from syncledger.ledger.rules import OBSERVED, RULES, Rule, methods_of, rule_set

from .explain.labels import label_of
from .output import cell, console, table


def print_state(doc: dict[str, Any]) -> None:
    """The state document as tables; where a table names a record or an item by its id alone (links, pending),
    its label (fullname or subject) stands next to it."""
    record_labels = {rid: label_of(r["fields"]) for rid, r in doc["crm"].items()}
    item_labels = {(u, iid): label_of(i["fields"]) for u, its in doc["outlook"].items() for iid, i in its.items()}

    def record(rid: str | None) -> str:
        found = record_labels.get(rid or "")
        return f"{rid} ({found})" if found else (rid or "")

    def item(user: str, iid: str | None) -> str:
        found = item_labels.get((user, iid or ""))
        return f"{iid} ({found})" if found else (iid or "")

    console.print(f"Ledger at position {doc['position']} ({doc['at'] or 'empty'})", style="bold", markup=False)
    org = doc.get("org")
    if org is not None:
        options = ", ".join(f"{k}={str(value).lower()}" for k, value in org.items())
        console.print(f"Organisation: {options}", markup=False)
    users = table("Users", "user", "Outlook", "sync method", "sync filter", "untracked e-mail in CRM", "pending")
    for name, u in doc.get("users", {}).items():
        deletes = "deleted" if u["delete_untracked_email_in_crm"] else "kept"
        state = "offline" if u["offline"] else "online"
        method = u.get("sync_method", "outlook_client")
        _row(users, name, state, method, u["sync_filter"], deletes, len(doc["pending"].get(name, [])))
    _print(users)
    crm = table("CRM", "record", "type", "owner", "state", "shared with", "start", "fields")
    for rid, r in doc["crm"].items():
        _row(
            crm,
            rid,
            r["type"],
            r["owner"],
            r["state"],
            ", ".join(r["shared_with"]),
            r["start"] or "",
            _fields(r["fields"]),
        )
    _print(crm)
    for user, items in doc["outlook"].items():
        t = table(f"{cell(user)}'s Outlook", "item", "type", "link", "done", "start", "fields")
        for iid, i in items.items():
            link = i["link"]
            _row(
                t,
                iid,
                i["type"],
                f"{record(link['record'])}, {link['origin']}" if link else "-",
                "yes" if i["completed"] else "",
                i["start"] or "",
                _fields(i["fields"]),
            )
        _print(t)
    links = table("Links", "user", "item", "record", "state", "origin", "last change")
    for k in doc["links"]:
        row = (k["user"], item(k["user"], k["item"]), record(k["record"]), k["state"], k["origin"])
        _row(links, *row, f"{k['rule']} @{k['position']}")
    _print(links)
    page = doc.get("links_page")
    if page is not None and not page["complete"]:
        console.print(
            f"{page['listed']} links listed; more follow: --links-after {page['next_after']} for the next page, "
            "--links all for every one.",
            markup=False,
        )
    pending = table("Pending (decided at each user's next sync)", "user", "operation", "record", "item", "cause")
    for user, ops in doc["pending"].items():
        for p in ops:
            _row(pending, user, p["operation"], record(p["record"]), item(user, p["item"]), f"@{p['cause']} {p['at']}")
    _print(pending)


def _print(t: Table) -> None:
    """A table, or its title and `none`: headers over nothing read as if something failed to print."""
    if t.row_count:
        console.print(t)
    else:
        console.print(f"{t.title}: none")


def _row(t: Table, *values: object) -> None:
    t.add_row(*map(cell, values))


def _fields(fields: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in fields.items())


def _rules_of(method: str | None) -> list[Rule]:
    """Every rule of every method, or those one method's users can have recorded: its table's, in its order, then
    the observed ones (BASELINE), which belong to no method and are recorded whatever method a user has."""
    if method is None:
        return list(RULES.values())
    return [*rule_set(method).rules.values(), *OBSERVED.rules.values()]


def rules_document(method: str | None = None) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "timing": r.timing,
            "when": r.when,
            "then": r.then,
            "confidence": r.confidence,
            "sources": list(r.sources),
            "about": r.about,
            "methods": methods_of(r.id),
        }
        for r in _rules_of(method)
    ]


def print_rules(method: str | None = None) -> None:
    """One block per rule: readable on a terminal and when piped into a file or grep."""
    for r in _rules_of(method):
        sources = " ".join(f"[{s}]" for s in r.sources) or (
            "(what the organisation reported)" if r.confidence == "observed" else "(no source: this project's decision)"
        )
        console.print(Text.assemble((r.id, "bold"), f"  {r.timing}, {r.confidence} {sources}"))
        methods = ", ".join(methods_of(r.id)) or "none: observed the same under every method"
        console.print(f"    methods {methods}", markup=False)
        console.print(f"    when {r.when}", markup=False)
        console.print(f"    then {r.then}\n", markup=False)
