"""Compose a MuJoCo scene: the hand at a wrist orientation, an optional object, an optional chaos
box of soft balls, a hardware profile's actuation, and a solver preset."""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

from dexndm_control.hand import JOINT_INDEX, JOINT_NAMES, NUM_JOINTS
from dexndm_control.rotations import quat_to_matrix
from dexndm_sim.model import PALM_POSITION, PRESETS, TIMESTEP, add_hand, hand_reach
from dexndm_sim.native import law
from dexndm_sim.objects import ObjectSpec, add_object
from dexndm_sim.profiles import HardwareProfile, nominal

TIP_BODIES = ("if_ds", "mf_ds", "rf_ds", "th_ds")
TIP_GEOMS = ("if_tip", "mf_tip", "rf_tip", "th_tip")
# Where a grasped object starts, in the palm frame: between the fingers, below the palm.
OBJECT_IN_PALM = np.array([0.045, -0.02, -0.075])


@dataclass(frozen=True)
class ChaosBox:
    """A box of soft, light balls around the hand (paper Fig. 38 A), like a ball pit's.

    The box fits the hand's reach at the scene's wrist (``model.hand_reach``, the whole joint
    ranges) with ``margin`` to spare on every side, so no pose the hand can take touches a wall:
    what loads the fingers are the balls, which lie where gravity puts them."""

    balls: int = 60
    radius: float = 0.035  # m (ball-pit balls are 6-8 cm across)
    mass: float = 0.008  # kg
    margin: float = 0.03  # m between the hand's reach and the walls
    seed: int = 0

    def bounds(self, wrist_quat) -> tuple[np.ndarray, np.ndarray]:
        """(centre, half sizes) of the box's inside in the world, for the hand at
        ``wrist_quat``."""
        low, high = hand_reach()
        corners = np.array(np.meshgrid(*zip(low, high, strict=True))).reshape(3, -1).T
        world = corners @ quat_to_matrix(np.asarray(wrist_quat)).T
        low, high = world.min(axis=0), world.max(axis=0)
        return np.asarray(PALM_POSITION) + (low + high) / 2, (high - low) / 2 + self.margin


@dataclass(frozen=True)
class SceneConfig:
    wrist_quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    profile: HardwareProfile = field(default_factory=nominal)
    preset: str = "fast"
    object: ObjectSpec | None = None
    chaos_box: ChaosBox | None = None
    # sensors that give a batched reader every fingertip and object quantity in one array
    # (TIP_SENSOR_LAYOUT); they observe, they do not change the dynamics
    state_sensors: bool = False


@dataclass
class Scene:
    model: mujoco.MjModel
    config: SceneConfig
    qpos_index: np.ndarray  # hand joint qpos addresses (model order)
    dof_index: np.ndarray
    palm_body: int
    object_body: int | None
    object_qpos: int | None  # address of the object's free joint qpos
    object_dof: int | None
    tip_bodies: np.ndarray
    hand_bodies: np.ndarray
    ball_bodies: np.ndarray

    @property
    def palm_rotation(self) -> np.ndarray:
        return quat_to_matrix(np.asarray(self.config.wrist_quat))

    def palm_to_world(self, point_in_palm: np.ndarray) -> np.ndarray:
        return np.asarray(PALM_POSITION) + self.palm_rotation @ point_in_palm


