"""A state document lists links a page at a time, so that its cost is the page's, not the ledger's past: pages
one after another give exactly the full list (every link ever made, in the order made), at any position, for
everyone or for one user, from the archive and from what is in memory alike, on every back end."""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from syncledger.ledger.world import Link, link_pages, links
from syncledger.projections.document import link_json, state_document
from syncledger.projections.reader import open_reader
from syncledger.tools.output import json_bytes, json_pieces, print_json
from syncledger.tools.perf.generate import write_lines
from syncledger.tools.transfer import import_actions
from tests.conftest import Locations

Run = Callable[..., subprocess.CompletedProcess[str]]


def _org(events: int) -> list[bytes]:
    out = io.BytesIO()
    write_lines(out, 6, 100, 3, events)
    return out.getvalue().splitlines(keepends=True)


def _paged(world: Any, limit: int, user: str | None = None) -> tuple[list[dict[str, Any]], int]:
    listed, after, pages = [], 0, 0
    while True:
        doc = state_document(world, user, links_after=after, links_limit=limit)
        listed += doc["links"]
        pages += 1
        page = doc.get("links_page")
        if page is None or page["complete"]:
            return listed, pages
        assert page["listed"] == limit == len(doc["links"])
        after = page["next_after"]


def _archived(locations: Locations) -> Any:
    """A reader of a 3,000-event organisation whose past, where it is stored, is read from the archive."""
    reader = open_reader(locations.new(), checkpoint_every=300)
    import_actions(reader.ledger, _org(3_000))
    if reader.ledger.store.url is not None:
        reader = open_reader(reader.ledger.store.url, checkpoint_every=300)  # reopened: nothing in memory
    return reader


def test_links_listed_page_after_page_equal_the_full_list(locations: Locations) -> None:
    reader = _archived(locations)
    rng = random.Random(7)
    last = reader.world.position
    ended_somewhere = False
    for position in [last, *(rng.randint(1, last) for _ in range(6))]:
        world = reader.world_at(position)
        full = state_document(world)
        ended_somewhere |= any(k["state"] == "unlinked" for k in full["links"])
        for limit in (1, 7, 50):
            listed, pages = _paged(world, limit)
            assert listed == full["links"], f"at {position}, pages of {limit}"
            assert pages >= len(full["links"]) // limit
        for user in list(world.users)[:2]:
            mine = state_document(world, user)["links"]
            assert _paged(world, 5, user)[0] == mine == [k for k in full["links"] if k["user"] == user]
    assert ended_somewhere, "the organisation ended some links: the archive's pages were read"


def test_a_whole_list_in_one_page_is_the_document_as_it_always_was(locations: Locations) -> None:
    reader = open_reader(locations.new())
    import_actions(reader.ledger, _org(400))
    full = state_document(reader.world)
    assert state_document(reader.world, links_limit=len(full["links"]) + 1) == full
    partial = state_document(reader.world, links_limit=1)
    assert partial["links_page"]["complete"] is False and len(partial["links"]) == 1


def test_state_lists_a_page_and_says_how_to_get_the_next(tmp_path: Path, run_cli: Run) -> None:
    lines = tmp_path / "org.jsonl"
    lines.write_bytes(b"".join(_org(1_500)))
    db = tmp_path / "l.db"
    assert run_cli("import", lines, "--db", db).returncode == 0
    every = json.loads(run_cli("state", "--json", "--links", "all", "--db", db).stdout)
    first = json.loads(run_cli("state", "--json", "--links", "10", "--db", db).stdout)
    assert first["links"] == every["links"][:10] and "links_page" not in every
    after = first["links_page"]["next_after"]
    second = json.loads(run_cli("state", "--json", "--links", "10", "--links-after", after, "--db", db).stdout)
    assert second["links"] == every["links"][10:20]
    text = run_cli("state", "--links", "10", "--db", db).stdout
    assert f"--links-after {after} for the next page" in text
    refused = run_cli("state", "--links", "some", "--db", db)
    assert refused.returncode == 2 and "--links takes a number of links or 'all'" in refused.stderr


