"""Throughput of the full PPO loop on the CPU (rsl-rl-lib OnPolicyRunner on the MuJoCo env).

env_steps_per_s: environment steps per wall second over whole PPO iterations (rollout + update).
sim_share: fraction of that wall time spent inside the environment's step (physics, observations,
reward); the rest is policy inference during rollouts and the PPO update.
env_only_steps_per_s: the batched environment alone with random actions, for comparison.
env_steps_per_s_passive_omp: the same loop in a second process with OMP_WAIT_POLICY=PASSIVE
(torch's idle OpenMP threads sleep instead of spinning on the cores MuJoCo's threads need; it
has to be set before torch loads, hence the second process; scripts/train_base_policy.sh sets it).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch

from _common import report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, default=128)
    parser.add_argument("--steps-per-env", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--measure-only", action="store_true",
                        help="print this process's measurement and exit (the passive run)")
    args = parser.parse_args()
    result = measure(args)
    if args.measure_only:
        print(json.dumps(result))
        return
    passive = subprocess.run(
        [sys.executable, __file__, "--measure-only", "--num-envs", str(args.num_envs),
         "--steps-per-env", str(args.steps_per_env), "--iterations", str(args.iterations),
         "--threads", str(args.threads)], capture_output=True, text=True, check=True,
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    result["env_steps_per_s_passive_omp"] = json.loads(
        passive.stdout.strip().splitlines()[-1])["env_steps_per_s"]
    report("ppo_throughput", result)


def measure(args: argparse.Namespace) -> dict:

    from rsl_rl.runners import OnPolicyRunner

    from dexndm_learning.ppo.config import env_config, ppo_config
    from dexndm_learning.ppo.vec_env import RotationVecEnv

    torch.set_num_threads(args.threads)
    env = RotationVecEnv(env_config("cylinders", num_envs=args.num_envs, threads=args.threads))
    try:
        start = time.perf_counter()
        for _ in range(20):
            env.step(torch.rand(env.num_envs, env.num_actions) * 2 - 1)
        env_only = 20 * env.num_envs / (time.perf_counter() - start)

        with tempfile.TemporaryDirectory() as log_dir:
            runner = OnPolicyRunner(env, ppo_config(num_steps_per_env=args.steps_per_env,
                                                    save_interval=10**6, logger="tensorboard"),
                                    log_dir=log_dir, device="cpu")
            runner.learn(1)  # warm-up: first-call allocations and lazy imports
            env.sim_seconds, env.steps_taken = 0.0, 0
            start = time.perf_counter()
            runner.learn(args.iterations)
            wall = time.perf_counter() - start
    finally:
        env.close()
    return {
        "env_steps_per_s": round(env.steps_taken / wall, 1),
        "sim_share": round(env.sim_seconds / wall, 3),
        "env_only_steps_per_s": round(env_only, 1),
        "update_share": round(1 - env.sim_seconds / wall, 3),
        "num_envs": args.num_envs, "steps_per_env": args.steps_per_env,
        "iterations": args.iterations, "threads": args.threads,
    }


if __name__ == "__main__":
    main()
