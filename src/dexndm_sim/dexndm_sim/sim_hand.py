"""One simulated hand: a compiled scene, its data, the profile's actuation and command latency.

``control_step(target)`` is one 20 Hz tick: the target enters the latency queue, and 6 physics
steps run with either MuJoCo's position actuators (nominal) or the XC330 law, which MuJoCo
evaluates inside every physics step (real; native/law.py). Joint arrays are in model order.
"""

from __future__ import annotations

from collections import deque

import mujoco
import numpy as np

from dexndm_control.hand import RAD_PER_TICK, clip_to_limits
from dexndm_sim.native.law import BIAS_LIMIT
from dexndm_sim.profiles import HardwareProfile
from dexndm_sim.scene import Scene, SceneConfig, build_scene

SUBSTEPS = 6


def actuator_controls(profile: HardwareProfile, target: np.ndarray) -> np.ndarray:
    """The hand actuators' controls for ``target`` (any leading shape): the target itself, in
    whole ticks for position actuators of a quantising profile (the XC330 law quantises what it
    reads itself, native/xc330_law.c)."""
    if profile.quantize and profile.actuation == "position":
        return np.round(target / RAD_PER_TICK) * RAD_PER_TICK
    return target


class SimHand:
    def __init__(self, config: SceneConfig | Scene) -> None:
        self.scene = config if isinstance(config, Scene) else build_scene(config)
        self.model = self.scene.model
        self.data = mujoco.MjData(self.model)
        self.profile = self.scene.config.profile
        self.target = np.zeros(16)
        self.applied_target = np.zeros(16)
        self._queue: deque[np.ndarray] = deque([self.target.copy()] *
                                               self.profile.latency_steps)
        self.external_force = np.zeros(3)  # applied to the object's centre of mass
        # start each control step's constraint solve from a zero warm start, as a HandBatch
        # does (its rollout cannot carry one over)
        self.cold_start = False

    # -- state ---------------------------------------------------------------------------------

    @property
    def q(self) -> np.ndarray:
        return self.data.qpos[self.scene.qpos_index].copy()

    @property
    def qd(self) -> np.ndarray:
        return self.data.qvel[self.scene.dof_index].copy()

    @property
    def torque(self) -> np.ndarray:
        return self.data.actuator_force.copy()

    def object_pose(self) -> tuple[np.ndarray, np.ndarray]:
        address = self.scene.object_qpos
        return self.data.qpos[address:address + 3].copy(), \
            self.data.qpos[address + 3:address + 7].copy()

    def object_velocity(self) -> tuple[np.ndarray, np.ndarray]:
        """Linear and angular velocity in the world frame (the free joint's angular velocity is
        in the body frame: rotate it, or rotation rewards flip sign with the grasp)."""
        dof = self.scene.object_dof
        linear = self.data.qvel[dof:dof + 3].copy()
        rotation = self.data.xmat[self.scene.object_body].reshape(3, 3)
        return linear, rotation @ self.data.qvel[dof + 3:dof + 6]

    # -- control ---------------------------------------------------------------------------------

    def reset(self, q: np.ndarray, object_pos: np.ndarray | None = None,
              object_quat: np.ndarray | None = None) -> None:
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self.scene.qpos_index] = q
        if object_pos is not None and self.scene.object_qpos is not None:
            address = self.scene.object_qpos
            self.data.qpos[address:address + 3] = object_pos
            self.data.qpos[address + 3:address + 7] = object_quat
        self.target = clip_to_limits(np.asarray(q, dtype=float))
        self.applied_target = self.target.copy()
        self._queue = deque([self.target.copy()] * self.profile.latency_steps)
        self.external_force[:] = 0
        self.apply_target(self.applied_target)
        mujoco.mj_forward(self.model, self.data)

    def control_step(self, target: np.ndarray) -> None:
        self.target = clip_to_limits(np.asarray(target, dtype=float))
        self._queue.append(self.target.copy())
        previous = self.applied_target
        self.applied_target = self._queue.popleft()
        if self.scene.object_body is not None:
            self.data.xfrc_applied[self.scene.object_body, :3] = self.external_force
        switch = self.profile.latency_substeps  # the new target acts from this substep on
        if self.cold_start:
            self.data.qacc_warmstart[:] = 0
        if switch:
            self.apply_target(previous)
            mujoco.mj_step(self.model, self.data, nstep=switch)
        self.apply_target(self.applied_target)
        mujoco.mj_step(self.model, self.data, nstep=SUBSTEPS - switch)

    @property
    def torque_limit(self) -> np.ndarray:
        """[16] the actuators' torque cap (N*m): the law's current limit, or the position
        actuators' force range."""
        if self.profile.actuation == "xc330":
            return self.model.actuator_biasprm[:16, BIAS_LIMIT].copy()
        return self.model.actuator_forcerange[:16, 1].copy()

    @property
    def pending_targets(self) -> list[np.ndarray]:
        """Targets sent but not yet acting (the latency queue), oldest first."""
        return list(self._queue)

    def apply_target(self, target: np.ndarray) -> None:
        self.data.ctrl[:] = actuator_controls(self.profile, target)

    def set_gravity(self, enabled: bool) -> None:
        self.model.opt.gravity[:] = (0.0, 0.0, -9.81 if enabled else 0.0)

    @property
    def object_friction(self) -> float:
        """Sliding friction of the object's geoms (one value: all of them share it)."""
        body = self.scene.object_body
        return float(self.model.geom_friction[self.model.geom_bodyid == body, 0].max())

    def set_object_physics(self, mass: float, friction: float) -> None:
        """Randomise the object's mass and friction in place (per-env model copies)."""
        body = self.scene.object_body
        geoms = np.flatnonzero(self.model.geom_bodyid == body)
        old = self.model.body_mass[body]
        self.model.body_mass[body] = mass
        self.model.body_inertia[body] *= mass / old
        self.model.geom_friction[geoms, 0] = friction
        mujoco.mj_setConst(self.model, self.data)
