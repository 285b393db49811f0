# ruff: noqa: E501  (rows copied as they are stored: one line each)
"""Decisions stored before the effects were renamed (ledger.effects) still read, and are written byte for byte
as they were: an effect's stored form is its `kind` and its fields, never its class name."""

from __future__ import annotations

import orjson
import pytest

from syncledger.ledger import effects as fx
from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger
from syncledger.ledger.store import DECIDED_TOPIC, EventStore

# Every decision of the ledger below, as the code before the rename stored it (copied from its output). Between
# them they carry every kind of effect.
STORED = [
    b'{"do":"decision","at":"2026-03-02T10:03:00Z","actor":"alice","rule":"TRACK-ITEM","cause":4,"about":["crm:t1","outlook:alice/t1"],"effects":[{"kind":"record.created","record":"t1","type":"task","owner":"alice","state":"active","fields":{"subject":"Call"}},{"kind":"linked","user":"alice","item":"t1","record":"t1","origin":"tracked","in_filter":true}],"queued":[]}',
    b'{"do":"decision","at":"2026-03-02T10:04:00Z","actor":"alice","rule":"OUTLOOK-EDIT-PUSH","cause":6,"about":["crm:t1","outlook:alice/t1"],"effects":[{"kind":"record.changed","record":"t1","fields":{"subject":"Call back"}}],"queued":[]}',
    b'{"do":"decision","at":"2026-03-02T10:07:00Z","actor":"sync:bob","rule":"FILTER-CREATE","cause":9,"about":["crm:c1","outlook:bob/c1"],"effects":[{"kind":"item.created","user":"bob","item":"c1","type":"contact","fields":{"name":"Ann"},"completed":false},{"kind":"linked","user":"bob","item":"c1","record":"c1","origin":"synced","in_filter":true}],"queued":[]}',
    b'{"do":"decision","at":"2026-03-02T10:09:00Z","actor":"sync:bob","rule":"CRM-EDIT-PULL","cause":12,"about":["crm:c1","outlook:bob/c1"],"effects":[{"kind":"item.replaced","user":"bob","item":"c1","fields":{"name":"Anne"},"completed":false},{"kind":"filter.noted","user":"bob","item":"c1","in_filter":true}],"queued":[]}',
    b'{"do":"decision","at":"2026-03-02T10:11:00Z","actor":"sync:bob","rule":"CONTACT-DEL-CRM-NONOWNER","cause":15,"about":["crm:c1","outlook:bob/c1"],"effects":[{"kind":"item.deleted","user":"bob","item":"c1"},{"kind":"unlinked","user":"bob","item":"c1","record":"c1"}],"queued":[]}',
    b'{"do":"decision","at":"2026-03-02T10:13:00Z","actor":"sync:alice","rule":"TASK-DEL-OUTLOOK-OPEN","cause":18,"about":["crm:t1","outlook:alice/t1"],"effects":[{"kind":"record.deleted","record":"t1"},{"kind":"unlinked","user":"alice","item":"t1","record":"t1"}],"queued":[]}',
    b'{"do":"decision","at":"2026-03-02T10:16:00Z","actor":"alice","rule":"OFFLINE-QUEUE","cause":23,"about":["outlook:alice/m1"],"effects":[],"queued":[{"user":"alice","operation":"offline:outlook.track","item":"m1","cause":23,"replay":{"at":"2026-03-02T10:16:00Z","id":"auto-23","queued":[],"do":"outlook.track","user":"alice","item":"m1"}}]}',
    b'{"do":"decision","at":"2026-03-02T10:17:00Z","actor":"alice","rule":"TRACK-EMAIL","cause":23,"about":["crm:m1","outlook:alice/m1"],"effects":[{"kind":"settled","user":"alice","cause":23},{"kind":"record.created","record":"m1","type":"email","owner":"alice","state":"active","fields":{}},{"kind":"linked","user":"alice","item":"m1","record":"m1","origin":"tracked","in_filter":false}],"queued":[]}',
    b'{"do":"decision","at":"2026-03-02T10:17:00Z","actor":"alice","rule":"GO-ONLINE-SYNC","cause":25,"about":["user:alice"],"effects":[{"kind":"sync.started","user":"alice"}],"queued":[]}',
]
ACTIONS = [
    {"do": "user.add", "user": "alice"},
    {"do": "user.add", "user": "bob", "sync_filter": "owned_and_shared"},
    {"do": "outlook.create", "user": "alice", "item": "t1", "type": "task", "fields": {"subject": "Call"}},
    {"do": "outlook.track", "user": "alice", "item": "t1"},
    {"do": "outlook.update", "user": "alice", "item": "t1", "fields": {"subject": "Call back"}},
    {"do": "crm.create", "actor": "alice", "record": "c1", "type": "contact", "fields": {"name": "Ann"}},
    {"do": "crm.share", "actor": "alice", "record": "c1", "with": "bob"},
    {"do": "sync", "user": "bob"},
    {"do": "crm.update", "actor": "alice", "record": "c1", "fields": {"name": "Anne"}},
    {"do": "sync", "user": "bob"},
    {"do": "crm.delete", "actor": "alice", "record": "c1"},
    {"do": "sync", "user": "bob"},
    {"do": "outlook.delete", "user": "alice", "item": "t1"},
    {"do": "sync", "user": "alice"},
    {"do": "outlook.create", "user": "alice", "item": "m1", "type": "email"},
    {"do": "offline", "user": "alice"},
    {"do": "outlook.track", "user": "alice", "item": "m1"},
    {"do": "online", "user": "alice"},
]
EFFECT_CLASSES = {
    "record.created": fx.CreateRecord,
    "record.changed": fx.ChangeRecord,
    "record.deleted": fx.DeleteRecord,
    "item.created": fx.CreateItem,
    "item.replaced": fx.ReplaceItem,
    "item.deleted": fx.DeleteItem,
    "linked": fx.LinkItem,
    "unlinked": fx.UnlinkItem,
    "filter.noted": fx.NoteFilter,
    "settled": fx.SettleOperation,
    "sync.started": fx.ClearPending,
}


