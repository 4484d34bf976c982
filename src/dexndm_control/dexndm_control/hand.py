"""The LEAP hand (right) in one table: joint order, limits, motor IDs, unit conversions, poses.

Conventions (design.md section 2): every topic, bag, dataset and policy uses the MuJoCo Menagerie
LEAP model's joint order and zero (0 rad = flat, open hand). Only the hardware boundary (driver and
emulator) uses Dynamixel motor IDs 0-15 (index 0-3, middle 4-7, ring 8-11, thumb 12-15) and the
motor angle = model angle + pi offset. All conversions go through the functions below.

Joint limits come from the Menagerie model figures (dexndm_control/assets/leap_hand_model.yaml,
MIT).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dexndm_control.errors import JointNameError


@dataclass(frozen=True)
class Joint:
    name: str
    motor_id: int
    lower: float  # rad, model convention
    upper: float
    side: bool  # abduction ("rot") joints run at 0.75x gains on the real hand


_MCP, _ROT, _PIP, _DIP = (-0.314, 2.23), (-1.047, 1.047), (-0.506, 1.885), (-0.366, 2.042)

JOINTS: tuple[Joint, ...] = (
    Joint("if_mcp", 1, *_MCP, False), Joint("if_rot", 0, *_ROT, True),
    Joint("if_pip", 2, *_PIP, False), Joint("if_dip", 3, *_DIP, False),
    Joint("mf_mcp", 5, *_MCP, False), Joint("mf_rot", 4, *_ROT, True),
    Joint("mf_pip", 6, *_PIP, False), Joint("mf_dip", 7, *_DIP, False),
    Joint("rf_mcp", 9, *_MCP, False), Joint("rf_rot", 8, *_ROT, True),
    Joint("rf_pip", 10, *_PIP, False), Joint("rf_dip", 11, *_DIP, False),
    Joint("th_cmc", 12, -0.349, 2.094, False), Joint("th_axl", 13, -0.349, 2.094, False),
    Joint("th_mcp", 14, -0.47, 2.443, False), Joint("th_ipl", 15, -1.34, 1.88, False),
)

NUM_JOINTS = len(JOINTS)
#: the paper's 20 Hz control: one policy step and one target every CONTROL_DT seconds
CONTROL_RATE_HZ = 20.0
CONTROL_DT = 1.0 / CONTROL_RATE_HZ
#: a policy action delta_a in [-1, 1] moves its target by delta_a * ACTION_SCALE rad (paper: 1/24)
ACTION_SCALE = 1.0 / 24.0
JOINT_NAMES: tuple[str, ...] = tuple(j.name for j in JOINTS)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}
LOWER = np.array([j.lower for j in JOINTS])
UPPER = np.array([j.upper for j in JOINTS])
#: motor ID of each model joint (model index -> motor ID)
MOTOR_IDS = np.array([j.motor_id for j in JOINTS])
#: model joint driven by each motor (motor ID -> model index); the map is its own inverse here
MODEL_INDEX_OF_MOTOR = np.argsort(MOTOR_IDS)
SIDE_JOINT = np.array([j.side for j in JOINTS])
FINGERS: dict[str, tuple[int, ...]] = {"index": (0, 1, 2, 3), "middle": (4, 5, 6, 7),
                                      "ring": (8, 9, 10, 11), "thumb": (12, 13, 14, 15)}

# XC330-M288 units (ROBOTIS e-Manual)
TICKS_PER_REV = 4096
RAD_PER_TICK = 2.0 * math.pi / TICKS_PER_REV
HARDWARE_OFFSET_RAD = math.pi  # motor angle = model angle + pi (2048 ticks = flat hand)
RAD_S_PER_VELOCITY_UNIT = 0.229 * 2.0 * math.pi / 60.0  # 0.229 rpm per unit
AMPERE_PER_CURRENT_UNIT = 0.001  # 1 mA per unit (the LEAP API's 1.34 factor is for another motor)

# Isaac Gym (LEAP_Hand_Sim, Hora, the DexNDM paper's tables) orders fingers index, thumb, middle,
# ring. ISAAC_ORDER[i] = model joint at Isaac index i. Derived from LEAP_Hand_Sim's
# real_to_sim = [1,0,2,3,12,13,14,15,5,4,6,7,9,8,10,11] (Isaac index i = motor real_to_sim[i])
# composed with this table's motor IDs.
_REAL_TO_ISAAC = (1, 0, 2, 3, 12, 13, 14, 15, 5, 4, 6, 7, 9, 8, 10, 11)
ISAAC_ORDER = np.array([int(MODEL_INDEX_OF_MOTOR[m]) for m in _REAL_TO_ISAAC])

#: canonical grasp-search pose of paper appendix C, given there in Isaac Gym order
CANONICAL_POSE_ISAAC = np.array([1.244, 0.082, 0.265, 0.298, 1.163, 1.104, 0.953, -0.138,
                                 1.096, 0.005, 0.080, 0.150, 1.337, 0.029, 0.285, 0.317])


def from_isaac_order(values_isaac: np.ndarray) -> np.ndarray:
    """Reorder a 16-vector given in Isaac Gym joint order into model order."""
    values_isaac = np.asarray(values_isaac)
    out = np.empty_like(values_isaac)
    out[..., ISAAC_ORDER] = values_isaac
    return out


def to_isaac_order(values_model: np.ndarray) -> np.ndarray:
    return np.asarray(values_model)[..., ISAAC_ORDER]


CANONICAL_POSE = from_isaac_order(CANONICAL_POSE_ISAAC)
OPEN_POSE = np.zeros(NUM_JOINTS)


def positions_by_name(names: Sequence[str], values: Sequence[float],
                      fill: np.ndarray | float = np.nan) -> np.ndarray:
    """Model-order joint values from a JointState-style (names, values) pair.

    The one behaviour for every reader of joint messages: named joints go to their model index,
    joints the message does not name keep ``fill`` (NaN: unknown; pass the current target to
    hold it), an unnamed message must carry all 16 values in model order. Unknown or repeated
    names and a names/values length mismatch raise JointNameError.
    """
    values = np.asarray(values, dtype=float)
    if not len(names):
        if values.shape != (NUM_JOINTS,):
            raise JointNameError(f"a message without joint names needs all {NUM_JOINTS} values "
                                 f"in model order, got {values.size}")
        return values.copy()
    if len(names) != values.size:
        raise JointNameError(f"{len(names)} names but {values.size} values")
    if tuple(names) == JOINT_NAMES:
        return values.copy()
    indices = [JOINT_INDEX.get(name, -1) for name in names]
    if min(indices) < 0:
        unknown = [n for n, i in zip(names, indices, strict=True) if i < 0]
        raise JointNameError(f"unknown joint name(s) {unknown}; this hand's joints are "
                             f"{list(JOINT_NAMES)}")
    if len(set(indices)) != len(indices):
        raise JointNameError("a joint is named twice in one message")
    out = np.broadcast_to(np.asarray(fill, dtype=float), (NUM_JOINTS,)).copy()
    out[indices] = values
    return out


def clip_to_limits(q: np.ndarray) -> np.ndarray:
    return np.clip(q, LOWER, UPPER)


# -- hardware boundary -----------------------------------------------------------------------

def model_to_motor_ticks(q_model: np.ndarray) -> np.ndarray:
    """Model-order joint angles (rad) -> goal positions in ticks, indexed by motor ID."""
    q_model = np.asarray(q_model, dtype=float)
    ticks = np.rint((q_model + HARDWARE_OFFSET_RAD) / RAD_PER_TICK).astype(np.int64)
    by_motor = np.empty_like(ticks)
    by_motor[..., MOTOR_IDS] = ticks
    return by_motor


def motor_ticks_to_model(ticks_by_motor: np.ndarray) -> np.ndarray:
    """Present positions in ticks indexed by motor ID -> model-order joint angles (rad)."""
    ticks = np.asarray(ticks_by_motor, dtype=float)[..., MOTOR_IDS]
    return ticks * RAD_PER_TICK - HARDWARE_OFFSET_RAD


def motor_velocity_to_model(units_by_motor: np.ndarray) -> np.ndarray:
    return np.asarray(units_by_motor, dtype=float)[..., MOTOR_IDS] * RAD_S_PER_VELOCITY_UNIT


def motor_current_to_model(units_by_motor: np.ndarray) -> np.ndarray:
    """Present current (mA units, by motor ID) -> amperes in model order."""
    return np.asarray(units_by_motor, dtype=float)[..., MOTOR_IDS] * AMPERE_PER_CURRENT_UNIT
