"""Hardware profiles: how the 16 joints are actuated, in the training sim and in the "real" hand.

``nominal`` is the training simulation: MuJoCo position actuators (PD, kp 3, kd 0.1) with a torque
limit chosen on purpose at 0.5 N*m. The URDF effort (0.95 N*m) is far above what an XC330 gives at
the goal currents the hand runs with (0.28 N*m at 550 mA, 0.39 N*m at 750 mA), and a policy that
leans on it cannot transfer (docs/notes/reality_gap.md); 0.5 N*m is what the LEAP Isaac Lab
configuration trains with.

``real`` stands in for the physical hand behind the virtual hand: the XC330 current-based position
law computed at every physics step (per-joint PD gains identified on the real hand, paper Table 16;
goal current 550 mA x 0.517 N*m/A = 0.28 N*m), command latency of one control step, 4096-tick
quantisation of targets and readings, a +-0.125 deg backlash deadband, Coulomb and viscous joint
friction, the link masses identified on the real hand (paper Table 17), and a seeded +-20 %
per-joint spread. On top, three effects no simulator parameter set holds, so that system
identification alone cannot close the gap (docs/reality_gap.md): the motor's torque-speed curve
(back-EMF), load-dependent gear friction, and compliant fingertip pads with their own friction.

The goal current is the calibrated knob (docs/reality_gap.md): at 550 mA, the LEAP hand API's
default, the shipped reference specialist (policies/gap_reference, trained on ``nominal``) keeps
51 +- 7 % of its rotation (57 % at 600 mA, 66 % at 650 mA; 64 episodes each), the middle of the
30-70 % target. A physical hand runs the same 550 mA (config/leap_hand.yaml).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import yaml

from dexndm_control.errors import DexndmError
from dexndm_control.hand import NUM_JOINTS, RAD_PER_TICK, RAD_S_PER_VELOCITY_UNIT, from_isaac_order
from dexndm_control.settings import SettingsError, from_mapping


class ProfileError(DexndmError, ValueError):
    """A hardware profile name or parameter that does not exist."""


TORQUE_CONSTANT = 0.517  # N*m/A (XC330-M288 at 5 V, gear losses included)
DEFAULT_GOAL_CURRENT_MA = 550.0  # calibrated: see the module docstring

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


# joint properties MuJoCo holds per joint (a profile may give one value for all 16)
PER_JOINT_PASSIVE = ("armature", "damping", "frictionloss", "stiffness", "springref")


@dataclass(frozen=True)
class HardwareProfile:
    name: str
    # "position": MuJoCo PD actuators (gain kp, bias -kp q - kd qd, force range +-limit), the
    # target quantised once per control step if ``quantize``; "xc330": the firmware law (
    # joint_torque) evaluated inside every physics step by MuJoCo's user actuator bias
    # (native/xc330_law.c: quantised readings, backlash and the motor effects below)
    actuation: str
    kp: tuple[float, ...]
    kd: tuple[float, ...]
    torque_limit: tuple[float, ...]  # N*m
    # per joint (a single number applies to all 16)
    armature: tuple[float, ...] = (0.0015,)  # reflected rotor inertia, kg*m^2
    damping: tuple[float, ...] = (0.03,)  # viscous joint friction, N*m*s/rad
    frictionloss: tuple[float, ...] = (0.001,)  # Coulomb joint friction, N*m
    # passive joint spring toward ``springref`` (e.g. a glove or skin over the hand), N*m/rad
    stiffness: tuple[float, ...] = (0.0,)
    springref: tuple[float, ...] = (0.0,)  # rad, the spring's rest angle
    latency_steps: int = 0  # control steps between a target and its effect
    # and within the control step: the new target acts from this physics substep on (0-5; a
    # USB round trip and the driver's cycle delay a real hand's command by a fraction of a step)
    latency_substeps: int = 0
    quantize: bool = False  # 4096 ticks per turn on targets and readings
    backlash: float = 0.0  # rad, half width of the deadband on the position error
    link_masses: dict[str, float] = field(default_factory=dict)  # body -> kg (empty: model's)
    # -- effects outside any simulator parameter set (xc330 law only; 0 / None: off) ----------
    # torque-speed curve (back-EMF): the supply voltage bounds the current, so the torque the
    # motor can add in the direction of motion falls linearly from stall_torque at rest to 0 at
    # no_load_speed (and braking gets more than stall; the goal current still caps both)
    stall_torque: float = 0.0  # N*m at the supply voltage
    no_load_speed: float = 0.0  # rad/s
    # load-dependent gear friction: a share of the transmitted torque lost while the joint moves
    gear_friction: float = 0.0
    # compliant fingertip pads: the contact of the four fingertip geoms with anything (their
    # priority overrides the other geom's solver and friction settings)
    pad_solref: tuple[float, float] | None = None  # time constant (s), damping ratio
    pad_solimp: tuple[float, float, float] | None = None  # d0, d_width, width (m)
    pad_friction: float | None = None  # sliding friction of pad against anything

    def __post_init__(self) -> None:
        if self.actuation not in ("position", "xc330"):
            raise ProfileError(f"unknown actuation '{self.actuation}'")
        for name in PER_JOINT_PASSIVE:
            value = getattr(self, name)
            values = (float(value),) if np.isscalar(value) else tuple(float(v) for v in value)
            object.__setattr__(self, name, values * NUM_JOINTS if len(values) == 1 else values)
        for name in ("kp", "kd", "torque_limit", *PER_JOINT_PASSIVE):
            values = getattr(self, name)
            if len(values) != NUM_JOINTS:
                raise ProfileError(f"{name} needs {NUM_JOINTS} values (or one for all joints)")
            signed = name == "springref"  # an angle; every other entry is a magnitude
            if (not signed and min(values) < 0) or \
                    (name in ("kp", "torque_limit") and min(values) <= 0):
                raise ProfileError(f"{name} must be positive, got {list(values)}")
        if self.latency_steps < 0 or not 0 <= self.latency_substeps < 6:
            raise ProfileError("latency_steps must be >= 0 and latency_substeps within 0-5 (6 "
                               "physics substeps per control step)")
        if min(self.stall_torque, self.no_load_speed, self.gear_friction, self.backlash) < 0 \
                or self.gear_friction >= 1:
            raise ProfileError("stall_torque, no_load_speed, backlash must be >= 0 and "
                               "gear_friction within [0, 1)")
        if (self.stall_torque > 0) != (self.no_load_speed > 0):
            raise ProfileError("the torque-speed curve needs both stall_torque and no_load_speed")
        if self.actuation == "position" and (self.stall_torque or self.gear_friction):
            raise ProfileError("the torque-speed curve and gear friction need actuation xc330 "
                               "(MuJoCo's position actuators cannot express them)")

    def with_goal_current(self, milliamperes: float) -> HardwareProfile:
        limit = TORQUE_CONSTANT * milliamperes / 1000.0
        return replace(self, torque_limit=(limit,) * NUM_JOINTS)

    def spread(self, rng: np.random.Generator, fraction: float = 0.2) -> HardwareProfile:
        """Per-joint multiplicative spread of gains and torque limits (seeded)."""
        def jitter(values):
            return tuple(np.asarray(values) * rng.uniform(1 - fraction, 1 + fraction, NUM_JOINTS))
        return replace(self, kp=jitter(self.kp), kd=jitter(self.kd),
                       torque_limit=jitter(self.torque_limit))

    def joint_torque(self, target: np.ndarray, q: np.ndarray, qd: np.ndarray,
                     kp: np.ndarray | None = None, kd: np.ndarray | None = None,
                     torque_limit: np.ndarray | None = None) -> np.ndarray:
        """The XC330 law: clip(kp * e - kd * w, +-limit) on quantised readings, with deadband;
        then what the motor and gears make of it at the joint's true speed ``qd``. ``kp``,
        ``kd`` and ``torque_limit`` replace the profile's (e.g. [N, 16], one row per hand).
        The reference for native/xc330_law.c, which simulation runs (tested equal)."""
        speed = qd
        if self.quantize:
            target = np.round(target / RAD_PER_TICK) * RAD_PER_TICK
            q = np.round(q / RAD_PER_TICK) * RAD_PER_TICK
            qd = np.round(qd / RAD_S_PER_VELOCITY_UNIT) * RAD_S_PER_VELOCITY_UNIT
        error = target - q
        if self.backlash:
            error = np.sign(error) * np.maximum(np.abs(error) - self.backlash, 0.0)
        kp = np.asarray(self.kp if kp is None else kp)
        kd = np.asarray(self.kd if kd is None else kd)
        limit = np.asarray(self.torque_limit if torque_limit is None else torque_limit)
        torque = np.clip(kp * error - kd * qd, -limit, limit)
        if self.stall_torque:
            direction = np.sign(torque)
            available = self.stall_torque * (1.0 - direction * speed / self.no_load_speed)
            torque = direction * np.minimum(np.abs(torque), np.maximum(available, 0.0))
        if self.gear_friction:
            torque = torque - self.gear_friction * np.abs(torque) * np.tanh(speed / GEAR_SPEED)
        return torque

    def to_dict(self) -> dict:
        values = asdict(self)
        return json.loads(json.dumps(values))  # tuples -> lists, numpy floats -> floats


# joint speed (rad/s) over which gear friction turns from static to sliding (a smooth sign)
GEAR_SPEED = 0.01


def save_profile(profile: HardwareProfile, path: str | Path, comment: str = "") -> Path:
    """A profile as YAML (what `dexndm sysid` writes and every --profile accepts)."""
    path = Path(path)
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + yaml.safe_dump(profile.to_dict(), sort_keys=False))
    return path


def load_profile(path: str | Path) -> HardwareProfile:
    path = Path(path)
    if not path.is_file():
        raise ProfileError(f"no profile file at {path}; `dexndm sysid --out {path}` writes one")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ProfileError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(values, dict):
        raise ProfileError(f"{path}: a profile file holds a mapping of profile fields")
    missing = sorted({"name", "actuation", "kp", "kd", "torque_limit"} - set(values))
    if missing:
        raise ProfileError(f"{path}: missing {', '.join(missing)}")
    try:
        return from_mapping(HardwareProfile, values)
    except (SettingsError, TypeError, ValueError) as error:
        raise ProfileError(f"{path}: {error}") from None


def nominal() -> HardwareProfile:
    return HardwareProfile("nominal", "position", (3.0,) * NUM_JOINTS, (0.1,) * NUM_JOINTS,
                           (0.5,) * NUM_JOINTS)


# XC330-M288-T at 5 V (docs/notes/xc330-actuator.md)
STALL_TORQUE = 0.93  # N*m
NO_LOAD_SPEED = 8.48  # rad/s (81 rpm)


def real(goal_current_ma: float = DEFAULT_GOAL_CURRENT_MA, latency_steps: int = 1,
         spread_seed: int | None = 0, law: str = "per_substep",
         effects: bool = True) -> HardwareProfile:
    """``law``: "per_substep" evaluates the XC330 law at every physics step (quantised
    readings, backlash, torque-speed curve, gear friction; MuJoCo calls it, native/law.py);
    "actuator" gives MuJoCo the same PD law with its force limit as position-actuator
    parameters (exact but for reading quantisation, backlash and the two motor effects).
    ``effects``: the stand-in's effects outside a simulator's parameter set (torque-speed
    curve, load-dependent gear friction, compliant fingertip pads; docs/reality_gap.md)."""
    if law not in ("per_substep", "actuator"):
        raise ProfileError(f"law must be per_substep or actuator, got '{law}'")
    limit = TORQUE_CONSTANT * goal_current_ma / 1000.0
    motor = effects and law == "per_substep"
    profile = HardwareProfile(
        "real", "xc330" if law == "per_substep" else "position",
        tuple(from_isaac_order(np.array(TABLE16_KP_ISAAC))),
        tuple(from_isaac_order(np.array(TABLE16_KD_ISAAC))), (limit,) * NUM_JOINTS,
        armature=0.0015, damping=0.01 + 0.03, frictionloss=0.02, latency_steps=latency_steps,
        quantize=True, backlash=np.deg2rad(0.125), link_masses=dict(TABLE17_MASSES),
        stall_torque=STALL_TORQUE if motor else 0.0,
        no_load_speed=NO_LOAD_SPEED if motor else 0.0,
        gear_friction=GEAR_FRICTION if motor else 0.0,
        pad_solref=PAD_SOLREF if effects else None, pad_solimp=PAD_SOLIMP if effects else None,
        pad_friction=PAD_FRICTION if effects else None)
    if spread_seed is not None:
        profile = profile.spread(np.random.default_rng(spread_seed))
    return profile


# The stand-in's values for effects no datasheet gives (docs/reality_gap.md says why these):
GEAR_FRICTION = 0.1  # 10 % of the transmitted torque, a 4-stage spur train at ~97.5 % a stage
PAD_SOLREF = (0.03, 1.0)  # a soft pad: 30 ms contact time constant (the hand's rigid: 2 steps)
PAD_SOLIMP = (0.7, 0.95, 0.003)  # 30 % softer at first touch, stiffening over 3 mm
PAD_FRICTION = 1.0  # rubber-like pad against the object, whatever the object's own friction

PROFILES = {"nominal": nominal, "real": real}


def get_profile(spec: str, **params) -> HardwareProfile:
    """A profile by name (``nominal``, ``real``), by name with constructor parameters
    (``real:law=actuator,goal_current_ma=550``, values read as YAML scalars, and/or
    ``params``), or from a profile YAML file (``identified.yaml``)."""
    if spec.endswith((".yaml", ".yml")):
        if params:
            raise ProfileError(f"a profile file ({spec}) takes no parameters; edit the file")
        return load_profile(spec)
    name, _, rest = spec.partition(":")
    parsed = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ProfileError(f"profile '{spec}': write parameters as key=value, got '{item}'")
        parsed[key.strip()] = yaml.safe_load(value)
    parsed.update(params)
    if name not in PROFILES:
        raise ProfileError(f"unknown hardware profile '{name}'; choose {', '.join(PROFILES)} "
                           "or a profile .yaml file")
    try:
        return PROFILES[name](**parsed)
    except TypeError as error:
        raise ProfileError(f"profile '{name}' does not take {sorted(parsed)}: {error}") from None
