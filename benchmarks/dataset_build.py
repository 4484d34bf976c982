"""Dataset build speed and collector timing.

1. A generated collection bag of 4,000 episodes x 400 steps (joint states and commands at 20 Hz,
   1.6 M transitions) is turned into transition shards by `build_dataset`; target under 30 s.
2. The chaos-box collector runs against the virtual hand (MuJoCo chaos box behind the emulated
   bus, driver in between) and reports its 20 Hz command period (mean and p99).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import Children, bin_path, isolated_ros_env, report, wait_for_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--collector-seconds", type=float, default=30.0)
    args = parser.parse_args()

    from dexndm_collect.dataset.build import build_dataset
    from dexndm_collect.dataset.synthetic import SyntheticEpisode, write_collection_bag

    rng = np.random.default_rng(0)
    base_q = rng.uniform(-0.3, 1.0, (args.steps + 1, 16))
    base_a = rng.uniform(-0.3, 1.0, (args.steps, 16))
    episodes = [SyntheticEpisode(base_q + 0.001 * k, base_a + 0.001 * k, ramp=0)
                for k in range(args.episodes)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        write_collection_bag(tmp / "bag", episodes)
        write_seconds = time.perf_counter() - started
        started = time.perf_counter()
        result = build_dataset([str(tmp / "bag")], tmp / "ds")
        build_seconds = time.perf_counter() - started
        assert result.transitions == args.episodes * args.steps, result.transitions
        timing = collector_timing(tmp, args.collector_seconds)
    report("dataset_build", {
        "transitions_per_s": round(result.transitions / build_seconds, 1),
        "seconds_total": round(build_seconds, 2),
        "transitions": result.transitions,
        "bag_write_seconds": round(write_seconds, 2),
        "collector_period_ms_mean": timing.get("period_ms_mean"),
        "collector_period_ms_p99": timing.get("period_ms_p99"),
        "collector_period_ms_max": timing.get("period_ms_max"),
        "collector_ticks": timing.get("ticks"),
    })


def collector_timing(tmp: Path, seconds: float) -> dict:
    env = isolated_ros_env()
    port = str(tmp / "leap")
    repo = Path(__file__).resolve().parents[1]
    with Children() as children:
        children.start([bin_path("dexndm-virtual-hand"), "--port", port, "--scene", "chaos_box",
                        "--wrist", "palm_down", "--balls", "50"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_path(port)
        children.start([bin_path("leap_driver"), "--ros-args", "-p", f"port:={port}"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        collector = children.start(
            [bin_path("chaos_box_collector"), "--ros-args", "-p", f"output:={tmp / 'run'}",
             "-p", f"library:={repo / 'config' / 'trajectories' / 'default.npz'}"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(seconds)
        collector.send_signal(2)
        output, _ = collector.communicate(timeout=60)
    for line in output.splitlines():
        if line.startswith("collector timing: "):
            return json.loads(line.removeprefix("collector timing: "))
    return {}


if __name__ == "__main__":
    main()
