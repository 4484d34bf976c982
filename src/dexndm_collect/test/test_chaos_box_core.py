"""Chaos-box collection logic without ROS: planning, noise from seeds, phases, aborts, resume."""

from __future__ import annotations

import numpy as np
import pytest

from dexndm_collect.core.chaos_box import (
    ABORT,
    END,
    START,
    CollectorConfig,
    CollectorCore,
)
from dexndm_collect.core.health import HandHealth
from dexndm_control.episode_plan import episode_noise
from dexndm_control.errors import DexndmError
from dexndm_control.hand import CANONICAL_POSE, JOINT_INDEX, LOWER, UPPER
from dexndm_control.trajectory_library import LibraryError, TrajectoryLibrary
from dexndm_control.waves import wave_targets


def _library(n: int = 3, steps: int = 10) -> TrajectoryLibrary:
    base = np.clip(CANONICAL_POSE + np.linspace(0, 0.1, steps)[None, :, None]
                   * np.arange(1, n + 1)[:, None, None], LOWER, UPPER)
    return TrajectoryLibrary(base, base[:, 0], np.tile([1.0, 0, 0, 0], (n, 1)),
                             np.tile([0, 0, 1.0], (n, 1)), {"wrist_labels": ["palm_down"] * n})


def _core(tmp_path, **overrides) -> CollectorCore:
    # torque switching for thermal pauses is tested in test_unattended_core.py
    overrides.setdefault("thermal_pause_torque_off", False)
    config = CollectorConfig(output=str(tmp_path), library="lib.npz", ramp_s=0.1, **overrides)
    return CollectorCore(config, tmp_path, _library())


def _run_episode(core: CollectorCore, t0: float = 0.0):
    commands, events, t = [], [], t0
    q = np.zeros(16)
    while True:
        tick = core.tick(t, t, q, None)
        events += tick.events
        if tick.command is not None:
            commands.append(tick.command)
        t += 0.05
        if any(e.kind == END for e in tick.events):
            return commands, events, t


def test_episode_is_ramp_then_library_plus_regenerable_noise(tmp_path):
    core = _core(tmp_path, noise_probability=1.0, noise_sigma=0.01)
    commands, events, _ = _run_episode(core)
    assert [e.kind for e in events] == [START, END]
    plan = events[0].plan
    assert len(commands) == 2 + 10  # 0.1 s ramp at 20 Hz, then the 10 library steps
    assert np.allclose(commands[1], plan.initial_q)
    enabled, noise = episode_noise(plan.seed, 1.0, 0.01, (10, 16))
    assert enabled and plan.noise_enabled
    expected = np.clip(_library().actions[0] + noise, LOWER, UPPER)
    assert np.allclose(np.array(commands[2:]), expected, atol=1e-6)
    assert 0.005 < np.std(np.array(commands[2:]) - _library().actions[0]) < 0.02


def test_noise_is_on_about_half_the_time_and_reproducible(tmp_path):
    core = _core(tmp_path)
    flags = [core.plan_episode(i).noise_enabled for i in range(400)]
    assert 0.4 < np.mean(flags) < 0.6
    again = _core(tmp_path)
    assert np.array_equal(core.plan_episode(17).targets, again.plan_episode(17).targets)
    assert core.plan_episode(17).seed != core.plan_episode(18).seed


def test_stale_states_and_diagnostics_abort(tmp_path):
    core = _core(tmp_path)
    tick = core.tick(0.0, 0.0, np.zeros(16), None)
    assert tick.events[0].kind == START
    for t in (0.05, 0.1, 0.15):
        assert core.tick(t, 0.0, np.zeros(16), None).events == []
    tick = core.tick(0.2, 0.0, np.zeros(16), None)  # states 0.2 s old, every tick on time
    assert tick.events[0].kind == ABORT and "stale" in tick.events[0].reason
    assert tick.command is None
    core.tick(2.0, 2.0, np.zeros(16), None)
    tick = core.tick(2.05, 2.05, np.zeros(16), HandHealth(("motor 3: overload",)))
    assert tick.events[0].kind == ABORT and "overload" in tick.events[0].reason


