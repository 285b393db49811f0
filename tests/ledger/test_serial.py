"""Trusted decoding (`ledger.serial`) gives exactly what full validation gives, for every kind of event."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from syncledger.ledger import effects as fx
from syncledger.ledger import vocabulary as v
from syncledger.ledger.application import Ledger
from syncledger.ledger.serial import builder
from syncledger.tools import scenarios
from tests import randomwalk

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = [*sorted((REPO / "tests" / "scenarios").glob("*.yaml")), REPO / "tools" / "scenarios" / "demo.yaml"]
EFFECT_KINDS = {cls.model_fields["kind"].default for cls in fx.Effect.__origin__.__args__}  # type: ignore[attr-defined]


def _same(a: Any, b: Any, where: str = "event") -> None:
    """Equal, and alike all the way down: types (tuples, time zone classes), fields set, field order."""
    assert type(a) is type(b), where
    if isinstance(a, BaseModel):
        assert list(a.__dict__) == list(b.__dict__), where
        assert a.model_fields_set == b.model_fields_set, where
        assert (a.__pydantic_extra__, a.__pydantic_private__) == (b.__pydantic_extra__, b.__pydantic_private__)
        for name, value in a.__dict__.items():
            _same(value, b.__dict__[name], f"{where}.{name}")
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), where
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{n}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for key, value in a.items():
            _same(value, b[key], f"{where}[{key!r}]")
    elif isinstance(a, datetime):
        assert type(a.tzinfo) is type(b.tzinfo) and a.tzname() == b.tzname(), where
        assert a.isoformat() == b.isoformat(), where
    else:
        assert repr(a) == repr(b), where  # repr: tells -0.0 from 0.0 and 1.0 from 1
    assert a == b, where


def _check(event: v.Action | v.Decided) -> None:
    payload = orjson.dumps(v.dump(event))
    validated = type(event).model_validate_json(payload)
    trusted = builder(type(event))(orjson.loads(payload))
    _same(trusted, validated)
    assert repr(trusted) == repr(validated)
    assert orjson.dumps(v.dump(trusted)) == payload  # and it writes back the same bytes


@functools.cache
def _real_events() -> tuple[v.Action | v.Decided, ...]:
    """Events as the engine makes them: random multi-user walks, and every scenario file."""
    events: list[v.Action | v.Decided] = []
    for seed, mixed in [*((seed, False) for seed in range(6)), (6, True), (7, True)]:  # mixed: both sync methods
        ledger = Ledger()
        for action in randomwalk.actions(seed, 250, mixed):
            events += [event for _, event in ledger.append([action])]
    for path in SCENARIOS:
        events += [event for _, event in scenarios.run(scenarios.load(str(path))).ledger.store.read()]
    return tuple(events)


def test_the_real_events_cover_every_kind_of_event_and_effect() -> None:
    events = _real_events()
    assert {e.do for e in events} == set(v.EVENT_CLASSES)
    assert {f.kind for e in events if isinstance(e, v.Decided) for f in e.effects} == EFFECT_KINDS
    assert any(q.replay is not None for e in events for q in e.queued)
    assert any(isinstance(e, v.Decided) and e.queued for e in events)
    assert any(isinstance(e, v.Decided) and e.reason for e in events)
    assert any(getattr(e, "start", None) for e in events)


def test_every_real_event_decodes_as_validation_decodes_it() -> None:
    for event in _real_events():
        _check(event)


@functools.cache
def _samples() -> dict[str, bytes]:
    """One real event of each kind, to vary."""
    return {e.do: orjson.dumps(v.dump(e)) for e in _real_events()}


offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
times = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets)
texts = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=30)
values = st.one_of(
    texts,
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.none(),
)
fields = st.dictionaries(texts, values, max_size=4)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(sorted(v.EVENT_CLASSES)),
    at=times,
    start=st.none() | times,
    id_=st.none() | texts,
    fields_=fields,
    reason=st.none() | texts,
)
def test_odd_values_decode_as_validation_decodes_them(
    kind: str, at: datetime, start: datetime | None, id_: str | None, fields_: dict[str, Any], reason: str | None
) -> None:
    """Times in any zone and to the microsecond, any text, every kind of field value, fields left out."""
    data = orjson.loads(_samples()[kind])
    changes = {"at": at.isoformat(), "start": start and start.isoformat(), "fields": fields_, "id": id_}
    changes["reason"] = reason
    for key, value in changes.items():
        if key in data or (key in v.EVENT_CLASSES[kind].model_fields and value is not None):
            data[key] = value
    for effect in data.get("effects", ()):  # a decision's effects carry fields and times too
        effect.update({key: changes[key] for key in ("fields", "start") if key in effect and changes[key]})
    try:
        event = v.EVENT_CLASSES[kind].model_validate(data)
    except ValidationError:
        assume(False)
    _check(event)  # type: ignore[arg-type]


def test_a_row_not_shaped_like_its_model_is_refused_not_half_built() -> None:
    """A missing required field, or a field the model does not have (another version's row), is an error."""
    build = builder(v.SyncRequested)
    with pytest.raises(TypeError, match=r"missing fields \['user'\], unknown fields \[\]"):
        build({"at": "2026-03-02T09:00:00Z", "do": "sync"})
    with pytest.raises(TypeError, match=r"missing fields \[\], unknown fields \['usr'\]"):
        build({"at": "2026-03-02T09:00:00Z", "do": "sync", "user": "alice", "usr": "alice"})


def test_a_left_out_mutable_default_is_a_new_copy_per_event_as_in_validation() -> None:
    data = b'{"at":"2026-03-02T09:00:00Z","do":"crm.update","actor":"alice","record":"r1"}'
    first, second = (builder(v.CrmRecordEdited)(orjson.loads(data)) for _ in range(2))
    assert first.fields == second.fields == {} and first.fields is not second.fields
