"""Protobuf messages of any content, built from their descriptors: every field set or not, enums out
of range as the wire allows (proto3 enums are open), the extremes of each integer type, strings of
any character UTF-8 carries (protobuf refuses the rest on both ends), bytes of any value."""
from __future__ import annotations

import functools

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

from tests.fuzz.strategies import unicode_text

_INT = {
    FieldDescriptor.TYPE_INT32: (-(2 ** 31), 2 ** 31 - 1), FieldDescriptor.TYPE_SINT32: (-(2 ** 31), 2 ** 31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2 ** 31), 2 ** 31 - 1), FieldDescriptor.TYPE_ENUM: (-(2 ** 31), 2 ** 31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2 ** 63), 2 ** 63 - 1), FieldDescriptor.TYPE_SINT64: (-(2 ** 63), 2 ** 63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2 ** 63), 2 ** 63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2 ** 32 - 1), FieldDescriptor.TYPE_FIXED32: (0, 2 ** 32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2 ** 64 - 1), FieldDescriptor.TYPE_FIXED64: (0, 2 ** 64 - 1),
}


def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    return st.one_of(st.integers(min_value=low, max_value=high), st.sampled_from([low, high, 0, -1 if low else 1]),
                     st.integers(min_value=max(low, -3), max_value=min(high, 20)))


def _scalar(field: FieldDescriptor) -> st.SearchStrategy:
    if field.type in _INT:
        return _integers(*_INT[field.type])
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type == FieldDescriptor.TYPE_STRING:
        return unicode_text(16)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=48)
    return st.floats()


@functools.cache
def messages(descriptor: Descriptor, depth: int = 3) -> st.SearchStrategy[Message]:
    """Messages of ``descriptor``'s type; nested messages ``depth`` levels down at most."""
    cls = _class(descriptor)
    fields = {}
    for field in descriptor.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key, value = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
            value_st = messages(value.message_type, depth - 1) if value.message_type else _scalar(value)
            fields[field.name] = st.dictionaries(_scalar(key), value_st, max_size=3) if depth > 0 else st.just({})
            continue
        one = (messages(field.message_type, depth - 1) if field.message_type is not None else _scalar(field))
        if field.message_type is not None and depth <= 0:
            continue
        fields[field.name] = st.lists(one, max_size=3) if _repeated(field) else one
    oneofs = {f.name for o in descriptor.oneofs for f in o.fields}

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        chosen = draw(st.lists(st.sampled_from(sorted(fields)), unique=True)) if fields else []
        kept: dict[str, object] = {}
        for name in chosen:  # of a oneof, the last one set wins, as on the wire
            if name in oneofs:
                kept = {k: v for k, v in kept.items() if k not in oneofs}
            kept[name] = draw(fields[name])
        return cls(**kept)
    return build()


def _repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _class(descriptor: Descriptor) -> type[Message]:
    from google.protobuf import message_factory
    return message_factory.GetMessageClass(descriptor)
