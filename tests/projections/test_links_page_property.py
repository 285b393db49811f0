"""Paged links equal the full list (issue 15), as a property: any history, any past position, everyone or one user,
any page size; pages read from the archive's table (a reopened ledger) or from memory. And through the command,
as of a past position or time: `state --links N --links-after M` page after page equals `--links all`."""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncledger.ledger import vocabulary as v
from syncledger.ledger.world import World
from syncledger.projections.document import state_document
from syncledger.projections.reader import open_reader
from syncledger.tools.perf.generate import write_lines
from tests.conftest import Locations
from tests.strategies import USERS, histories

Run = Callable[..., subprocess.CompletedProcess[str]]


def _pages(world: World, limit: int, user: str | None) -> list[dict[str, Any]]:
    """Every page's links, one page after another, checking what each page says of itself."""
    listed: list[dict[str, Any]] = []
    after = 0
    while True:
        doc = state_document(world, user, links_after=after, links_limit=limit)
        assert len(doc["links"]) <= limit
        listed += doc["links"]
        page = doc.get("links_page")
        if page is None or page["complete"]:
            assert page is None or page["next_after"] is None
            return listed
        assert page["listed"] == limit == len(doc["links"]) and page["after"] == after
        assert page["next_after"] > after  # each page starts after the one before: no page is listed twice
        after = page["next_after"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    history=histories(max_actions=60),
    where=st.floats(min_value=0, max_value=1),
    limit=st.integers(min_value=1, max_value=6),
    user=st.sampled_from([None, *USERS]),
)
def test_pages_of_links_one_after_another_equal_the_full_list(
    history: list[v.Action], where: float, limit: int, user: str | None, locations: Locations
) -> None:
    reader = open_reader(locations.new(), checkpoint_every=13)
    try:
        for action in history:
            reader.ledger.append([action])
        if reader.ledger.store.url is not None:  # the past read back from the archive's table, as a new process does
            url = reader.ledger.store.url
            reader.close()
            reader = open_reader(url, checkpoint_every=13)
        position = round(where * reader.world.position)
        world = reader.world_at(position)
        every = state_document(world)["links"]
        full = state_document(world, user)["links"]
        assert full == [k for k in every if user is None or k["user"] == user]
        assert _pages(world, limit, user) == full
    finally:
        reader.close()


def _org(events: int) -> bytes:
    out = io.BytesIO()
    write_lines(out, 6, 100, 3, events)
    return out.getvalue()


def _state(run_cli: Run, *args: object) -> dict[str, Any]:
    done = run_cli("state", "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_state_pages_as_of_a_past_position_or_time_and_for_a_user_equal_every_link(
    tmp_path: Path, run_cli: Run
) -> None:
    lines = tmp_path / "org.jsonl"
    lines.write_bytes(_org(1_500))
    db = tmp_path / "l.db"
    assert run_cli("import", lines, "--db", db).returncode == 0
    now = _state(run_cli, "--links", "all", "--db", db)
    past = now["position"] * 2 // 3
    at = _state(run_cli, "--position", past, "--links", "1", "--db", db)["at"]
    timed = _state(run_cli, "--at", at, "--links", "1", "--db", db)["position"]  # the last event of that time
    assert timed >= past
    user = next(k["user"] for k in now["links"] if k["state"] == "unlinked")
    asked = {
        "position": ("--position", past),
        "time": ("--at", at),
        "position and user": ("--position", past, "--user", user),
        "time and user": ("--at", at, "--user", user),
    }
    for what, where in asked.items():
        every = _state(run_cli, *where, "--links", "all", "--db", db)
        assert every["position"] == (past if "--position" in where else timed) and "links_page" not in every, what
        assert any(k["state"] == "unlinked" for k in every["links"]), f"{what}: ended links are listed too"
        listed, after = [], 0
        size = len(every["links"]) // 3 + 1  # three or four pages (each one a command)
        while True:
            page = _state(run_cli, *where, "--links", size, "--links-after", after, "--db", db)
            assert {k: val for k, val in page.items() if k not in ("links", "links_page")} == {
                k: val for k, val in every.items() if k != "links"
            }, what
            listed += page["links"]
            if "links_page" not in page or page["links_page"]["complete"]:
                break
            after = page["links_page"]["next_after"]
        assert listed == every["links"], what