def test_every_link_is_written_from_the_links_themselves_as_the_document_of_dicts(
    tmp_path: Path, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`state --links all --json` no longer builds a dict of every link at once (a third of its memory at 10^7
    events): each `Link` becomes its dict as the JSON is written. The bytes are those of the document of dicts;
    text written before the document still comes first; where standard output is not UTF-8, it is written as
    text, as before."""
    lines = tmp_path / "org.jsonl"
    lines.write_bytes(b"".join(_org(1_500)))
    db = tmp_path / "l.db"
    assert run_cli("import", lines, "--db", db).returncode == 0
    reader = open_reader(str(db))
    expected = json_bytes(state_document(reader.world)) + b"\n"
    for user in (None, "u0002"):
        objects = state_document(reader.world, user, links_as_objects=True, links_limit=5)
        assert objects["links"] and all(isinstance(k, Link) for k in objects["links"])
        assert json_bytes(objects, default=link_json) == json_bytes(state_document(reader.world, user, links_limit=5))
        every = state_document(reader.world, user, links_as_objects=True)
        written = b"".join(json_pieces(every, default=link_json))
        assert written == json_bytes(state_document(reader.world, user))
    reader.close()
    assert run_cli("state", "--json", "--links", "all", "--db", db).stdout.encode() == expected

    doc = {"links": [Link("u\u202e1", "i", "r", "tracked", "unlinked", "R", 3, True, 2)], "n": "\u0085"}
    for encoding in ("utf-8", "ascii"):
        raw = io.BytesIO()
        out = io.TextIOWrapper(raw, encoding=encoding)
        monkeypatch.setattr(sys, "stdout", out)
        out.write("before ")
        print_json(doc, default=link_json)
        out.flush()
        written = raw.getvalue().decode(encoding)
        assert written == "before " + json_bytes({**doc, "links": [link_json(doc["links"][0])]}).decode() + "\n"
        assert "\\u202e" in written and "\\u0085" in written  # the escapes of `json_bytes`, both ways


def test_every_link_a_page_at_a_time_is_the_whole_list_and_never_asks_for_it_whole(
    locations: Locations, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`state --links all` reads the ended links a page at a time (`link_pages`), each merged with the active links
    made before the next: the pages join to `links(world)`, at any position, for everyone and for one user, and the
    archive is never asked for every ended link at once."""
    reader = _archived(locations)
    rng = random.Random(3)
    last = reader.world.position
    worlds = [reader.world_at(p) for p in [last, *(rng.randint(1, last) for _ in range(4))]]
    expected = {(id(w), u): [k for k in links(w) if u in (None, k.user)] for w in worlds for u in (None, "u0001")}
    assert any(k.state != "linked" for k in expected[id(worlds[0]), None]), "some links ended: the archive is read"

    def whole(*args: Any) -> list[Link]:
        raise AssertionError("every ended link was asked for at once")

    monkeypatch.setattr(type(reader.world.past), "ended_links", whole)
    for world in worlds:
        for user in (None, "u0001"):
            for size in (1, 4, 1_000):
                pages = list(link_pages(world, user, size))
                assert [k for page in pages for k in page] == expected[id(world), user], (world.position, size)
                assert all(len([k for k in page if k.state != "linked"]) <= size for page in pages)
            written = b"".join(json_pieces(state_document(world, user, links_as_objects=True), default=link_json))
            doc = json.loads(written)
            assert doc["links"] == [link_json(k) for k in expected[id(world), user]]


def test_a_document_with_lists_given_a_part_at_a_time_is_written_as_the_whole_document() -> None:
    """`json_pieces` joins to `json_bytes` of the same document with each iterator made its list: wherever the
    iterated values stand among the keys, however many, empty or not, with empty parts, and with escapes."""
    parts = [[{"a": 1}, {"b": "\u202e"}], [], [{"c": [1, 2]}]]
    shapes: list[dict[str, Any]] = [
        {"x": parts},
        {"x": parts, "y": 2},
        {"w": "\u0085", "x": parts, "y": {"z": None}},
        {"w": 1, "x": [], "v": [[], [3]], "y": parts},
    ]
    for shape in shapes:
        given = {k: iter(v) if isinstance(v, list) else v for k, v in shape.items()}
        whole = {k: [e for part in v for e in part] if isinstance(v, list) else v for k, v in shape.items()}
        joined = b"".join(json_pieces(given))
        assert joined == json_bytes(whole), joined
        assert b"\\u202e" in joined  # escaped as `json_bytes` escapes it
    for plain in ({"p": 1}, [1, 2], "s"):
        assert list(json_pieces(plain)) == [json_bytes(plain)]
