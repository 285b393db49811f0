"""The copies of ../shared the tests read (tests/shared.py): a copy that no longer equals its original fails
wherever the original is beside the clone, and the copy alone is read where it is not (CI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.shared import SPEC, digest, same_as_shared, shared_scenarios, spec


def test_a_copy_is_read_as_it_is_and_must_equal_its_original_where_that_is_there(tmp_path: Path) -> None:
    copy, original = tmp_path / "copy.md", tmp_path / "original.md"
    copy.write_text("| RULE-ONE | ... |\n")
    assert same_as_shared(copy, original) == b"| RULE-ONE | ... |\n"  # no original: the copy alone
    original.write_text("| RULE-ONE | ... |\n")
    assert same_as_shared(copy, original) == b"| RULE-ONE | ... |\n"
    original.write_text("| RULE-ONE | ... |\n| RULE-TWO | ... |\n")  # the spec moved on; the copy did not
    with pytest.raises(AssertionError, match="differs from .*original.md: copy it again"):
        same_as_shared(copy, original)


def test_the_spec_pages_are_read_from_the_copy_and_checked_against_a_shared_folder(tmp_path: Path) -> None:
    (tmp_path / "spec").mkdir()
    assert spec("RULES.md", tmp_path).startswith("# The synchronisation rules")  # nothing shared: the copy
    (tmp_path / "spec" / "RULES.md").write_bytes((SPEC / "RULES.md").read_bytes())
    assert spec("RULES.md", tmp_path) == (SPEC / "RULES.md").read_text()
    (tmp_path / "spec" / "RULES.md").write_text("# another spec\n")
    with pytest.raises(AssertionError, match="copy it again"):
        spec("RULES.md", tmp_path)


def test_the_list_of_shared_examples_reads_as_sha256sum_writes_it(tmp_path: Path) -> None:
    example = tmp_path / "example.yaml"
    example.write_text("title: x\n")
    sha = "152f6f6e12c83825d541fc650946a2d479475e3956a864c5df266652fc7a82d7"  # `printf 'title: x\n' | sha256sum`
    assert digest(example) == sha
    manifest = tmp_path / "list.sha256"
    manifest.write_text(f"{sha}  example.yaml\n\n")
    assert shared_scenarios(manifest) == {"example.yaml": sha}
