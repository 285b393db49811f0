"""The documentation that ships with syncledger says what the code does: the README's scenario is the file its
tour runs, docs/SCENARIOS.md and `syncledger do --help` name every verb and its keys, every command is in the
reference, and the tour appends with explicit times."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from syncledger.ledger import vocabulary as v
from syncledger.tools.inputs import valid_keys

Run = Callable[..., subprocess.CompletedProcess[str]]
ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
REFERENCE = (ROOT / "docs" / "SCENARIOS.md").read_text(encoding="utf-8")


def _tour() -> str:
    return README.split("## A short tour", 1)[1].split("\n## ", 1)[0]


def test_the_readmes_scenario_is_the_file_the_tour_runs() -> None:
    block = re.search(r"```yaml\n(.*?)```", _tour(), re.DOTALL)
    assert block is not None
    ran = re.search(r"syncledger run (tests/scenarios/\S+\.yaml)", _tour())
    assert ran is not None
    assert block.group(1) == (ROOT / ran.group(1)).read_text(encoding="utf-8")


def test_the_tour_appends_with_explicit_times() -> None:
    appends = [line for line in _tour().splitlines() if line.startswith("syncledger do ") and "--help" not in line]
    assert appends and all("--at " in line for line in appends), appends


def test_the_readme_links_only_to_files_in_the_repository() -> None:
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if "://" not in target:
            assert (ROOT / target).exists(), target


def test_the_readme_says_what_the_tests_need_and_take() -> None:
    setup = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"The whole suite [^.]*takes about \d+ minutes", setup), setup
    assert "Chromium" in setup and "PostgreSQL" in setup


def test_the_reference_names_every_verb_and_its_keys() -> None:
    rows = {m[0]: m[1] for m in re.findall(r"^\| `([a-z_.]+)`(?:, `[a-z_.]+`)? \| ([^|]*) \|", REFERENCE, re.M)}
    for pair in re.findall(r"^\| `([a-z_.]+)`, `([a-z_.]+)` \| ([^|]*) \|", REFERENCE, re.M):
        rows[pair[1]] = pair[2]
    for do, cls in v.ACTION_CLASSES.items():
        assert do in rows, do
        for key in valid_keys(cls):
            assert key in rows[do], (do, key)


def test_the_reference_names_every_command(run_cli: Run) -> None:
    listed = run_cli("--help").stdout.split("Commands:", 1)[1]
    commands = [line.split()[0] for line in listed.splitlines() if line.startswith("  ") and line.split()]
    assert len(commands) > 10
    for command in commands:
        assert re.search(rf"`(syncledger )?{command}[ `]", REFERENCE), command


def test_do_help_lists_every_verb_with_its_keys(run_cli: Run) -> None:
    text = run_cli("do", "--help").stdout
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ") and line.split()}
    for do, cls in v.ACTION_CLASSES.items():
        assert do in lines, do
        for key in valid_keys(cls):
            assert re.search(rf"\b{key}[=.]", lines[do]), (do, key, lines[do])
    assert "[fields.NAME=VALUE]" in lines["crm.create"] and "type=contact|appointment" in lines["crm.create"]


def test_the_references_baseline_example_runs_and_passes(run_cli: Run, tmp_path: Path) -> None:
    section = REFERENCE.split("### Starting from a baseline", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block is not None
    scenario = tmp_path / "baseline-example.yaml"
    scenario.write_text(block.group(1))
    result = run_cli("run", scenario)
    assert result.returncode == 0 and result.stdout.startswith("ok "), result.stdout + result.stderr
