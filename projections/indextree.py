"""The item index's digest tree, so that a question about one reference checks its rows against the seals at the
cost of about its own rows, absences included.

`why` and `history` read a reference's positions from the item index. A row forged there would tell an unrelated
decision, a row deleted would leave a deletion out, so the rows a question reads must be shown to be exactly what
was sealed. The index's rows fall in LEAVES leaves by their reference (`leaf_of`; a user's by span of positions
too). Each leaf's value is the sum,
modulo 2**256, of a keyed digest of each of its rows (`RowDigest`): a row added, removed or changed changes it,
and a writer adds a batch's rows to it without reading the leaf's other rows. The leaves form GROUPS groups of
PER_GROUP, each group's digest is a hash of its leaves' values in order, and the root a hash of the groups'
digests. The root is sealed in each batch of the index (`projections.sealing`), to the event seal at the batch's
end and, on a keyed ledger, with the key.

So a question checks the rows of its references' leaves (about rows/LEAVES each: about 19 in the bench's 10^6
events: they grow with the ledger, but a 256th of the index, as the archive's buckets, would be 4,800) and the values
of their groups' leaves (PER_GROUP each); a process checks every group's digest against the last batch's seal
once per tracking position (GROUPS values, however large the ledger). The read models store the rows keyed by
reference and position, so that each batch adds its rows where the batches before added theirs, and list which
references (and which spans of a user's) have rows in each leaf (`leaf_rows`); a leaf is read as the rows of what
is listed under it, so a reference left out of that list, or listed under another leaf, leaves a leaf's sum short.
Everything here is pure; the read models store the rows, lists, leaves and groups and read them back."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

LEAVES = 65_536
PER_GROUP = 16  # leaves per group: what a question reads beside its leaf's rows
GROUPS = LEAVES // PER_GROUP  # what a process reads once per tracking position, to check the root
MODULUS = 1 << 256
EMPTY = bytes(32)  # the value of a leaf without rows
EMPTY_GROUP = hashlib.sha256(EMPTY * PER_GROUP).digest()
EMPTY_ROOT = hashlib.sha256(EMPTY_GROUP * GROUPS).digest()


SPAN = 1 << 16  # positions whose rows of a user's or the organisation's reference share a leaf
UNBOUNDED = (1 << 62) - 1  # the last position of the one span of a reference that is not spanned


_SPANNED = ("user:", "org:")


def spanned(ref: str) -> bool:
    """Whether a reference's rows are spread over leaves by position: a user's (every sync, option and action
    filed under the user: thousands) and the organisation's. Asking when a user last synced before a position
    then reads a span of the user's rows, not all of them; an item's or a record's rows share one leaf."""
    return ref.startswith(_SPANNED)


def leaf_of(ref: str, position: int) -> int:
    """The leaf of a row: stable across processes, versions and back ends (CRC-32 of its reference's UTF-8, and
    of its span of positions for a spanned reference)."""
    key = f"{ref}\x00{position // SPAN}" if spanned(ref) else ref
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % LEAVES


def leaves_of(ref: str, upto: int) -> list[int]:
    """Every leaf that can hold a row of `ref` at a position up to `upto`."""
    return leaves_between(ref, -1, upto)


