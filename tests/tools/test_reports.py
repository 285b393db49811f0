"""Long tables are laid out a part at a time, as one table would be: `state --links all` lists every link the
ledger ever made, and rich holds and measures a whole table before it writes a line of it."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console
from rich.table import Table

from syncledger.projections.document import state_document
from syncledger.projections.reader import open_reader
from syncledger.tools import reports
from syncledger.tools.perf.generate import write_lines
from syncledger.tools.transfer import import_actions
from tests.conftest import Locations


class _Capture(Console):
    def __init__(self, width: int) -> None:
        self.out = io.StringIO()
        self.titles: list[str | None] = []  # of each table printed
        super().__init__(file=self.out, highlight=False, soft_wrap=True, width=width)

    def print(self, *objects: Any, **options: Any) -> None:
        self.titles += [str(o.title) if o.title else None for o in objects if isinstance(o, Table)]
        super().print(*objects, **options)


def _text(doc: dict[str, Any], width: int, monkeypatch: pytest.MonkeyPatch) -> _Capture:
    capture = _Capture(width)
    monkeypatch.setattr(reports, "console", capture)
    reports.print_state(doc)
    return capture


def test_a_long_links_table_in_parts_reads_line_for_line_as_one_table(
    locations: Locations, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On every back end (the links read from the archive a page at a time), at a narrow console (columns
    shrunk and wrapped) and a wide one, the parts' lines are the one table's."""
    lines = io.BytesIO()
    write_lines(lines, 5, 60, 3, 1_500)
    reader = open_reader(locations.new(), checkpoint_every=300)
    import_actions(reader.ledger, lines.getvalue().splitlines(keepends=True))
    if reader.ledger.store.url is not None:
        reader = open_reader(reader.ledger.store.url, checkpoint_every=300)  # the past read from the archive
    world = reader.world
    whole = state_document(world)  # every link as a dict, in one list, laid out as one table
    count = len(whole["links"])
    assert count > 40 and any(k["state"] != "linked" for k in whole["links"])
    for width in (50, 90, 400):
        monkeypatch.setattr(reports, "PART_ROWS", 10**9)
        one = _text(whole, width, monkeypatch)
        assert one.titles.count("Links") == 1
        for part_rows in (7, 40):
            monkeypatch.setattr(reports, "PART_ROWS", part_rows)
            parts = _text(state_document(world, links_as_objects=True), width, monkeypatch)
            assert parts.out.getvalue() == one.out.getvalue(), (width, part_rows)
            links_parts = parts.titles[parts.titles.index("Links") :].count(None)
            assert links_parts == -(-count // part_rows) - 1  # the first part has the title, the others none
    assert "last change" in one.out.getvalue()


def test_a_short_table_is_one_table_and_an_empty_one_says_none(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = {"position": 0, "at": None, "users": {}, "crm": {}, "outlook": {}, "links": [], "pending": {}}
    assert "Links: none" in _text(doc, 80, monkeypatch).out.getvalue()


def test_parts_are_laid_out_as_one_table_whatever_their_cells_and_the_consoles_width(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cells that wrap at words, a long word that cannot, wide characters, markup-like text, a bidi override
    (escaped), at consoles narrower than the table and wider."""
    words = "a b c d e f g h i j k l m n o p q r s"
    items = {f"m{n}": {"fields": {"subject": words if n == 3 else ""}} for n in range(30)}
    items["m5"]["fields"]["subject"] = "Supercalifragilisticexpialidocious"
    items["m9"]["fields"]["subject"] = "wide 日本語 [red]markup[/red] \u202e"
    links = [
        {
            "user": "u1",
            "item": f"m{n}",
            "record": f"r{n}",
            "state": "linked",
            "origin": "tracked",
            "rule": "R",
            "position": n,
        }
        for n in range(30)
    ]
    shown = {"type": "email", "completed": False, "start": None, "link": None}
    outlook = {"u1": {k: {**v, **shown} for k, v in items.items()}}
    doc = {"position": 30, "at": None, "users": {}, "crm": {}, "outlook": outlook, "links": links, "pending": {}}
    for width in (30, 45, 70, 400):
        monkeypatch.setattr(reports, "PART_ROWS", 10**9)
        one = _text(doc, width, monkeypatch).out.getvalue()
        monkeypatch.setattr(reports, "PART_ROWS", 4)
        assert _text(doc, width, monkeypatch).out.getvalue() == one, width
