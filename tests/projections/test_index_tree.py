"""The item index is read checked (`projections.indextree`): a question's rows are exactly the rows that were
sealed, absences included, at the cost of its own leaves. A row of its leaf added, deleted, changed or filed under
another leaf, or a leaf's or group's value changed, is found: the answer comes from the events, with a warning,
and `verify` reports it. A change elsewhere in the index leaves the question answered from the stored rows."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncledger.projections import indextree, sealing, sqlmodels
from syncledger.projections.index import ItemIndex
from syncledger.projections.indextree import (
    EMPTY,
    EMPTY_ROOT,
    GROUPS,
    RowDigest,
    Tree,
    group_digest,
    group_of,
    leaf_of,
    leaf_sums,
    leaves_of,
    root_digest,
    tree_problems,
    value_of,
)
from syncledger.projections.integrity import verify
from syncledger.projections.reader import open_reader
from tests import randomwalk
from tests.conftest import Locations

Row = tuple[str, int, str | None]


def _tree_of(rows: list[Row], digest: RowDigest) -> tuple[dict[int, bytes], dict[int, bytes], bytes]:
    """The tree of `rows` computed whole, from the definition: each leaf the sum of its rows' digests."""
    leaves = {leaf: value_of(total) for leaf, total in leaf_sums(rows, digest).items()}
    groups = {group: group_digest(group, leaves) for group in {group_of(leaf) for leaf in leaves}}
    return leaves, groups, root_digest(groups)


refs = st.sampled_from([f"crm:r{n}" for n in range(40)] + [f"outlook:u{n % 3}/i{n}" for n in range(40)])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(refs, st.sampled_from([None, "RULE-A", "RULE-B"])), max_size=12), max_size=8))
def test_a_tree_grown_batch_by_batch_is_the_tree_of_all_its_rows(batches: list[list[tuple[str, str | None]]]) -> None:
    digest = RowDigest(b"key")
    tree, rows, position = Tree({}, {}, ()), list[Row](), 0
    root = EMPTY_ROOT
    for batch in batches:
        added: list[Row] = []
        for ref, rule in batch:
            position += 1
            added.append((ref, position, rule))
        sums = leaf_sums(added, digest)
        for group in tree.missing(sums):  # as a writer reads them: the stored values of the group's leaves
            tree.learn(group, {leaf: value for leaf, value in tree.leaves.items() if group_of(leaf) == group})
        _, _, root = tree.grow(sums)
        rows.extend(added)
    leaves, groups, whole = _tree_of(rows, digest)
    assert root == whole
    assert {n: v for n, v in tree.leaves.items() if v != EMPTY} == {n: v for n, v in leaves.items() if v != EMPTY}
    assert tree_problems(rows, digest, leaves, groups, root) == []


def test_the_tree_finds_a_row_missing_added_or_changed_and_a_value_changed() -> None:
    digest = RowDigest(b"key")
    rows: list[Row] = [("crm:a", 1, None), ("crm:a", 4, "RULE"), ("outlook:u/i", 2, None), ("crm:b", 3, None)]
    leaves, groups, root = _tree_of(rows, digest)
    assert tree_problems(rows, digest, leaves, groups, root) == []
    a = leaf_of("crm:a", 0)
    for changed in (rows[1:], [*rows, ("crm:a", 5, None)], [("crm:a", 1, "RULE"), *rows[1:]]):
        assert tree_problems(changed, digest, leaves, groups, root) == [
            f"the item index's digest of leaf {a} does not match its rows"
        ]
    assert tree_problems(rows, RowDigest(b"another key"), leaves, groups, root) != []
    forged_leaves = {**leaves, a: value_of(1)}
    assert f"the item index's digest of group {group_of(a)} does not match its leaves" in tree_problems(
        rows, digest, forged_leaves, groups, root
    )
    forged_groups = {**groups, (group_of(a) + 1) % GROUPS: bytes(32)}
    assert tree_problems(rows, digest, leaves, forged_groups, root) == [
        f"the item index's digest of group {(group_of(a) + 1) % GROUPS} does not match its leaves",
        "the item index's digests do not match the root sealed in its last batch",
    ]


# ------------------------------------------------------------------------ stored, on each back end


@pytest.fixture(autouse=True)
def warned_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sealing, "_WARNED", set())  # each warning once per process: each test is a new one


@pytest.fixture
def built(stored: Locations) -> Iterator[str]:
    """A ledger whose read models are caught up, closed: each test opens it as a new process would."""
    location = stored.new()
    reader = open_reader(location, checkpoint_every=40)
    for action in list(randomwalk.actions(7, 330))[:300]:
        reader.ledger.append([action])
    reader.projector.catch_up()
    reader.close()
    assert location is not None
    yield location


