"""Simulation throughput on the CPU: control steps/s (1 control step = 6 physics steps at 1/120 s).

single_fast / single_accurate: one hand alone (SimHand, no environment), the batch's workload:
a small cylinder at palm up, the same random relative actions. single_fast_holding: the earlier
measurement, a larger cylinder held still with zero actions (less contact work per step).
batched_64_fast / batched_256_fast / batched_256_accurate: the full BatchedRotationEnv step
(HandBatch: physics in 2 threads, observation groups, reward) with random actions, nominal.
batch_speedup = batched_256_fast / single_fast: how far the batch on 2 cores beats one hand.
On the same 256 hands and states: physics_threads_speedup = one thread stepping every hand /
the 2-thread pool doing the same (how far physics parallelises), and batch_over_physics =
HandBatch.step / that pure 2-thread physics (what the batch adds on top).
real_over_nominal: batched_256 under the `real` profile (XC330 law in Python every physics step,
batched over hands) over nominal; real_actuator_over_nominal: `real:law=actuator`.
chaos_box: one hand in a box of 50 soft balls (CG solver, 100 iterations), palm down, real
profile; chaos_box_batched: 8 such hands in one HandBatch (control steps/s, all hands).
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


def _single(preset: str, seconds: float, workload: str = "batch") -> float:
    """One SimHand alone. workload "batch": a small cylinder and the random relative actions
    every env of _batched gets; "holding": a cylinder held still with zero actions."""
    from dexndm_control.hand import ACTION_SCALE, LOWER, UPPER
    from dexndm_sim.grasps import load_or_generate
    from dexndm_sim.objects import generate_category
    from dexndm_sim.profiles import nominal
    from dexndm_sim.scene import SceneConfig
    from dexndm_sim.sim_hand import SimHand
    from dexndm_sim.wrist import CANONICAL

    category = "small_cylinders" if workload == "batch" else "cylinders"
    obj = generate_category(category)[0]
    cache = load_or_generate(obj, CANONICAL["palm_up"], nominal(), wanted=1)
    hand = SimHand(SceneConfig(CANONICAL["palm_up"], nominal(), preset, obj))
    hand.reset(cache.q[0], cache.object_pos[0], cache.object_quat[0])
    rng = np.random.default_rng(0)
    target = cache.target[0].copy()
    scale = 0.3 * ACTION_SCALE if workload == "batch" else 0.0
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        target = np.clip(target + rng.uniform(-1, 1, 16) * scale, LOWER, UPPER)
        hand.control_step(target)
        steps += 1
        if steps % 400 == 0:  # a new episode from the grasp, as the environment resets
            hand.reset(cache.q[0], cache.object_pos[0], cache.object_quat[0])
            target = cache.target[0].copy()
    return steps / (time.perf_counter() - start)


def _batched(envs: int, preset: str, steps: int, profile: str = "nominal",
             profile_params: dict | None = None, threads: int = 2) -> float:
    from dexndm_sim.env import BatchedRotationEnv, RotationEnvConfig

    env = BatchedRotationEnv(RotationEnvConfig(num_envs=envs, categories=("small_cylinders",),
                                               wrists=("palm_up",), preset=preset,
                                               grasps_per_object=2, profile=profile,
                                               profile_params=profile_params or {},
                                               threads=threads))
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


def _physics_efficiency(envs: int, rounds: int) -> dict:
    """Median timings of the same hands: HandBatch.step, the bare 2-thread mj_step pool, and one
    thread stepping every hand (interleaved, so machine noise hits all three alike)."""
    from concurrent.futures import ThreadPoolExecutor

    import mujoco

    from dexndm_sim.env import BatchedRotationEnv, RotationEnvConfig

    env = BatchedRotationEnv(RotationEnvConfig(num_envs=envs, categories=("small_cylinders",),
                                               wrists=("palm_up",), grasps_per_object=2,
                                               disturbance_probability=0.0))
    hands = env.hands
    pool = ThreadPoolExecutor(2)
    chunks = np.array_split(np.arange(envs), 2)

    def physics(rows) -> None:
        for row in rows:
            mujoco.mj_step(hands[row].model, hands[row].data, nstep=6)

    timings: dict[str, list[float]] = {"batch": [], "pool": [], "one": []}
    for _ in range(rounds):
        for name, run in (("batch", lambda: env.batch.step(env.target)),
                          ("pool", lambda: list(pool.map(physics, chunks))),
                          ("one", lambda: physics(range(envs)))):
            start = time.perf_counter()
            for _ in range(3):
                run()
            timings[name].append(time.perf_counter() - start)
    env.close()
    pool.shutdown()
    median = {name: float(np.median(values)) for name, values in timings.items()}
    return {"physics_threads_speedup": round(median["one"] / median["pool"], 3),
            "batch_over_physics": round(median["batch"] / median["pool"], 3)}


def _chaos_box_batched(hands: int, seconds: float) -> float:
    from dexndm_sim.hand_batch import HandBatch
    from dexndm_sim.profiles import real
    from dexndm_sim.scene import ChaosBox, SceneConfig
    from dexndm_sim.sim_hand import SimHand
    from dexndm_sim.wrist import CANONICAL

    batch = HandBatch([SimHand(SceneConfig(CANONICAL["palm_down"], real(), "fast",
                                           chaos_box=ChaosBox(50, seed=seed),
                                           state_sensors=True)) for seed in range(hands)])
    for row, hand in enumerate(batch.hands):
        hand.reset(np.zeros(16))
        batch.sync(row)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        batch.step(np.full((hands, 16), 0.3 * np.sin(steps / 10)))
        steps += 1
    rate = steps * hands / (time.perf_counter() - start)
    batch.close()
    return rate


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
    parser.add_argument("--batched-steps", type=int, default=30)
    args = parser.parse_args()
    os.environ.setdefault("DEXNDM_CACHE", str(Path(tempfile.gettempdir()) / "dexndm_bench_cache"))
    single = _single("fast", args.seconds)
    efficiency = _physics_efficiency(256, rounds=5)
    batched = _batched(256, "fast", args.batched_steps)
    real = _batched(256, "fast", args.batched_steps, "real")
    real_actuator = _batched(256, "fast", args.batched_steps, "real", {"law": "actuator"})
    report("sim_throughput", {
        "single_fast": round(single, 1),
        "single_fast_holding": round(_single("fast", args.seconds, "holding"), 1),
        "single_accurate": round(_single("accurate", args.seconds), 1),
        "batched_64_fast": round(_batched(64, "fast", args.batched_steps), 1),
        "batched_256_fast": round(batched, 1),
        "batched_256_accurate": round(_batched(256, "accurate", args.batched_steps), 1),
        "batch_speedup": round(batched / single, 3),
        **efficiency,
        "batched_256_real": round(real, 1),
        "real_over_nominal": round(real / batched, 3),
        "real_actuator_over_nominal": round(real_actuator / batched, 3),
        "chaos_box": round(_chaos_box(args.seconds), 1),
        "chaos_box_batched": round(_chaos_box_batched(8, args.seconds), 1),
        "virtual_hand_rtf": round(_virtual_hand_rtf(args.seconds * 2), 3),
    })


if __name__ == "__main__":
    main()