def test_the_fixed_rows_carry_every_kind_of_effect() -> None:
    kinds = {effect["kind"] for payload in STORED for effect in orjson.loads(payload)["effects"]}
    assert kinds == set(EFFECT_CLASSES) == {cls.model_fields["kind"].default for cls in fx.Effect.__origin__.__args__}  # type: ignore[attr-defined]


@pytest.mark.parametrize("payload", STORED, ids=lambda p: orjson.loads(p)["rule"])
def test_a_decision_stored_before_the_rename_reads_and_writes_back_the_same_bytes(payload: bytes) -> None:
    mapper = EventStore().mapper
    _, trusted = mapper.decode_encoded((1, DECIDED_TOPIC, payload))  # how the ledger reads its own rows
    validated = v.Decided.model_validate_json(payload)  # how `verify` reads them
    assert isinstance(trusted, v.Decided) and trusted == validated
    for effect, stored in zip(trusted.effects, orjson.loads(payload)["effects"], strict=True):
        assert type(effect) is EFFECT_CLASSES[stored["kind"]]
    assert mapper.payload(trusted) == payload == mapper.payload(validated)


def test_the_engine_still_records_those_decisions_byte_for_byte() -> None:
    ledger = Ledger(EventStore())
    for n, action in enumerate(ACTIONS):
        ledger.append([v.ACTION_ADAPTER.validate_python({**action, "at": f"2026-03-02T10:{n:02d}:00Z"})])
    decided = [ledger.store.mapper.payload(e) for _, e in ledger.store.read() if isinstance(e, v.Decided)]
    # the same bytes, and since there are two synchronisation methods, the one that decided (after `reason`)
    expected = [row.replace(b',"queued":', b',"method":"outlook_client","queued":', 1) for row in STORED]
    # since issue 14 a decision also records its facts, its sync and merged causes, after everything else
    recorded = [orjson.loads(payload) for payload in decided]
    assert [list(d)[: len(orjson.loads(e))] for d, e in zip(recorded, expected, strict=True)] == [
        list(orjson.loads(e)) for e in expected
    ]
    earlier = [{k: d[k] for k in d if k not in ("facts", "sync", "causes")} for d in recorded]
    assert [orjson.dumps(d) for d in earlier] == expected
    assert [d.get("sync") for d in recorded] == [None, None, 10, 13, 16, 19, None, 25, 25]


def test_a_decision_stored_before_methods_reads_as_the_outlook_clients() -> None:
    for payload in STORED:
        decision = v.Decided.model_validate_json(payload)
        assert decision.method is None and decision.decided_by == "outlook_client"
