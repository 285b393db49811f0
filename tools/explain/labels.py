"""The readable label of a record or an Outlook item (its `fullname` or `subject`), shown next to its id in text
and HTML output: ids from real organisations are GUIDs and Exchange ids, which nobody recognises."""

from __future__ import annotations

from collections.abc import Mapping

from syncledger.ledger.world import World, known_record

from ..inputs import shown

LABEL_FIELDS = ("fullname", "subject")


def label_of(fields: Mapping[str, object] | None) -> str | None:
    """The first of `fullname`, `subject` that the fields hold, as text."""
    if not fields:
        return None
    found = next((fields[name] for name in LABEL_FIELDS if fields.get(name) not in (None, "")), None)
    return str(found) if found is not None else None


def label(ref: str, world: World | None, known: Mapping[str, str] | None = None) -> str | None:
    """The record's or item's `fullname` or `subject`, as it is now (or was when a record was deleted)."""
    if world is None:
        return (known or {}).get(ref)
    fields = None
    if ref.startswith("crm:"):
        record = known_record(world, ref[4:])
        fields = record.fields if record is not None else None
    elif ref.startswith("outlook:") and "/" in ref:
        name, _, item_id = ref[8:].partition("/")
        user = world.users.get(name)
        item = user.items.get(item_id) if user is not None else None
        fields = item.fields if item is not None else None
    return label_of(fields) or (known or {}).get(ref)


def with_label(ref: str, world: World | None, known: Mapping[str, str] | None = None) -> str:
    """`crm:7d1e2f3a-… (QBR Contoso)`, or the reference alone when it has no label."""
    found = label(ref, world, known)
    return f"{ref} ({shown(found, 40)[1:-1]})" if found else ref
