"""Read what a (possibly truncated) MCAP file holds by walking its records from the start.

A recorder killed with SIGKILL leaves an MCAP file with no summary and no footer, and no
metadata.yaml. Its complete chunks are still valid: this scanner returns their schemas, channels and
messages and stops at the first incomplete record.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dexndm_control.errors import BagError

MAGIC = b"\x89MCAP0\r\n"
OP_SCHEMA, OP_CHANNEL, OP_MESSAGE, OP_CHUNK, OP_FOOTER = 0x03, 0x04, 0x05, 0x06, 0x02


@dataclass
class ScannedSchema:
    id: int
    name: str
    encoding: str
    data: bytes


@dataclass
class ScannedChannel:
    id: int
    schema_id: int
    topic: str
    encoding: str
    metadata: dict[str, str]


@dataclass
class ScanResult:
    schemas: dict[int, ScannedSchema] = field(default_factory=dict)
    channels: dict[int, ScannedChannel] = field(default_factory=dict)
    messages: list[tuple[int, int, bytes]] = field(default_factory=list)  # channel, log time, data
    complete: bool = False  # a footer was reached
    valid_bytes: int = 0


class _Truncated(Exception):
    pass


class _Buffer:
    def __init__(self, data: bytes | memoryview) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise _Truncated
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def u16(self) -> int:
        return struct.unpack("<H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def u64(self) -> int:
        return struct.unpack("<Q", self.take(8))[0]

    def string(self) -> str:
        return bytes(self.take(self.u32())).decode()

    def remaining(self) -> int:
        return len(self.data) - self.pos


def _records(buffer: _Buffer) -> Iterator[tuple[int, _Buffer]]:
    while buffer.remaining():
        start = buffer.pos
        try:
            op = buffer.take(1)[0]
            length = buffer.u64()
            body = _Buffer(buffer.take(length))
        except _Truncated:
            buffer.pos = start
            return
        yield op, body


def _handle(op: int, body: _Buffer, result: ScanResult) -> None:
    if op == OP_SCHEMA:
        schema_id = body.u16()
        name, encoding = body.string(), body.string()
        result.schemas[schema_id] = ScannedSchema(schema_id, name, encoding,
                                                  bytes(body.take(body.u32())))
    elif op == OP_CHANNEL:
        channel_id, schema_id = body.u16(), body.u16()
        topic, encoding = body.string(), body.string()
        meta_buffer = _Buffer(body.take(body.u32()))
        metadata = {}
        while meta_buffer.remaining():
            key = meta_buffer.string()
            metadata[key] = meta_buffer.string()
        result.channels[channel_id] = ScannedChannel(channel_id, schema_id, topic, encoding,
                                                     metadata)
    elif op == OP_MESSAGE:
        channel_id = body.u16()
        body.u32()  # sequence
        log_time = body.u64()
        body.u64()  # publish time
        result.messages.append((channel_id, log_time, bytes(body.take(body.remaining()))))


def require_mcap(path: str | Path) -> None:
    """BagError unless ``path`` starts with the MCAP magic bytes (or is cut inside them: a
    recorder killed as it opened the file)."""
    with Path(path).open("rb") as stream:
        head = stream.read(len(MAGIC))
    if head != MAGIC[:len(head)]:
        raise BagError(f"{path} is not an MCAP file (it does not start with the MCAP magic "
                       "bytes): it is no recorder output and cannot be reindexed; remove it or "
                       "point at the bag directory it belongs to")


def scan_mcap(path: str | Path) -> ScanResult:
    require_mcap(path)
    data = Path(path).read_bytes()
    result = ScanResult()
    if not data.startswith(MAGIC):
        return result
    buffer = _Buffer(data)
    buffer.take(len(MAGIC))
    for op, body in _records(buffer):
        if op == OP_CHUNK:
            body.u64(), body.u64()
            body.u64()  # uncompressed size
            body.u32()  # crc
            compression = body.string()
            records = body.take(body.u64())
            if compression == "zstd":
                from rosbags.rosbag2.storage_mcap import zstd
                records = zstd.decompress(bytes(records))
            elif compression:
                raise ValueError(f"unsupported chunk compression {compression!r}")
            for inner_op, inner in _records(_Buffer(records)):
                _handle(inner_op, inner, result)
        elif op == OP_FOOTER:
            result.complete = True
        else:
            _handle(op, body, result)
        result.valid_bytes = buffer.pos
    return result
