"""Exact CDR bytes for rclpy messages that go into a bag without passing through DDS.

rclpy's ``serialize_message`` returns the middleware's serialisation buffer, whose length is the
type support's size estimate rather than the bytes written: a JointState with empty velocity and
effort comes back with trailing bytes, not always zero, that strict readers (rosbags, Foxglove)
reject as a size mismatch. Messages a node writes into a bag itself are therefore converted to the
`rosbags` type store's classes and serialised there, which writes exactly the CDR encoding.
"""

from __future__ import annotations

import numpy as np
from rosbags.interfaces import Nodetype

from dexndm_collect.bag.typestore import TypeResolver

#: numpy dtypes rosbags uses for arrays and sequences of primitives
_DTYPES = {"bool": np.bool_, "byte": np.uint8, "char": np.uint8, "int8": np.int8,
           "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16, "int32": np.int32,
           "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64, "float32": np.float32,
           "float64": np.float64}


def type_name(message: object) -> str:
    """``package/msg/Name`` of an rclpy message instance."""
    cls = type(message)
    return f"{cls.__module__.split('.')[0]}/msg/{cls.__name__}"


class CdrSerializer:
    """Serialise rclpy messages to exact little-endian CDR (what DDS puts on the wire)."""

    def __init__(self, resolver: TypeResolver | None = None) -> None:
        self.resolver = resolver or TypeResolver()

    def serialize(self, message: object) -> bytes:
        name = type_name(message)
        self.resolver.ensure(name)
        store = self.resolver.store
        return bytes(store.serialize_cdr(self._convert_message(message, name), name))

    def _convert_message(self, message: object, name: str) -> object:
        store = self.resolver.store
        _, fields = store.fielddefs[name]
        values = {field: self._convert(getattr(message, field), nodetype, detail)
                  for field, (nodetype, detail) in fields}
        return store.types[name](**values)

    def _convert(self, value: object, nodetype: Nodetype, detail: object) -> object:
        if nodetype == Nodetype.NAME:
            return self._convert_message(value, detail)
        if nodetype == Nodetype.BASE:
            # rclpy holds `byte` fields as one-byte bytes objects, rosbags as integers
            return value[0] if isinstance(value, bytes) and len(value) == 1 else value
        (item_type, item_detail), _ = detail  # ARRAY or SEQUENCE
        if item_type == Nodetype.BASE and item_detail[0] in _DTYPES:
            if isinstance(value, (bytes, bytearray)):
                return np.frombuffer(value, dtype=np.uint8).copy()
            return np.asarray(value, dtype=_DTYPES[item_detail[0]])
        return [self._convert(item, item_type, item_detail) for item in value]
