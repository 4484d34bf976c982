"""Simulation throughput on the CPU: control steps/s (1 control step = 6 physics steps at 1/120 s).

single_fast / single_accurate: one hand holding a cylinder, zero actions.
batched_64_fast / batched_256_fast / batched_256_accurate: the full BatchedRotationEnv step
(physics in 2 threads, observation groups, reward) with random actions.
chaos_box: one hand in a box of 50 soft balls (CG solver, 100 iterations), palm down.
virtual_hand_rtf: simulated seconds per wall second of the MuJoCo virtual hand (object scene)
while leap_driver polls it at 200 Hz.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import Children, bin_path, isolated_ros_env, report, wait_for_path


def _single(preset: str, seconds: float) -> float:
    from dexndm_sim.grasps import load_or_generate
    from dexndm_sim.objects import generate_category
    from dexndm_sim.profiles import nominal
    from dexndm_sim.scene import SceneConfig
    from dexndm_sim.sim_hand import SimHand
    from dexndm_sim.wrist import CANONICAL

    obj = generate_category("cylinders")[0]
    cache = load_or_generate(obj, CANONICAL["palm_up"], nominal(), wanted=1)
    hand = SimHand(SceneConfig(CANONICAL["palm_up"], nominal(), preset, obj))
    hand.reset(cache.q[0], cache.object_pos[0], cache.object_quat[0])
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        hand.control_step(cache.target[0])
        steps += 1
    return steps / (time.perf_counter() - start)


def _batched(envs: int, preset: str, steps: int) -> float:
    from dexndm_sim.env import BatchedRotationEnv, RotationEnvConfig

    env = BatchedRotationEnv(RotationEnvConfig(num_envs=envs, categories=("small_cylinders",),
                                               wrists=("palm_up",), preset=preset,
                                               grasps_per_object=2))
    rng = np.random.default_rng(0)
    env.step(rng.uniform(-1, 1, (envs, 16)))
    start = time.perf_counter()
    for _ in range(steps):
        env.step(rng.uniform(-1, 1, (envs, 16)) * 0.3)
    rate = steps * envs / (time.perf_counter() - start)
    env.close()
    return rate


def _chaos_box(seconds: float) -> float:
    from dexndm_sim.profiles import real
    from dexndm_sim.scene import ChaosBox, SceneConfig
    from dexndm_sim.sim_hand import SimHand
    from dexndm_sim.wrist import CANONICAL

    hand = SimHand(SceneConfig(CANONICAL["palm_down"], real(), "fast", chaos_box=ChaosBox(50)))
    hand.reset(np.zeros(16))
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        hand.control_step(np.full(16, 0.3 * np.sin(steps / 10)))
        steps += 1
    return steps / (time.perf_counter() - start)


def _virtual_hand_rtf(seconds: float) -> float:
    from dexndm_sim.xc330.server import control_request

    env = isolated_ros_env()
    with tempfile.TemporaryDirectory() as tmp, Children() as children:
        port = str(Path(tmp) / "leap")
        children.start([bin_path("dexndm-virtual-hand"), "--port", port, "--scene", "object",
                        "--wrist", "palm_up"], env=env, stdout=subprocess.DEVNULL)
        wait_for_path(port + ".ctl")
        children.start([bin_path("leap_driver"), "--ros-args", "-p", f"port:={port}"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3.0)
        sim0, wall0 = control_request(port, {"cmd": "state"})["time"], time.monotonic()
        time.sleep(seconds)
        sim1, wall1 = control_request(port, {"cmd": "state"})["time"], time.monotonic()
    return (sim1 - sim0) / (wall1 - wall0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batched-steps", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("DEXNDM_CACHE", str(Path(tempfile.gettempdir()) / "dexndm_bench_cache"))
    report("sim_throughput", {
        "single_fast": round(_single("fast", args.seconds), 1),
        "single_accurate": round(_single("accurate", args.seconds), 1),
        "batched_64_fast": round(_batched(64, "fast", args.batched_steps), 1),
        "batched_256_fast": round(_batched(256, "fast", args.batched_steps), 1),
        "batched_256_accurate": round(_batched(256, "accurate", args.batched_steps), 1),
        "chaos_box": round(_chaos_box(args.seconds), 1),
        "virtual_hand_rtf": round(_virtual_hand_rtf(args.seconds * 2), 3),
    })


if __name__ == "__main__":
    main()
