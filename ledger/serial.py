"""Trusted decoding: the store's own rows back into events without validating them again.

Every stored event was validated when it was appended and is sealed since, so reading the ledger back only has
to rebuild the objects that `model_validate_json` would give; `verify` still validates every row in full. Each
model gets a plan, derived once from its fields: which JSON values to convert (times, tuples, nested models),
which aliases to rename, and which defaults fill the fields that `exclude_none` left out.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AwareDatetime, BaseModel
from pydantic_core import PydanticUndefined, TzInfo

Convert = Callable[[Any], Any]
_AS_IS = (str, int, float, bool, type(None))  # what orjson already gives as pydantic would
_BUILDERS: dict[type[BaseModel], Convert] = {}
# the slots that `model_construct` fills, set through their descriptors: twice as fast as object.__setattr__
_SET_DICT, _SET_FIELDS_SET, _SET_EXTRA, _SET_PRIVATE = (
    BaseModel.__dict__[slot].__set__
    for slot in ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")
)


@lru_cache(maxsize=4096)  # a ledger's events share few distinct times, and datetimes are immutable
def parse_time(text: str) -> datetime:
    """An ISO 8601 time as pydantic reads it, down to its time zone class (so that even `tzname()` agrees)."""
    value = datetime.fromisoformat(text)
    offset = value.utcoffset()
    return value if offset is None else value.replace(tzinfo=TzInfo(int(offset.total_seconds())))


def builder(cls: type[BaseModel]) -> Convert:
    """`orjson.loads` of what `vocabulary.dump` made of a `cls` instance -> an equal `cls` instance, set up as
    `model_construct` sets one up, in a fraction of its time. The data is used up (its dict becomes the model's)."""
    if cls in _BUILDERS:
        return _BUILDERS[cls]
    converters: list[tuple[str, Convert]] = []
    aliases: list[tuple[str, str]] = []
    template: dict[str, Any] = {}  # every field, in declaration order: `__dict__` (and so repr) keeps that order
    fresh: list[tuple[str, Callable[[], Any]]] = []  # a mutable default is a new copy per instance, as in pydantic
    required: set[str] = set()
    new = cls.__new__

    def build(data: dict[str, Any]) -> Any:
        for key, convert in converters:
            value = data.get(key)
            if value is not None:
                data[key] = convert(value)
        for key, name in aliases:
            if key in data:
                data[name] = data.pop(key)
        values = data
        # as many keys as fields: the store wrote them all (checking their names too costs a tenth of decoding)
        if len(data) != len(template):
            values = {**template, **data}
            if len(values) != len(template) or not required <= data.keys():  # another version's row, or forged
                missing, unknown = sorted(required - data.keys()), sorted(data.keys() - template.keys())
                raise TypeError(f"{cls.__name__}: missing fields {missing}, unknown fields {unknown}")
            for name, make in fresh:
                if name not in data:
                    values[name] = make()
        model = new(cls)
        _SET_DICT(model, values)
        _SET_FIELDS_SET(model, set(data))
        _SET_EXTRA(model, None)
        _SET_PRIVATE(model, None)
        return model

    _BUILDERS[cls] = build  # before its fields: a queued operation's replay is an action with queued operations
    for name, field in cls.model_fields.items():
        key = field.alias or name
        if key != name:
            aliases.append((key, name))
        convert = _converter(field.annotation, f"{cls.__name__}.{name}")
        if convert is not None:
            converters.append((key, convert))
        if field.is_required():
            required.add(name)
        elif field.default_factory is not None:
            fresh.append((name, field.default_factory))  # type: ignore[arg-type]
        elif isinstance(field.default, (dict, list, set)):
            fresh.append((name, field.default.copy))
        template[name] = None if field.default is PydanticUndefined else field.default
    return build


def _converter(annotation: Any, where: str) -> Convert | None:
    """How a JSON value becomes the field's value; None if it already is one."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _converter(args[0], where)
    if annotation in _AS_IS or origin is Literal or annotation is Any:  # Any: JSON data kept as JSON gives it
        return None
    if annotation in (datetime, AwareDatetime):
        return parse_time
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return builder(annotation)
    members = [a for a in args if a is not type(None)]
    if origin in (Union, types.UnionType) and len(members) == 1:
        return _converter(members[0], where)
    if origin in (Union, types.UnionType) and all(isinstance(m, type) and issubclass(m, BaseModel) for m in members):
        return _tagged(members, where)
    if origin in (Union, types.UnionType) and all(_converter(m, where) is None for m in members):
        return None
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        each = _converter(args[0], where)
        return tuple if each is None else lambda values: tuple(map(each, values)) if values else ()
    if origin is dict:
        value = _converter(args[1], where)
        if value is None:
            return None
        return lambda mapping: {key: value(inner) for key, inner in mapping.items()}
    raise TypeError(f"{where}: no trusted decoding for {annotation!r}; teach ledger/serial.py to read it")


def _tagged(members: list[type[BaseModel]], where: str) -> Convert:
    """A union of models, told apart by the field that each declares as one Literal value (`do`, `kind`)."""

    def tags(m: type[BaseModel]) -> dict[str, Any]:
        literals = {n: get_args(f.annotation) for n, f in m.model_fields.items() if get_origin(f.annotation) is Literal}
        return {n: values[0] for n, values in literals.items() if len(values) == 1}

    common = set.intersection(*(set(tags(m)) for m in members))
    if len(common) != 1:
        raise TypeError(f"{where}: no single field tells {[m.__name__ for m in members]} apart")
    tag = common.pop()
    by_tag = {tags(m)[tag]: builder(m) for m in members}
    return lambda data: by_tag[data[tag]](data)
