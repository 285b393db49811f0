"""Invariant 4 as a property: every Outlook item deleted by a sync, every CRM record deleted by a sync and every
ended link has a recorded decision naming a rule and a cause, and `why` finds it."""

from __future__ import annotations

from hypothesis import given, settings

from syncledger.ledger import effects as fx
from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger
from syncledger.ledger.rules import RULES
from syncledger.ledger.world import links
from syncledger.projections.index import ItemIndex
from syncledger.tools.explain.why import explain
from tests.strategies import histories


@settings(max_examples=30, deadline=None)
@given(history=histories(max_actions=250))
def test_every_disappearance_has_a_decision_with_a_rule_and_a_cause_that_why_returns(history: list[v.Action]) -> None:
    ledger, index = Ledger(), ItemIndex()
    for action in history:
        index.add(ledger.append([action]))
    events = dict(ledger.store.read())
    lookup = events.get
    removed_items: dict[str, tuple[int, str]] = {}
    removed_records: dict[str, tuple[int, str]] = {}
    ended: dict[tuple[str, str, str], tuple[int, str]] = {}
    for position, event in events.items():
        if not isinstance(event, v.Decided):
            continue
        for effect in event.effects:
            if isinstance(effect, fx.DeleteItem):
                removed_items[v.outlook_ref(effect.user, effect.item)] = (position, event.rule)
            elif isinstance(effect, fx.DeleteRecord):
                removed_records[v.crm_ref(effect.record)] = (position, event.rule)
            elif isinstance(effect, fx.UnlinkItem):
                ended[(effect.user, effect.item, effect.record)] = (position, event.rule)
            else:
                continue
            assert event.rule in RULES and 0 < event.cause < position and event.cause in events
    world = ledger.world
    for ref, (position, rule) in removed_items.items():
        user, item = ref.removeprefix("outlook:").split("/", 1)
        assert item not in world.users[user].items  # item ids are never reused in a store
        assert index.last_decision(ref) == (position, rule)
        assert explain(ref, world, index, lookup).rule == rule
    for ref, (position, rule) in removed_records.items():
        assert ref.removeprefix("crm:") not in world.records
        assert (position, rule) in index.decisions[ref]  # later decisions of other users' syncs follow it
        assert explain(ref, world, index, lookup).rule is not None
    for link in links(world):
        if link.state == "unlinked":
            assert ended[(link.user, link.item, link.record)] == (link.position, link.rule)
