"""The command line guarded as a whole: commands only wire (nothing imports them), every command is documented
with an example that `--help` shows as written, the commands are listed in a chosen order, and a bare
`syncledger` shows the usage."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from syncledger.tools.cli import load_commands
from syncledger.tools.cli.app import COMMANDS, app

Run = Callable[..., subprocess.CompletedProcess[str]]
REPO = Path(__file__).resolve().parents[2]
PACKAGES = {"ledger": "syncledger.ledger", "projections": "syncledger.projections", "tools": "syncledger.tools"}
ENTRY = "syncledger.tools.cli"  # the `syncledger` entry point: the one module that imports the commands


def _module_name(path: Path) -> str:
    """The import name of a repository file, as installed (tools/package/ is `syncledger` itself)."""
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[:2] == ["tools", "package"]:
        parts = ["syncledger", *parts[2:]]
    elif parts[0] in PACKAGES:
        parts = [*PACKAGES[parts[0]].split("."), *parts[1:]]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, relative imports resolved, `from package import module` included."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _python_files() -> list[Path]:
    return [p for folder in (*PACKAGES, "tests") for p in sorted((REPO / folder).rglob("*.py"))]


def _command_modules() -> set[str]:
    """The modules that register commands on the app, wherever they are."""
    registers = re.compile(r"^@app\.command\b", re.M)
    return {_module_name(p) for p in _python_files() if registers.search(p.read_text(encoding="utf-8"))}


def test_nothing_imports_a_command_module_but_the_entry_point() -> None:
    commands = _command_modules()
    assert commands and all(name.startswith(f"{ENTRY}.") for name in commands), commands
    shared = f"{ENTRY}.app"  # the app and its options: the commands' own (tests may look at the app)
    wrong = []
    for path in _python_files():
        importer = _module_name(path)
        if importer == ENTRY:
            continue
        forbidden = commands if importer in commands or importer.startswith("tests.") else commands | {shared}
        for imported in _imports(path) & forbidden - {importer}:
            wrong.append(f"{path.relative_to(REPO)} imports {imported}")
    assert not wrong, "the work belongs below the command line:\n" + "\n".join(wrong)


def test_imports_flow_one_way_tools_projections_ledger() -> None:
    above = {"ledger": ("syncledger.projections", "syncledger.tools"), "projections": ("syncledger.tools",)}
    wrong = [
        f"{path.relative_to(REPO)} imports {imported}"
        for folder, forbidden in above.items()
        for path in (REPO / folder).rglob("*.py")
        for imported in _imports(path)
        if imported.startswith(forbidden)
    ]
    assert not wrong, wrong


def _registered() -> dict[str, Callable[..., object]]:
    load_commands()
    return {(c.name or c.callback.__name__): c.callback for c in app.registered_commands if c.callback is not None}


def _example(callback: Callable[..., object]) -> list[str]:
    """The lines of a command's `Example:` block, as its docstring has them."""
    doc = inspect.getdoc(callback) or ""
    _, found, block = doc.partition("\b\nExample:\n")
    assert found, f"{callback.__name__}: no '\\b' + 'Example:' block (click rewraps an unmarked paragraph)"
    return [line.strip() for line in block.strip().splitlines()]


def test_every_command_is_in_the_list_and_has_an_example() -> None:
    registered = _registered()
    assert sorted(registered) == sorted(COMMANDS)
    for callback in registered.values():
        assert all(line.startswith(("syncledger ", "SYNCLEDGER_")) for line in _example(callback))


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_the_example_as_written_and_the_readme_names_it(command: str, run_cli: Run) -> None:
    result = run_cli(command, "--help")
    assert result.returncode == 0, result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]
    example = _example(_registered()[command])
    at = lines.index("Example:")
    assert lines[at + 1 : at + 1 + len(example)] == example  # not rewrapped, however long
    assert re.search(rf"`syncledger {command}\b|^syncledger {command}\b", _readme(), re.M), command


def _readme() -> str:
    return (REPO / "README.md").read_text(encoding="utf-8")


def test_help_lists_the_commands_in_the_chosen_order(run_cli: Run) -> None:
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.partition("Commands:")[2].splitlines() if line.strip()]
    assert listed == list(COMMANDS)


def test_a_bare_syncledger_prints_the_usage_as_typer_does(run_cli: Run) -> None:
    result = run_cli()
    assert result.returncode in (0, 2)
    text = result.stdout + result.stderr
    assert text.startswith("Usage: syncledger [OPTIONS] COMMAND [ARGS]...\n")
    assert "\nCommands:\n" in text and all(f"\n  {command} " in text for command in COMMANDS)


@pytest.mark.parametrize(("command", "module"), [("rules", "ledger"), ("why", "audit"), ("bench", "perf")])
def test_a_command_imports_its_own_module_only(command: str, module: str) -> None:
    """The entry point registers the asked command's module, not every one: the others' work (explaining,
    importing, measuring) is not imported for it."""
    program = (
        "import sys\n"
        f"sys.argv = ['syncledger', {command!r}, '--help']\n"
        "from syncledger.tools.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('syncledger.tools'))), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert "Example:" in result.stdout
    imported = set(result.stderr.split())
    commands = {name for name in imported if name.rpartition(".")[0] == ENTRY and name != f"{ENTRY}.app"}
    assert commands == {f"{ENTRY}.{module}"}, commands
    others = {"audit": "explain.story", "perf": "perf.generate"}
    assert all((f"syncledger.tools.{work}" in imported) == (owner == module) for owner, work in others.items())
    assert "syncledger.tools.sources.importer" not in imported
