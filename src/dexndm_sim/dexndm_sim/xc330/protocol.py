"""Dynamixel Protocol 2.0 framing: CRC-16 (poly 0x8005), byte stuffing, packet parse and build."""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER = b"\xff\xff\xfd\x00"
BROADCAST_ID = 0xFE

PING, READ, WRITE, REG_WRITE, ACTION = 0x01, 0x02, 0x03, 0x04, 0x05
FACTORY_RESET, REBOOT = 0x06, 0x08
STATUS = 0x55
SYNC_READ, SYNC_WRITE, FAST_SYNC_READ = 0x82, 0x83, 0x8A
BULK_READ, BULK_WRITE, FAST_BULK_READ = 0x92, 0x93, 0x9A

# status error codes (low 7 bits of the error byte)
ERR_RESULT_FAIL, ERR_INSTRUCTION, ERR_CRC, ERR_DATA_RANGE = 1, 2, 3, 4
ERR_DATA_LENGTH, ERR_DATA_LIMIT, ERR_ACCESS = 5, 6, 7


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return table


_TABLE = _crc_table()


def crc16(data: bytes | bytearray | memoryview) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) ^ _TABLE[((crc >> 8) ^ byte) & 0xFF]) & 0xFFFF
    return crc


def stuff(payload: bytes) -> bytes:
    """Insert 0xFD after every FF FF FD in the instruction..parameters part."""
    return payload.replace(b"\xff\xff\xfd", b"\xff\xff\xfd\xfd")


def unstuff(payload: bytes) -> bytes:
    return payload.replace(b"\xff\xff\xfd\xfd", b"\xff\xff\xfd")


@dataclass(frozen=True)
class Packet:
    id: int
    instruction: int
    params: bytes


def build(packet_id: int, instruction: int, params: bytes) -> bytes:
    body = stuff(bytes([instruction]) + params)
    head = HEADER + bytes([packet_id]) + struct.pack("<H", len(body) + 2)
    frame = head + body
    return frame + struct.pack("<H", crc16(frame))


def build_status(packet_id: int, error: int, params: bytes = b"") -> bytes:
    return build(packet_id, STATUS, bytes([error]) + params)


class Parser:
    """Incremental parser: feed bytes, get complete packets; garbage and bad CRCs are skipped."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.crc_errors = 0
        self.discarded_bytes = 0

    def feed(self, data: bytes) -> list[Packet]:
        self._buffer.extend(data)
        packets = []
        while True:
            start = self._buffer.find(HEADER)
            if start < 0:
                keep = 3  # a header may be split across reads
                if len(self._buffer) > keep:
                    self.discarded_bytes += len(self._buffer) - keep
                    del self._buffer[:-keep]
                return packets
            if start:
                self.discarded_bytes += start
                del self._buffer[:start]
            if len(self._buffer) < 7:
                return packets
            length = struct.unpack_from("<H", self._buffer, 5)[0]
            total = 7 + length
            if length < 3 or length > 1024:
                del self._buffer[:1]
                self.discarded_bytes += 1
                continue
            if len(self._buffer) < total:
                return packets
            frame = bytes(self._buffer[:total])
            del self._buffer[:total]
            if crc16(frame[:-2]) != struct.unpack_from("<H", frame, total - 2)[0]:
                self.crc_errors += 1
                continue
            body = unstuff(frame[7:-2])
            packets.append(Packet(frame[4], body[0], body[1:]))
