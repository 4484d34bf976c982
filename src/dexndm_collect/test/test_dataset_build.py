"""Bag -> transition shards on a bag with known content: exact arrays, aborts, gaps, windows."""

from __future__ import annotations

import numpy as np

from dexndm_collect.dataset.build import build_dataset
from dexndm_collect.dataset.decode import decode_positions
from dexndm_collect.dataset.stats import dataset_stats
from dexndm_collect.dataset.synthetic import SyntheticEpisode, write_collection_bag
from dexndm_control.transitions import read_shard, valid_window_ends


def _episode(rng, steps: int, **kwargs) -> SyntheticEpisode:
    q = rng.uniform(-0.3, 1.0, (steps + 1, 16))
    a = rng.uniform(-0.3, 1.0, (steps, 16))
    return SyntheticEpisode(q, a, **kwargs)


def test_builder_gives_exactly_the_expected_arrays(tmp_path):
    rng = np.random.default_rng(0)
    clean = [_episode(rng, 60), _episode(rng, 45)]
    aborted = _episode(rng, 50, aborted_at=20)
    gapped = _episode(rng, 80, gap_after=29)  # cut into 30 + 50 steps
    write_collection_bag(tmp_path / "bag", [clean[0], aborted, clean[1], gapped])
    report = build_dataset([str(tmp_path / "bag")], tmp_path / "ds", min_steps=20)
    assert report.episodes_kept == 3 and report.pieces == 4
    assert len(report.aborted) == 1 and "bag#1" in report.aborted[0]
    assert report.cut == ["bag#3: 2 pieces"]
    episodes = read_shard(tmp_path / "ds" / "shard_0000.npz").episodes
    assert [len(e.a) for e in episodes] == [60, 45, 30, 50]
    for built, source in zip(episodes[:2], clean, strict=True):
        assert np.array_equal(built.q, source.q.astype(np.float32))
        assert np.array_equal(built.a, source.a.astype(np.float32))
    assert np.array_equal(episodes[2].a, gapped.a[:30].astype(np.float32))
    assert np.array_equal(episodes[3].q, gapped.q[30:].astype(np.float32))
    assert episodes[3].meta["first_step"] == 30 and episodes[0].meta["episode_index"] == 0
    assert np.allclose(np.diff(episodes[0].t), 0.05)


def test_windows_never_cross_boundaries_or_gaps(tmp_path):
    rng = np.random.default_rng(1)
    write_collection_bag(tmp_path / "bag", [_episode(rng, 40), _episode(rng, 40, gap_after=9)])
    build_dataset([str(tmp_path / "bag")], tmp_path / "ds", min_steps=5)
    for episode in read_shard(tmp_path / "ds" / "shard_0000.npz").episodes:
        ends = valid_window_ends(episode, 10, 0.05)
        assert ends.min() >= 9 and ends.max() == len(episode.a) - 1
        assert np.all(np.diff(episode.t) < 0.075)  # no gap inside any stored episode


def test_vectorised_decoding_matches_per_message_decoding():
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import JointState

    from dexndm_control.hand import JOINT_NAMES

    rng = np.random.default_rng(2)
    values = rng.normal(size=(50, 16))
    payloads = [serialize_message(JointState(name=list(JOINT_NAMES), position=v.tolist(),
                                             velocity=[0.0] * 16, effort=[0.0] * 16))
                for v in values]
    reordered = JointState(name=list(reversed(JOINT_NAMES)), position=values[0][::-1].tolist())
    decoded = decode_positions(payloads + [serialize_message(reordered)])
    assert np.array_equal(decoded[:50], values)
    assert np.array_equal(decoded[50], values[0])  # by name, any order


def test_stats_report_coverage(tmp_path):
    rng = np.random.default_rng(3)
    write_collection_bag(tmp_path / "bag", [_episode(rng, 100)])
    build_dataset([str(tmp_path / "bag")], tmp_path / "ds")
    stats = dataset_stats(tmp_path / "ds", tmp_path / "coverage.png")
    assert stats["transitions"] == 100 and set(stats["joints"]) >= {"if_mcp", "th_ipl"}
    low, mid, high = stats["joints"]["if_mcp"]["q_percentiles_rad"]
    assert -0.3 <= low < mid < high <= 1.0
    assert (tmp_path / "coverage.png").read_bytes().startswith(b"\x89PNG")
