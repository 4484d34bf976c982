#!/usr/bin/env python3
"""The residual's objective with a perfect model (docs/sim2sim.md): the gap simulator itself,
set to the nominal simulator's exact physics state, as the dynamics.

While the base policy runs under `nominal` (the episodes the residual trains on), each step a
twin under --gap is set to the nominal hand's full physics state (hand, object, contacts) and
stepped once with command = base + G (base - q) for every G of --gains (with --spring, base + G
times the known answer to the gap profile's passive joint spring, k / kp (base - springref));
the objective is the twin's q_{t+1} against the nominal hand's. Where this objective prefers a
correction, the paper's one-step objective is right for that gap with the full state known, and
a learned model that does not prefer it is what stands between the residual and the answer.
Only each environment's first episode counts (a reset may draw new object physics in one
simulator and not the other).

  python scripts/twin_objective.py --gap config/profiles/nominal_half_kp.yaml --gains 0 0.5 1
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from dexndm_control.hand import JOINT_NAMES, LOWER, UPPER
from dexndm_learning.comparison import GeneralistOnEnv
from dexndm_learning.ppo.specialist import specialist_env_config
from dexndm_learning.ppo.vec_env import RotationVecEnv

REFERENCE = "policies/gap_reference/model_1949.pt"


def environment(profile: str, envs: int, seed: int) -> RotationVecEnv:
    return RotationVecEnv(specialist_env_config(REFERENCE, num_envs=envs, seed=seed,
                                                profile=profile, grasp_profile="nominal",
                                                disturbance_probability=0.0, joint_noise=0.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gap", required=True, help="the twin's profile")
    parser.add_argument("--gains", nargs="+", type=float, default=[0.0, 0.5, 1.0])
    parser.add_argument("--spring", action="store_true",
                        help="G scales the answer to --gap's passive spring, not base - q")
    parser.add_argument("--policy", default="policies/reference_student")
    parser.add_argument("--envs", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    nominal, twin = environment("nominal", args.envs, args.seed), environment(args.gap, args.envs,
                                                                              args.seed)
    if twin.env.batch.state.shape != nominal.env.batch.state.shape or \
            twin.env.batch.profile.latency_steps or nominal.env.batch.profile.latency_steps:
        raise SystemExit("the twin needs the nominal scene's state layout and no latency")
    policy = GeneralistOnEnv(args.policy)
    profile = twin.env.batch.profile
    spring_ratio = np.asarray(profile.stiffness) / np.asarray(profile.kp)
    springref = np.asarray(profile.springref)
    sums = {g: np.zeros(len(JOINT_NAMES)) for g in args.gains}
    norms = {g: 0.0 for g in args.gains}
    count = 0
    first = np.ones(args.envs, dtype=bool)  # still in its first episode
    step_nominal = nominal.step_to
    try:
        def step_to(base: np.ndarray):
            nonlocal count
            q = nominal.env.q_history[:, -1].copy()
            source, target = nominal.env.batch, twin.env.batch
            predicted = {}
            for gain in args.gains:
                target.state[:] = source.state
                target.targets[:], target.applied[:] = source.targets, source.applied
                target.external_force[:] = source.external_force
                answer = spring_ratio * (base - springref) if args.spring else base - q
                target.step(np.clip(base + gain * answer, LOWER, UPPER))
                predicted[gain] = target.q.copy()
            result = step_nominal(base)
            reached = nominal.last_infos["q"]  # each env's state before any reset
            ended = np.zeros(args.envs, dtype=bool)
            ended[[e["env"] for e in nominal.last_infos["episodes"]]] = True
            valid = first & ~ended
            for gain in args.gains:
                error = predicted[gain][valid] - reached[valid]
                sums[gain] += np.abs(error).sum(axis=0)
                norms[gain] += np.linalg.norm(error, axis=1).sum()
            count += int(valid.sum())
            first[ended] = False
            return result

        nominal.step_to = step_to
        for _ in range(args.steps):
            policy.advance(nominal)
            if not first.any():
                break
    finally:
        nominal.close()
        twin.close()
    results = {}
    for gain in args.gains:
        results[f"G={gain:g}"] = {
            "mismatch_mrad": round(1e3 * norms[gain] / count, 3),
            "per_joint_mae_mrad": {n: round(1e3 * float(v) / count, 3)
                                   for n, v in zip(JOINT_NAMES, sums[gain], strict=True)}}
        print(f"G={gain:g}: {1e3 * norms[gain] / count:.3f} mrad one step ({count} steps)",
              flush=True)
    print(json.dumps({"gap": args.gap, "steps": count, "results": results}))


if __name__ == "__main__":
    main()
