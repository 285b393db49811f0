"""A checkpoint changed with SQL and sealed again (anyone who can edit a ledger without a seal key can) is not used:
the state is folded from the events instead, with one warning, and `verify` reports it. Each change below is one
that makes the decoder meet a value of the wrong type, as found by changing each of a checkpoint's fields in turn;
and an error of the program itself while folding is not taken for a damaged checkpoint."""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from syncledger.ledger import application
from syncledger.ledger.evolve import evolve
from syncledger.projections import sealing
from syncledger.projections.codec import ZSTD_FRAME, compressed, decompressed
from syncledger.projections.document import LINKS_PAGE, state_document
from syncledger.projections.integrity import verify
from syncledger.projections.reader import Reader, open_reader
from syncledger.projections.sealing import checkpoint_seal
from tests import randomwalk
from tests.changes import dropping, setting
from tests.reference import world_at

EVERY = 30


def _ledger(tmp_path: Path) -> str:
    location = str(tmp_path / "ledger.db")
    reader = open_reader(location, checkpoint_every=EVERY)
    for action in randomwalk.actions(5, 70):
        reader.ledger.append([action])
    reader.close()
    return location


def _reseal(
    location: str,
    position: int,
    change: Callable[[dict[str, Any]], None],
    compress: Callable[[bytes], bytes] = compressed,
) -> None:
    """Change the checkpoint at `position` and seal it again, as the ledger would (it has no seal key)."""
    reader = open_reader(location)
    try:
        with sqlite3.connect(location) as db:
            (state,) = db.execute("SELECT state FROM syncledger_checkpoints WHERE position = ?", (position,)).fetchone()
            data = orjson.loads(decompressed(bytes(state)))
            change(data)
            blob = compress(orjson.dumps(data))
            db.execute(
                "UPDATE syncledger_checkpoints SET state = ?, seal = ? WHERE position = ?",
                (blob, checkpoint_seal(reader.ledger.store, position, blob), position),
            )
    finally:
        reader.close()


def _full_checkpoint(location: str) -> int:
    with sqlite3.connect(location) as db:
        rows = db.execute("SELECT position, state FROM syncledger_checkpoints ORDER BY position").fetchall()
    return next(p for p, s in rows if orjson.loads(decompressed(bytes(s)))["base"] is None)


def _delta_checkpoint(location: str) -> int:
    with sqlite3.connect(location) as db:
        rows = db.execute("SELECT position, state FROM syncledger_checkpoints ORDER BY position").fetchall()
    return next(p for p, s in rows if orjson.loads(decompressed(bytes(s)))["base"] is not None)


def _in_first(key: str, field: int, value: Any) -> Callable[[dict[str, Any]], None]:
    """The `field`th value of the first row under `key` set to `value`."""

    def change(data: dict[str, Any]) -> None:
        data[key][0][field] = value

    return change


def _in_first_users(key: str, field: int, value: Any) -> Callable[[dict[str, Any]], None]:
    """The `field`th value of the first row under `key` of the first user who has one set to `value`."""

    def change(data: dict[str, Any]) -> None:
        next(u for u in data["users"] if u[key])[key][0][field] = value

    return change


# (which checkpoint, the change, what the decoder met)
CHANGES = {
    "time-a-number": ("full", setting("at", 0), "TypeError"),
    "records-a-text": ("full", setting("records", "x"), "IndexError"),
    "organisation-missing": ("full", dropping("org"), "KeyError"),
    "position-another": ("full", setting("position", 7), "not one of that position"),
    "items-gone-null": ("delta", setting("items_gone", None), "AttributeError"),
    # a name or a word that is not a text: the decoder interns them (`sys.intern`), which refuses it, where a
    # world with a number for a record's type would have been used
    "record-type-a-number": ("full", _in_first("records", 1, 5), "TypeError"),
    "link-rule-a-list": ("full", _in_first_users("links", 5, ["x"]), "TypeError"),
    # decodes, and is used as it is at its own position (a checkpoint sealed again on a ledger without a seal key
    # is the ledger's: README, "Derived data never decides unverified"); the events after it name its users
    "users-none": ("full", setting("users", []), "do not apply"),
}


@pytest.mark.parametrize("name", list(CHANGES))
def test_a_checkpoint_changed_and_sealed_again_is_not_used(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sealing, "_WARNED", set())  # a warning is printed once per process: this test's, here
    which, change, met = CHANGES[name]
    location = _ledger(tmp_path)
    position = _full_checkpoint(location) if which == "full" else _delta_checkpoint(location)
    _reseal(location, position, change)
    reader = open_reader(location)
    try:
        store = reader.ledger.store
        for at in (position, position + 3) if name != "users-none" else (position + 3,):
            assert reader.projector.world_at(at) == world_at(store, at), at
            # and a state document, made from the checkpoint's rows where it can be (`projections.glimpse`)
            expected = state_document(world_at(store, at), None, 0, LINKS_PAGE)
            assert orjson.dumps(reader.state_at(at, None, 0, LINKS_PAGE)) == orjson.dumps(expected), at
        said = capsys.readouterr().err
        # one line for each checkpoint that was not used: this one, and any delta onto it
        assert f"checkpoint at {position} cannot be" in said and met in said, said
        assert all(line.startswith("syncledger: warning: the checkpoint at") for line in said.splitlines()), said
        report = verify(store, reader.projector.models)
        assert (position, "checkpoint") in [(f.position, f.check) for f in report.findings], report.findings
    finally:
        reader.close()


def test_an_error_of_the_program_while_folding_onto_a_checkpoint_is_not_taken_for_a_damaged_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An AttributeError raised by the fold itself (a bug) used to be caught as "the checkpoint cannot be used",
    and the state folded again from the start: the bug hidden behind a warning about the data."""
    location = _ledger(tmp_path)
    reader: Reader = open_reader(location)
    position = _full_checkpoint(location)
    failed = []

    def evolve_with_a_bug(world: Any, event: Any, at: int) -> None:
        if not failed:
            failed.append(at)
            raise AttributeError("a bug")
        evolve(world, event, at)

    monkeypatch.setattr(application, "evolve", evolve_with_a_bug)  # what `fold_stored` calls
    try:
        with pytest.raises(AttributeError, match="a bug"):
            reader.projector.world_at(position + 3)
    finally:
        reader.close()


def test_a_checkpoint_compressed_with_zlib_as_before_format_19_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checkpoints are Zstandard frames now; those a ledger wrote before are zlib streams, and are read as they
    are (no rebuild)."""
    location = _ledger(tmp_path)
    position = _full_checkpoint(location)
    _reseal(location, position, lambda data: None, zlib.compress)
    reader = open_reader(location)
    try:
        assert reader.projector.world_at(position + 3) == world_at(reader.ledger.store, position + 3)
        assert capsys.readouterr().err == ""
    finally:
        reader.close()


def test_a_frame_that_says_it_holds_a_terabyte_is_refused_before_room_is_made_for_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sealing, "_WARNED", set())
    location = _ledger(tmp_path)
    position = _full_checkpoint(location)
    # a frame header with a content size of 2**40 bytes, and one empty last block
    bomb = ZSTD_FRAME + bytes([0xE0]) + (1 << 40).to_bytes(8, "little") + b"\x01\x00\x00"
    _reseal(location, position, lambda data: None, lambda _: bomb)
    reader = open_reader(location)
    try:
        assert reader.projector.world_at(position + 3) == world_at(reader.ledger.store, position + 3)
        said = capsys.readouterr().err
        assert f"the checkpoint at {position} cannot be" in said and "ValueError" in said, said
    finally:
        reader.close()
