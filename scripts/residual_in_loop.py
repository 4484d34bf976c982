#!/usr/bin/env python3
"""Gap-hand task data with a correction in the loop (docs/sim2sim.md): the base policy's own
episodes under an experiment's gap profile, with a residual bundle (or the analytic correction
base + G (base - q)) added to every command, recorded as transition shards (q, command sent).

The residual's objective queries the dynamics model with the simulator's histories and corrected
targets; a gap hand shows such histories only while something corrects it. Episodes recorded with
a correction in the loop put that kind of data in front of the model (a DAgger-like round for
the dynamics: collect where the residual will ask, finetune, retrain the residual).
OUT/base_targets holds the same readings with the base targets the commands were made from.

  python scripts/residual_in_loop.py --experiment runs/sim2sim_half_kp \
      --residual runs/sim2sim_half_kp/residual/joint/seed_0/best --out runs/loop_1
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from dexndm_control.transitions import Episode, write_shard
from dexndm_learning.comparison import GeneralistOnEnv
from dexndm_learning.sim2sim import Sim2Sim, load_config, record_episodes


class CorrectedBase(GeneralistOnEnv):
    """The base policy plus a residual bundle or, with ``gain``, the analytic correction
    G (base - q) (q: this step's joint reading); keeps every step's base targets."""

    def __init__(self, bundle: str, residual: str | None = None, gain: float | None = None):
        super().__init__(bundle, residual)
        self.gain = gain
        self.bases: list[np.ndarray] = []  # per step, [N, 16]

    def correction(self, obs, base: np.ndarray, q: np.ndarray) -> np.ndarray | None:
        self.bases.append(base.copy())
        return self.gain * (base - q) if self.gain is not None \
            else super().correction(obs, base, q)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", type=Path, required=True,
                        help="an experiment directory (its config.yaml: base, environment, gap)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--residual", help="residual bundle added to the base policy's commands")
    what.add_argument("--oracle-gain", type=float, help="G of the analytic correction instead")
    parser.add_argument("--episodes", type=int, default=128)
    parser.add_argument("--seed-offset", type=int, default=2,
                        help="starts other than the evaluation's (0) and the ood stage's (1)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    experiment = Sim2Sim(load_config(args.experiment / "config.yaml"), args.experiment)
    config = experiment.config
    policy = CorrectedBase(config.base, args.residual, args.oracle_gain)
    vec_env = experiment.vec_env(config.gap, args.episodes, seed_offset=args.seed_offset)
    try:
        episodes, _, survived = record_episodes(vec_env, policy.advance)
    finally:
        vec_env.close()
    write_shard(args.out / "rollout.npz", episodes, f"sim:{config.gap}")
    # the same readings with the base targets the commands were made from: what a model of the
    # simulator is fed to ask whether the corrected hand moves as the simulator would
    bases = np.stack(policy.bases, axis=1)  # [N, steps, 16]; an episode's step k is step k
    write_shard(args.out / "base_targets" / "rollout.npz",
                [Episode(e.q, bases[e.meta["env"], :len(e.a)], e.t, e.meta) for e in episodes],
                f"sim:{config.gap}")
    print(f"{len(episodes)} episodes ({sum(len(e.a) for e in episodes)} steps, "
          f"{survived.mean():.0%} held the object to the end) under {config.gap} with "
          f"{args.residual or f'G = {args.oracle_gain:g}'} in the loop -> {args.out}")


if __name__ == "__main__":
    main()