def build_scene(config: SceneConfig) -> Scene:
    preset = PRESETS[config.preset]
    spec = mujoco.MjSpec()
    spec.modelname = "leap_hand_scene"
    option = spec.option
    option.timestep = TIMESTEP
    option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    option.cone = preset.cone
    option.impratio = preset.impratio
    option.iterations = preset.iterations
    option.ls_iterations = preset.ls_iterations
    if config.chaos_box is not None:
        # many-ball contact: Newton is too slow, CG with >= 100 iterations is stable
        option.solver = mujoco.mjtSolver.mjSOL_CG
        option.iterations = max(100, preset.iterations)
    spec.worldbody.add_light(pos=[0, 0, 1.5], dir=[0, 0, -1])
    spec.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[1, 1, 0.1],
                            rgba=[0.6, 0.6, 0.65, 1])
    add_hand(spec, tuple(config.wrist_quat), self_collision=preset.self_collision)
    profile = config.profile
    for joint in spec.joints:  # the hand's only: the object and balls are added below
        index = JOINT_INDEX[joint.name]
        joint.armature = profile.armature[index]
        joint.damping = [profile.damping[index], 0.0, 0.0]
        joint.frictionloss = profile.frictionloss[index]
        joint.stiffness = [profile.stiffness[index], 0.0, 0.0]
        joint.springref = profile.springref[index]
    _apply_pads(spec, profile)
    for name, mass in profile.link_masses.items():
        body = spec.body(name)
        ratio = mass / body.mass
        body.mass = mass
        body.inertia = [value * ratio for value in body.inertia]
    if profile.actuation == "xc330":
        law.install()
        law_rows = law.law_parameters(profile)
    for index, name in enumerate(JOINT_NAMES):
        actuator = spec.add_actuator(name=f"act_{name}", target=name,
                                     trntype=mujoco.mjtTrn.mjTRN_JOINT)
        limit = float(profile.torque_limit[index])
        if profile.actuation == "position":
            actuator.set_to_position(kp=float(profile.kp[index]), kv=float(profile.kd[index]))
            actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
            actuator.forcerange = [-limit, limit]
            actuator.ctrllimited = mujoco.mjtLimited.mjLIMITED_FALSE
        else:  # the firmware law on the target (ctrl) inside every physics step (native/)
            actuator.gaintype = mujoco.mjtGain.mjGAIN_FIXED
            actuator.gainprm = [0.0] * mujoco.mjNGAIN
            actuator.biastype = mujoco.mjtBias.mjBIAS_USER
            actuator.biasprm = law_rows[index]
            actuator.ctrllimited = mujoco.mjtLimited.mjLIMITED_FALSE
            actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_FALSE
    if config.object is not None:
        rotation = quat_to_matrix(np.asarray(config.wrist_quat))
        start = np.asarray(PALM_POSITION) + rotation @ OBJECT_IN_PALM
        add_object(spec, config.object, tuple(start))
    if config.chaos_box is not None:
        _add_chaos_box(spec, config.chaos_box, config.wrist_quat)
    if config.state_sensors:
        _add_state_sensors(spec, config.object is not None)
    model = spec.compile()
    return _handles(model, config)


def _apply_pads(spec: mujoco.MjSpec, profile: HardwareProfile) -> None:
    """Compliant fingertip pads: softer contact and the pad's own friction; priority 1 makes
    MuJoCo use the pad's settings whatever the other geom's (an object, a ball)."""
    if profile.pad_solref is None and profile.pad_solimp is None and profile.pad_friction is None:
        return
    for name in TIP_GEOMS:
        geom = spec.geom(name)
        geom.priority = 1
        geom.condim = 4  # keep the torsional friction object contacts have (objects.py)
        if profile.pad_solref is not None:
            geom.solref = list(profile.pad_solref)
        if profile.pad_solimp is not None:
            geom.solimp = [*profile.pad_solimp, 0.5, 2.0]
        if profile.pad_friction is not None:
            geom.friction = [profile.pad_friction, *geom.friction[1:]]


#: per fingertip, in this order: body frame position (3) and orientation (4), linear velocity at
#: the centre of mass (3) and angular velocity (3), all in the world frame (13 values, the
#: rotation env's "fingertips" group); then per fingertip the contact sensor: number of
#: contacts (1) and the net contact force the fingertip exerts, world frame (3); then the
#: object's orientation (4) when there is an object; last the 16 actuator forces (what
#: data.actuator_force holds after mj_step). Sensors are evaluated in the forward pass at the
#: start of a physics step, like data.xpos after mj_step.
TIP_VALUES, CONTACT_VALUES = 13, 4


