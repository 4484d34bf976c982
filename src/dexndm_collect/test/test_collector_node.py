"""chaos_box_collector against the virtual hand over real DDS: exact commands, bags that
independent readers (rosbags, the `mcap` library) read, SIGINT/SIGKILL mid-episode and resume."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import numpy as np
import yaml
from rclpy.serialization import deserialize_message
from rosbags.rosbag2 import Reader
from sensor_msgs.msg import JointState

from conftest import wait_until
from dexndm_collect.dataset.build import build_dataset
from dexndm_control.episode_plan import episode_noise
from dexndm_control.hand import CANONICAL_POSE, JOINT_NAMES, LOWER, UPPER
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


def _start(processes, port: str, run: Path, library: Path, episodes: int):
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
    completed = [e["index"] for e in manifest["completed"]]
    commands, events = _read(tmp_path / "run" / "bag_000")
    _assert_only_reported_aborts(events, completed)
    assert len(completed) == 3
    ends = [(t, e) for t, e in events if e.event == EpisodeEvent.END]
    assert [e.episode_index for _, e in ends] == completed
    assert all(e.steps == STEPS for _, e in ends)
    times = np.array([t for t, _ in commands])
    for t_end, event in ends:
        sent = [c for t, c in commands if t <= t_end][-STEPS:]
        row = event.episode_index % 3
        enabled, noise = episode_noise(event.seed, 0.5, 0.01, (STEPS, 16))
        assert enabled == event.noise_enabled
        expected = np.clip(library.actions[row] + noise, LOWER, UPPER)
        assert np.allclose([c.position for c in sent], expected, atol=1e-6)
    assert np.all(np.diff(times) > 0)


def _assert_only_reported_aborts(events: list, completed: list[int]) -> None:
    """Episode indices count up and are never reused; one that did not complete was aborted,
    and the bag says why (on a loaded machine a joint-state gap of more than 3 control periods
    aborts an episode, as it must)."""
    aborted = {e.episode_index: e.reason for _, e in events if e.event == EpisodeEvent.ABORT}
    assert completed == sorted(set(completed)) and all(aborted.values()), aborted
    started = {e.episode_index for _, e in events if e.event == EpisodeEvent.START}
    assert started - set(completed) <= set(aborted), (started, completed, aborted)


def _independent_reads(bag: Path) -> tuple[dict, dict]:
    """Every message of every topic, decoded by rosbags' AnyReader and by the `mcap` library
    with mcap-ros2-support: {topic: [(log time, message)]} from each."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory
    from rosbags.highlevel import AnyReader

    by_rosbags: dict = {}
    with AnyReader([bag]) as reader:
        for connection, timestamp, raw in reader.messages():
            by_rosbags.setdefault(connection.topic, []).append(
                (timestamp, reader.deserialize(raw, connection.msgtype)))
    by_mcap: dict = {}
    for file in sorted(bag.glob("*.mcap")):
        with file.open("rb") as stream:
            reader = make_reader(stream, decoder_factories=[DecoderFactory()])
            for _, channel, message, decoded in reader.iter_decoded_messages():
                by_mcap.setdefault(channel.topic, []).append((message.log_time, decoded))
    return by_rosbags, by_mcap


def test_collector_bags_read_identically_with_rosbags_and_mcap(tmp_path, virtual_hand,
                                                                processes, ros_domain):
    port, _ = virtual_hand()
    _library(tmp_path / "lib.npz")
    processes.start([sys.executable, str(BIN / "leap_driver"), "--ros-args",
                     "-p", f"port:={port}"])
    collector = _start(processes, port, tmp_path / "run", tmp_path / "lib.npz", 1)
    assert collector.wait(timeout=90) == 0, collector.stdout.read()[-3000:]
    bag = tmp_path / "run" / "bag_000"
    by_rosbags, by_mcap = _independent_reads(bag)  # rosbags checks every CDR size exactly
    commands, events = _read(bag)
    topics = {"/leap_hand/joint_states", "/leap_hand/joint_commands", "/dexndm/episode",
              "/diagnostics"}
    assert set(by_rosbags) == set(by_mcap) == topics
    for topic in topics:
        assert [t for t, _ in by_rosbags[topic]] == [t for t, _ in by_mcap[topic]], topic
    for name in ("/leap_hand/joint_states", "/leap_hand/joint_commands"):
        for (_, one), (_, other) in zip(by_rosbags[name], by_mcap[name], strict=True):
            assert list(one.name) == list(other.name) == list(JOINT_NAMES)
            assert np.array_equal(one.position, other.position)
            assert np.array_equal(one.velocity, other.velocity)
    assert [list(m.position) for _, m in by_rosbags["/leap_hand/joint_commands"]] == \
        [list(c.position) for _, c in commands]  # and what rclpy reads
    assert [(m.event, m.episode_index, m.seed, m.trajectory_id, m.steps)
            for _, m in by_mcap["/dexndm/episode"]] == \
        [(e.event, e.episode_index, e.seed, e.trajectory_id, e.steps) for _, e in events]
    statuses = [s.name for _, m in by_mcap["/diagnostics"] for s in m.status]
    assert any("if_mcp" in name for name in statuses)


