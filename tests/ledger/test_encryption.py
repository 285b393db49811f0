"""Encryption at rest: with SYNCLEDGER_CIPHER_KEY set, no file the ledger writes holds a subject in plaintext,
and a wrong or missing key fails with one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
from eventsourcing.cipher import AESCipher

SUBJECT = "Confidential merger with Fabrikam"


def _scenario(path: Path) -> Path:
    scenario = path / "secret.yaml"
    scenario.write_text(
        "title: a secret\nusers: {alice: {}}\nsteps:\n"
        f"  - {{do: outlook.create, user: alice, item: m1, type: email, fields: {{subject: {SUBJECT}}}}}\n"
        "  - {do: outlook.track, user: alice, item: m1}\n"
        f"  - {{do: crm.create, actor: alice, record: t1, type: task, fields: {{subject: {SUBJECT}}}}}\n"
        "  - {do: sync, user: alice}\n"
    )
    return scenario


def test_no_file_the_ledger_wrote_contains_a_subject_and_a_wrong_key_fails_clearly(
    tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = AESCipher.create_key(32)
    monkeypatch.setenv("SYNCLEDGER_CIPHER_KEY", key)
    db = tmp_path / "ledger.db"
    assert run_cli("run", _scenario(tmp_path), "--db", db).returncode == 0
    assert run_cli("state", "--db", db).returncode == 0  # reading also writes read models and checkpoints
    written = [p for p in tmp_path.iterdir() if p.name.startswith("ledger.db")]
    assert written
    for path in written:
        assert SUBJECT.encode() not in path.read_bytes(), path.name
        assert b"Fabrikam" not in path.read_bytes(), path.name
    assert SUBJECT in run_cli("state", "--json", "--db", db).stdout  # with the key, it reads back

    monkeypatch.setenv("SYNCLEDGER_CIPHER_KEY", AESCipher.create_key(32))
    wrong = run_cli("state", "--db", db)
    assert wrong.returncode == 2 and "is SYNCLEDGER_CIPHER_KEY the ledger's key?" in wrong.stderr
    assert wrong.stderr.count("\n") == 1 and "Traceback" not in wrong.stderr
    monkeypatch.delenv("SYNCLEDGER_CIPHER_KEY")
    missing = run_cli("state", "--db", db)
    assert missing.returncode == 2 and "looks encrypted" in missing.stderr