def _add_state_sensors(spec: mujoco.MjSpec, with_object: bool) -> None:
    sensor, obj = mujoco.mjtSensor, mujoco.mjtObj
    for tip in TIP_BODIES:
        for kind, objtype in ((sensor.mjSENS_FRAMEPOS, obj.mjOBJ_XBODY),
                              (sensor.mjSENS_FRAMEQUAT, obj.mjOBJ_XBODY),
                              (sensor.mjSENS_FRAMELINVEL, obj.mjOBJ_BODY),
                              (sensor.mjSENS_FRAMEANGVEL, obj.mjOBJ_BODY)):
            spec.add_sensor(type=kind, objtype=objtype, objname=tip)
    for tip in TIP_BODIES:
        # data "found force" (bits 0, 1), reduce "netforce" (3), one result: world frame
        spec.add_sensor(type=sensor.mjSENS_CONTACT, objtype=obj.mjOBJ_BODY, objname=tip,
                        intprm=[0b11, 3, 1])
    if with_object:
        spec.add_sensor(type=sensor.mjSENS_FRAMEQUAT, objtype=obj.mjOBJ_XBODY, objname="object")
    for actuator in spec.actuators:
        spec.add_sensor(type=sensor.mjSENS_ACTUATORFRC, objtype=obj.mjOBJ_ACTUATOR,
                        objname=actuator.name)


def _add_chaos_box(spec: mujoco.MjSpec, box: ChaosBox, wrist_quat) -> None:
    center, (hx, hy, hz) = box.bounds(wrist_quat)
    wall = 0.005  # half thickness, outside the box's inside
    for name, pos, size in (
            ("box_bottom", (0, 0, -hz - wall), (hx, hy, wall)),
            ("box_wall_px", (hx + wall, 0, 0), (wall, hy, hz)),
            ("box_wall_nx", (-hx - wall, 0, 0), (wall, hy, hz)),
            ("box_wall_py", (0, hy + wall, 0), (hx, wall, hz)),
            ("box_wall_ny", (0, -hy - wall, 0), (hx, wall, hz)),
            ("box_lid", (0, 0, hz + wall), (hx, hy, wall))):
        spec.worldbody.add_geom(name=name, type=mujoco.mjtGeom.mjGEOM_BOX, size=size,
                                pos=tuple(center + np.array(pos)), rgba=[0.4, 0.5, 0.8, 0.15],
                                contype=2, conaffinity=1)
    rng = np.random.default_rng(box.seed)
    margin = box.radius * 1.2
    for index in range(box.balls):
        pos = center + rng.uniform([-hx + margin, -hy + margin, -hz + margin],
                                   [hx - margin, hy - margin, hz - margin])
        ball = spec.worldbody.add_body(name=f"ball{index}", pos=tuple(pos))
        ball.add_freejoint()
        # balls collide with the hand (its contype 1 meets their conaffinity 3), the box and
        # each other (contype 2 meets conaffinity 3): a pile that gives way around the fingers;
        # soft solref keeps them from being launched.
        ball.add_geom(type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[box.radius, 0, 0],
                      mass=box.mass, contype=2, conaffinity=3, friction=[0.8, 0.005, 0.0001],
                      solref=[0.03, 1.0], rgba=[0.9, 0.3, 0.3, 1.0])


def _handles(model: mujoco.MjModel, config: SceneConfig) -> Scene:
    joints = [model.joint(name) for name in JOINT_NAMES]
    object_body = object_qpos = object_dof = None
    if config.object is not None:
        body = model.body("object")
        object_body = body.id
        free = model.joint("object_free")
        object_qpos, object_dof = int(free.qposadr[0]), int(free.dofadr[0])
    hand_names = {"palm", *(model.body(i).name for i in range(model.nbody)
                            if model.body(i).name[:3] in ("if_", "mf_", "rf_", "th_"))}
    balls = [i for i in range(model.nbody) if model.body(i).name.startswith("ball")]
    return Scene(model, config,
                 np.array([int(j.qposadr[0]) for j in joints]),
                 np.array([int(j.dofadr[0]) for j in joints]),
                 model.body("palm").id, object_body, object_qpos, object_dof,
                 np.array([model.body(n).id for n in TIP_BODIES]),
                 np.array(sorted(model.body(n).id for n in hand_names)), np.array(balls, int))


assert NUM_JOINTS == 16
