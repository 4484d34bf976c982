"""A recorded run's gap meter and hand: `dexndm view --bag` plays a rosbag2 recording (written as
the recorder writes it) into the view, where a Foxglove protocol client sees the recorded
readings, targets and gap meter; `dexndm dataset stats BAG` reports and plots the gap meter."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from rclpy.serialization import serialize_message
from sensor_msgs.msg import JointState

from conftest import drift_dynamics_bundle, free_port, wait_until
from dexndm_collect.bag.typestore import TypeResolver
from dexndm_collect.bag.writer import SplitBagWriter
from dexndm_control.core.controller import ControllerConfig
from dexndm_control.core.gap_meter import calibrate
from dexndm_control.hand import JOINT_NAMES
from dexndm_control.hand_model import HandKinematics
from dexndm_control.view.bag_source import play
from dexndm_control.view.client import FoxgloveClient
from dexndm_control.view.server import GAP_TOPIC, SCENE_TOPIC, TF_TOPIC, ViewConfig, ViewCore
from dexndm_msgs.msg import GapMeter

BIN = Path(sys.executable).parent
START_NS = 1_700_000_000_000_000_000


def _write_bag(path: Path, ticks: int = 20, warn_from: int = 0,
               pause_after: int | None = None) -> list[int]:
    """``ticks`` 20 Hz readings (if_mcp closing), targets and gap meter messages (if_mcp at
    WARN, 6 mrad against 5, from tick ``warn_from``; 2 mrad and OK before; its one-step error
    alternates +-4 mrad; th_axl's motor at its cap from then on, delivering 60 % of it); a 1 s
    pause (a hold) after tick ``pause_after``."""
    resolver = TypeResolver()
    stamps = []
    with SplitBagWriter(path) as writer:
        def connection(topic: str, msgtype: str):
            return writer.add_connection(topic, msgtype, *resolver.definition(msgtype))

        states = connection("/leap_hand/joint_states", "sensor_msgs/msg/JointState")
        commands = connection("/leap_hand/joint_commands", "sensor_msgs/msg/JointState")
        meter = connection("/dexndm/gap_meter", "dexndm_msgs/msg/GapMeter")
        for tick in range(ticks):
            paused = pause_after is not None and tick > pause_after
            stamp = START_NS + tick * 50_000_000 + paused * 1_000_000_000
            q = np.zeros(16)
            q[0] = 0.05 * tick
            reading = JointState(name=list(JOINT_NAMES), position=q.tolist())
            reading.header.stamp.sec, reading.header.stamp.nanosec = divmod(stamp, 10**9)
            writer.write(states, stamp, serialize_message(reading))
            writer.write(commands, stamp + 1000, serialize_message(
                JointState(name=list(JOINT_NAMES), position=(q + 0.1).tolist())))
            warned = tick >= warn_from
            gap = GapMeter(level=int(warned), joints_out=["if_mcp"] if warned else [])
            gap.rolling_mae[0], gap.warn_threshold[:], gap.error_threshold[:] = \
                0.006 if warned else 0.002, [0.005] * 16, [0.01] * 16
            gap.offset_warn_threshold[:], gap.offset_error_threshold[:] = [0.02] * 16, [0.04] * 16
            gap.offset[1] = 0.003  # if_rot: a standing offset, far below its warn level
            gap.error[0] = 0.004 if tick % 2 else -0.004
            # th_axl at its current cap from the warning on, delivering 60 % of it
            gap.cap_warn_share, gap.cap_error_share = 0.7, 0.4
            gap.cap_delivered[:] = [float("nan")] * 16
            gap.cap_delivered[13] = 0.6 if warned else float("nan")
            writer.write(meter, stamp + 2000, serialize_message(gap))
            stamps.append(stamp)
    return stamps


def test_a_recorded_run_plays_into_the_view(processes, tmp_path):
    stamps = _write_bag(tmp_path / "bag")
    port = free_port()
    process = processes.start([str(BIN / "dexndm"), "view", "--bag", str(tmp_path / "bag"),
                               "--loop", "--port", str(port), "--page-port", "-1"])
    clients = []

    def connected() -> bool:
        assert process.poll() is None, process.stdout.read()
        try:
            clients.append(FoxgloveClient(port, [SCENE_TOPIC, GAP_TOPIC, TF_TOPIC]))
        except OSError:
            return False
        return True

    assert wait_until(connected, 30, period=0.2)
    client = clients[0]
    seen = {}
    for _ in range(40):  # a 1 s bag, looped: every reading comes round again
        stamp, message = client.receive(TF_TOPIC)
        seen[stamp] = {t["child_frame_id"]: t for t in message["transforms"]}
        if len(seen) >= 5:
            break
    assert set(seen) <= set(stamps) and len(seen) >= 5
    kinematics = HandKinematics()
    for stamp, frames in seen.items():  # if_mcp closes 0.05 rad a tick; the targets lead by 0.1
        tick = stamps.index(stamp)
        if tick == 0:
            continue  # a loop's first reading still shows the last loop's targets
        q, sent = np.zeros(16), np.zeros(16)
        q[0] = 0.05 * tick
        # the ghost is the target in force at the reading: the one sent after the previous one
        sent[0] = 0.05 * (tick - 1) + 0.1
        for frame, joints in (("if_bs", q), ("targets/if_bs", sent)):
            w, x, y, z = kinematics.body_poses(joints)[1][1]  # if_bs, the body if_mcp turns
            assert [frames[frame]["rotation"][k] for k in "wxyz"] == \
                pytest.approx([w, x, y, z], abs=2e-6)
    _, geometry = client.receive(SCENE_TOPIC)  # the links again within geometry_period_s
    assert {e["id"] for e in geometry["entities"]} >= {"hand/palm", "targets/palm"}
    _, record = client.receive(GAP_TOPIC)
    assert record["joints_out"] == ["if_mcp"] and record["ratio"]["if_mcp"] == pytest.approx(1.2)
    client.close()


def test_a_reading_the_rate_held_back_is_not_drawn_with_a_later_target(tmp_path, monkeypatch):
    """On a busy host the command after a reading can come when the scene interval (33 ms at
    30 Hz) has passed and the reading's own scene had not. The clock here steps 4.5 ms a read,
    two reads a message: a reading 27 ms after the last scene is held back, its command comes at
    36 ms. A scene must still pair its reading with the targets in force at that reading."""
    _write_bag(tmp_path / "bag")
    core = ViewCore(ViewConfig(rate_hz=30.0))
    drawn = []
    transforms = core.scene.transforms

    def recording(stamp, q, targets, wrist):
        drawn.append((q[0], None if targets is None else targets[0]))
        return transforms(stamp, q, targets, wrist)

    clock = iter(np.arange(1_000_000) * 0.0045)
    monkeypatch.setattr(core.scene, "transforms", recording)
    monkeypatch.setattr(time, "monotonic", lambda: float(next(clock)))
    play(core, tmp_path / "bag", rate=1e6)
    assert len(drawn) >= 5
    for q, target in drawn:
        tick = round(q / 0.05)
        if tick == 0:
            assert target is None  # no command yet
        else:
            assert target == pytest.approx(0.05 * (tick - 1) + 0.1, abs=1e-12)


def test_a_path_that_is_no_bag_is_named(tmp_path):
    result = subprocess.run([str(BIN / "dexndm"), "view", "--bag", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "neither a rosbag2 folder" in result.stderr and "Traceback" not in result.stderr


def test_dataset_stats_reports_what_the_gap_meter_saw_in_a_bag(tmp_path):
    _write_bag(tmp_path / "bag", ticks=20, warn_from=15)
    result = subprocess.run([str(BIN / "dexndm"), "dataset", "stats", str(tmp_path / "bag")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "20 ticks over 0.95 s; OK 75 %, WARN 25 %, ERROR 0 %; worst if_mcp" in result.stdout
    # if_mcp: |error| 4 mrad every tick, motion error at most 6 mrad, out (6 >= 5) on 5 of 20
    # ticks, ratio at most 1.2; if_rot: its 3 mrad offset is 0.15 of its 20 mrad warn level
    assert re.search(r"if_mcp\s+4\.00\s+6\.00\s+0\.00\s+25%\s+1\.20\s+-\n", result.stdout), \
        result.stdout
    assert re.search(r"if_rot\s+0\.00\s+0\.00\s+3\.00\s+0%\s+0\.15\s+-\n", result.stdout), \
        result.stdout
    # th_axl: out by the torque-cap check on the same 5 ticks, 0.7 / 0.6 of its warn share
    assert re.search(r"th_axl\s+0\.00\s+0\.00\s+0\.00\s+25%\s+1\.17\s+60\n", result.stdout), \
        result.stdout
    assert (tmp_path / "bag_gap_meter.png").stat().st_size > 10_000
    assert sorted(p.name for p in (tmp_path / "bag").iterdir())[0] == "bag_0.mcap"
    assert "gap_meter.png" not in {p.name for p in (tmp_path / "bag").iterdir()}


def test_dataset_stats_names_a_bag_without_the_gap_meter(tmp_path):
    resolver = TypeResolver()
    with SplitBagWriter(tmp_path / "bag") as writer:
        states = writer.add_connection("/leap_hand/joint_states", "sensor_msgs/msg/JointState",
                                       *resolver.definition("sensor_msgs/msg/JointState"))
        writer.write(states, START_NS, serialize_message(JointState(name=list(JOINT_NAMES),
                                                                    position=[0.0] * 16)))
    result = subprocess.run([str(BIN / "dexndm"), "dataset", "stats", str(tmp_path / "bag")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "holds no /dexndm/gap_meter messages" in result.stderr


def test_gap_calibrate_takes_the_meter_thresholds_from_a_bag(tmp_path):
    _write_bag(tmp_path / "bag", ticks=80, pause_after=39)
    bundle = drift_dynamics_bundle(tmp_path / "dynamics", [1e-3] * 16)
    result = subprocess.run([str(BIN / "dexndm"), "dataset", "gap-calibrate", str(tmp_path / "bag"),
                             "--bundle", str(bundle), "--window-s", "0.2", "--offset-s", "0.25"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "72 judged ticks in 2 stretches" in result.stdout  # the pause splits the run
    stored = yaml.safe_load((bundle / "bundle.yaml").read_text())["gap_meter"]["calibration"]
    errors = np.zeros((40, 16))
    errors[:, 0] = np.where(np.arange(40) % 2, 0.004, -0.004)
    expected = calibrate([errors, errors], window=4, offset_ticks=5)
    assert stored["data"] == ["bag"] and stored["ticks"] == 72
    assert stored["motion_warn"] == pytest.approx(expected["motion_warn"])
    assert stored["offset_error"] == pytest.approx(expected["offset_error"])
    # the controller's meter with the same settings takes these thresholds
    meter = ControllerConfig(base_bundle="unused", dynamics_bundle=str(bundle),
                             gap_window_s=0.2, gap_offset_s=0.25).gap_meter()
    assert np.allclose(meter.warn, expected["motion_warn"])
    # and a bag without the meter's topic is refused by name
    bare = subprocess.run([str(BIN / "dexndm"), "dataset", "gap-calibrate", str(tmp_path / "x"),
                           "--bundle", str(bundle)], capture_output=True, text=True, timeout=120)
    assert bare.returncode != 0

