"""Bags the builder must not misread: joints by name, empty and partial bags, cut files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sensor_msgs.msg import JointState

from dexndm_collect.bag.cdr import CdrSerializer
from dexndm_collect.bag.typestore import TypeResolver
from dexndm_collect.bag.writer import SplitBagWriter
from dexndm_collect.dataset.build import DatasetBuildError, build_dataset
from dexndm_collect.dataset.synthetic import SyntheticEpisode, write_collection_bag
from dexndm_control.hand import JOINT_NAMES
from dexndm_control.transitions import read_shard
from dexndm_msgs.msg import EpisodeEvent

DEXNDM = str(Path(sys.executable).parent / "dexndm")
PERIOD = 50_000_000
STEPS = 30


def _hand_made_bag(path: Path, q: np.ndarray, a: np.ndarray, command_names: list[list[str]],
                   topics: tuple[str, ...] = ("states", "commands", "events"),
                   end: bool = True) -> None:
    """One episode: states in model order, commands with the given names per step."""
    resolver = TypeResolver()
    cdr = CdrSerializer(resolver)
    with SplitBagWriter(path) as writer:
        def connection(topic: str, msgtype: str):
            return writer.add_connection(topic, msgtype, *resolver.definition(msgtype))

        states = connection("/leap_hand/joint_states", "sensor_msgs/msg/JointState")
        commands = connection("/leap_hand/joint_commands", "sensor_msgs/msg/JointState")
        events = connection("/dexndm/episode", "dexndm_msgs/msg/EpisodeEvent")
        t = 10**18
        if "events" in topics:
            writer.write(events, t, cdr.serialize(EpisodeEvent(event=EpisodeEvent.START)))
        for k in range(len(a)):
            t += PERIOD
            if "states" in topics:
                writer.write(states, t - 1000, cdr.serialize(
                    JointState(name=list(JOINT_NAMES), position=q[k].tolist())))
            if "commands" in topics:
                names = command_names[k]
                index = [JOINT_NAMES.index(n) if n in JOINT_NAMES else i
                         for i, n in enumerate(names)]
                writer.write(commands, t, cdr.serialize(
                    JointState(name=names, position=a[k, index].tolist())))
        if "states" in topics:
            writer.write(states, t + PERIOD - 1000, cdr.serialize(
                JointState(name=list(JOINT_NAMES), position=q[len(a)].tolist())))
        if "events" in topics and end:
            writer.write(events, t + PERIOD, cdr.serialize(
                EpisodeEvent(event=EpisodeEvent.END, steps=len(a))))


def _arrays(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-0.3, 1.0, (STEPS + 1, 16)), rng.uniform(-0.3, 1.0, (STEPS, 16))


def test_permuted_joint_names_are_mapped_by_name(tmp_path):
    q, a = _arrays(0)
    rng = np.random.default_rng(1)
    names = [[JOINT_NAMES[i] for i in rng.permutation(16)] for _ in range(STEPS)]
    _hand_made_bag(tmp_path / "bag", q, a, names)
    build_dataset([str(tmp_path / "bag")], tmp_path / "ds", min_steps=5)
    episode = read_shard(tmp_path / "ds" / "shard_0000.npz").episodes[0]
    assert np.array_equal(episode.a, a.astype(np.float32))
    assert np.array_equal(episode.q, q.astype(np.float32))


def test_partially_named_commands_hold_the_other_joints(tmp_path):
    q, a = _arrays(2)
    names = [list(JOINT_NAMES)] + [list(JOINT_NAMES[:4]) if k % 2 else list(JOINT_NAMES[8:])
                                   for k in range(1, STEPS)]
    _hand_made_bag(tmp_path / "bag", q, a, names)
    build_dataset([str(tmp_path / "bag")], tmp_path / "ds", min_steps=5)
    built = read_shard(tmp_path / "ds" / "shard_0000.npz").episodes[0].a
    expected = a.copy()
    for k in range(1, STEPS):  # hand-computed: the driver keeps unnamed joints' last target
        named = [JOINT_NAMES.index(n) for n in names[k]]
        held = np.setdiff1d(np.arange(16), named)
        expected[k, held] = expected[k - 1, held]
    assert np.array_equal(built, expected.astype(np.float32))
    # step 1 names joints 0-3, step 2 joints 8-15: at step 2 joints 0-3 are step 1's, 4-7 step 0's
    assert np.array_equal(built[2, :4], a[1, :4].astype(np.float32))
    assert np.array_equal(built[2, 4:8], a[0, 4:8].astype(np.float32))


def test_unknown_joint_names_are_refused(tmp_path):
    q, a = _arrays(3)
    _hand_made_bag(tmp_path / "bag", q, a, [list(JOINT_NAMES)] * STEPS)
    build_dataset([str(tmp_path / "bag")], tmp_path / "ok", min_steps=5)  # control: it builds
    other = tmp_path / "other"
    _hand_made_bag(other, q, a, [[f"joint_{i}" for i in range(16)]] * STEPS)
    with pytest.raises(DatasetBuildError, match="unknown joint name"):
        build_dataset([str(other)], tmp_path / "ds")
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("topics, reason", [
    ((), "no message on /leap_hand/joint_states, /leap_hand/joint_commands, /dexndm/episode"),
    (("commands", "events"), "no message on /leap_hand/joint_states"),
    (("states", "commands"), "no message on /dexndm/episode")])
def test_a_bag_with_nothing_usable_fails_and_writes_nothing(tmp_path, topics, reason):
    q, a = _arrays(4)
    _hand_made_bag(tmp_path / "bag", q, a, [list(JOINT_NAMES)] * STEPS, topics=topics)
    with pytest.raises(DatasetBuildError, match="no usable transition") as error:
        build_dataset([str(tmp_path / "bag")], tmp_path / "ds")
    assert reason in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "ds").exists()
    result = subprocess.run([DEXNDM, "dataset", "build", str(tmp_path / "bag"), "-o",
                             str(tmp_path / "ds")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "no usable transition" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_episode_without_end_is_listed_incomplete(tmp_path):
    q, a = _arrays(5)
    _hand_made_bag(tmp_path / "bag", q, a, [list(JOINT_NAMES)] * STEPS, end=False)
    with pytest.raises(DatasetBuildError, match="started, never ended"):
        build_dataset([str(tmp_path / "bag")], tmp_path / "ds")


def _two_episode_bag(path: Path) -> None:
    rng = np.random.default_rng(6)
    write_collection_bag(path, [SyntheticEpisode(rng.uniform(-0.3, 1, (101, 16)),
                                                 rng.uniform(-0.3, 1, (100, 16)))
                                for _ in range(2)])


def test_a_truncated_bag_is_refused_unless_partial_is_allowed(tmp_path):
    bag = tmp_path / "bag"
    _two_episode_bag(bag)
    whole = build_dataset([str(bag)], tmp_path / "whole", min_steps=5)
    assert whole.episodes_kept == 2
    file = next(bag.glob("*.mcap"))
    data = file.read_bytes()
    file.write_bytes(data[:int(len(data) * 0.55)])  # a copy cut short; metadata.yaml stays
    with pytest.raises(DatasetBuildError, match=r"cut short.*dexndm reindex .*--allow-partial"):
        build_dataset([str(bag)], tmp_path / "ds")
    assert not (tmp_path / "ds").exists()
    result = subprocess.run([DEXNDM, "dataset", "build", str(bag), "-o", str(tmp_path / "ds")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--allow-partial" in result.stderr
    partial = build_dataset([str(bag)], tmp_path / "ds", min_steps=5, allow_partial=True)
    assert partial.episodes_kept == 1 and "cut short" in partial.per_bag[0].partial
    assert partial.per_bag[0].transitions == 100  # the first episode, whole
    assert "PARTIAL" in partial.summary()
