"""Rotation controller timing.

compute: one PolicyRuntime step (observation, base generalist 1024 x 5 residual blocks, residual
MLP 256-256) on one CPU thread at the controller's real-time priority (when granted), 2,000
steps, with randomly initialised bundles of the full sizes, the base policy at the deployed
precision (int8_dynamic, `dexndm quantize`) and at fp32.
loop: the rotation_controller running 60 s against the MuJoCo virtual hand (object in hand)
through leap_driver, with a rotation command source: timer period deviation and latency from
joint_states receipt to command publish (its own statistics, written at exit).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from _common import Children, bin_path, isolated_ros_env, report, wait_for_path


def full_size_bundles(tmp: Path) -> tuple[Path, Path]:
    import torch

    from dexndm_control.hand import CANONICAL_POSE
    from dexndm_control.policy.bundle import save_bundle
    from dexndm_control.policy.networks import GeneralistPolicyNet, ResidualPolicyNet
    from dexndm_control.policy.observation import ObservationLayout

    torch.manual_seed(0)
    layout = ObservationLayout()
    base = GeneralistPolicyNet(layout.size)
    residual = ResidualPolicyNet(layout.size)
    save_bundle(tmp / "base", "base_policy", base.config(), base.state_dict(),
                {"layout": layout.to_dict(), "action_scale": 1 / 24,
                 "initial_pose": CANONICAL_POSE.tolist()})
    save_bundle(tmp / "residual", "residual", residual.config(), residual.state_dict(),
                {"layout": layout.to_dict()})
    from dexndm_control.policy.precision import convert_base_bundle

    convert_base_bundle(tmp / "base", tmp / "base_int8", "int8_dynamic")
    return tmp / "base_int8", tmp / "residual"


def compute_times(base: Path, residual: Path, steps: int) -> np.ndarray:
    """In a thread of its own at the controller's real-time priority, as the controller runs
    it (the thread's policy ends with it: the processes started later do not inherit it)."""
    result: dict[str, np.ndarray] = {}
    thread = threading.Thread(target=lambda: result.update(
        times=_compute_times(base, residual, steps)))
    thread.start()
    thread.join()
    return result["times"]


def _compute_times(base: Path, residual: Path, steps: int) -> np.ndarray:
    from dexndm_control.core.controller import ControllerConfig
    from dexndm_control.hand import CANONICAL_POSE
    from dexndm_control.policy.runtime import PolicyRuntime
    from dexndm_control.realtime import request_fifo

    refused = request_fifo(ControllerConfig().realtime_priority)
    if refused is not None:
        print(refused)
    runtime = PolicyRuntime(base, residual, max_step=0.1)
    runtime.reset(CANONICAL_POSE, CANONICAL_POSE)
    rng = np.random.default_rng(0)
    times = []
    for _ in range(steps):
        q = CANONICAL_POSE + rng.normal(0, 0.01, 16)
        started = time.perf_counter()
        runtime.step(q, np.array([0.0, 1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0]))
        times.append(time.perf_counter() - started)
    return np.array(times[50:]) * 1000.0


def loop_statistics(base: Path, residual: Path, seconds: float, tmp: Path) -> dict:
    env = isolated_ros_env()
    port, stats = str(tmp / "leap"), tmp / "loop.json"
    with Children() as children:
        children.start([bin_path("dexndm-virtual-hand"), "--port", port, "--scene", "object",
                        "--wrist", "palm_up"], env=env, stdout=subprocess.DEVNULL)
        wait_for_path(port + ".ctl")
        children.start([bin_path("leap_driver"), "--ros-args", "-p", f"port:={port}"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        children.start([bin_path("rotation_commander")], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        controller = children.start(
            [bin_path("rotation_controller"), "--ros-args", "-p", f"base_bundle:={base}",
             "-p", f"residual_bundle:={residual}", "-p", f"stats_file:={stats}"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(seconds)
        controller.send_signal(2)
        controller.wait(timeout=30)
    return json.loads(stats.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base, residual = full_size_bundles(tmp)
        compute = compute_times(base, residual, args.steps)
        compute_fp32 = compute_times(tmp / "base", residual, args.steps)
        loop = loop_statistics(base, residual, args.seconds, tmp)
    report("controller_loop", {
        "compute_ms_p50": round(float(np.percentile(compute, 50)), 3),
        "compute_ms_p99": round(float(np.percentile(compute, 99)), 3),
        "precision": "int8_dynamic",
        "compute_ms_p50_fp32": round(float(np.percentile(compute_fp32, 50)), 3),
        "compute_ms_p99_fp32": round(float(np.percentile(compute_fp32, 99)), 3),
        "period_dev_ms_p50": loop["period_deviation_ms"]["p50"],
        "period_dev_ms_p99": loop["period_deviation_ms"]["p99"],
        "period_dev_ms_max": loop["period_deviation_ms"]["max"],
        "latency_ms_p99": loop["latency_ms"].get("p99"),
        "loop_compute_ms_p99": loop["compute_ms"].get("p99"),
        "ticks": loop["ticks"],
        "scheduling": loop.get("scheduling"),
    })


if __name__ == "__main__":
    main()