def test_manifest_resume_never_repeats_an_episode(tmp_path):
    core = _core(tmp_path, episodes=2)
    t = 0.0
    for _ in range(2):
        _, events, t = _run_episode(core, t)
        core.record_completed(events[-1].plan, events[-1].steps, "bag_000")
    assert core.tick(t, t, np.zeros(16), None).events == [] and core.finished
    restarted = _core(tmp_path, episodes=2)
    assert restarted.next_index == 2
    _, events, _ = _run_episode(restarted)
    assert events[0].plan.index == 2
    assert [e["index"] for e in restarted.manifest.completed] == [0, 1]


def test_stops_when_disk_space_runs_low(tmp_path):
    core = _core(tmp_path, min_free_bytes=10**18)
    assert core.tick(0.0, 0.0, np.zeros(16), None).command is None
    assert core.finished and "free" in core.finish_reason


def test_waves_move_one_joint_around_mid_range(tmp_path):
    rng = np.random.default_rng(0)
    targets = wave_targets("square_noise", 4, 400, 0.05, rng)
    middle = (LOWER + UPPER) / 2
    others = [j for j in range(16) if j != 4]
    assert np.allclose(targets[:, others], middle[others])
    assert np.ptp(targets[:, 4]) > 0.9
    core = _core(tmp_path, mode="waves", steps=50)
    moved = {int(np.argmax(np.ptp(core.plan_episode(i).targets, axis=0))) for i in range(60)}
    assert JOINT_INDEX["if_rot"] not in moved and len(moved) == 13


def test_bad_configuration_and_library_are_explained():
    with pytest.raises(DexndmError, match="needs a trajectory library"):
        CollectorConfig(output="x")
    with pytest.raises(LibraryError, match="leave the joint limits"):
        TrajectoryLibrary(np.full((1, 5, 16), 9.0), np.zeros((1, 16)), np.zeros((1, 4)),
                          np.zeros((1, 3)))


def test_a_late_tick_judges_the_hand_on_the_next_tick(tmp_path):
    """When the collector itself stalls, the states queued behind the late tick are unread: it
    does not abort on that tick, only if the next one still finds them old."""
    core = _core(tmp_path)
    assert core.tick(0.0, 0.0, np.zeros(16), None).events[0].kind == START
    late = core.tick(0.3, 0.0, np.zeros(16), None)  # 0.3 s since the last tick and the state
    assert late.events == [] and late.command is not None
    fresh = core.tick(0.31, 0.305, np.zeros(16), None)  # the queued states were read
    assert fresh.events == [] and fresh.command is not None
    core.tick(0.6, 0.305, np.zeros(16), None)  # late again, stale again: spared once more
    still = core.tick(0.62, 0.305, np.zeros(16), None)  # on time, still stale: the hand is gone
    assert still.events[0].kind == ABORT and "stale" in still.events[0].reason


def test_held_noise_is_piecewise_constant_and_white_noise_unchanged(tmp_path):
    # noise_hold_steps 1 draws exactly what the paper's law drew before the setting existed
    white = _core(tmp_path, noise_probability=1.0).plan_episode(3)
    _, expected = episode_noise(white.seed, 1.0, 0.01, (10, 16))
    rng = np.random.default_rng(white.seed)
    rng.random()  # the noise flag's draw
    assert np.array_equal(expected, rng.normal(0.0, 0.01, (10, 16)))
    held = _core(tmp_path, noise_probability=1.0, noise_sigma=0.03,
                 noise_hold_steps=4).plan_episode(3)
    noise = held.targets - _library().actions[held.index % 3]
    inside = (held.targets > LOWER + 1e-9) & (held.targets < UPPER - 1e-9)  # not clipped
    for start, stop in ((0, 4), (4, 8), (8, 10)):
        block = noise[start:stop]
        assert np.allclose(block[:, inside[start]] - block[0, inside[start]], 0.0, atol=1e-12)
    assert not np.allclose(noise[3], noise[4])  # a new draw every 4 steps
    assert 0.015 < np.std(noise[:, inside.all(axis=0)]) < 0.05
    with pytest.raises(DexndmError, match="noise_hold_steps"):
        _core(tmp_path, noise_hold_steps=0)
