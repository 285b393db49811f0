"""The HTML timeline of `syncledger history --html` in a real browser: Debian's chromium, headless, driven by
playwright. The lanes and the rule labels render, nothing is fetched, no console error is logged, and a history
of more than 1,000 events still renders and filters.

Needs `apt-get install chromium` and `pip install playwright` (never `playwright install`: the package must not
download a browser). Without them the tests skip, unless SYNCLEDGER_REQUIRE_BROWSER=1 (CI), where they fail.
Set SYNCLEDGER_SCREENSHOT=docs/history-timeline.png to refresh the README's screenshot from the demo."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

Run = Callable[..., subprocess.CompletedProcess[str]]
CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _missing_browser() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is missing (pip install playwright; no 'playwright install')"
    return None


def _require_browser() -> None:
    """Skip without chromium or playwright; fail instead where the browser is required (CI)."""
    missing = _missing_browser()
    if missing is None:
        return
    if os.environ.get("SYNCLEDGER_REQUIRE_BROWSER") == "1":
        pytest.fail(f"SYNCLEDGER_REQUIRE_BROWSER=1 but {missing}")
    pytest.skip(missing)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


class OpenPage:
    """A page opened on a local file, recording console errors, page errors and every request."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.url = path.as_uri()
        self.page.goto(self.url)

    def close(self) -> None:
        self.page.close()


def _history(run_cli: Run, db: Path, ref: str, html: Path) -> dict[str, Any]:
    result = run_cli("history", ref, "--json", "--html", html, "--db", db)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _decisions(doc: dict[str, Any]) -> list[str]:
    return [e["rule"] for g in doc["groups"] for e in g["events"] if e["rule"]]


def _assert_lanes_render(page: Any) -> None:
    heads = page.locator(".lanes .lane-head")
    assert heads.count() == 3
    texts = heads.all_inner_texts()
    assert texts[0] == "CRM" and texts[1].startswith("Link") and "Outlook" in texts[2]
    for i in range(3):
        box = heads.nth(i).bounding_box()
        assert heads.nth(i).is_visible() and box is not None and box["width"] > 150


@pytest.mark.parametrize("ref", ["outlook:alice/c1", "crm:c1"])
def test_the_demo_timeline_renders_lanes_rule_labels_and_details(
    ref: str, browser: Any, run_cli: Run, tmp_path: Path
) -> None:
    db, html = tmp_path / "demo.db", tmp_path / "c1.html"
    assert run_cli("demo", "--db", db).returncode == 0
    doc = _history(run_cli, db, ref, html)
    opened = OpenPage(browser, html)
    page = opened.page
    _assert_lanes_render(page)
    labels = page.locator(".timeline .row .rule")
    assert labels.all_inner_texts() == _decisions(doc)  # one label per decision, in order
    assert all(box and box["width"] > 40 for box in (labels.nth(i).bounding_box() for i in range(labels.count())))
    assert page.locator(".sync").count() == sum(1 for g in doc["groups"] if g["sync"])
    assert page.locator(".row").count() == doc["count"]

    row = page.locator('.row[data-rule="CONTACT-DEL-CRM-NONOWNER"]')
    hover = row.get_attribute("title") or ""
    assert "outlook:alice/c1 deleted" in hover and "link: c1 (synced) -> -" in hover  # a summary on hover
    details = page.locator(f"#more-{row.get_attribute('data-pos')}")
    assert not details.is_visible()
    row.click()
    assert details.is_visible() and "the Outlook contact is deleted" in details.inner_text()

    page.screenshot(path=str(tmp_path / "timeline.png"))
    if os.environ.get("SYNCLEDGER_SCREENSHOT") and ref.startswith("outlook:"):  # the README's "Alice's contact"
        row.click()  # closed again, and the pointer away: the timeline as it opens
        page.mouse.move(0, 0)
        page.evaluate("document.activeElement.blur()")
        page.locator("body").screenshot(path=os.environ["SYNCLEDGER_SCREENSHOT"])
    assert opened.errors == []
    assert opened.requests == [opened.url]  # self-contained: nothing else is fetched
    opened.close()


