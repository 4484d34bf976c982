"""`dexndm record` over real DDS: exact contents, SIGTERM, SIGKILL and recovery."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from rosbags.rosbag2 import Reader
from sensor_msgs.msg import JointState

from conftest import wait_until
from dexndm_collect.bag.info import read_bag_info

DEXNDM = str(Path(sys.executable).parent / "dexndm")
TOPIC = "/leap_hand/joint_states"


def _message(i: int) -> JointState:
    message = JointState()
    message.header.stamp.sec = 1000 + i
    message.header.frame_id = "leap"
    message.name = [f"j{k}" for k in range(16)]
    message.position = [i + k / 100.0 for k in range(16)]
    message.velocity = [-float(i)] * 16
    message.effort = [0.25] * 16
    return message


def _start_recorder(processes, bag: Path, *extra: str):
    return processes.start([DEXNDM, "record", "-o", str(bag), TOPIC, *extra])


def _publish(node, count: int, rate_hz: float = 500.0) -> None:
    qos = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
    publisher = node.create_publisher(JointState, TOPIC, qos)
    assert wait_until(lambda: publisher.get_subscription_count() > 0, 20, spin=node.spin), \
        "the recorder never subscribed"
    for i in range(count):
        publisher.publish(_message(i))
        node.spin(1.0 / rate_hz)


def _on_disk(bag: Path) -> int:
    """Messages the recorder has flushed to the bag's files so far (scanned, bag unclosed)."""
    if not list(bag.glob("*.mcap")):
        return 0
    return read_bag_info(bag).message_count


def _read(bag: Path) -> list[JointState]:
    with Reader(bag) as reader:
        return [deserialize_message(raw, JointState) for _, _, raw in reader.messages()]


def test_records_exactly_what_another_process_published(tmp_path, ros_node, processes):
    bag = tmp_path / "bag"
    recorder = _start_recorder(processes, bag)
    _publish(ros_node, 300)
    assert wait_until(lambda: _on_disk(bag) >= 300, 20)  # received (flushed every second)
    recorder.send_signal(signal.SIGINT)
    assert recorder.wait(timeout=20) == 0, recorder.stdout.read()
    messages = _read(bag)
    assert len(messages) == 300
    assert messages == [_message(i) for i in range(300)]
    info = subprocess.run([DEXNDM, "info", str(bag)], capture_output=True, text=True, timeout=30)
    assert info.returncode == 0
    assert f"{TOPIC} | sensor_msgs/msg/JointState | count 300" in info.stdout


def test_sigterm_mid_recording_leaves_a_readable_bag(tmp_path, ros_node, processes):
    bag = tmp_path / "bag"
    recorder = _start_recorder(processes, bag, "--max-bag-size", "100000")
    _publish(ros_node, 1500, rate_hz=1000.0)
    recorder.send_signal(signal.SIGTERM)  # while the publisher may still be sending
    assert recorder.wait(timeout=20) == 0
    assert (bag / "metadata.yaml").is_file()
    messages = _read(bag)
    assert 0 < len(messages) <= 1500
    # in order and uncorrupted: the i-th message received is the i-th sent
    assert messages == [_message(i) for i in range(len(messages))]
    assert len(list(bag.glob("*.mcap"))) >= 2  # split by size


def test_sigkill_then_info_explains_and_reindex_recovers(tmp_path, ros_node, processes):
    bag = tmp_path / "bag"
    recorder = _start_recorder(processes, bag)
    _publish(ros_node, 400)
    assert wait_until(lambda: _on_disk(bag) >= 400, 20)  # flushed before the kill
    recorder.send_signal(signal.SIGKILL)
    recorder.wait(timeout=10)
    assert not (bag / "metadata.yaml").exists()
    info = subprocess.run([DEXNDM, "info", str(bag)], capture_output=True, text=True, timeout=30)
    assert info.returncode == 1
    assert f"`dexndm reindex {bag}`" in info.stdout
    assert "count 400" in info.stdout  # everything flushed before the kill is there
    fix = subprocess.run([DEXNDM, "reindex", str(bag)], capture_output=True, text=True,
                         timeout=30)
    assert fix.returncode == 0, fix.stderr
    assert _read(bag) == [_message(i) for i in range(400)]
    assert Path(str(bag) + ".orig").is_dir()


def test_record_rejects_bad_usage(tmp_path):
    result = subprocess.run([DEXNDM, "record", "-o", str(tmp_path / "b")], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 2
    assert "name the topics to record, or pass --all" in result.stderr
    (tmp_path / "exists").mkdir()
    result = subprocess.run([DEXNDM, "record", "-o", str(tmp_path / "exists"), TOPIC],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "exists already" in result.stdout + result.stderr