def _sql(location: str, statement: str, *params: Any) -> list[Any]:
    """SQL behind the ledger's back."""
    reader = open_reader(location)
    models: Any = reader.projector.models
    cursor = models.db.execute(statement.replace("?", models.mark), params)
    found = cursor.fetchall() if cursor.description else []
    models.db.commit()
    reader.close()
    return list(found)


def _asked(location: str, refs: list[str]) -> tuple[dict[str, list[tuple[int, str | None]]], bool]:
    """What a new process reads of `refs` from the index, and whether it had to read the events for it."""
    reader = open_reader(location)
    models: Any = reader.projector.models
    scanned = []
    rebuild = models.rebuild_index

    def counted(leaves: set[int], upto: int) -> Iterator[Row]:
        scanned.append(leaves)
        return iter(list(rebuild(leaves, upto)))

    models.rebuild_index = counted
    try:
        return {ref: list(reader.index.rows(ref)) for ref in refs}, bool(scanned)
    finally:
        reader.close()


def _busy_refs(location: str) -> tuple[str, str]:
    """Two references with several rows each, in leaves of different groups."""
    reader = open_reader(location)
    counted = sorted(((len(reader.index.rows(ref)), ref) for ref in reader.index.touched if ":" in ref), reverse=True)
    reader.close()
    first = counted[0][1]
    other = next(ref for n, ref in counted[1:] if group_of(leaf_of(ref, 0)) != group_of(leaf_of(first, 0)) and n > 1)
    return first, other


TAMPERINGS = {
    "a row deleted": "DELETE FROM syncledger_index WHERE ref = ? AND position = (SELECT max(position) FROM "
    "syncledger_index WHERE ref = ?)",
    "a row added": "INSERT INTO syncledger_index SELECT ref, 1, NULL FROM syncledger_index WHERE ref = ? "
    "AND ref = ? LIMIT 1",
    "a rule changed": "UPDATE syncledger_index SET rule = 'FORGED' WHERE ref = ? AND position = (SELECT "
    "min(position) FROM syncledger_index WHERE ref = ?)",
    # a question reads the rows of the references listed under its leaf
    "a reference listed under another leaf": "UPDATE syncledger_listed SET leaf = CASE WHEN leaf = 0 THEN 1 "
    "ELSE leaf - 1 END WHERE ref = ? AND ref = ?",
    "a reference left out of its leaf's list": "DELETE FROM syncledger_listed WHERE ref = ? AND ref = ?",
    "a reference listed twice, over the same rows": "INSERT INTO syncledger_listed SELECT leaf, ref, low + 1, high "
    "FROM syncledger_listed WHERE ref = ? AND ref = ?",
}


@pytest.mark.parametrize("tampering", TAMPERINGS)
def test_a_row_of_the_asked_leaf_tampered_with_is_found_and_the_events_answer(
    built: str, tampering: str, capsys: pytest.CaptureFixture[str]
) -> None:
    asked, elsewhere = _busy_refs(built)
    honest, _ = _asked(built, [asked, elsewhere])
    _sql(built, TAMPERINGS[tampering], asked, asked)
    capsys.readouterr()
    found, scanned = _asked(built, [asked])
    assert found == {asked: honest[asked]}
    assert scanned
    assert "warning: the item index" in capsys.readouterr().err
    # another leaf's question is answered from the stored rows, unwarned
    found, scanned = _asked(built, [elsewhere])
    assert (found, scanned) == ({elsewhere: honest[elsewhere]}, False)
    assert capsys.readouterr().err == ""
    reader = open_reader(built)
    report = verify(reader.ledger.store, reader.projector.models)
    reader.close()
    assert not report.ok
    if tampering == "a reference listed under another leaf":  # a reference not spanned has no last position
        own = leaf_of(asked, 0)
        moved = 1 if own == 0 else own - 1
        span = f"positions 0 to {indextree.SPAN - 1}" if indextree.spanned(asked) else "positions 0 on"
        assert (
            f"the item index lists '{asked}' under leaf {moved} ({span}), not as its rows fall (leaf {own}, {span})"
        ) in [f.problem for f in report.findings]


