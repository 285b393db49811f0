"""The item index's references, read from an event's own fields."""

from __future__ import annotations

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger
from syncledger.projections.index import refs_of
from tests import randomwalk


def _by_getattr(event: v.Action | v.Decided) -> tuple[str, ...]:
    """The references as first written, through getattr: the slow way that `refs_of` must agree with."""
    if isinstance(event, v.Decided):
        return event.about
    user = str(getattr(event, "user", None) or getattr(event, "actor", ""))
    item = getattr(event, "item", None)
    refs = [v.outlook_ref(user, item)] if item is not None else []
    record = getattr(event, "record", None)
    if record is not None and not isinstance(event, v.OutlookItemTracked):
        refs.append(v.crm_ref(record))
    return tuple(refs or [f"user:{user}"])


def test_every_kind_of_event_touches_the_same_references_as_by_getattr() -> None:
    events = []
    for seed, mixed in [*((seed, False) for seed in range(6)), (6, True), (7, True)]:  # mixed: both sync methods
        ledger = Ledger()
        walk = randomwalk.actions(seed, 250, mixed)
        events += [event for action in walk for _, event in ledger.append([action])]
    assert {type(e) for e in events} == {*v.ACTION_CLASSES.values(), v.Decided}
    for event in events:
        assert refs_of(event) == _by_getattr(event), event
        if isinstance(event, v.Action):
            assert event.user_name == str(getattr(event, "user", None) or getattr(event, "actor", ""))