def leaves_between(ref: str, after: int, upto: int) -> list[int]:
    """Every leaf that can hold a row of `ref` at a position after `after` up to `upto`: of a user's, only the
    spans of that window (a diff of a thousand events reads one or two of each user's spans, not all of them)."""
    if not spanned(ref):
        return [leaf_of(ref, 0)]
    return [leaf_of(ref, span * SPAN) for span in range((after + 1) // SPAN, upto // SPAN + 1)]


def group_of(leaf: int) -> int:
    return leaf // PER_GROUP


def group_leaves(group: int) -> range:
    """The leaves of a group: a range of the leaves' numbers, so a range of their table's key."""
    return range(group * PER_GROUP, (group + 1) * PER_GROUP)


class RowDigest:
    """The digest of an index row (reference, position, rule) as a number below MODULUS: keyed with the ledger's
    seal key when it has one (without it, nobody can make rows whose digests add up to a missing row's), plain
    otherwise (whoever can edit an unkeyed ledger can re-seal it anyway)."""

    def __init__(self, seal_key: bytes | None) -> None:
        key = hashlib.sha256(b"syncledger item index rows\x00" + (seal_key or b"")).digest()
        self._keyed = hashlib.blake2b(key=key, digest_size=32)  # copied per row: cheaper than keying each

    def __call__(self, ref: str, position: int, rule: str | None) -> int:
        found = self._keyed.copy()
        found.update(
            f"{ref}\x00{int(position)}\x00{'' if rule is None else '=' + rule}".encode("utf-8", "surrogatepass")
        )
        return int.from_bytes(found.digest(), "big")


def low_of(ref: str, position: int) -> int:
    """The first position of the span a row of `ref` falls in: 0 for a reference that is not spanned."""
    return position - position % SPAN if ref.startswith(_SPANNED) else 0


def high_of(ref: str, low: int) -> int:
    """The last position of the span that starts at `low` (`low_of`): unbounded for a reference not spanned."""
    return low + SPAN - 1 if ref.startswith(_SPANNED) else UNBOUNDED


def leaf_rows(rows: Iterable[Sequence[Any]], digest: RowDigest) -> tuple[set[tuple[int, str, int]], dict[int, int]]:
    """What the rows (reference, position, rule) fall under, each as (leaf, reference, first position of its span;
    `low_of`), and each leaf's sum of the rows' digests: in one pass, as a rebuild writes a million rows
    (`leaf_of`, `low_of` and `RowDigest`, inlined)."""
    crc, copy = zlib.crc32, digest._keyed.copy
    listed: set[tuple[int, str, int]] = set()
    sums: dict[int, int] = {}
    for ref, position, rule in rows:
        if ref.startswith(_SPANNED):
            low = position - position % SPAN
            leaf = crc(f"{ref}\x00{low // SPAN}".encode("utf-8", "surrogatepass")) % LEAVES
        else:
            low, leaf = 0, crc(ref.encode("utf-8", "surrogatepass")) % LEAVES
        listed.add((leaf, ref, low))
        found = copy()
        found.update(f"{ref}\x00{position}\x00{'' if rule is None else '=' + rule}".encode("utf-8", "surrogatepass"))
        sums[leaf] = sums.get(leaf, 0) + int.from_bytes(found.digest(), "big")
    return listed, {leaf: total % MODULUS for leaf, total in sums.items()}


def leaf_sums(rows: Iterable[Sequence[Any]], digest: RowDigest) -> dict[int, int]:
    """Each leaf's sum of the digests of `rows` (reference, position, rule), for the leaves they fall in."""
    return leaf_rows(rows, digest)[1]


def added(value: bytes, amount: int) -> bytes:
    """A leaf's value with `amount` (a sum of row digests) added."""
    return ((int.from_bytes(value, "big") + amount) % MODULUS).to_bytes(32, "big")


def value_of(total: int) -> bytes:
    return (total % MODULUS).to_bytes(32, "big")


def group_digest(group: int, leaves: Mapping[int, bytes]) -> bytes:
    """A group's digest, from the values of its leaves (`leaves`, by leaf; a leaf not there has no rows)."""
    return hashlib.sha256(b"".join(leaves.get(leaf, EMPTY) for leaf in group_leaves(group))).digest()


def root_digest(groups: Mapping[int, bytes]) -> bytes:
    """The root, from every group's digest (`groups`, by group; a group not there has no rows)."""
    return hashlib.sha256(b"".join(groups.get(group, EMPTY_GROUP) for group in range(GROUPS))).digest()


class Tree:
    """The leaves and groups a writer knows: every group's digest, and the values of the leaves of the groups it
    has read (`groups_read`). `grow` adds a batch's rows and says what changed, to be written."""

    def __init__(self, groups: Mapping[int, bytes], leaves: Mapping[int, bytes], groups_read: Iterable[int]) -> None:
        self.groups = dict(groups)
        self.leaves = dict(leaves)
        self.groups_read = set(groups_read)

    def missing(self, sums: Mapping[int, int]) -> set[int]:
        """The groups whose leaves must be read before `sums` can be added."""
        return {group_of(leaf) for leaf in sums} - self.groups_read

    def learn(self, group: int, leaves: Mapping[int, bytes]) -> None:
        """The stored values of a group's leaves (only those with rows)."""
        self.leaves.update(leaves)
        self.groups_read.add(group)

    def grow(self, sums: Mapping[int, int]) -> tuple[dict[int, bytes], dict[int, bytes], bytes]:
        """Add each leaf's sum of new rows: the leaves and groups that changed, with their new values, and the new
        root. Every group of `sums` has been read (`missing`)."""
        assert not self.missing(sums), "a group's leaves were not read before rows were added to it"
        leaves = {leaf: added(self.leaves.get(leaf, EMPTY), amount) for leaf, amount in sums.items()}
        self.leaves.update(leaves)
        groups = {group: group_digest(group, self.leaves) for group in sorted({group_of(leaf) for leaf in leaves})}
        self.groups.update(groups)
        return leaves, groups, root_digest(self.groups)


def tree_problems(
    rows: Iterable[Sequence[Any]],
    digest: RowDigest,
    leaves: Mapping[int, bytes],
    groups: Mapping[int, bytes],
    root: bytes,
) -> list[str]:
    """What of the stored tree (`leaves`, `groups`, and the sealed `root`) does not match the index's rows
    (`rows`: reference, position, rule, all of them): each leaf and group that differs, and a root that does not
    match the groups. Empty when the tree is the rows'."""
    return tree_differences(leaf_sums(rows, digest), leaves, groups, root, "the item index's")


def tree_differences(
    sums: Mapping[int, int], leaves: Mapping[int, bytes], groups: Mapping[int, bytes], root: bytes, whose: str
) -> list[str]:
    """`tree_problems` from each leaf's sum of its rows' digests (`sums`), for a tree of this shape over any rows
    (`whose`: what the problems call them, as "the item index's")."""
    problems: list[str] = []
    for leaf in sorted(set(sums) | {n for n, value in leaves.items() if value != EMPTY}):
        if value_of(sums.get(leaf, 0)) != leaves.get(leaf, EMPTY):
            problems.append(f"{whose} digest of leaf {leaf} does not match its rows")
    for group in range(GROUPS):
        if group_digest(group, leaves) != groups.get(group, EMPTY_GROUP):
            problems.append(f"{whose} digest of group {group} does not match its leaves")
    if root_digest(groups) != root:
        problems.append(f"{whose} digests do not match the root sealed in its last batch")
    return problems
