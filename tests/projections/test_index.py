"""The item index's references, read from an event's own fields."""

from __future__ import annotations

from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger
from syncledger.projections.index import ORG_REF, refs_in, refs_of
from tests import randomwalk


def _by_getattr(event: v.Action | v.Decided) -> tuple[str, ...]:
    """The references as first written, through getattr: the slow way that `refs_of` must agree with."""
    if isinstance(event, v.Decided):
        return event.about
    user = str(getattr(event, "user", None) or getattr(event, "actor", ""))
    if isinstance(event, v.OrgOptionChanged):  # also under `org:`, where extract finds every organisation option
        return (f"user:{user}", "org:")
    item = getattr(event, "item", None)
    refs = [v.outlook_ref(user, item)] if item is not None else []
    record = getattr(event, "record", None)
    if record is not None and not isinstance(event, v.OutlookItemTracked):
        refs.append(v.crm_ref(record))
    if isinstance(event, v.OrgOptionChanged):  # also under `org:`, where extract finds every one
        return (f"user:{user}", ORG_REF)
    return tuple(refs or [f"user:{user}"])


def test_every_kind_of_event_touches_the_same_references_as_by_getattr() -> None:
    events = []
    for seed, mixed in [*((seed, False) for seed in range(6)), (6, True), (7, True)]:  # mixed: both sync methods
        ledger = Ledger()
        walk = randomwalk.actions(seed, 250, mixed)
        events += [event for action in walk for _, event in ledger.append([action])]
    imported = {v.BaselineObserved, v.DiscrepancyFound, v.ItemAliased}  # below, and tests/tools/test_sources.py
    assert {type(e) for e in events} == {*v.ACTION_CLASSES.values(), v.Decided} - imported
    for event in events:
        assert refs_of(event) == _by_getattr(event), event
        if isinstance(event, v.Action):
            assert event.user_name == str(getattr(event, "user", None) or getattr(event, "actor", ""))


def test_a_discrepancy_touches_what_its_refused_action_names_and_an_alias_both_names() -> None:
    refused = {"do": "outlook.update", "user": "alice", "item": "AAMk1", "changed": ["Body"]}
    found = v.ACTION_ADAPTER.validate_python(
        {"do": "discrepancy", "row": {"file": "m.csv", "row": 1, "id": "m365:x"}, "action": refused, "refusal": "gone"}
    )
    assert refs_of(found) == ("outlook:alice/AAMk1",) == refs_in(v.dump(found))
    alias = v.ACTION_ADAPTER.validate_python({"do": "alias", "user": "bob", "item": "c1", "alias": "AAMkK1"})
    assert refs_of(alias) == ("outlook:bob/c1", "outlook:bob/AAMkK1")


def test_a_baseline_touches_every_record_and_item_it_names_from_its_fields_and_its_stored_data() -> None:
    document = {
        "at": "2026-03-01T00:00:00Z",
        "records": [{"id": "r1", "type": "contact", "owner": "alice"}],
        "items": {"alice": [{"id": "i1", "type": "contact"}], "bob": [{"id": "i2", "type": "task"}]},
    }
    event = v.ACTION_ADAPTER.validate_python({"do": "baseline", "document": document})
    expected = ("crm:r1", "outlook:alice/i1", "outlook:bob/i2")
    assert refs_of(event) == expected
    assert refs_in(v.dump(event)) == expected  # as the index reads the stored row
    empty = v.ACTION_ADAPTER.validate_python({"do": "baseline", "document": {"at": "2026-03-01T00:00:00Z"}})
    assert refs_of(empty) == refs_in(v.dump(empty)) == ("user:",)
