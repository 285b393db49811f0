"""The item index: for every item reference, the positions of the events that touched it and of the decisions
about it. `why` and `history` read an item's own events through it instead of scanning the ledger."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ledger import vocabulary as v


def refs_of(event: v.Action | v.Decided) -> tuple[str, ...]:
    """The references an event touches: `crm:<record>`, `outlook:<user>/<item>`, `user:<name>`."""
    if isinstance(event, v.Decided):
        return event.about
    values = event.__dict__  # not getattr: asking for a field the class lacks goes through pydantic's slow path
    refs: list[str] = []
    item = values.get("item")
    if item is not None:
        refs.append(v.outlook_ref(event.user_name, item))
    record = values.get("record")
    if record is not None and not isinstance(event, v.OutlookItemTracked):
        refs.append(v.crm_ref(record))
    if not refs:
        refs.append(f"user:{event.user_name}")
    return tuple(refs)


@dataclass
class ItemIndex:
    position: int = 0
    touched: dict[str, list[int]] = field(default_factory=dict)
    decisions: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # ref -> (position, rule)

    def add(self, recorded: Iterable[tuple[int, v.Action | v.Decided]]) -> None:
        for position, event in recorded:
            self.position = position
            for ref in refs_of(event):
                self.touched.setdefault(ref, []).append(position)
                if isinstance(event, v.Decided):
                    self.decisions.setdefault(ref, []).append((position, event.rule))

    def last_decision(self, ref: str) -> tuple[int, str] | None:
        found = self.decisions.get(ref)
        return found[-1] if found else None

    def known(self, ref: str) -> bool:
        return ref in self.touched
