"""N simulated hands stepped together, with no per-hand Python in the hot path.

Physics runs in ``mujoco.rollout``: C++ threads that hold no GIL, each reusing one scratch
MjData (which stays in its core's cache) while every hand keeps its own model. The batch's
``state`` rows ([N, mjSTATE_FULLPHYSICS]) are the hands' truth while it steps them; controls and
the push on each object go in per physics substep, and qpos, qvel, actuator forces and the
scene's state sensors (``SceneConfig.state_sensors``, layout in scene.py) come out of the last
substep. Per control step that is one rollout call of six substeps, for MuJoCo position
actuators (``nominal``, ``real:law=actuator``, identified profiles) and for the ``real``
profile's XC330 law alike (MuJoCo evaluates the law inside each substep: native/law.py); a
latency that lands within the step switches the controls at its substep.

Clipping, the latency queue and the controls are [N, 16] arrays. The rollout cannot hand back
MuJoCo's solver warm start, so each call's first constraint solve starts from zero: a
``SimHand`` with ``cold_start = True`` does the same and then equals the batch bit for bit
(test_hand_batch.py); against a warm-started hand the difference is solver-tolerance sized on
almost every hand and the policy-level metrics agree within their standard error
(docs/simulation.md). A backend on the GPU (MuJoCo Warp) replaces this class: same rows in,
same arrays out (docs/simulation.md).
"""

from __future__ import annotations

import os

import mujoco
import numpy as np
from mujoco import rollout

from dexndm_control.errors import DexndmError
from dexndm_control.hand import LOWER, NUM_JOINTS, UPPER
from dexndm_sim.scene import CONTACT_VALUES, TIP_BODIES, TIP_VALUES
from dexndm_sim.sim_hand import SUBSTEPS, SimHand, actuator_controls

TIPS = len(TIP_BODIES)
FULL_STATE = mujoco.mjtState.mjSTATE_FULLPHYSICS
# what the rollout sets before every substep: the controls and the disturbance on the object
CONTROL_STATE = mujoco.mjtState.mjSTATE_CTRL | mujoco.mjtState.mjSTATE_XFRC_APPLIED


def physics_threads(threads: int) -> int:
    """The rollout threads a ``threads`` setting means: itself, or for 0 one per core this
    process may use; a negative count is refused."""
    if threads < 0:
        raise DexndmError(f"threads must be >= 0 (got {threads}): give the number of cores to "
                          "step the physics on, or 0 for all of them")
    return threads or len(os.sched_getaffinity(0))


