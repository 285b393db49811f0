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
    """The digest of an ended link's row (`LINK_COLUMNS`) as a number below MODULUS: keyed with the ledger's seal key
    when it has one, as the item index's rows are (`indextree.RowDigest`), under a label of its own."""

    def __init__(self, seal_key: bytes | None) -> None:
        key = hashlib.sha256(b"syncledger ended links\x00" + (seal_key or b"")).digest()
        self._keyed = hashlib.blake2b(key=key, digest_size=32)

    def __call__(self, row: Sequence[Any]) -> int:
        made, position, owner, item, record, origin, rule, in_filter = row
        found = self._keyed.copy()
        text = f"{int(made)}\x00{int(position)}\x00{owner}\x00{item}\x00{record}\x00{origin}\x00{rule}\x00"
        found.update(f"{text}{'1' if in_filter else '0'}".encode("utf-8", "surrogatepass"))
        return int.from_bytes(found.digest(), "big")


def link_sums(rows: Iterable[Sequence[Any]], digest: LinkDigest) -> dict[int, int]:
    """Each leaf's sum of the digests of `rows` (`LINK_COLUMNS`), for the leaves they fall in."""
    sums: dict[int, int] = {}
    for row in rows:
        leaf = link_leaf(row[2], row[3])
        sums[leaf] = sums.get(leaf, 0) + digest(row)
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
