"""chaos_box_collector against the virtual hand over real DDS: exact commands, kill and resume."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from rclpy.serialization import deserialize_message
from rosbags.rosbag2 import Reader
from sensor_msgs.msg import JointState

from conftest import wait_until
from dexndm_collect.core.chaos_box import episode_noise
from dexndm_control.hand import CANONICAL_POSE, LOWER, UPPER
from dexndm_control.trajectory_library import TrajectoryLibrary
from dexndm_msgs.msg import EpisodeEvent

BIN = Path(sys.executable).parent
STEPS = 30


def _library(path: Path) -> TrajectoryLibrary:
    rng = np.random.default_rng(0)
    actions = np.clip(CANONICAL_POSE + np.cumsum(rng.normal(0, 0.01, (3, STEPS, 16)), axis=1),
                      LOWER, UPPER)
    library = TrajectoryLibrary(actions, actions[:, 0], np.tile([1.0, 0, 0, 0], (3, 1)),
                                np.tile([0, 0, 1.0], (3, 1)), {"wrist_labels": ["palm_down"] * 3})
    library.save(path)
    return library


def _start(processes, port: str, run: Path, library: Path, episodes: int):  # noqa: ANN001
    return processes.start([sys.executable, str(BIN / "chaos_box_collector"), "--ros-args",
                            "-p", f"output:={run}", "-p", f"library:={library}",
                            "-p", f"episodes:={episodes}", "-p", f"steps:={STEPS}",
                            "-p", "ramp_s:=0.3", "-p", "noise_probability:=0.5"])


def _read(bag: Path) -> tuple[list, list]:
    commands, events = [], []
    with Reader(bag) as reader:
        for connection, timestamp, raw in reader.messages():
            if connection.topic == "/leap_hand/joint_commands":
                commands.append((timestamp, deserialize_message(raw, JointState)))
            elif connection.topic == "/dexndm/episode":
                events.append((timestamp, deserialize_message(raw, EpisodeEvent)))
    return commands, events


def test_collects_exactly_the_planned_episodes(tmp_path, virtual_hand, processes, ros_domain):
    port, _ = virtual_hand()
    library = _library(tmp_path / "lib.npz")
    processes.start([sys.executable, str(BIN / "leap_driver"), "--ros-args",
                     "-p", f"port:={port}"])
    collector = _start(processes, port, tmp_path / "run", tmp_path / "lib.npz", 3)
    assert collector.wait(timeout=90) == 0, collector.stdout.read()[-3000:]
    manifest = yaml.safe_load((tmp_path / "run" / "manifest.yaml").read_text())
    assert [e["index"] for e in manifest["completed"]] == [0, 1, 2]
    commands, events = _read(tmp_path / "run" / "bag_000")
    ends = [(t, e) for t, e in events if e.event == EpisodeEvent.END]
    assert len(ends) == 3 and all(e.steps == STEPS for _, e in ends)
    times = np.array([t for t, _ in commands])
    for t_end, event in ends:
        sent = [c for t, c in commands if t <= t_end][-STEPS:]
        row = event.episode_index % 3
        enabled, noise = episode_noise(event.seed, 0.5, 0.01, (STEPS, 16))
        assert enabled == event.noise_enabled
        expected = np.clip(library.actions[row] + noise, LOWER, UPPER)
        assert np.allclose([c.position for c in sent], expected, atol=1e-6)
    assert np.all(np.diff(times) > 0)


def test_sigkill_mid_episode_then_resume(tmp_path, virtual_hand, processes, ros_domain):
    port, _ = virtual_hand()
    _library(tmp_path / "lib.npz")
    processes.start([sys.executable, str(BIN / "leap_driver"), "--ros-args",
                     "-p", f"port:={port}"])
    run = tmp_path / "run"
    first = _start(processes, port, run, tmp_path / "lib.npz", 0)
    manifest = run / "manifest.yaml"

    def completed() -> list[int]:
        if not manifest.exists():
            return []
        return [e["index"] for e in yaml.safe_load(manifest.read_text())["completed"]]

    assert wait_until(lambda: len(completed()) >= 1, 60), first.stdout.read()[-2000:]
    time.sleep(0.6)  # inside the next episode
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    before = completed()
    assert not (run / "bag_000" / "metadata.yaml").exists()
    second = _start(processes, port, run, tmp_path / "lib.npz", 2)
    assert second.wait(timeout=90) == 0, second.stdout.read()[-3000:]
    after = completed()
    assert after[:len(before)] == before and len(after) == len(before) + 2
    assert after == sorted(set(after))  # no index twice
    assert after[len(before)] == before[-1] + 1
    # the bag written before the kill was recovered and reads
    assert (run / "bag_000" / "metadata.yaml").exists() and (run / "bag_000.orig").is_dir()
    _, events = _read(run / "bag_000")
    assert {e.episode_index for _, e in events if e.event == EpisodeEvent.END} == set(before)
    _, events = _read(run / "bag_001")
    assert [e.episode_index for _, e in events if e.event == EpisodeEvent.END] == after[-2:]