@pytest.mark.parametrize("table", ["leaves", "groups"])
def test_a_leaf_or_group_value_changed_is_found_and_the_events_answer(
    built: str, table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    asked, _ = _busy_refs(built)
    honest, _ = _asked(built, [asked])
    key, number = ("leaf", leaf_of(asked, 0)) if table == "leaves" else ("grp", group_of(leaf_of(asked, 0)))
    _sql(built, f"UPDATE syncledger_{table} SET value = ? WHERE {key} = ?", bytes(32), number)
    capsys.readouterr()
    found, scanned = _asked(built, [asked])
    assert (found, scanned) == (honest, True)
    assert "warning: the item index" in capsys.readouterr().err
    reader = open_reader(built)
    problems = [f.problem for f in verify(reader.ledger.store, reader.projector.models).findings]
    reader.close()
    assert any("digest of" in problem or "root" in problem for problem in problems), problems


def test_a_leaf_rolled_back_with_its_rows_is_found_by_its_group(
    stored: Locations, capsys: pytest.CaptureFixture[str]
) -> None:
    """Someone who kept a leaf's value from before (they cannot make one: its rows' digests are keyed) deletes the
    rows added since and puts the old value back: the leaf matches its rows, but not its group's digest."""
    location = stored.new()
    assert location is not None
    actions = list(randomwalk.actions(7, 330))
    reader = open_reader(location, checkpoint_every=40)
    for action in actions[:300]:
        reader.ledger.append([action])
    reader.projector.catch_up()
    reader.close()
    before = {int(leaf): bytes(value) for leaf, value in _sql(location, "SELECT leaf, value FROM syncledger_leaves")}
    upto = int(_sql(location, "SELECT position FROM syncledger_tracking WHERE name = 'index'")[0][0])
    reader = open_reader(location)
    for action in actions[300:]:
        reader.ledger.append([action])
    reader.close()
    added = [
        (ref, int(p))
        for ref, p in _sql(location, "SELECT ref, position FROM syncledger_index WHERE position > ?", upto)
    ]
    leaf, ref = next((leaf_of(ref, p), ref) for ref, p in sorted(added) if leaf_of(ref, p) in before)
    honest, _ = _asked(location, [ref])
    for other, position in added:
        if leaf_of(other, position) == leaf:
            _sql(location, "DELETE FROM syncledger_index WHERE ref = ? AND position = ?", other, position)
    _sql(location, "UPDATE syncledger_leaves SET value = ? WHERE leaf = ?", before[leaf], leaf)
    capsys.readouterr()
    found, scanned = _asked(location, [ref])
    assert (found, scanned) == (honest, True)
    assert f"the item index's digest of group {group_of(leaf)} does not match its leaves" in capsys.readouterr().err


def test_a_question_reads_its_leaves_not_the_index(built: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every row the check reads is of the asked leaves, or a value of their groups' leaves."""
    asked, _ = _busy_refs(built)
    reader = open_reader(built)
    models: Any = reader.projector.models
    read: list[Any] = []
    original = models._all

    def noted(statement: str, params: Any = ()) -> list[Any]:
        rows = original(statement, params)
        read.extend(rows)
        return rows

    monkeypatch.setattr(models, "_all", noted)
    reader.index.rows(asked)
    reader.close()
    index_rows = [row for row in read if len(row) == 6 and row[0] == 0 and isinstance(row[2], str)]
    assert index_rows and {row[1] for row in index_rows} == {leaf_of(asked, 0)}
    leaf_values = [row for row in read if len(row) == 6 and row[0] == 1 and row[5] is not None]
    assert {group_of(int(row[1])) for row in leaf_values} == {group_of(leaf_of(asked, 0))}


def test_the_tree_written_by_every_writer_is_the_tree_of_the_stored_rows(built: str) -> None:
    """Appends of a few events after a long catch-up (a writer that read its tree, then one that kept it) leave the
    tree `verify` recomputes from the rows: nothing found."""
    for action in list(randomwalk.actions(7, 330))[300:]:  # the same walk, onwards: one process each
        reader = open_reader(built)
        reader.ledger.append([action])
        reader.close()
    reader = open_reader(built)
    report = verify(reader.ledger.store, reader.projector.models)
    reader.close()
    assert report.ok, report.findings


def test_the_root_sealed_in_a_batch_is_after_its_tables_digests() -> None:
    batch = sealing.Batch("index", 2, 1, b"", b"a" * 32 + b"c" * 32, b"")  # the action ids' digest, the root
    assert sealing.index_root(batch) == b"c" * 32
    assert indextree.EMPTY_ROOT == root_digest({})


def test_leaves_kept_with_no_rows_or_beyond_the_bound_are_still_answered(
    built: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A leaf read before with no rows (a reference the ledger lacks) is kept as empty; asked again beside a leaf
    not read yet, and more leaves at once than a process keeps, every reference gets its rows."""
    first, second = _busy_refs(built)
    honest, _ = _asked(built, [first, second])
    monkeypatch.setattr(sqlmodels, "LEAVES_KEPT", 2)
    reader = open_reader(built)
    models: Any = reader.projector.models
    everything = sorted(ref for ref in models.refs() if ":" in ref)[:12]
    try:
        assert models.touched_many(["crm:no-such-record"]) == {}
        assert models.touched_many(["crm:no-such-record", first]) == {first: honest[first]}
        found = models.touched_many([*everything, second])
        assert set(found) == {*everything, second} and found[second] == honest[second]
    finally:
        reader.close()


def test_a_forged_or_missing_reference_in_the_unsealed_list_misleads_nothing(
    built: str, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    """The references a typed prefix resolves to are listed unsealed: one forged there is neither resolved to nor
    suggested (what the checked index has no events of is unknown), and `verify` names it and one deleted."""
    reader = open_reader(built)
    asked = max(
        (r for r in reader.index.touched if r.startswith(("crm:", "outlook:"))), key=lambda r: len(reader.index.rows(r))
    )
    reader.close()
    forged = f"{asked}-forged"
    _sql(built, "INSERT INTO syncledger_refs VALUES (?)", forged)
    _sql(built, "DELETE FROM syncledger_refs WHERE ref = ?", asked)
    result = run_cli("why", f"{asked}-fo", "--db", built)
    assert result.returncode == 2 and "unknown reference" in result.stderr, result.stderr
    assert forged not in result.stderr
    assert run_cli("why", asked, "--short", "--db", built).returncode == 0, "the full reference is read checked"
    reader = open_reader(built)
    problems = [f.problem for f in verify(reader.ledger.store, reader.projector.models).findings]
    reader.close()
    assert sorted(problems) == [
        f"the item index's list of references lacks '{asked}', which events touch",
        f"the item index's list of references names '{forged}', which no event touches",
    ]


def _spanned(
    stored: Locations, monkeypatch: pytest.MonkeyPatch, span: int, seed: int, steps: int
) -> tuple[str, Any, ItemIndex]:
    """A ledger of a random walk whose users' rows fall in spans of `span` positions: its location, its reader and
    the index a scan of its events makes."""
    monkeypatch.setattr(indextree, "SPAN", span)
    monkeypatch.setattr(sqlmodels, "SPAN", span)
    location = stored.new()
    assert location is not None
    reader = open_reader(location, checkpoint_every=40)
    for action in randomwalk.actions(seed, steps):
        reader.ledger.append([action])
    scanned = ItemIndex()
    scanned.add(reader.ledger.store.read())
    return location, reader, scanned


def test_a_users_rows_by_span_answer_when_they_last_acted_as_a_scan_does(
    stored: Locations, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user's rows fall in a leaf per span of positions (here spans of 8, so that the walk back over spans
    without a row of the user is taken): when each user last acted before a position is what a scan of the
    events says, and a row of theirs deleted is found and answered from the events."""
    location, reader, scanned = _spanned(stored, monkeypatch, 8, 9, 200)
    users = sorted(ref for ref in scanned.touched if ref.startswith("user:"))
    pairs = [(ref, at) for ref in users for at in range(1, scanned.position + 2, 5)]
    models: Any = reader.projector.models
    assert models.latest_before(pairs) == scanned.latest_before(pairs)
    assert {ref: [p for p, _ in rows] for ref, rows in models.touched_many(users).items()} == {
        ref: scanned.touched[ref] for ref in users
    }
    for after, upto in [(0, 7), (5, 30), (16, 17), (40, scanned.position)]:  # a window: its spans only
        within = {ref: [p for p in scanned.touched[ref] if after < p <= upto] for ref in users}
        found = models.touched_between(users, after, upto)
        assert {ref: [p for p, _ in rows] for ref, rows in found.items()} == {r: ps for r, ps in within.items() if ps}
    reader.close()
    busiest = max(users, key=lambda ref: len(scanned.touched[ref]))
    _sql(location, "DELETE FROM syncledger_index WHERE ref = ? AND position = ?", busiest, scanned.touched[busiest][-2])
    capsys.readouterr()
    reader = open_reader(location)
    assert reader.projector.models.latest_before(pairs) == scanned.latest_before(pairs)
    reader.close()
    assert "warning: the item index's rows of leaf" in capsys.readouterr().err


def test_a_question_over_more_leaves_than_a_statement_takes_is_answered_checked(
    stored: Locations, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A diff asks about every reference a window changed, users among them, and a user's rows lie in a leaf per
    span: at 10^7 events a few users' spans were leaves of more than a thousand groups, and the one statement that
    read them was refused ("Expression tree is too large"). Here every position is a span of its own, so each
    user's rows lie in hundreds of leaves; they are read in parts, each checked, as a scan of the events says."""
    _, reader, scanned = _spanned(stored, monkeypatch, 1, 11, 400)
    refs = sorted(scanned.touched)
    models: Any = reader.projector.models
    asked = {leaf for ref in refs for leaf in leaves_of(ref, scanned.position)}
    assert len({group_of(leaf) for leaf in asked}) > 1000 and len(asked) > sqlmodels.READ_LEAVES
    capsys.readouterr()
    assert {ref: [p for p, _ in rows] for ref, rows in models.touched_many(refs).items()} == scanned.touched
    assert capsys.readouterr().err == "", "every part matched its seals"
    reader.close()