class HandBatch:
    def __init__(self, hands: list[SimHand], threads: int = 0) -> None:
        """``threads``: the rollout's physics threads; 0: one per core this process may use."""
        if not hands:
            raise ValueError("a hand batch needs at least one hand")
        first = hands[0]
        if not all(h.scene.config.state_sensors for h in hands):
            raise ValueError("build the scenes with SceneConfig(state_sensors=True)")
        if len({(h.model.nq, h.model.nv, h.model.nbody, h.model.nsensordata,
                 h.profile.actuation, h.profile.latency_steps) for h in hands}) != 1:
            raise ValueError("every hand of a batch needs the same model sizes, sensors, "
                             "actuation and latency")
        self.hands = hands
        self.profile = first.profile
        n, model = len(hands), first.model
        scene = first.scene
        self._qpos_index, self._dof_index = scene.qpos_index, scene.dof_index
        self._object = scene.object_body
        self.targets = np.zeros((n, NUM_JOINTS))  # last targets sent (clipped)
        self.applied = np.zeros((n, NUM_JOINTS))  # the targets acting (after latency)
        # force on each hand's object centre of mass (N, world frame), held until changed
        self.external_force = np.zeros((n, 3))
        self._queue = np.zeros((n, first.profile.latency_steps, NUM_JOINTS))
        # per hand: the physics substep from which a new target acts (the profile's
        # latency_substeps; a system identification sets it per hand)
        self.switch = np.full(n, first.profile.latency_substeps, dtype=int)
        # the hands' state (mjSTATE_FULLPHYSICS rows) and the last forward pass's sensors
        self.state = np.zeros((n, mujoco.mj_stateSize(model, FULL_STATE)))
        self.sensors = np.zeros((n, model.nsensordata))
        self._qpos_slice = slice(1, 1 + model.nq)  # after the time
        self._qvel_slice = slice(1 + model.nq, 1 + model.nq + model.nv)
        self._torque_slice = slice(model.nsensordata - NUM_JOINTS, model.nsensordata)
        self._state_out = np.zeros((n, SUBSTEPS, self.state.shape[1]))
        self._sensors_out = np.zeros((n, SUBSTEPS, model.nsensordata))
        self._control_in = np.zeros((n, SUBSTEPS, mujoco.mj_stateSize(model, CONTROL_STATE)))
        self._warmstart = np.zeros((n, model.nv))
        # the object's force in a control row: controls (nu), then xfrc_applied [nbody, 6]
        self._force_column = model.nu + 6 * self._object if self._object is not None else None
        self.threads = threads = physics_threads(threads)
        self._models = [h.model for h in hands]
        self._rollout = rollout.Rollout(nthread=threads if threads > 1 else 0)
        self._scratch = [mujoco.MjData(model) for _ in range(threads)]
        # small chunks balance the threads (hands differ in contact work); measured best
        self._chunk = max(1, n // (threads * 16))
        for row, hand in enumerate(hands):
            mujoco.mj_forward(hand.model, hand.data)  # sensors of a hand not yet reset
            self.sync(row)

    def sync(self, row: int) -> None:
        """Take over hand ``row`` after it was reset or stepped on its own (its state, target,
        latency queue and disturbance force). While the batch steps them, the hands' own
        MjData, ``target``, queue and force are not kept: the batch's arrays are (``restore``
        writes them back)."""
        hand = self.hands[row]
        self.targets[row], self.applied[row] = hand.target, hand.applied_target
        self.external_force[row] = hand.external_force
        if len(self._queue[row]):
            self._queue[row] = hand.pending_targets
        mujoco.mj_getState(hand.model, hand.data, self.state[row], FULL_STATE)
        self.sensors[row] = hand.data.sensordata

    def restore(self, row: int) -> SimHand:
        """Hand ``row`` with the batch's state written into its MjData (forward pass done), to
        render it or to step it on its own."""
        hand = self.hands[row]
        mujoco.mj_setState(hand.model, hand.data, self.state[row], FULL_STATE)
        hand.target, hand.applied_target = self.targets[row].copy(), self.applied[row].copy()
        hand.external_force = self.external_force[row].copy()
        hand.apply_target(hand.applied_target)
        mujoco.mj_forward(hand.model, hand.data)
        return hand

    # -- batched ---------------------------------------------------------------------------------

    def step(self, targets: np.ndarray) -> None:
        """One control step of every hand toward ``targets`` [N, 16] (model order, rad): the
        SimHand.control_step semantics (clip, latency queue, disturbance ``external_force``,
        the profile's actuation), batched."""
        self.targets = np.clip(np.asarray(targets, dtype=float), LOWER, UPPER)
        previous = self.applied
        if self._queue.shape[1]:
            self.applied = self._queue[:, 0].copy()
            self._queue = np.concatenate([self._queue[:, 1:], self.targets[:, None]], axis=1)
        else:
            self.applied = self.targets.copy()
        if self._force_column is not None:
            self._control_in[:, :, self._force_column:self._force_column + 3] = \
                self.external_force[:, None]
        controls = self._control_in[:, :, :NUM_JOINTS]
        controls[:] = actuator_controls(self.profile, self.applied)[:, None]
        early = np.arange(SUBSTEPS)[None, :] < self.switch[:, None]  # [N, substeps]
        if early.any():
            controls[early] = np.broadcast_to(
                actuator_controls(self.profile, previous)[:, None], controls.shape)[early]
        self._physics()

    def _physics(self) -> None:
        self._rollout.rollout(self._models, self._scratch, self.state, self._control_in,
                              control_spec=CONTROL_STATE, skip_checks=True,
                              nstep=SUBSTEPS, initial_warmstart=self._warmstart,
                              state=self._state_out, sensordata=self._sensors_out,
                              chunk_size=self._chunk)
        self.state[:] = self._state_out[:, -1]
        self.sensors[:] = self._sensors_out[:, -1]

    # -- batched views -----------------------------------------------------------------------------

    @property
    def qpos(self) -> np.ndarray:
        return self.state[:, self._qpos_slice]

    @property
    def qvel(self) -> np.ndarray:
        return self.state[:, self._qvel_slice]

    @property
    def torque(self) -> np.ndarray:
        """[N, 16] actuator forces of the last physics step (N*m)."""
        return self.sensors[:, self._torque_slice]

    @property
    def q(self) -> np.ndarray:
        return self.qpos[:, self._qpos_index]

    @property
    def qd(self) -> np.ndarray:
        return self.qvel[:, self._dof_index]

    @property
    def object_pose(self) -> np.ndarray:
        """[N, 7]: position, orientation (w, x, y, z) after the last physics step."""
        address = self.hands[0].scene.object_qpos
        return self.qpos[:, address:address + 7]

    @property
    def object_velocity(self) -> np.ndarray:
        """[N, 6]: linear velocity (world frame), angular velocity (body frame)."""
        dof = self.hands[0].scene.object_dof
        return self.qvel[:, dof:dof + 6]

    @property
    def fingertips(self) -> np.ndarray:
        """[N, 4, 13]: position, orientation, linear velocity (centre of mass), angular
        velocity, world frame."""
        return self.sensors[:, :TIPS * TIP_VALUES].reshape(-1, TIPS, TIP_VALUES)

    @property
    def tip_contacts(self) -> np.ndarray:
        """[N, 4, 4]: contact force on each fingertip (world, N) and whether it touches."""
        start = TIPS * TIP_VALUES
        raw = self.sensors[:, start:start + TIPS * CONTACT_VALUES].reshape(-1, TIPS,
                                                                         CONTACT_VALUES)
        out = np.empty_like(raw)
        out[..., :3] = -raw[..., 1:]  # the sensor gives the force the fingertip exerts
        out[..., 3] = raw[..., 0] > 0
        return out

    @property
    def object_orientation_at_forward(self) -> np.ndarray:
        """[N, 4]: the object's orientation the last forward pass saw (what data.xquat holds
        after mj_step; the object's velocity in qvel is one integration later)."""
        start = TIPS * (TIP_VALUES + CONTACT_VALUES)
        return self.sensors[:, start:start + 4]

    def close(self) -> None:
        self._rollout.close()
