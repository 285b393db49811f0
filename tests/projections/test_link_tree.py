"""An item's last ended link is read checked by its leaf of the ended links' tree (`projections.linktree`): what
it reads is exactly what was sealed, absences included, at the cost of that leaf's rows, not of every link its
owner ended. A row of its leaf added, deleted, changed or moved between leaves, or a leaf's or group's value
changed, is found: the answer comes from the events, with a warning, and `verify` reports it. A change elsewhere
leaves the question answered from the stored rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncledger.ledger.world import Link
from syncledger.projections import sealing
from syncledger.projections.indextree import (
    EMPTY,
    EMPTY_ROOT,
    GROUPS,
    LEAVES,
    Tree,
    group_digest,
    group_of,
    root_digest,
    value_of,
)
from syncledger.projections.integrity import verify
from syncledger.projections.linktree import LinkDigest, link_leaf, link_sums, link_tree_problems
from syncledger.projections.memorymodels import MemoryReadModels
from syncledger.projections.reader import open_reader
from syncledger.projections.readmodels import WORLD
from syncledger.projections.sqlmodels import WRITE_TRIES, SqlReadModels
from tests import randomwalk
from tests.conftest import Locations
from tests.projections.test_index_tree import _sql  # SQL behind the ledger's back

Row = tuple[int, int, str, str, str, str, str, bool]  # made, position, owner, item, record, origin, rule, in_filter


def _tree_of(rows: list[Row], digest: LinkDigest) -> tuple[dict[int, bytes], dict[int, bytes], bytes]:
    """The tree of `rows` computed whole, from the definition: each leaf the sum of its rows' digests."""
    leaves = {leaf: value_of(total) for leaf, total in link_sums(rows, digest).items()}
    groups = {group: group_digest(group, leaves) for group in {group_of(leaf) for leaf in leaves}}
    return leaves, groups, root_digest(groups)


pairs = st.sampled_from([(f"u{n % 4}", f"i{n}") for n in range(60)])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(pairs, st.booleans()), max_size=10), max_size=8))
def test_a_tree_grown_batch_by_batch_is_the_tree_of_all_its_links(batches: list[list[Any]]) -> None:
    digest = LinkDigest(b"key")
    tree, rows, position, root = Tree({}, {}, ()), list[Row](), 0, EMPTY_ROOT
    for batch in batches:
        added: list[Row] = []
        for (owner, item), in_filter in batch:
            position += 1
            added.append((position, position + 3, owner, item, f"r{position}", "outlook", "RULE", in_filter))
        sums = link_sums(added, digest)
        for group in tree.missing(sums):  # as a writer reads them: the stored values of the group's leaves
            tree.learn(group, {leaf: value for leaf, value in tree.leaves.items() if group_of(leaf) == group})
        _, _, root = tree.grow(sums)
        rows.extend(added)
    leaves, groups, whole = _tree_of(rows, digest)
    assert root == whole
    assert {n: v for n, v in tree.leaves.items() if v != EMPTY} == {n: v for n, v in leaves.items() if v != EMPTY}
    assert link_tree_problems(rows, digest, leaves, groups, root) == []


def test_the_tree_finds_a_link_missing_added_or_changed_and_a_value_changed() -> None:
    digest = LinkDigest(b"key")
    rows: list[Row] = [
        (1, 5, "u", "a", "r1", "outlook", "RULE", True),
        (2, 6, "u", "a", "r2", "crm", "RULE", False),
        (3, 7, "v", "b", "r3", "outlook", "RULE", True),
    ]
    leaves, groups, root = _tree_of(rows, digest)
    assert link_tree_problems(rows, digest, leaves, groups, root) == []
    a = link_leaf("u", "a")
    changed_rows: list[list[Row]] = [
        rows[1:],
        [*rows, (4, 8, "u", "a", "r4", "outlook", "RULE", True)],
        [(1, 5, "u", "a", "r1", "outlook", "RULE", False), *rows[1:]],  # in the filter no longer
        [(1, 5, "u", "a", "r1", "outlook", "FORGED", True), *rows[1:]],
    ]
    for changed in changed_rows:
        assert link_tree_problems(changed, digest, leaves, groups, root) == [
            f"the archived past's ended links' digest of leaf {a} does not match its rows"
        ]
    assert link_tree_problems(rows, LinkDigest(b"another key"), leaves, groups, root) != []
    forged = {**leaves, a: value_of(1)}
    assert f"the archived past's ended links' digest of group {group_of(a)} does not match its leaves" in (
        link_tree_problems(rows, digest, forged, groups, root)
    )


def test_the_links_root_sealed_in_an_archive_batch_is_after_its_tables_digests() -> None:
    tables = len(sealing.SEALED["world"])
    batch = sealing.Batch("world", 2, 1, b"", b"a" * 32 * tables + b"c" * 32, b"")
    assert sealing.links_root(batch) == b"c" * 32


