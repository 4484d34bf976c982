#!/usr/bin/env python3
"""Sim-to-sim probe data (docs/sim2sim.md): a base policy's rollouts under `nominal` and their
open-loop replay, object in hand, under a gap profile, as transition shards.

This is the probe behind the first measurements of docs/sim2sim.md, not the full experiment
(no chaos box, one object): every environment's first episode of the base policy in the reference
specialist's training environment (cylinders_004, palm up, +-z, its grasps; disturbances and
joint-reading noise off) is recorded under `nominal` (OUT/sim); the same environments, seeded
alike so they start from the same grasps, then replay those targets open loop under --gap with the
chaos-box collector's noise law (per episode, p = 0.5 of N(0, sigma) on every target; the
collector's own episode_noise and episode_seed) and are recorded until the object falls
(OUT/real). Then, e.g.:

  dexndm train dynamics --arch joint --data OUT/sim --out OUT/ndm_pre
  dexndm train dynamics --arch joint --data OUT/real --init OUT/ndm_pre/best --out OUT/ndm_ft
  dexndm train residual --dynamics OUT/ndm_ft/best --data OUT/sim --out OUT/res --penalty 1
  dexndm sim compare policies/reference_student --residual OUT/res/best \
      --teachers policies/gap_reference/model_1949.pt --profiles GAP --episodes 64

With --oracle-gain G it instead evaluates, in the same environment and episodes as `sim compare`,
the base policy with the analytic correction command = base + G (base - q): for a pure gain gap
(config/profiles/nominal_half_gain.yaml) G = 1 restores the proportional torque, the known
answer a learned residual is measured against. --oracle-spring adds the known answer to a
passive joint spring (config/profiles/nominal_glove.yaml), --free-fingers-only on fingers whose
tip touches nothing; --oracle-lead L sends the base chain's next target early (a latency).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from dexndm_control.episode_plan import episode_noise, episode_seed
from dexndm_control.hand import FINGERS
from dexndm_control.transitions import write_shard
from dexndm_learning.comparison import GeneralistOnEnv
from dexndm_learning.outcomes import outcome_summary
from dexndm_learning.ppo.specialist import specialist_env_config
from dexndm_learning.ppo.transfer import first_episodes
from dexndm_learning.ppo.vec_env import RotationVecEnv
from dexndm_learning.sim2sim import record_episodes
from dexndm_sim.profiles import HardwareProfile, get_profile

REFERENCE = "policies/gap_reference/model_1949.pt"
STEPS = 400


def environment(profile: str, envs: int, seed: int) -> RotationVecEnv:
    return RotationVecEnv(specialist_env_config(REFERENCE, num_envs=envs, seed=seed,
                                                profile=profile, grasp_profile="nominal",
                                                disturbance_probability=0.0, joint_noise=0.0))


class AnalyticCorrection(GeneralistOnEnv):
    """The base policy with command = base + gain (base - q) + stiffness / kp (base - springref),
    clipped to the joint limits (q: the joint reading of this step, as the residual gets it).
    The second term is the known answer to a passive joint spring (a glove): at rest the
    target that holds the joint at ``base`` against the spring."""

    def __init__(self, bundle: str, gain: float, spring: HardwareProfile | None = None,
                 lead: float = 0.0, free_fingers_only: bool = False) -> None:
        super().__init__(bundle)
        self.gain = gain
        self.spring = spring
        self.lead = lead
        # the spring term only on fingers whose tip touches nothing (what a correction judged
        # by joint motion can see: a finger pressing the object does not move either way)
        self.free_fingers_only = free_fingers_only
        self._free = None  # [N, 16]: joint of a finger whose tip touches nothing

    def advance(self, vec_env) -> None:
        touching = vec_env.env.snapshot["contacts"][:, :, 3] > 0  # [N, 4], TIP_BODIES' order
        self._free = np.ones((len(touching), 16), dtype=bool)
        for tip, finger in enumerate(FINGERS.values()):  # index, middle, ring, thumb
            self._free[:, list(finger)] = ~touching[:, [tip]]
        super().advance(vec_env)

    def correction(self, obs, base: np.ndarray, q: np.ndarray) -> np.ndarray:
        # lead: the base chain's last step again (its target one step ahead, extrapolated),
        # the known answer to a command that acts a control step late
        correction = self.gain * (base - q) + self.lead * (base - self._base_history[:, -1])
        if self.spring is not None:
            stiffness, kp = np.asarray(self.spring.stiffness), np.asarray(self.spring.kp)
            spring = stiffness / kp * (base - np.asarray(self.spring.springref))
            correction = correction + (spring * self._free if self.free_fingers_only else spring)
        return correction


def oracle(args: argparse.Namespace) -> None:
    """`sim compare`'s generalist episodes (64, the teacher's seed) with the analytic correction."""
    spring = get_profile(args.gap) if args.oracle_spring else None
    controller = AnalyticCorrection(args.policy, args.oracle_gain or 0.0, spring,
                                    args.oracle_lead, args.free_fingers_only)
    vec_env = RotationVecEnv(specialist_env_config(REFERENCE, num_envs=args.envs,
                                                   disturbance_probability=0.0,
                                                   profile=args.gap, grasp_profile="nominal"))
    try:
        row = outcome_summary(first_episodes(vec_env, controller.advance))
    finally:
        vec_env.close()
    what = f"gain {args.oracle_gain or 0:g}, lead {args.oracle_lead:g}" + \
        (" + spring" if spring else "") + (" (free fingers only)" if args.free_fingers_only
                                           else "")
    print(f"{what} under {args.gap}: Rot {row['radians'][0]:.2f} +- "
          f"{row['radians'][1]:.2f} rad, TTF {row['time_to_fall'][0]:.2f}, drops "
          f"{row['drops']:.0%} ({args.envs} episodes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="where sim/ and real/ shards go")
    parser.add_argument("--gap", required=True, help="profile the replay runs under (NAME, "
                                                     "NAME:key=value or a profile YAML)")
    parser.add_argument("--policy", default="policies/reference_student")
    parser.add_argument("--envs", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise-sigma", type=float, default=0.01)
    parser.add_argument("--noise-probability", type=float, default=0.5)
    parser.add_argument("--oracle-gain", type=float, default=None,
                        help="evaluate base + G (base - q) under --gap instead of collecting")
    parser.add_argument("--oracle-spring", action="store_true",
                        help="evaluate base + stiffness / kp (base - springref) of --gap's "
                             "passive joint spring (with --oracle-gain if given)")
    parser.add_argument("--free-fingers-only", action="store_true",
                        help="with --oracle-spring: correct only fingers whose tip touches "
                             "nothing at that step")
    parser.add_argument("--oracle-lead", type=float, default=0.0,
                        help="evaluate base + L (base - previous base) under --gap (with the "
                             "other oracle terms if given)")
    args = parser.parse_args()
    if args.oracle_gain is not None or args.oracle_spring or args.oracle_lead:
        oracle(args)
        return

    if args.out is None:
        parser.error("--out is required to collect")
    base = GeneralistOnEnv(args.policy)
    vec_env = environment("nominal", args.envs, args.seed)
    try:
        episodes, held, _ = record_episodes(vec_env, base.advance)
    finally:
        vec_env.close()
    write_shard(args.out / "sim" / "rollout.npz", episodes, "sim")
    plans = np.zeros((args.envs, STEPS, 16))
    for i, sent in enumerate(held):  # held after a fall, as a library row
        _, noise = episode_noise(episode_seed(args.seed, i), args.noise_probability,
                                 args.noise_sigma, (STEPS, 16))
        plans[i] = sent + noise
    vec_env = environment(args.gap, args.envs, args.seed)
    step = iter(range(STEPS))
    try:
        replayed, _, _ = record_episodes(vec_env, lambda v: v.step_to(plans[:, next(step)]))
    finally:
        vec_env.close()
    write_shard(args.out / "real" / "replay.npz", replayed, "real")
    print(f"{len(episodes)} nominal episodes ({sum(len(e.a) for e in episodes)} steps) in "
          f"{args.out / 'sim'}, {len(replayed)} replayed under {args.gap} "
          f"({sum(len(e.a) for e in replayed)} steps) in {args.out / 'real'}")


if __name__ == "__main__":
    main()
