"""Joint positions of sensor_msgs/JointState payloads, mapped to model order by joint name.

Every message is mapped by its names (``dexndm_control.hand.positions_by_name``: joints a message
leaves out are NaN, unknown names are an error). The fast path is only a shortcut for the common
case, never a different rule: for payloads of one length, the CDR bytes from the frame id to the
start of the position array (frame id, every joint name, the position count) are compared with a
reference message whose names are exactly the model order; rows with identical bytes hold their
positions at the same offset, in model order, and are read with one ``np.frombuffer``. Every
other row is deserialised and mapped by name.
"""

from __future__ import annotations

import struct
from collections import defaultdict

import numpy as np
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import JointState

from dexndm_control.hand import JOINT_NAMES, NUM_JOINTS, positions_by_name

_CDR_HEADER = 4  # encapsulation; CDR alignment counts from the end of it
_FIXED_PREFIX = _CDR_HEADER + 8  # header.stamp (sec, nanosec)


def _align(pos: int, size: int) -> int:
    relative = pos - _CDR_HEADER
    return pos + (-relative) % size


def position_layout(payload: bytes) -> tuple[tuple[str, ...], int, int] | None:
    """(names, position count, byte offset of the positions) of a little-endian JointState
    payload, or None if the payload is not laid out that way."""
    try:
        if payload[1] != 1:  # CDR_LE
            return None
        pos = _FIXED_PREFIX
        (length,) = struct.unpack_from("<I", payload, pos)
        pos += 4 + length
        pos = _align(pos, 4)
        (count,) = struct.unpack_from("<I", payload, pos)
        pos += 4
        names = []
        for _ in range(count):
            pos = _align(pos, 4)
            (length,) = struct.unpack_from("<I", payload, pos)
            names.append(bytes(payload[pos + 4:pos + 3 + length]).decode())
            pos += 4 + length
        pos = _align(pos, 4)
        (positions,) = struct.unpack_from("<I", payload, pos)
        pos = _align(pos + 4, 8)
        if pos + 8 * positions > len(payload):
            return None
        return tuple(names), positions, pos
    except (struct.error, IndexError, UnicodeDecodeError):
        return None


def _by_name(payload: bytes) -> np.ndarray:
    message = deserialize_message(bytes(payload), JointState)
    return positions_by_name(message.name, message.position)


def decode_positions(payloads: list) -> np.ndarray:
    """[M, 16] joint positions in model order (NaN where a message does not name a joint)."""
    out = np.full((len(payloads), NUM_JOINTS), np.nan)
    groups: dict[int, list[int]] = defaultdict(list)
    for index, payload in enumerate(payloads):
        groups[len(payload)].append(index)
    for length, indices in groups.items():
        rows = np.asarray(indices)
        fast = np.zeros(len(rows), dtype=bool)
        layout = position_layout(bytes(payloads[rows[0]]))
        if layout is not None and layout[0] == JOINT_NAMES and layout[1] == NUM_JOINTS:
            offset = layout[2]
            block = np.frombuffer(b"".join(payloads[i] for i in rows), np.uint8).reshape(
                len(rows), length)
            prefix = block[:, _FIXED_PREFIX:offset]
            fast = np.all(prefix == prefix[0], axis=1)
            out[rows[fast]] = block[fast, offset:offset + 8 * NUM_JOINTS].copy().view("<f8")
        for index in rows[~fast]:
            out[index] = _by_name(payloads[index])
    return out
