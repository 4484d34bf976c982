"""Vectorised decoding of sensor_msgs/JointState payloads: one np.frombuffer per payload layout.

The stack's JointState messages always carry the same 16 names and frame id, so every payload of a
topic has the same length and its position/velocity/effort arrays sit at fixed byte offsets. The
offsets are found once by decoding one message; a second message verifies them. Payloads of other
lengths fall back to per-message deserialisation, so any JointState still decodes correctly.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import JointState

from dexndm_control.hand import JOINT_INDEX, JOINT_NAMES, NUM_JOINTS


def _to_model_order(message: JointState) -> np.ndarray:
    q = np.full(NUM_JOINTS, np.nan)
    if list(message.name) == list(JOINT_NAMES) or not message.name:
        q[:len(message.position)] = message.position
        return q
    for name, value in zip(message.name, message.position):
        if name in JOINT_INDEX:
            q[JOINT_INDEX[name]] = value
    return q


def _position_offset(payload: bytes, message: JointState) -> int | None:
    values = np.asarray(message.position, dtype="<f8")
    if list(message.name) != list(JOINT_NAMES) or values.size != NUM_JOINTS:
        return None
    offset = bytes(payload).find(values.tobytes())
    return offset if offset >= 0 else None


def decode_positions(payloads: list) -> np.ndarray:
    """[M, 16] joint positions (model order) of JointState payloads."""
    out = np.full((len(payloads), NUM_JOINTS), np.nan)
    groups: dict[int, list[int]] = defaultdict(list)
    for index, payload in enumerate(payloads):
        groups[len(payload)].append(index)
    for length, indices in groups.items():
        first = deserialize_message(bytes(payloads[indices[0]]), JointState)
        offset = _position_offset(bytes(payloads[indices[0]]), first)
        if offset is not None and len(indices) > 1:
            check = deserialize_message(bytes(payloads[indices[-1]]), JointState)
            candidate = np.frombuffer(bytes(payloads[indices[-1]]), "<f8", NUM_JOINTS, offset)
            if not np.array_equal(candidate, np.asarray(check.position)):
                offset = None
        if offset is None:
            for index in indices:
                out[index] = _to_model_order(deserialize_message(bytes(payloads[index]),
                                                                 JointState))
            continue
        block = np.frombuffer(b"".join(payloads[i] for i in indices), np.uint8).reshape(
            len(indices), length)
        out[indices] = block[:, offset:offset + 8 * NUM_JOINTS].copy().view("<f8")
    return out
