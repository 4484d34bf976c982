"""Unattended collection end to end on the virtual hand over real DDS, with faults sped up: an
overload mid-episode is aborted, rebooted by the driver and collected past; a warm room makes the
collector pause with torque off and resume; a motor that keeps overloading is given up on by
name and the run stops by itself; the dataset keeps exactly the completed episodes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import yaml

from conftest import wait_until
from dexndm_collect.dataset.build import build_dataset
from dexndm_control.hand import CANONICAL_POSE, LOWER, UPPER
from dexndm_control.trajectory_library import TrajectoryLibrary
from dexndm_msgs.msg import EpisodeEvent

BIN = Path(sys.executable).parent
STEPS = 30
MOTOR = 5


def _manifest(run: Path) -> dict:
    path = run / "manifest.yaml"
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def test_overload_heat_and_a_hopeless_motor_without_a_person(tmp_path, virtual_hand, processes,
                                                            ros_node):
    port, control = virtual_hand("--model", "firmware", "--thermal-speedup", "200")
    rng = np.random.default_rng(0)
    actions = np.clip(CANONICAL_POSE + np.cumsum(rng.normal(0, 0.01, (2, STEPS, 16)), axis=1),
                      LOWER, UPPER)
    TrajectoryLibrary(actions, actions[:, 0], np.tile([1.0, 0, 0, 0], (2, 1)),
                      np.tile([0, 0, 1.0], (2, 1)),
                      {"wrist_labels": ["palm_down"] * 2}).save(tmp_path / "lib.npz")
    processes.start([sys.executable, str(BIN / "leap_driver"), "--ros-args", "-p",
                     f"port:={port}", "-p", "auto_reboot:=true", "-p",
                     "auto_reboot_cooldown_s:=0.5", "-p", "auto_reboot_max_per_hour:=2"])
    run = tmp_path / "run"
    collector = processes.start([
        sys.executable, str(BIN / "chaos_box_collector"), "--ros-args", "-p", f"output:={run}",
        "-p", f"library:={tmp_path / 'lib.npz'}", "-p", f"steps:={STEPS}", "-p", "ramp_s:=0.3",
        "-p", "thermal_pause_margin_c:=10.0", "-p", "thermal_resume_margin_c:=20.0"])
    events: list[EpisodeEvent] = []
    ros_node.create_subscription(EpisodeEvent, "/dexndm/episode", events.append, 100)

    def started_after(index: int) -> bool:
        return any(e.event == EpisodeEvent.START and e.episode_index > index for e in events)

    # 1. an overload in the middle of an episode: aborted, rebooted, collection goes on
    assert wait_until(lambda: started_after(0), 60, ros_node.spin), collector.stdout.read()
    victim = max(e.episode_index for e in events)
    control({"cmd": "overload", "id": MOTOR})
    assert wait_until(lambda: any(e.event == EpisodeEvent.END and e.episode_index > victim
                                  for e in events), 30, ros_node.spin)
    # an episode before the injection may have ended early on a starved 2-core machine (seen
    # once under a parallel training job: episode 0 aborted too); the overload's is the victim's
    aborted = [e for e in events if e.event == EpisodeEvent.ABORT]
    reasons = [(e.episode_index, e.reason) for e in aborted]
    since = [e for e in aborted if e.episode_index >= victim]
    assert [e.episode_index for e in since] == [victim], reasons
    assert "overload" in since[0].reason and "mf_mcp" in since[0].reason, reasons

    # 2. a warm room (68 C for 5 s; the motors pass 60 C after ~2.3 s and stay below their 70 C
    #    limit): pause with torque off, resume once below 50 C
    control({"cmd": "ambient", "celsius": 68.0, "seconds": 5.0})
    assert wait_until(lambda: control({"cmd": "state"})["registers"]["torque_enable"]
                      == [0] * 16, 30, ros_node.spin), (
        "no thermal pause with torque off", _manifest(run).get("health"),
        control({"cmd": "state"})["temperature_c"])
    before = len(events)
    assert wait_until(lambda: any(e.event == EpisodeEvent.END for e in events[before:]), 40,
                      ros_node.spin), "collection did not resume after the room cooled"
    assert control({"cmd": "state"})["registers"]["torque_enable"] == [1] * 16

    # 3. the motor keeps overloading: one more reboot, then the driver gives up and the run stops
    injected = 0
    while collector.poll() is None and injected < 5:
        registers = control({"cmd": "state"})["registers"]
        if not registers["hardware_error_status"][MOTOR] and registers["torque_enable"][MOTOR]:
            control({"cmd": "overload", "id": MOTOR})
            injected += 1
        wait_until(lambda: collector.poll() is not None, 1.0, ros_node.spin)
    assert collector.wait(timeout=30) == 1, collector.stdout.read()[-3000:]
    assert injected == 2  # the first was rebooted (2 of 2 this hour), the second given up on

    health = _manifest(run)["health"]
    assert "gave up on motor 5 (mf_mcp)" in health["stopped"]
    assert health["reboots"]["per_motor"] == {"motor 5 (mf_mcp)": 2}
    assert health["episodes"]["aborted_by_cause"].get("overload", 0) >= 1
    thermal = health["pauses"]["by_cause"]["thermal"]
    assert thermal["count"] == 1 and 1.0 < thermal["seconds"] < 40.0
    assert max(health["peak_temperature_c"].values()) >= 60.0
    # the report accounts for the collector's time: the parts sum to its whole
    assert abs(sum(health["seconds"].values()) - health["minutes"] * 60) < 1.0

    # every episode is either completed or marked aborted, and the dataset keeps the completed
    manifest = _manifest(run)
    completed = [e["index"] for e in manifest["completed"]]
    listed_aborts = {e["index"]: e["cause"] for e in manifest["aborted"]}
    assert listed_aborts[victim] == "overload"
    starts = {e.episode_index for e in events if e.event == EpisodeEvent.START}
    assert starts <= set(completed) | set(listed_aborts)
    report = build_dataset([str(run)], tmp_path / "shards")
    assert report.episodes_kept == len(completed)
    assert len(report.aborted) == len(listed_aborts)
    assert str(run) in report.collection_health