def test_a_link_falls_in_a_leaf_by_its_owner_and_item_only() -> None:
    assert link_leaf("u", "a") == link_leaf("u", "a")
    assert 0 <= link_leaf("u", "a") < LEAVES
    assert len({link_leaf(f"u{n % 3}", f"i{n}") for n in range(200)}) > 190  # spread, not by owner


# ------------------------------------------------------------------------ stored, on each back end


@pytest.fixture(autouse=True)
def warned_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sealing, "_WARNED", set())  # each warning once per process: each test is a new one


@pytest.fixture
def built(stored: Locations) -> Iterator[str]:
    """A ledger whose read models are caught up (its archive written in several batches), closed: each test opens
    it as a new process would."""
    location = stored.new()
    reader = open_reader(location, checkpoint_every=40)
    for action in list(randomwalk.actions(11, 400))[:360]:
        reader.ledger.append([action])
    reader.projector.catch_up()
    reader.close()
    assert location is not None
    yield location


def _truth(location: str) -> tuple[MemoryReadModels, int]:
    """The archive folded from the events, and the archive's tracking position: what every question must answer."""
    reader = open_reader(location)
    truth = MemoryReadModels()
    upto = reader.projector.models.tracking(WORLD)
    truth.write_world(1, max(upto, 1), [], reader.projector._past_from_events())
    reader.close()
    return truth, upto


def _asked(location: str, pairs: list[tuple[str, str]], upto: int) -> tuple[list[Link | None], bool]:
    """What a new process answers for each (owner, item)'s last ended link, and whether the events answered."""
    reader = open_reader(location)
    models: Any = reader.projector.models
    folded = []
    rebuild = models.rebuild_past

    def counted() -> Any:
        folded.append(True)
        return rebuild()

    models.rebuild_past = counted
    try:
        return [models.last_link(owner, item, upto) for owner, item in pairs], bool(folded)
    finally:
        reader.close()