def test_the_page_shows_why_reasons_in_rows_and_causes_as_links(browser: Any, run_cli: Run, tmp_path: Path) -> None:
    db, html = tmp_path / "demo.db", tmp_path / "c1.html"
    assert run_cli("demo", "--db", db).returncode == 0
    _history(run_cli, db, "outlook:alice/c1", html)
    why = json.loads(run_cli("why", "outlook:alice/c1", "--json", "--db", db).stdout)
    opened = OpenPage(browser, html)
    page = opened.page

    answer = page.locator(".why")  # the `why` answer, on top of the page, before the timeline
    assert answer.is_visible() and why["now"] in answer.inner_text()
    assert all(step["sentence"] in answer.inner_text() for step in why["chain"])
    positions = answer.locator(".pos")  # each step's position: a link to its row, or text if not in this history
    assert positions.all_inner_texts() == [f"@{step['position']}" for step in why["chain"]]
    links = answer.locator("a.pos")
    assert links.count() >= 2 and all(page.locator(link).count() == 1 for link in links.evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    ))  # fmt: skip
    merged = [step for step in why["chain"] if len(step["causes"]) > 1 or step["read"]]
    assert merged and all(step["read"] in answer.inner_text() for step in merged if step["read"])
    assert answer.locator(".note a.cause").count() >= 1  # "Because of @N" links to the cause's row
    box = answer.bounding_box()
    assert box is not None and box["y"] < page.locator(".timeline").bounding_box()["y"]

    row = page.locator('.row[data-rule="CONTACT-DEL-CRM-NONOWNER"]')
    reason = row.locator(".reason")  # the reason in the row itself, before any click
    assert reason.is_visible() and "alice was not its owner when it was deleted" in reason.inner_text()
    assert page.locator(".row[data-rule] .reason").count() == page.locator(".timeline .row .rule").count()
    cause = reason.locator("a.pos")
    assert cause.inner_text() == f"@{_cause(page, row)}"

    page.locator("#decisions-only").check()  # the cause's row is an action: hidden by the filter...
    target = page.locator(f"#e-{_cause(page, row)}")
    assert not target.is_visible()
    cause.click()  # ...and the link shows it again, in view below the sticky lane headers
    assert page.url.endswith(f"#e-{_cause(page, row)}")
    assert target.is_visible() and target.evaluate("e => e.matches(':target')")
    top, head = target.bounding_box(), page.locator(".lanes").bounding_box()
    assert top is not None and head is not None and top["y"] >= head["y"] + head["height"] - 1
    assert not page.locator(f"#more-{row.get_attribute('data-pos')}").is_visible()  # a link is not a click on the row

    row.locator(".when").click()
    labels = page.locator(f"#more-{row.get_attribute('data-pos')} dt").all_inner_texts()
    assert "the rule says" in labels and "caused by" in labels and "sentence" not in labels, labels
    assert opened.errors == []
    assert opened.requests == [opened.url]
    opened.close()


def _cause(page: Any, row: Any) -> int:
    """The position a decision's row names as its cause (from the page's own details)."""
    pos = row.get_attribute("data-pos")
    text = page.locator(f"#more-{pos} dt:text-is('caused by') + dd").text_content() or ""
    return int(text.strip().removeprefix("@"))


def _busy_record(updates: int) -> dict[str, Any]:
    """One contact edited in CRM again and again, with Alice syncing every other edit and editing her copy."""
    steps: list[dict[str, Any]] = [
        {"do": "crm.create", "actor": "bob", "record": "c1", "type": "contact", "fields": {"phone": "0"}},
        {"do": "crm.share", "actor": "bob", "record": "c1", "with": "alice"},
        {"do": "sync", "user": "alice"},
    ]
    for n in range(1, updates + 1):
        steps.append({"do": "crm.update", "actor": "bob", "record": "c1", "fields": {"phone": str(n)}})
        if n % 2 == 0:
            steps.append({"do": "sync", "user": "alice"})
        if n % 7 == 0:
            steps.append({"do": "outlook.update", "user": "alice", "item": "c1", "fields": {"title": f"t{n}"}})
    return {
        "title": "A busy contact",
        "start": "2026-03-02T09:00:00Z",
        "users": {"alice": {"sync_filter": "owned_and_shared"}, "bob": {}},
        "steps": steps,
    }


def test_a_history_of_more_than_1000_events_still_renders(browser: Any, run_cli: Run, tmp_path: Path) -> None:
    scenario, db, html = tmp_path / "busy.yaml", tmp_path / "busy.db", tmp_path / "busy.html"
    scenario.write_text(yaml.safe_dump(_busy_record(700)), encoding="utf-8")
    assert run_cli("run", scenario, "--db", db).returncode == 0
    doc = _history(run_cli, db, "crm:c1", html)
    rules = _decisions(doc)
    assert doc["count"] > 1000 and len(rules) > 400
    opened = OpenPage(browser, html)
    page = opened.page
    _assert_lanes_render(page)
    assert page.locator(".row").count() == doc["count"]
    assert page.locator(".timeline .row .rule").count() == len(rules)
    assert page.locator(".sync").count() == sum(1 for g in doc["groups"] if g["sync"])

    cut = page.evaluate(
        "Array.from(document.querySelectorAll('.row .when')).filter(e => e.scrollWidth > e.clientWidth)"
        ".map(e => e.textContent)"
    )
    assert cut == []  # the time column fits "@1234 2026-03-02 11:15:00": no position or second is cut
    assert page.locator(".row .when").last.inner_text().startswith(f"@{doc['groups'][-1]['events'][-1]['position']} ")
    assert page.locator(".row[data-rule] .reason").count() == len(rules)

    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    head = page.locator(".lanes").bounding_box()
    assert head is not None and abs(head["y"]) < 1  # the lane headers stay in view at the end of a long timeline
    assert page.locator(".row").last.is_visible()

    page.locator("#decisions-only").check()
    assert page.locator("#shown").inner_text() == str(len(rules))
    page.locator("#search").fill("crm-edit-pull")
    assert page.locator("#shown").inner_text() == str(rules.count("CRM-EDIT-PULL"))
    assert opened.errors == []
    assert opened.requests == [opened.url]
    opened.close()


def test_a_missing_browser_skips_or_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    """The switch CI relies on: a skip that names what to install, or a failure under SYNCLEDGER_REQUIRE_BROWSER=1."""
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", Path("/nonexistent/chromium"))
    monkeypatch.delenv("SYNCLEDGER_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        _require_browser()
    monkeypatch.setenv("SYNCLEDGER_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="SYNCLEDGER_REQUIRE_BROWSER=1"):
        _require_browser()
