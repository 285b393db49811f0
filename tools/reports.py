"""Text reports of the state document and of the rule table."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from rich.cells import cell_len
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from syncledger.ledger.rules import OBSERVED, RULES, Rule, methods_of, rule_set
from syncledger.ledger.world import Link
from syncledger.projections.document import link_json

from .explain.labels import label_of
from .output import cell, console, printable, table


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
    listed = doc["links"]
    pages: Iterable[Sequence[Link | dict[str, Any]]] = [listed] if isinstance(listed, list) else listed

    def links() -> Iterator[tuple[object, ...]]:  # each pass reads them afresh (`LinkPages`): never held whole
        for page in pages:
            for each in page:
                k = link_json(each) if isinstance(each, Link) else each
                row = (k["user"], item(k["user"], k["item"]), record(k["record"]), k["state"], k["origin"])
                yield (*row, f"{k['rule']} @{k['position']}")

    _print_in_parts(lambda: table("Links", "user", "item", "record", "state", "origin", "last change"), links)
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


PART_ROWS = 2_000  # rows of a long table laid out at a time (`state --links all`: every link the ledger made)


def _print_in_parts(make: Callable[[], Table], rows: Callable[[], Iterable[tuple[object, ...]]]) -> None:
    """A table (`make()`, without rows) of `rows()` as `_print` prints it, but laid out PART_ROWS rows at a time
    when it is longer: rich holds and measures every cell of a table before it writes a line (379 MB and 54 s for
    the 70,000 links of a 10^6-event ledger). A first pass over `rows()` keeps each column's widest cell (what rich
    sizes a column by, before it shrinks the columns to the console); rich lays out a table of that one row, and
    each part is given its columns' widths, so that the output is line for line the one table's (on a terminal,
    each part has its own frame), and `rows()` is read twice instead of held."""
    held: list[tuple[str, ...]] = []
    widest: list[str] | None = None
    for values in rows():
        shown = tuple(printable(str(v)) for v in values)
        if len(held) <= PART_ROWS:
            held.append(shown)
        if widest is None:
            widest = list(shown)
        else:
            widest = [max(a, b, key=cell_len) for a, b in zip(widest, shown, strict=True)]
    t = make()
    if len(held) <= PART_ROWS or widest is None:
        for shown in held:
            t.add_row(*map(escape, shown))
        _print(t)
        return
    t.add_row(*map(escape, widest))
    last = len(t.columns) - 1
    # rich's widths of the columns (its own layout, by a private method: tests/tools/test_reports.py compares the
    # parts with the one table at several console widths), less the padding each part adds back
    widths = [w - (n > 0) - (n < last) for n, w in enumerate(t._calculate_column_widths(console, console.options))]
    part = None
    for count, values in enumerate(rows()):
        if count % PART_ROWS == 0:
            if part is not None:
                console.print(part)
            part = make()
            if count:
                part.title, part.show_header = None, False
            for column, width in zip(part.columns, widths, strict=True):
                column.min_width = column.max_width = width
        assert part is not None
        part.add_row(*(escape(printable(str(v))) for v in values))
    if part is not None:
        console.print(part)


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
