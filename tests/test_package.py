"""The distribution installs one import name, `syncledger`, and runs as `python -m syncledger`.

The repository keeps ledger/, projections/ and tools/ at its top level; installed, they must not land in
site-packages under those names, where any other distribution's `tools` would collide with them."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_adds_only_syncledger_and_runs_as_a_module(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), str(REPO_ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("syncledger-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith((".dist-info", ".data"))}
    assert top_level == {"syncledger"}
    for part in ("ledger", "projections", "tools"):
        assert f"syncledger/{part}/__init__.py" in names
    assert "syncledger/__main__.py" in names and "syncledger/tools/scenarios/demo.yaml" in names

    # installed into a folder of its own, ahead of the editable install on the path, it runs by itself
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert {p.name for p in target.iterdir() if not p.name.endswith(".dist-info") and p.name != "bin"} == {"syncledger"}
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("SYNCLEDGER_DB", None)
    where = subprocess.run(
        [sys.executable, "-c", "import syncledger.tools.cli, syncledger; print(syncledger.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=True,
    )
    assert where.stdout.strip().startswith(str(target))
    rules = subprocess.run(
        [sys.executable, "-m", "syncledger", "rules"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert rules.returncode == 0, rules.stderr
    assert "CONTACT-DEL-CRM-OWNER" in rules.stdout
    demo = subprocess.run(
        [sys.executable, "-m", "syncledger", "demo", "--db", str(tmp_path / "demo.db")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert demo.returncode == 0, demo.stderr
