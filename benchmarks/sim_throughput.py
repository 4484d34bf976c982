"""Simulation throughput on the CPU: control steps/s (1 control step = 6 physics steps at 1/120 s).

The batch's workload: 256 hands with the small cylinders at palm up (grasps searched at palm
down), random relative actions (x 0.3), the environment's pushes on the objects, episodes reset
as the objects fall.
batched_256_fast: the full BatchedRotationEnv step on that workload (HandBatch: mujoco.rollout
in 2 threads, observation groups, reward, resets), nominal.
single_fast: ONE hand doing the same work: each of the batch's hands, from the batch's state,
stepped alone by SimHand.control_step on one core with the same random actions (warm starts and
a warm cache, as a lone hand runs: one untimed step, then two timed).
batch_speedup = batched_256_fast / single_fast, measured in interleaved rounds so machine noise
hits both alike.
single_fast_lone / single_fast_holding: one SimHand on its own episode (a small cylinder with the
same random actions / a larger cylinder held still with zero actions), for comparison with
earlier runs; contact work per step is lighter there than in the batch.
batched_64_fast / batched_256_accurate: the environment with 64 hands / the accurate preset.
On the same 256 hands and states: physics_threads_speedup = the rollout on one thread / on two,
and batch_over_physics = HandBatch.step / that 2-thread rollout alone (what the batch adds).
real_over_nominal: batched_256 under the `real` profile (the XC330 law, evaluated by MuJoCo
inside every physics step) over nominal in the same run;
real_actuator_over_nominal: `real:law=actuator` (the law as MuJoCo actuator parameters).
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


def _batch_env(envs: int, preset: str = "fast", profile: str = "nominal",
               profile_params: dict | None = None, threads: int = 2):
    from dexndm_sim.env import BatchedRotationEnv, RotationEnvConfig

    return BatchedRotationEnv(RotationEnvConfig(num_envs=envs, categories=("small_cylinders",),
                                                wrists=("palm_up",), preset=preset,
                                                grasps_per_object=2, profile=profile,
                                                profile_params=profile_params or {},
                                                threads=threads))


def _batched(envs: int, preset: str, steps: int, profile: str = "nominal",
             profile_params: dict | None = None, threads: int = 2) -> float:
    env = _batch_env(envs, preset, profile, profile_params, threads)
    rng = np.random.default_rng(0)
    for _ in range(10):  # past the first steps after the grasps, into the workload
        env.step(rng.uniform(-1, 1, (envs, 16)) * 0.3)
    start = time.perf_counter()
    for _ in range(steps):
        env.step(rng.uniform(-1, 1, (envs, 16)) * 0.3)
    rate = steps * envs / (time.perf_counter() - start)
    env.close()
    return rate


def _batch_and_single(envs: int, rounds: int, steps: int) -> tuple[float, float]:
    """(batched, single) control steps/s on the same work: each round times `steps` batched
    environment steps, then every hand stepped alone from the batch's state
    (SimHand.control_step, one core)."""
    from dexndm_control.hand import ACTION_SCALE

    env = _batch_env(envs)
    rng = np.random.default_rng(0)
    for _ in range(10):
        env.step(rng.uniform(-1, 1, (envs, 16)) * 0.3)
    batch_time = single_time = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            env.step(rng.uniform(-1, 1, (envs, 16)) * 0.3)
        batch_time += time.perf_counter() - start
        for row in range(envs):
            hand = env.batch.restore(row)  # the batch keeps its own rows
            moves = rng.uniform(-1, 1, (3, 16)) * 0.3 * ACTION_SCALE
            hand.control_step(env.target[row] + moves[0])  # untimed: loads it into the cache
            start = time.perf_counter()
            hand.control_step(env.target[row] + moves[1])
            hand.control_step(env.target[row] + moves[2])
            single_time += time.perf_counter() - start
    env.close()
    return rounds * steps * envs / batch_time, rounds * 2 * envs / single_time


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
    """Median timings of the same hands and states: HandBatch.step, the bare 2-thread rollout,
    and the rollout on one thread (interleaved, so machine noise hits all three alike)."""
    import mujoco
    from mujoco import rollout

    from dexndm_sim.hand_batch import CONTROL_STATE

    env = _batch_env(envs)
    rng = np.random.default_rng(0)
    for _ in range(10):
        env.step(rng.uniform(-1, 1, (envs, 16)) * 0.3)
    batch = env.batch
    start_state = batch.state.copy()
    runners = {name: (rollout.Rollout(nthread=nthread),
                      [mujoco.MjData(batch._models[0]) for _ in range(max(1, nthread))])
               for name, nthread in (("pool", 2), ("one", 0))}

    def physics(name: str) -> None:
        runner, scratch = runners[name]
        runner.rollout(batch._models, scratch, start_state, batch._control_in,
                       control_spec=CONTROL_STATE, skip_checks=True, nstep=6,
                       initial_warmstart=batch._warmstart, chunk_size=batch._chunk)

    timings: dict[str, list[float]] = {"batch": [], "pool": [], "one": []}
    for _ in range(rounds):
        for name, run in (("batch", lambda: batch.step(env.target)),
                          ("pool", lambda: physics("pool")),
                          ("one", lambda: physics("one"))):
            start = time.perf_counter()
            for _ in range(3):
                run()
            timings[name].append(time.perf_counter() - start)
    env.close()
    for runner, _ in runners.values():
        runner.close()
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
        sim0, wall0 = control_request(port, {"cmd": "state"})["sim_time"], time.monotonic()
        time.sleep(seconds)
        sim1, wall1 = control_request(port, {"cmd": "state"})["sim_time"], time.monotonic()
    return (sim1 - sim0) / (wall1 - wall0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batched-steps", type=int, default=30)
    args = parser.parse_args()
    os.environ.setdefault("DEXNDM_CACHE", str(Path(tempfile.gettempdir()) / "dexndm_bench_cache"))
    batched, single = _batch_and_single(256, rounds=5, steps=6)
    efficiency = _physics_efficiency(256, rounds=5)
    nominal = _batched(256, "fast", args.batched_steps)
    real = _batched(256, "fast", args.batched_steps, "real")
    real_actuator = _batched(256, "fast", args.batched_steps, "real", {"law": "actuator"})
    report("sim_throughput", {
        "single_fast": round(single, 1),
        "single_fast_lone": round(_single("fast", args.seconds), 1),
        "single_fast_holding": round(_single("fast", args.seconds, "holding"), 1),
        "single_accurate": round(_single("accurate", args.seconds), 1),
        "batched_64_fast": round(_batched(64, "fast", args.batched_steps), 1),
        "batched_256_fast": round(batched, 1),
        "batched_256_accurate": round(_batched(256, "accurate", args.batched_steps), 1),
        "batch_speedup": round(batched / single, 3),
        **efficiency,
        "batched_256_real": round(real, 1),
        "real_over_nominal": round(real / nominal, 3),
        "real_actuator_over_nominal": round(real_actuator / nominal, 3),
        "chaos_box": round(_chaos_box(args.seconds), 1),
        "chaos_box_batched": round(_chaos_box_batched(8, args.seconds), 1),
        "virtual_hand_rtf": round(_virtual_hand_rtf(args.seconds * 2), 3),
    })


if __name__ == "__main__":
    main()
