"""Hardware profiles: how the 16 joints are actuated, in the training sim and in the "real" hand.

``nominal`` is the training simulation: MuJoCo position actuators (PD, kp 3, kd 0.1) with a torque
limit chosen on purpose at 0.5 N*m. The URDF effort (0.95 N*m) is far above what an XC330 gives at
the goal currents the hand runs with (0.28 N*m at 550 mA, 0.39 N*m at 750 mA), and a policy that
leans on it cannot transfer (docs/notes/reality_gap.md); 0.5 N*m is what the LEAP Isaac Lab
configuration trains with.

``real`` stands in for the physical hand behind the virtual hand: the XC330 current-based position
law computed at every physics step (per-joint PD gains identified on the real hand, paper Table 16;
goal current 650 mA x 0.517 N*m/A = 0.34 N*m), command latency of one control step, 4096-tick
quantisation of targets and readings, a +-0.125 deg backlash deadband, Coulomb and viscous joint
friction, the link masses identified on the real hand (paper Table 17), and a seeded +-20 %
per-joint spread.

The goal current is the calibrated knob (docs/reality_gap.md). Five checkpoints of the shipped
reference specialist's run (policies/gap_reference, trained on ``nominal``) keep 40-71 % of their
rotation at 650 mA (mean 56 %), against 24-63 % at 550 mA and 47-83 % at 750 mA (128 episodes
each). 650 mA is the value that puts all of them in the 30-70 % target, within one standard
error. The virtual hand gets it from the goal-current register, which launch/leap_hand.launch.xml
writes for hardware:=virtual; a physical hand keeps the LEAP default of 550 mA
(config/leap_hand.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from dexndm_control.errors import DexndmError
from dexndm_control.hand import NUM_JOINTS, RAD_PER_TICK, RAD_S_PER_VELOCITY_UNIT, from_isaac_order


class ProfileError(DexndmError, ValueError):
    """A hardware profile name or parameter that does not exist."""


TORQUE_CONSTANT = 0.517  # N*m/A (XC330-M288 at 5 V, gear losses included)
DEFAULT_GOAL_CURRENT_MA = 650.0  # calibrated: see the module docstring

# Paper Table 16 (identified on the real hand, Isaac Gym joint order), N*m/rad and N*m*s/rad
TABLE16_KP_ISAAC = [3.52, 1.78, 2.84, 2.30, 1.94, 2.18, 2.55, 2.01, 2.26, 2.30, 3.76, 4.64,
                    1.86, 3.44, 4.82, 1.53]
TABLE16_KD_ISAAC = [0.194, 0.106, 0.091, 0.195, 0.199, 0.192, 0.149, 0.050, 0.088, 0.135, 0.027,
                    0.081, 0.123, 0.042, 0.082, 0.068]
# Paper Table 17 (Isaac Gym link order: base, palm, index bs/px/md/ds, tip, thumb mp/bs/px/ds, tip,
# middle ..., tip, ring ..., tip), mapped onto the model's bodies. The mapping follows from the
# masses themselves (e.g. the 0.003 kg thumb link) and LEAP_Hand_Sim's URDF order.
TABLE17_MASSES = {
    "palm": 0.257, "if_bs": 0.0241, "if_px": 0.0190, "if_md": 0.0279, "if_ds": 0.0105,
    "th_mp": 0.0468, "th_bs": 0.0030, "th_px": 0.0365, "th_ds": 0.0538,
    "mf_bs": 0.0312, "mf_px": 0.0263, "mf_md": 0.0211, "mf_ds": 0.0163,
    "rf_bs": 0.0503, "rf_px": 0.0343, "rf_md": 0.0476, "rf_ds": 0.0223,
}


@dataclass(frozen=True)
class HardwareProfile:
    name: str
    # "position": MuJoCo PD actuators (gain kp, bias -kp q - kd qd, force range +-limit), the
    # target quantised once per control step if ``quantize``; "xc330": the firmware law computed
    # in Python at every physics step (quantised readings and backlash included)
    actuation: str
    kp: tuple[float, ...]
    kd: tuple[float, ...]
    torque_limit: tuple[float, ...]  # N*m
    armature: float = 0.0015
    damping: float = 0.03  # viscous joint friction, N*m*s/rad
    frictionloss: float = 0.001  # Coulomb joint friction, N*m
    latency_steps: int = 0  # control steps between a target and its effect
    quantize: bool = False  # 4096 ticks per turn on targets and readings
    backlash: float = 0.0  # rad, half width of the deadband on the position error
    link_masses: dict[str, float] = field(default_factory=dict)  # body -> kg (empty: model's)

    def __post_init__(self) -> None:
        if self.actuation not in ("position", "xc330"):
            raise ProfileError(f"unknown actuation '{self.actuation}'")
        for name in ("kp", "kd", "torque_limit"):
            if len(getattr(self, name)) != NUM_JOINTS:
                raise ProfileError(f"{name} needs {NUM_JOINTS} values")
        if self.latency_steps < 0:
            raise ProfileError("latency_steps must be >= 0")

    def with_goal_current(self, milliamperes: float) -> HardwareProfile:
        limit = TORQUE_CONSTANT * milliamperes / 1000.0
        return replace(self, torque_limit=(limit,) * NUM_JOINTS)

    def spread(self, rng: np.random.Generator, fraction: float = 0.2) -> HardwareProfile:
        """Per-joint multiplicative spread of gains and torque limits (seeded)."""
        def jitter(values):
            return tuple(np.asarray(values) * rng.uniform(1 - fraction, 1 + fraction, NUM_JOINTS))
        return replace(self, kp=jitter(self.kp), kd=jitter(self.kd),
                       torque_limit=jitter(self.torque_limit))

    def joint_torque(self, target: np.ndarray, q: np.ndarray, qd: np.ndarray) -> np.ndarray:
        """The XC330 law: clip(kp * e - kd * w, +-limit) on quantised readings, with deadband."""
        if self.quantize:
            target = np.round(target / RAD_PER_TICK) * RAD_PER_TICK
            q = np.round(q / RAD_PER_TICK) * RAD_PER_TICK
            qd = np.round(qd / RAD_S_PER_VELOCITY_UNIT) * RAD_S_PER_VELOCITY_UNIT
        error = target - q
        if self.backlash:
            error = np.sign(error) * np.maximum(np.abs(error) - self.backlash, 0.0)
        limit = np.asarray(self.torque_limit)
        return np.clip(np.asarray(self.kp) * error - np.asarray(self.kd) * qd, -limit, limit)


def nominal() -> HardwareProfile:
    return HardwareProfile("nominal", "position", (3.0,) * NUM_JOINTS, (0.1,) * NUM_JOINTS,
                           (0.5,) * NUM_JOINTS)


def real(goal_current_ma: float = DEFAULT_GOAL_CURRENT_MA, latency_steps: int = 1,
         spread_seed: int | None = 0, law: str = "per_substep") -> HardwareProfile:
    """``law``: "per_substep" computes the XC330 law in Python at every physics step (quantised
    readings, backlash); "actuator" gives MuJoCo the same PD law with its force limit as
    actuator parameters (exact but for reading quantisation and backlash), so physics runs in
    one call per control step."""
    if law not in ("per_substep", "actuator"):
        raise ProfileError(f"law must be per_substep or actuator, got '{law}'")
    limit = TORQUE_CONSTANT * goal_current_ma / 1000.0
    profile = HardwareProfile(
        "real", "xc330" if law == "per_substep" else "position",
        tuple(from_isaac_order(np.array(TABLE16_KP_ISAAC))),
        tuple(from_isaac_order(np.array(TABLE16_KD_ISAAC))), (limit,) * NUM_JOINTS,
        armature=0.0015, damping=0.01 + 0.03, frictionloss=0.02, latency_steps=latency_steps,
        quantize=True, backlash=np.deg2rad(0.125), link_masses=dict(TABLE17_MASSES))
    if spread_seed is not None:
        profile = profile.spread(np.random.default_rng(spread_seed))
    return profile


PROFILES = {"nominal": nominal, "real": real}


def profile_from_spec(spec: str) -> HardwareProfile:
    """``NAME`` or ``NAME:key=value,key=value`` (e.g. ``real:law=actuator,goal_current_ma=550``),
    values read as YAML scalars."""
    import yaml

    name, _, rest = spec.partition(":")
    params = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ProfileError(f"profile '{spec}': write parameters as key=value, got '{item}'")
        params[key.strip()] = yaml.safe_load(value)
    return get_profile(name, **params)


def get_profile(name: str, **params) -> HardwareProfile:
    """A profile by name; ``params`` go to its constructor (``real``: goal_current_ma,
    latency_steps, spread_seed)."""
    if name not in PROFILES:
        raise ProfileError(f"unknown hardware profile '{name}'; choose {', '.join(PROFILES)}")
    try:
        return PROFILES[name](**params)
    except TypeError as error:
        raise ProfileError(f"profile '{name}' does not take {sorted(params)}: {error}") from None