def _completed(run: Path) -> list[int]:
    manifest = run / "manifest.yaml"
    if not manifest.exists():
        return []
    return [e["index"] for e in yaml.safe_load(manifest.read_text())["completed"]]


def _inside_next_episode(ros_node, run: Path, collector) -> None:
    """Wait until the collector has completed one episode and replays the next one: its START
    seen on /dexndm/episode and 5 commands of it on /leap_hand/joint_commands."""
    commands_seen = [0]  # joint commands received so far
    start_at: dict[int, int] = {}  # episode index -> commands seen when its START arrived

    def on_event(event: EpisodeEvent) -> None:
        if event.event == EpisodeEvent.START:
            start_at[event.episode_index] = commands_seen[0]

    ros_node.create_subscription(EpisodeEvent, "/dexndm/episode", on_event, 100)
    ros_node.create_subscription(JointState, "/leap_hand/joint_commands",
                                 lambda _: commands_seen.__setitem__(0, commands_seen[0] + 1),
                                 1000)

    def replaying() -> bool:
        done = _completed(run)
        if not done or done[-1] + 1 not in start_at:
            return False
        # the next episode's own commands: past its 0.3 s ramp (6 ticks) and 5 replay steps
        return commands_seen[0] - start_at[done[-1] + 1] >= 6 + 5

    assert wait_until(replaying, 90, spin=ros_node.spin), collector.stdout.read()[-2000:]


def _collecting_until_stopped(tmp_path, virtual_hand, processes, ros_node):
    """Virtual hand, driver and a collector with no episode limit, caught inside an episode."""
    port, _ = virtual_hand()
    _library(tmp_path / "lib.npz")
    processes.start([sys.executable, str(BIN / "leap_driver"), "--ros-args",
                     "-p", f"port:={port}"])
    run = tmp_path / "run"
    collector = _start(processes, port, run, tmp_path / "lib.npz", 0)
    _inside_next_episode(ros_node, run, collector)
    return port, run, collector


def test_sigint_mid_episode_records_an_abort(tmp_path, virtual_hand, processes, ros_node):
    _, run, collector = _collecting_until_stopped(tmp_path, virtual_hand, processes, ros_node)
    collector.send_signal(signal.SIGINT)
    assert collector.wait(timeout=30) == 0
    done = _completed(run)
    _, events = _read(run / "bag_000")
    _assert_only_reported_aborts(events, done)
    aborts = [e for _, e in events if e.event == EpisodeEvent.ABORT]
    assert (aborts[-1].episode_index, aborts[-1].reason) == (done[-1] + 1, "shutdown")
    report = build_dataset([str(run)], tmp_path / "ds", min_steps=5)
    assert report.aborted[-1] == f"bag_000#{done[-1] + 1}: shutdown" and not report.incomplete
    assert len(report.aborted) == len(aborts) and report.episodes_kept == len(done)


def test_sigkill_mid_episode_then_resume(tmp_path, virtual_hand, processes, ros_node):
    port, run, first = _collecting_until_stopped(tmp_path, virtual_hand, processes, ros_node)

    def completed() -> list[int]:
        return _completed(run)

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    before = completed()
    assert not (run / "bag_000" / "metadata.yaml").exists()
    second = _start(processes, port, run, tmp_path / "lib.npz", 2)
    assert second.wait(timeout=90) == 0, second.stdout.read()[-3000:]
    after = completed()
    assert after[:len(before)] == before and len(after) == len(before) + 2
    assert after == sorted(set(after))  # no index twice
    # the bag written before the kill was recovered and reads
    assert (run / "bag_000" / "metadata.yaml").exists() and (run / "bag_000.orig").is_dir()
    _, events = _read(run / "bag_000")
    assert {e.episode_index for _, e in events if e.event == EpisodeEvent.END} == set(before)
    _, events = _read(run / "bag_001")
    assert [e.episode_index for _, e in events if e.event == EpisodeEvent.END] == after[-2:]
    # the resumed run continues after the last completed episode; an index it skips belongs to
    # an attempt it aborted (indices are never reused), and its bag says so
    aborted = {e.episode_index: e.reason for _, e in events if e.event == EpisodeEvent.ABORT}
    assert set(range(before[-1] + 1, after[len(before)])) <= set(aborted), (before, after)
    assert all(aborted.values()), aborted  # every abort says why
