"""N simulated hands stepped together, with no per-hand numpy in the hot path.

Physics runs in a thread pool: MuJoCo releases the GIL inside ``mj_step``, so two threads step
two hands at once. What Python does per hand and control step is a handful of whole-array copies
(controls in; qpos, qvel, actuator forces and one sensor array out), made by the worker right
after that hand's physics, so it overlaps with the other thread's physics. Everything else is
batched over hands:

* the ``real`` profile's XC330 law (quantised readings, backlash, torque limit) is evaluated
  once per physics step for all hands as one [N, 16] expression, then each worker applies its
  hands' rows and steps them one physics step (6 rounds per control step);
* clipping, the latency queue and the controls of MuJoCo's actuators are [N, 16] arrays;
* fingertip poses, velocities, contact forces and the object's orientation come from scene
  sensors (``SceneConfig.state_sensors``, layout in scene.py) in one ``sensordata`` copy.

The hands' MjData stay the single source of truth (warm starts included), so results equal
stepping each ``SimHand`` alone, bit for bit. A backend on the GPU (MuJoCo Warp) replaces this
class: same rows in, same arrays out (docs/simulation.md).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import mujoco
import numpy as np

from dexndm_control.hand import LOWER, NUM_JOINTS, UPPER
from dexndm_sim.scene import CONTACT_VALUES, TIP_BODIES, TIP_VALUES
from dexndm_sim.sim_hand import SUBSTEPS, SimHand, position_controls

TIPS = len(TIP_BODIES)


class HandBatch:
    def __init__(self, hands: list[SimHand], threads: int = 2) -> None:
        if not hands:
            raise ValueError("a hand batch needs at least one hand")
        first = hands[0]
        if not all(h.scene.config.state_sensors for h in hands):
            raise ValueError("build the scenes with SceneConfig(state_sensors=True)")
        if len({(h.model.nq, h.model.nv, h.model.nsensordata, h.explicit_law,
                 h.profile.latency_steps) for h in hands}) != 1:
            raise ValueError("every hand of a batch needs the same model sizes, sensors, "
                             "actuation and latency")
        self.hands = hands
        self.profile = first.profile
        self.explicit = first.explicit_law
        n = len(hands)
        scene = first.scene
        self._qpos_index, self._dof_index = scene.qpos_index, scene.dof_index
        self._object = scene.object_body
        self.qpos = np.zeros((n, first.model.nq))
        self.qvel = np.zeros((n, first.model.nv))
        self.torque = np.zeros((n, NUM_JOINTS))
        self.sensors = np.zeros((n, first.model.nsensordata))
        self.targets = np.zeros((n, NUM_JOINTS))  # last targets sent (clipped)
        self.applied = np.zeros((n, NUM_JOINTS))  # the targets acting (after latency)
        self._queue = np.zeros((n, first.profile.latency_steps, NUM_JOINTS))
        self._controls = np.zeros((n, NUM_JOINTS))
        self._previous_controls = np.zeros((n, NUM_JOINTS))
        # per hand: the physics substep from which a new target acts (the profile's
        # latency_substeps; a system identification sets it per hand)
        self.switch = np.full(n, first.profile.latency_substeps, dtype=int)
        self._pool = ThreadPoolExecutor(max(1, threads))
        self._chunks = [c for c in np.array_split(np.arange(n), max(1, threads)) if len(c)]
        for row, hand in enumerate(hands):
            mujoco.mj_forward(hand.model, hand.data)  # sensors of a hand not yet reset
            self.sync(row)

    def sync(self, row: int) -> None:
        """Take over hand ``row`` after it was reset or stepped on its own (its state, target
        and latency queue). While the batch steps them, the hands' own ``target`` and queue are
        not kept: the batch's arrays are."""
        hand = self.hands[row]
        self.targets[row], self.applied[row] = hand.target, hand.applied_target
        if len(self._queue[row]):
            self._queue[row] = hand.pending_targets
        self._read(row)

    # -- per hand, in the worker threads ---------------------------------------------------------

    def _read(self, row: int) -> None:
        data = self.hands[row].data
        self.qpos[row] = data.qpos
        self.qvel[row] = data.qvel
        self.torque[row] = data.actuator_force
        self.sensors[row] = data.sensordata

    def _push_force(self, hand: SimHand) -> None:
        if self._object is not None:
            hand.data.xfrc_applied[self._object, :3] = hand.external_force

    def _control_step(self, rows: np.ndarray) -> None:
        for row in rows:
            hand = self.hands[row]
            self._push_force(hand)
            switch = int(self.switch[row])
            if switch:
                hand.data.ctrl[:] = self._previous_controls[row]
                mujoco.mj_step(hand.model, hand.data, nstep=switch)
            hand.data.ctrl[:] = self._controls[row]
            mujoco.mj_step(hand.model, hand.data, nstep=SUBSTEPS - switch)
            self._read(row)

    def _substep(self, rows: np.ndarray, first: bool, last: bool) -> None:
        for row in rows:
            hand = self.hands[row]
            if first:
                self._push_force(hand)
            hand.data.ctrl[:] = self._controls[row]
            mujoco.mj_step(hand.model, hand.data)
            if last:
                self._read(row)
            else:  # what the next substep's law reads
                self.qpos[row] = hand.data.qpos
                self.qvel[row] = hand.data.qvel

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
        if not self.explicit:
            self._controls = position_controls(self.profile, self.applied)
            self._previous_controls = position_controls(self.profile, previous)
            self._map(self._control_step)
            return
        for substep in range(SUBSTEPS):
            acting = np.where((substep < self.switch)[:, None], previous, self.applied)
            self._controls = self.profile.joint_torque(
                acting, self.qpos[:, self._qpos_index], self.qvel[:, self._dof_index])
            self._map(self._substep, substep == 0, substep == SUBSTEPS - 1)

    def _map(self, function, *args) -> None:
        for future in [self._pool.submit(function, rows, *args) for rows in self._chunks]:
            future.result()

    # -- batched views -----------------------------------------------------------------------------

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
        self._pool.shutdown()
