"""The MuJoCo "real hand" behind the emulated bus: physics in real time, firmware law on registers.

Each physics step (1/480 s, LAW_SUBSTEPS per training step) the XC330 current-based position
law runs on the emulated control tables (goal position, P/I/D gains, goal current, torque enable
of each motor) against the simulated joint, with the ``real`` profile's latency-free extras
(quantised readings, backlash, friction, identified link masses) and its per-joint spread of
gains. Scenes: ``free`` (hand only), ``object`` (an object in a cached grasp; its rotation about
a given axis and the time it falls are tracked; a fallen object stays where it fell),
``chaos_box`` (the hand in a box of soft balls).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import mujoco
import numpy as np

from dexndm_control.dynamixel.position_law import current_gains
from dexndm_control.hand import (
    MODEL_INDEX_OF_MOTOR,
    MOTOR_IDS,
    RAD_PER_TICK,
    model_to_motor_ticks,
)
from dexndm_control.rotations import matrix_to_quat, quat_to_matrix
from dexndm_sim.grasps import load_or_generate
from dexndm_sim.model import PALM_POSITION, TIMESTEP
from dexndm_sim.native.law import set_law_gains
from dexndm_sim.objects import generate_category
from dexndm_sim.profiles import GEAR_SPEED, TORQUE_CONSTANT, nominal, real
from dexndm_sim.scene import ChaosBox, SceneConfig
from dexndm_sim.sim_hand import SimHand
from dexndm_sim.wrist import wrist_quaternion

TICKS_OFFSET = math.pi / RAD_PER_TICK  # 2048: motor angle = model angle + pi
# The object waits in its grasp, pinned, until the hand closes on it as the training sim's grasp
# does: every goal within HAND_OVER_TOLERANCE_TICKS (20 mrad) of the grasp's holding targets
# (where a controller's ramp ends), or HAND_OVER_AFTER_S after the hand was first commanded to
# move (a goal more than HAND_OVER_MOVE_TICKS, 7.7 mrad, from the one at torque-on) for a pose
# of its own. A driver holding the pose it reads moves no goal that far.
HAND_OVER_TOLERANCE_TICKS = 13
HAND_OVER_MOVE_TICKS = 5
HAND_OVER_AFTER_S = 3.0
# The firmware runs its law "much faster than 1 kHz" (docs/notes/xc330_actuator.md), the training
# sim once per 1/120 s physics step. Here the physics steps at 480 Hz (4 per training step), so
# the law's D term — explicit in MuJoCo's integrator, which cannot differentiate a user bias —
# stays stable: at 1/120 s, kd dt / I reached 2.7 on the joints the stand-in's spread makes
# stiffest (mf_dip, rf_pip), past explicit damping's limit of 2, and they chattered between
# +-cap at the physics rate. A test keeps kd dt / I < 1 on every joint (0.67 at most).
LAW_SUBSTEPS = 4


@dataclass
class ObjectReport:
    axis: list[float]
    radians: float = 0.0
    drops: int = 0
    seconds: float = 0.0  # simulated time since start
    time_to_first_fall: float | None = None  # None: still held


class MujocoMotorModel:
    """A MotorModel (xc330/motor_models.py) backed by the MuJoCo hand in the ``real`` profile."""

    def __init__(self, scene: str = "free", wrist: str = "palm_up", category: str = "cylinders",
                 object_index: int = 0, axis=(0.0, 0.0, 1.0), balls: int | None = None,
                 seed: int = 0, preset: str = "fast", grasp_index: int = 0) -> None:
        if scene not in ("free", "object", "chaos_box"):
            raise ValueError(f"unknown scene '{scene}': free, object or chaos_box")
        self.profile = replace(real(spread_seed=seed), latency_steps=0)  # latency: bus timing
        obj = generate_category(category, seed)[object_index] if scene == "object" else None
        box = None
        if scene == "chaos_box":
            box = ChaosBox(seed=seed) if balls is None else ChaosBox(balls=balls, seed=seed)
        self.hand = SimHand(SceneConfig(tuple(wrist_quaternion(wrist, np.random.default_rng(seed))),
                                        self.profile, preset, obj, box))
        self.dt = TIMESTEP / LAW_SUBSTEPS  # the physics (and the law's) step, s
        self.hand.model.opt.timestep = self.dt
        self.hand.reset(np.zeros(16))
        self._dropped = False
        if obj is not None:
            # start from a grasp of the training sim (nominal), found as the rotation env finds
            # its grasps (8 per object, the seed), so a policy starts from a grasp it knows
            wrist_quat = self.hand.scene.config.wrist_quat
            cache = load_or_generate(obj, wrist_quat, nominal(), preset, wanted=8, seed=seed)
            if not 0 <= grasp_index < len(cache):
                raise RuntimeError(f"{obj.name} has {len(cache)} grasps at this wrist: pick a "
                                   "--grasp-index below that, another object (--object-index) "
                                   "or another wrist")
            q, position, quat = (cache.q[grasp_index], cache.object_pos[grasp_index],
                                 cache.object_quat[grasp_index])
            self.hand.reset(q, position, quat)
            self._grasp_goal = model_to_motor_ticks(cache.target[grasp_index])  # by motor ID
            self._grasp_point = position.copy()
            self._object_start = (self.hand.data.qpos.copy(), quat.copy())
        # As on the real hand, the object is handed over once the hand grips it: it is kept at
        # its grasp pose until every motor has torque on and the goals close on it (see
        # HAND_OVER_TOLERANCE_TICKS). A driver that connects and holds the pose it reads
        # squeezes nothing; the controller's ramp to its grasp pose does.
        self._holding_object = obj is not None
        self._goal_at_torque_on: np.ndarray | None = None
        self._moved_at: float | None = None  # physics time of the first command to move
        self.scene_name = scene
        axis = np.asarray(axis, dtype=float)
        axis = axis / np.linalg.norm(axis)
        # the axis is given in the hand frame, as the controller is commanded; the report
        # measures about the same axis in the world (it turns with the wrist)
        self.axis = quat_to_matrix(np.asarray(self.hand.scene.config.wrist_quat)) @ axis
        self.report = ObjectReport(axis.tolist()) if obj is not None else None
        self._spread = np.asarray(self.profile.kp) / np.mean(self.profile.kp)
        self._accumulated = 0.0
        self._all_enabled = False  # every motor with torque on (the registers last applied)

    # -- MotorModel ------------------------------------------------------------------------------

    def step(self, dt: float, commands: dict[str, np.ndarray]) -> None:
        self._accumulated += dt
        steps = int(self._accumulated / self.dt + 1e-9)
        if steps == 0:
            return
        self._accumulated -= steps * self.dt
        # registers change between packets, not within a bus step: applied once, and the
        # object's hand-over and report follow the bus step too (1 ms)
        self._apply_registers(commands)
        if self._holding_object:
            self._hand_over(self._all_enabled, commands["goal_position"])
        for _ in range(steps):
            if self._holding_object:
                self._pin_object()
            mujoco.mj_step(self.hand.model, self.hand.data)
        if self.report is not None:
            self._track_object(steps * self.dt)

    def _apply_registers(self, commands: dict[str, np.ndarray]) -> None:
        hand = self.hand
        by_joint = {name: commands[name][MOTOR_IDS] for name in commands}
        target = (by_joint["goal_position"] - TICKS_OFFSET) * RAD_PER_TICK
        # firmware law on the registers, in SI: the current gains times the torque constant
        ampere_per_rad, ampere_per_rad_s = current_gains(by_joint["position_p_gain"],
                                                         by_joint["position_d_gain"])
        kp, kd = TORQUE_CONSTANT * ampere_per_rad, TORQUE_CONSTANT * ampere_per_rad_s
        limit = TORQUE_CONSTANT / 1000 * np.minimum(np.abs(by_joint["goal_current"]),
                                                    by_joint["current_limit"])
        enabled = by_joint["torque_enable"] > 0
        # a motor without torque outputs none: a zero cap makes the law's output exactly 0
        set_law_gains(hand.model, kp * self._spread, kd * self._spread,
                      np.where(enabled, limit, 0.0))
        hand.data.ctrl[:] = target
        self._all_enabled = bool(enabled.all())

    def _hand_over(self, all_enabled: bool, goal: np.ndarray) -> None:
        now = self.hand.data.time
        if not all_enabled:
            self._goal_at_torque_on, self._moved_at = None, None
        elif self._goal_at_torque_on is None:
            self._goal_at_torque_on = np.array(goal)
        if self._goal_at_torque_on is None:
            return
        if self._moved_at is None and \
                np.abs(goal - self._goal_at_torque_on).max() > HAND_OVER_MOVE_TICKS:
            self._moved_at = now
        closed = np.abs(goal - self._grasp_goal).max() <= HAND_OVER_TOLERANCE_TICKS
        if closed or (self._moved_at is not None and now - self._moved_at >= HAND_OVER_AFTER_S):
            self._holding_object = False

    @property
    def hand_over(self) -> dict | None:
        """Whether the object still waits for the hand to close on it, and the goals (motor
        ticks, by motor ID) that take it: the grasp's holding targets. None without an object."""
        if self.report is None:
            return None
        return {"waiting": self._holding_object,
                "grasp_goal": self._grasp_goal.tolist()}

    def _pin_object(self) -> None:
        scene, data = self.hand.scene, self.hand.data
        address, dof = scene.object_qpos, scene.object_dof
        data.qpos[address:address + 7] = self._object_start[0][address:address + 7]
        data.qvel[dof:dof + 6] = 0.0

    def _track_object(self, elapsed: float) -> None:
        """Rotation about the axis over the last ``elapsed`` seconds (at the angular velocity at
        their end) until the object falls (then it lies where it fell)."""
        report = self.report
        if self._holding_object:
            return  # not handed over yet
        report.seconds += elapsed
        if self._dropped:
            return
        _, omega = self.hand.object_velocity()
        report.radians += float(omega @ self.axis) * elapsed
        position, _ = self.hand.object_pose()
        if np.linalg.norm(position - self._grasp_point) > 0.08:
            self._dropped = True
            report.drops += 1
            report.time_to_first_fall = report.seconds

    @property
    def wrist(self) -> np.ndarray:
        """Hand base orientation (w, x, y, z) in the world."""
        return self.hand.model.body_quat[self.hand.scene.palm_body].copy()

    def set_wrist(self, quat: list[float]) -> None:
        """Turn the hand base to ``quat`` (w, x, y, z, world frame), as an arm would: the palm
        moves kinematically, and what is in the hand follows through contact. The grasp point
        and the report's axis turn with it."""
        quat = np.asarray(quat, dtype=float)
        norm = np.linalg.norm(quat)
        if quat.shape != (4,) or not np.isfinite(norm) or abs(norm - 1.0) > 1e-2:
            raise ValueError("wrist quat must be a unit quaternion [w, x, y, z]")
        quat = quat / norm
        hand = self.hand
        palm = hand.scene.palm_body
        old = quat_to_matrix(hand.model.body_quat[palm])
        turn = quat_to_matrix(quat) @ old.T
        hand.model.body_quat[palm] = quat
        origin = np.asarray(PALM_POSITION)
        if self.report is not None:
            self._grasp_point = origin + turn @ (self._grasp_point - origin)
            self.axis = turn @ self.axis
        mujoco.mj_forward(hand.model, hand.data)

    def present(self) -> dict[str, np.ndarray]:
        q = self.hand.q
        qd = self.hand.qd
        by_motor = np.empty(16)
        velocity = np.empty(16)
        current = np.empty(16)
        by_motor[MOTOR_IDS] = q / RAD_PER_TICK + TICKS_OFFSET
        velocity[MOTOR_IDS] = qd
        # the motor's current: the law's output (ctrl holds the target angle, not a current)
        # before the gear's friction, which acts between the motor and the joint and which the
        # current sensor does not see (the torque-speed curve it does: less current at speed)
        data = self.hand.data
        torque = data.actuator_force[:16]
        if self.profile.gear_friction:  # at the speed the law saw (the step's start)
            torque = torque / (1.0 - self.profile.gear_friction * np.sign(torque)
                               * np.tanh(data.actuator_velocity[:16] / GEAR_SPEED))
        current[MOTOR_IDS] = torque / TORQUE_CONSTANT * 1000.0
        return {"position": by_motor, "velocity": velocity, "current": current}

    def object_geoms(self, shape: bool = False) -> list[dict] | None:
        """The object's geoms in the palm frame, for a live view: type, pose (position m,
        quaternion w x y z) and, with ``shape``, MuJoCo's size and a mesh's triangles (geom
        frame). None in a scene without an object."""
        scene = self.hand.scene
        if scene.object_body is None:
            return None
        model, data = self.hand.model, self.hand.data
        palm_rotation = data.xmat[scene.palm_body].reshape(3, 3)
        palm_position = data.xpos[scene.palm_body]
        geoms = []
        for ident in np.flatnonzero(model.geom_bodyid == scene.object_body):
            rotation = palm_rotation.T @ data.geom_xmat[ident].reshape(3, 3)
            entry = {"pos": (palm_rotation.T @ (data.geom_xpos[ident] - palm_position)).tolist(),
                     "quat": matrix_to_quat(rotation).tolist()}
            if shape:
                kind = mujoco.mjtGeom(model.geom_type[ident]).name.removeprefix("mjGEOM_")
                entry.update(type=kind.lower(), size=model.geom_size[ident].tolist())
                if kind == "MESH":
                    mesh = model.geom_dataid[ident]
                    vertices = model.mesh_vert[model.mesh_vertadr[mesh]:][
                        :model.mesh_vertnum[mesh]]
                    faces = model.mesh_face[model.mesh_faceadr[mesh]:][:model.mesh_facenum[mesh]]
                    entry["triangles"] = np.round(vertices[faces], 6).tolist()
            geoms.append(entry)
        return geoms

    def apply_load(self, motor_id: int, torque_nm: float) -> None:
        """External torque on the motor's joint (MuJoCo qfrc_applied; it persists)."""
        joint = int(MODEL_INDEX_OF_MOTOR[motor_id])
        self.hand.data.qfrc_applied[self.hand.scene.dof_index[joint]] = torque_nm

    # -- report ----------------------------------------------------------------------------------

    def summary(self) -> dict | None:
        if self.report is None:
            return None
        return asdict(self.report)

    def write_report(self, path: str | Path) -> None:
        summary = self.summary()
        if summary is not None:
            Path(path).write_text(json.dumps(summary, indent=2))