def _two_items(location: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """The (owner, item) with the most ended links, and another one whose leaf is in another group."""
    counted = _sql(
        location, "SELECT owner, item, count(*) FROM syncledger_past_links GROUP BY owner, item ORDER BY 3 DESC"
    )
    assert len(counted) > 1, "the walk ended links of several items"
    first = (str(counted[0][0]), str(counted[0][1]))
    other = next(
        (str(o), str(i)) for o, i, _ in counted[1:] if group_of(link_leaf(o, i)) != group_of(link_leaf(*first))
    )
    return first, other


_LAST = "(SELECT max(made) FROM syncledger_past_links WHERE owner = ? AND item = ?)"
TAMPERINGS = {
    "its last link deleted": f"DELETE FROM syncledger_past_links WHERE made = {_LAST}",
    "a later link added": "INSERT INTO syncledger_past_links SELECT bucket, made + 1000000, position, owner, item, "
    f"record, origin, rule, in_filter, leaf FROM syncledger_past_links WHERE made = {_LAST}",
    "its rule changed": f"UPDATE syncledger_past_links SET rule = 'FORGED' WHERE made = {_LAST}",
    "its last link moved to another leaf": "UPDATE syncledger_past_links SET leaf = CASE WHEN leaf = 0 THEN 1 "
    f"ELSE leaf - 1 END WHERE made = {_LAST}",
}


@pytest.mark.parametrize("tampering", TAMPERINGS)
def test_a_link_of_the_asked_leaf_tampered_with_is_found_and_the_events_answer(
    built: str, tampering: str, capsys: pytest.CaptureFixture[str]
) -> None:
    asked, elsewhere = _two_items(built)
    truth, upto = _truth(built)
    honest = [truth.last_link(*asked, upto), truth.last_link(*elsewhere, upto)]
    assert honest[0] is not None and honest[1] is not None
    assert _asked(built, [asked, elsewhere], upto) == (honest, False)
    _sql(built, TAMPERINGS[tampering], *asked)
    capsys.readouterr()
    assert _asked(built, [asked], upto) == (honest[:1], True)
    said = capsys.readouterr().err
    assert f"past links of leaf {link_leaf(*asked)} differ from what was sealed" in said, said
    # another leaf's question is answered from the stored rows, unwarned
    assert _asked(built, [elsewhere], upto) == (honest[1:], False)
    assert capsys.readouterr().err == ""
    reader = open_reader(built)
    report = verify(reader.ledger.store, reader.projector.models)
    reader.close()
    assert not report.ok
    if tampering == "its last link moved to another leaf":
        assert any("not its own" in f.problem for f in report.findings), report.findings


def test_another_items_link_moved_into_the_asked_leaf_is_found(built: str, capsys: pytest.CaptureFixture[str]) -> None:
    asked, elsewhere = _two_items(built)
    truth, upto = _truth(built)
    honest = [truth.last_link(*asked, upto)]
    _sql(built, f"UPDATE syncledger_past_links SET leaf = ? WHERE made = {_LAST}", link_leaf(*asked), *elsewhere)
    capsys.readouterr()
    assert _asked(built, [asked], upto) == (honest, True)
    assert f"past links of leaf {link_leaf(*asked)} differ from what was sealed" in capsys.readouterr().err


@pytest.mark.parametrize("table", ["link_leaves", "link_groups"])
def test_a_leaf_or_group_value_changed_is_found_and_the_events_answer(
    built: str, table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    asked, _ = _two_items(built)
    truth, upto = _truth(built)
    leaf = link_leaf(*asked)
    key, number = ("leaf", leaf) if table == "link_leaves" else ("grp", group_of(leaf))
    _sql(built, f"UPDATE syncledger_{table} SET value = ? WHERE {key} = ?", bytes(32), number)
    capsys.readouterr()
    assert _asked(built, [asked], upto) == ([truth.last_link(*asked, upto)], True)
    assert "warning: the archived past" in capsys.readouterr().err
    reader = open_reader(built)
    problems = [f.problem for f in verify(reader.ledger.store, reader.projector.models).findings]
    reader.close()
    assert any("ended links' digest of" in problem or "root" in problem for problem in problems), problems


def test_a_leaf_written_all_the_while_it_is_read_is_answered_by_the_events_unwarned(
    built: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Writers that never pause are not damage: the events answer that question, with no warning, and the next
    question reads the stored leaf again."""
    asked, elsewhere = _two_items(built)
    truth, upto = _truth(built)
    tries: list[int] = []

    def written_meanwhile(self: Any, leaf: int) -> None:
        tries.append(leaf)
        return None

    with monkeypatch.context() as patched:
        patched.setattr(SqlReadModels, "_read_link_leaf", written_meanwhile)
        capsys.readouterr()
        assert _asked(built, [asked], upto) == ([truth.last_link(*asked, upto)], True)
    assert tries == [link_leaf(*asked)] * WRITE_TRIES
    assert capsys.readouterr().err == ""
    assert _asked(built, [elsewhere], upto) == ([truth.last_link(*elsewhere, upto)], False)


def test_an_items_question_reads_its_leaf_not_its_owners_links(built: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ended link the check reads is of the asked leaf, and every leaf value of its group: none of the owner's
    other links, and no bucket of the archive."""
    asked, _ = _two_items(built)
    owners_links = _sql(built, "SELECT count(*) FROM syncledger_past_links WHERE owner = ?", asked[0])[0][0]
    reader = open_reader(built)
    models: Any = reader.projector.models
    statements: list[str] = []
    read: list[Any] = []
    original = models._all

    def noted(statement: str, params: Any = ()) -> list[Any]:
        rows = original(statement, params)
        statements.append(statement)
        read.extend(rows)
        return rows

    monkeypatch.setattr(models, "_all", noted)
    assert models.last_link(*asked, models.tracking(WORLD)) is not None
    reader.close()
    links = [row for row in read if len(row) == 10 and row[0] == 0]
    assert links and {link_leaf(row[3], row[4]) for row in links} == {link_leaf(*asked)}
    assert len(links) < owners_links, "fewer rows than the owner's ended links"
    values = [row for row in read if len(row) == 10 and row[0] == 1]
    assert {group_of(int(row[1])) for row in values} == {group_of(link_leaf(*asked))}
    assert not any("syncledger_buckets" in s or "bucket =" in s for s in statements), statements


def test_the_tree_written_by_every_writer_is_the_tree_of_the_stored_links(built: str) -> None:
    """Appends after a long catch-up (each in a process of its own: a writer that reads its tree) leave the tree
    `verify` recomputes from the links, and every item's last ended link is answered from the stored rows."""
    for action in list(randomwalk.actions(11, 400))[360:]:
        reader = open_reader(built)
        reader.ledger.append([action])
        reader.close()
    reader = open_reader(built)
    report = verify(reader.ledger.store, reader.projector.models)
    reader.close()
    assert report.ok, report.findings
    truth, upto = _truth(built)
    every = sorted({(k.user, k.item) for k in truth.ended_links(upto)})
    assert _asked(built, every, upto) == ([truth.last_link(o, i, upto) for o, i in every], False)


def test_a_ledger_without_ended_links_has_the_empty_tree(stored: Locations) -> None:
    location = stored.new()
    reader = open_reader(location)
    reader.projector.catch_up()
    models: Any = reader.projector.models
    assert models.last_link("nobody", "nothing", models.tracking(WORLD)) is None
    assert models.links_tree_problems(EMPTY_ROOT, models.tracking(WORLD)) == []
    reader.close()
    assert GROUPS * 16 == LEAVES
