"""References as a person types them on the command line: an exact id, or a unique prefix of one (as git takes
commits), and the readable label (`fullname`, `subject`) shown next to an id.

A prefix is looked up among every id ever used in its store (deleted ones included: the item index keeps them):
CRM ids ignoring case (GUIDs), an Outlook store's ids as written (Exchange ids are case-sensitive base64). Only
the command line takes prefixes; scenario files and action lines name ids in full.

An alias (a mailbox id recorded for an item a sync created: an `alias` action, SOURCES.md) is indexed under
both names; a reference to it, exact or by prefix, resolves to the item it stands for (as the world folded from
the events knows it, whichever import recorded it), and an item's id and its alias starting with one prefix are
one candidate.
"""

from __future__ import annotations

from typing import Protocol

from syncledger.ledger.world import World

from ..inputs import BadInputError, shown
from .labels import with_label
from .sentences import Index, Lookup
from .why import check_ref, check_ref_text

MIN_PREFIX = 4  # characters of the id, after `crm:` or `outlook:<user>/`
MAX_CANDIDATES = 10


class PrefixIndex(Index, Protocol):
    def refs_starting(self, prefix: str, fold_case: bool, limit: int) -> list[str]: ...


def resolve_ref(ref: str, index: PrefixIndex, world: World | None = None, read: Lookup | None = None) -> str:
    """The full reference `ref` names: itself when it is known, else the one reference it is a prefix of; an
    alias's item (with `read`, to read the alias). `BadInputError` for an unknown or malformed reference, a prefix
    too short, or one that several start."""
    check_ref_text(ref)
    if index.known(ref):
        return _unalias(ref, index, world, read)
    head, id_ = split_ref(ref)
    if head is None or len(id_) < MIN_PREFIX:
        try:
            check_ref(ref, index)
        except BadInputError as e:
            hint = f" (a prefix needs at least {MIN_PREFIX} characters)" if head is not None and id_ else ""
            raise BadInputError(f"{e}{hint}") from None
        return ref
    found = index.refs_starting(ref, head == "crm:", MAX_CANDIDATES + 1)
    # the list of references is not sealed: each it names is taken only if the (checked) index has its events
    found = [r for r in found if not r.startswith("user:") and split_ref(r)[0] is not None and index.known(r)]
    found = list(dict.fromkeys(_unalias(r, index, world, read) for r in found))
    # a CRM id typed whole in another case names that id, as typed in its own case it would (GUIDs ignore case),
    # not every longer id it starts
    whole = [r for r in found if r.casefold() == ref.casefold()] if head == "crm:" else []
    if len(whole) == 1:
        return whole[0]
    if len(found) == 1:
        return found[0]
    if not found:
        check_ref(ref, index)  # unknown: says so, with the closest known references
        return ref
    shown_ = ", ".join(with_label(r, world) for r in found[:MAX_CANDIDATES])
    count = f"more than {MAX_CANDIDATES}" if len(found) > MAX_CANDIDATES else str(len(found))
    raise BadInputError(f"ambiguous reference {shown(ref)}: {count} references start with it ({shown_}); give more")


def _unalias(ref: str, index: PrefixIndex, world: World | None, read: Lookup | None) -> str:
    """The item an alias stands for, else `ref`: from the world's aliases (folded from the `alias` actions), or
    without a world from the index (the first event filed under an alias is its `alias` action)."""
    head, id_ = split_ref(ref)
    if head is None or head == "crm:":
        return ref
    if world is not None:
        user = world.users.get(head[len("outlook:") : -1])
        return f"{head}{user.aliases[id_]}" if user is not None and id_ in user.aliases else ref
    if read is None:
        return ref
    first = index.touched.get(ref, [])[:1]
    event = read(first[0]) if first else None
    if event is not None and event.do == "alias" and getattr(event, "alias", None) == id_:
        return f"{head}{getattr(event, 'item', id_)}"
    return ref


def split_ref(ref: str) -> tuple[str | None, str]:
    """(`crm:` or `outlook:<user>/`, the id), or (None, ref) for anything else."""
    if ref.startswith("crm:"):
        return "crm:", ref[4:]
    if ref.startswith("outlook:") and "/" in ref:
        user, _, item = ref[8:].partition("/")
        if user:
            return f"outlook:{user}/", item
    return None, ref
