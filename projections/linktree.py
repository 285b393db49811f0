"""The ended links' digest tree, so that asking an item's last ended link (`why`, `diff`, an import's judge)
checks that item's links against the seals, not every link its owner ever ended.

The archive's ended links are sealed in buckets by owner (`projections.sealing`), which a page of one user's ended
links needs. But a question about one item checked its owner's whole bucket: about 7,000 rows at 10^7 events, a
number that grows with the ledger. So the ended links are digested a second time, in a tree of the item index's
shape (`projections.indextree`): each link falls in one of LEAVES leaves by its owner and item (`link_leaf`, stored
with the row), a leaf's value is the sum of its rows' keyed digests, groups of leaves are hashed, and each batch of
the archive seals the root after its tables' digests (`projections.sealing.links_root`). A question reads its leaf's
rows (a few, however large the ledger), the values of its group's leaves, and once per tracking position every
group's digest. A row changed, added, deleted or moved to another leaf leaves a sum that does not match.
Everything here is pure; the read models store the leaves and groups and read them back."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .indextree import LEAVES, MODULUS, tree_differences

LINK_COLUMNS = "made, position, owner, item, record, origin, rule, in_filter"  # what a row's digest is of, in order


def link_leaf(owner: str, item: str) -> int:
    """The leaf of an ended link: stable across processes, versions and back ends (CRC-32 of its owner and item)."""
    return zlib.crc32(f"{owner}\x00{item}".encode("utf-8", "surrogatepass")) % LEAVES


class LinkDigest:
    """The key of ended links' row digests (`link_sums`): the ledger's seal key when it has one, as the item index's
    rows are keyed (`indextree.RowDigest`), under a label of its own."""

    def __init__(self, seal_key: bytes | None) -> None:
        key = hashlib.sha256(b"syncledger ended links\x00" + (seal_key or b"")).digest()
        self._keyed = hashlib.blake2b(key=key, digest_size=32)  # copied per row: cheaper than keying each


def link_sums(rows: Iterable[Sequence[Any]], digest: LinkDigest) -> dict[int, int]:
    """Each leaf's sum of the keyed digests of `rows` (`LINK_COLUMNS`), for the leaves they fall in, each digest a
    number below MODULUS: in one pass, as a rebuild digests a million links (`link_leaf` inlined)."""
    crc, copy = zlib.crc32, digest._keyed.copy
    sums: dict[int, int] = {}
    for made, position, owner, item, record, origin, rule, in_filter in rows:
        pair = f"{owner}\x00{item}"
        leaf = crc(pair.encode("utf-8", "surrogatepass")) % LEAVES
        found = copy()
        text = f"{int(made)}\x00{int(position)}\x00{pair}\x00{record}\x00{origin}\x00{rule}\x00{1 if in_filter else 0}"
        found.update(text.encode("utf-8", "surrogatepass"))
        sums[leaf] = sums.get(leaf, 0) + int.from_bytes(found.digest(), "big")
    return {leaf: total % MODULUS for leaf, total in sums.items()}


def link_tree_problems(
    rows: Iterable[Sequence[Any]],
    digest: LinkDigest,
    leaves: Mapping[int, bytes],
    groups: Mapping[int, bytes],
    root: bytes,
) -> list[str]:
    """What of the stored tree (`leaves`, `groups`, and the sealed `root`) does not match the ended links (`rows`:
    `LINK_COLUMNS`, all of them). Empty when the tree is the rows'."""
    return tree_differences(link_sums(rows, digest), leaves, groups, root, "the archived past's ended links'")
