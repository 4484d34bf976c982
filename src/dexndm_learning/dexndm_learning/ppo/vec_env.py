"""rsl-rl-lib VecEnv adapter for the batched MuJoCo rotation environment.

Observation groups handed to rsl-rl (TensorDict):
  "policy" (actor) and "critic": the oracle observation of paper appendix A.1, as available in
  MuJoCo: last 3 joint positions and targets (relative to the grasp pose), joint velocities,
  fingertip states (relative to the palm), object state (offset from the grasp point, quaternion,
  velocities), guiding goal quaternion, fingertip contact forces and flags, wrist quaternion and
  rotation axis (palm frame); with ``observe_physics`` also the object's mass, friction and
  extents. Fixed scaling, no running normaliser (docs/notes/rl_feasibility.md: the defaults
  collapsed the learning rate).
With ``generalist_layout`` the actor's group is instead what the controller feeds the base
policy (``generalist_observation``): PPO fine-tuning of a distilled generalist, with the oracle
left to the critic.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from rsl_rl.env import VecEnv
from tensordict import TensorDict

from dexndm_control.errors import DexndmError
from dexndm_control.policy.observation import ObservationLayout
from dexndm_sim.env import BatchedRotationEnv, RotationEnvConfig
from dexndm_sim.model import PALM_POSITION

ORACLE_HISTORY = 3
# the "object_physics" group: mass 0.01-0.05 kg -> 0.2-1.0, friction 0.3-3.0 as it is, three
# extents 0.02-0.15 m -> 0.2-1.5
PHYSICS_SCALE = np.array([20.0, 1.0, 10.0, 10.0, 10.0])


def oracle_observation(groups: dict[str, np.ndarray], q_init: np.ndarray,
                       observe_physics: bool = False) -> np.ndarray:
    """[N, 204] oracle features from the environment's named observation groups, [N, 209] with
    the object's physics, which come last: an actor trained without them takes them as extra
    inputs of zero weight (warm_start.py)."""
    n = len(q_init)
    q = groups["joint_pos_history"][:, -ORACLE_HISTORY:] - q_init[:, None]
    targets = groups["target_history"][:, -ORACLE_HISTORY:] - q_init[:, None]
    tips = groups["fingertips"].reshape(n, 4, 13).copy()
    tips[:, :, :3] = (tips[:, :, :3] - np.asarray(PALM_POSITION)) * 10.0
    tips[:, :, 7:] *= 0.5
    state = groups["object_state"].copy()
    state[:, :3] = np.clip(state[:, :3] * 20.0, -3, 3)
    quat = state[:, 3:7]
    state[:, 3:7] = quat * np.sign(quat[:, :1] + 1e-9)  # fixed sign
    state[:, 7:10] *= 5.0
    state[:, 10:13] = np.clip(state[:, 10:13] * 0.3, -3, 3)
    contacts = groups["tip_contacts"].reshape(n, 4, 4).copy()
    contacts[:, :, :3] = np.clip(contacts[:, :, :3] * 0.5, -3, 3)
    return np.concatenate([q.reshape(n, -1), targets.reshape(n, -1),
                           groups["joint_vel"] * 0.1, tips.reshape(n, -1), state,
                           groups["goal_quat"], contacts.reshape(n, -1), groups["wrist_quat"],
                           groups["rotation_axis"]]
                          + ([groups["object_physics"] * PHYSICS_SCALE] if observe_physics
                             else []), axis=1).astype(np.float32)


def generalist_observation(env: BatchedRotationEnv, layout: ObservationLayout,
                           targets: np.ndarray | None = None,
                           groups: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """What the controller builds for the base policy at this step: the last T joint readings
    and the last T targets of its chain (by default the environment's own: its target history
    lags the current target by one), wrist quaternion and rotation axis."""
    if env.config.history < layout.history:
        raise DexndmError(f"the environment keeps {env.config.history} steps of history, the "
                          f"policy needs {layout.history}")
    T = layout.history
    if targets is None:
        targets = np.concatenate([env.target_history[:, 1:], env.target[:, None]], axis=1)
    groups = env.observation_groups() if groups is None else groups
    return layout.build(groups["joint_pos_history"][:, -T:], targets[:, -T:],
                        groups["wrist_quat"], groups["rotation_axis"])


class RotationVecEnv(VecEnv):
    def __init__(self, config: RotationEnvConfig, grasp_cache_dir=None,
                 generalist_layout: ObservationLayout | None = None) -> None:
        self.env = BatchedRotationEnv(config, grasp_cache_dir)
        self.generalist_layout = generalist_layout
        self.cfg = {"env": {k: v for k, v in vars(config).items() if k != "reward"}}
        self.num_envs = config.num_envs
        self.num_actions = 16
        self.max_episode_length = config.episode_length
        self.device = "cpu"
        self._groups = self.env.observation_groups()
        self.last_episodes: list[dict] = []
        self.sim_seconds = 0.0  # wall time spent inside step(): simulation + observations
        self.steps_taken = 0

    @property
    def episode_length_buf(self) -> torch.Tensor:
        return torch.from_numpy(self.env.steps.copy())

    @episode_length_buf.setter
    def episode_length_buf(self, value: torch.Tensor) -> None:
        self.env.steps[:] = value.cpu().numpy()

    def _observations(self) -> TensorDict:
        oracle = torch.from_numpy(oracle_observation(self._groups, self.env.q_init,
                                                     self.env.config.observe_physics))
        actor = oracle
        if self.generalist_layout is not None:
            actor = torch.from_numpy(generalist_observation(
                self.env, self.generalist_layout, groups=self._groups).astype(np.float32))
        return TensorDict({"policy": actor, "critic": oracle}, batch_size=[self.num_envs])

    def get_observations(self) -> TensorDict:
        return self._observations()

    def step(self, actions: torch.Tensor):
        return self._advance(lambda: self.env.step(actions.detach().cpu().numpy()))

    def step_to(self, targets: np.ndarray):
        """One step to absolute joint targets (a base + residual controller's command)."""
        return self._advance(lambda: self.env.step_to(targets))

    def _advance(self, step):
        start = time.perf_counter()
        self._groups, rewards, dones, infos = step()
        self.last_episodes = infos["episodes"]
        self.last_infos = infos
        self.last_terms = infos["reward_terms"]
        log = {}
        if infos["episodes"]:
            metrics = [e["metrics"] for e in infos["episodes"]]
            log = {"/rotation/radians": float(np.mean([m.radians for m in metrics])),
                   "/rotation/time_to_fall": float(np.mean([m.time_to_fall for m in metrics])),
                   "/rotation/rot_reward": float(np.mean([m.rot_reward for m in metrics]))}
        extras = {"time_outs": torch.from_numpy(infos["time_outs"]), "log": log}
        result = (self._observations(), torch.from_numpy(rewards.astype(np.float32)),
                  torch.from_numpy(dones), extras)
        self.sim_seconds += time.perf_counter() - start
        self.steps_taken += self.num_envs
        return result

    def close(self) -> None:
        self.env.close()
