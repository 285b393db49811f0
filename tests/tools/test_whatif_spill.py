"""`whatif` on a ledger of any size keeps what grows with the ledger in a temporary file (`whatif_spill`): its
answer is the one the in-memory notes give, document for document, on a generated organisation (some users on
server-side sync, laptops that go offline) at several points, on every back end, with the spill forced small
enough that causes, decisions and both worlds' pasts really go to the file."""

from __future__ import annotations

import io
import json
from datetime import datetime

from syncledger.projections.reader import Reader, open_reader
from syncledger.tools.explain.whatif import Question, answer, lines
from syncledger.tools.explain.whatif_spill import Spill
from syncledger.tools.perf.generate import write_lines
from syncledger.tools.transfer import import_actions
from tests.conftest import Locations

QUESTIONS = [
    Question("server_side"),
    Question("outlook_client"),
    Question("server_side", frozenset({"u0001", "u0002", "u0003"}), {"distinct_logical_deletes": True}),
]


def _points(reader: Reader) -> list[datetime | None]:
    last = reader.world.position
    times = [reader.event(last * k // 3) for k in (1, 2)]
    return [*(e.at for e in times if e is not None), None]


def test_the_spilled_answer_is_the_in_memory_answer(stored: Locations) -> None:
    """On the ledgers a what-if reads from disk (SQLite and PostgreSQL: conftest's `stored`)."""
    out = io.BytesIO()
    write_lines(out, 8, 100, 4, 3_000, server_side=0.3)
    reader = open_reader(stored.new())
    import_actions(reader.ledger, out.getvalue().splitlines(keepends=True))
    store = reader.ledger.store
    assert b'"do":"offline"' in out.getvalue()  # laptops go offline: the rewriter holds their actions back
    seen = {"differences": 0, "skipped": 0, "retimed": 0}
    try:
        for at in _points(reader):
            for question in QUESTIONS:
                asked = Question(question.method, question.users, question.org, at)
                in_memory = answer(store.read(), asked)
                with Spill(store.mapper, every=50) as spill:
                    spilled = answer(store.read(), asked, spill.notes)
                    ledger_file, whatif_file = (s.db for s in spill.files)
                    for db in (ledger_file, whatif_file):  # what was spilled, on each side
                        for table in ("whatif_causes", "whatif_marks", "past_actions"):
                            assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] > 0, table
                assert json.dumps(spilled.document()) == json.dumps(in_memory.document()), (question, at)  # in order
                assert lines(spilled) == lines(in_memory)
                seen["differences"] += len(in_memory.differences)
                seen["skipped"] += len(in_memory.skipped)
                seen["retimed"] += in_memory.retimed
    finally:
        reader.close()
    assert all(seen.values()), seen  # the answers compared hold differences, skipped and re-timed actions
