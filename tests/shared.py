"""What the tests read of the shared folder beside the clone (../shared: the spec, its example scenarios, its
Contoso sample). CI clones the repository where ../shared is not beside it, so the repository keeps a copy of each
part and the tests read the copy, everywhere; where ../shared is there, the copy must also equal it, so that a
change of the spec is copied in, in the same commit as the code and tests it changes."""

from __future__ import annotations

import hashlib
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SHARED = TESTS.parents[1] / "shared"  # absent in CI's clone and in a git worktree beside the main checkout
SPEC = TESTS / "fixtures" / "spec"  # the copies of ../shared/spec/*.md the tests read
SCENARIOS = TESTS / "scenarios"  # the shared examples are kept here, among the project's own scenario files
SHARED_SCENARIOS = SPEC / "shared-scenarios.sha256"  # which of them are the shared examples (`sha256sum -c`)


def same_as_shared(copy: Path, original: Path) -> bytes:
    """The copy's bytes, after checking that they are the original's where the original is there."""
    kept = copy.read_bytes()
    if original.exists():
        assert kept == original.read_bytes(), f"{copy} differs from {original}: copy it again"
    return kept


def spec(name: str, shared: Path = SHARED) -> str:
    """tests/fixtures/spec/NAME, the repository's copy of ../shared/spec/NAME."""
    return same_as_shared(SPEC / name, shared / "spec" / name).decode()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shared_scenarios(manifest: Path = SHARED_SCENARIOS) -> dict[str, str]:
    """The shared example scenarios the repository keeps in tests/scenarios: file name -> SHA-256 of its text."""
    rows = (line.split() for line in manifest.read_text().splitlines() if line.strip())
    return {name: sha for sha, name in rows}
