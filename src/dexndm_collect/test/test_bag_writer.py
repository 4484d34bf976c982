"""SplitBagWriter and recovery, without DDS: exact contents, splitting, truncation."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rclpy.serialization import serialize_message
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import JointState

from dexndm_collect.bag.info import read_bag_info
from dexndm_collect.bag.recover import reindex_bag
from dexndm_collect.bag.typestore import TypeResolver
from dexndm_collect.bag.writer import SplitBagWriter
from dexndm_control.errors import BagError

TYPE = "sensor_msgs/msg/JointState"
DEXNDM = str(Path(sys.executable).parent / "dexndm")


def _joint_state(i: int) -> bytes:
    message = JointState()
    message.header.stamp.sec = i
    message.name = [f"j{k}" for k in range(16)]
    message.position = [i + 0.001 * k for k in range(16)]
    # The driver always fills all three arrays. (An EMPTY float64 sequence is padded differently
    # by Fast CDR than by rosbags' serializer, whose deserializer then rejects the size.)
    message.velocity = [0.5] * 16
    message.effort = [-0.1 * k for k in range(16)]
    return serialize_message(message)


def _write(path, n, **kwargs):
    resolver = TypeResolver()
    writer = SplitBagWriter(path, **kwargs)
    connection = writer.add_connection("/leap_hand/joint_states", TYPE, *resolver.definition(TYPE))
    for i in range(n):
        writer.write(connection, 1_000_000_000 + i * 10_000_000, _joint_state(i))
    return writer


def _read_positions(path):
    store = get_typestore(Stores.ROS2_KILTED)
    with Reader(path) as reader:
        return [(t, store.deserialize_cdr(raw, c.msgtype).position.tolist())
                for c, t, raw in reader.messages()]


def test_written_bag_reads_back_exactly(tmp_path):
    _write(tmp_path / "bag", 500).close()
    rows = _read_positions(tmp_path / "bag")
    assert len(rows) == 500
    assert rows[0] == (1_000_000_000, [0.001 * k for k in range(16)])
    assert rows[499][1][3] == pytest.approx(499.003)
    info = read_bag_info(tmp_path / "bag")
    assert info.complete and info.message_count == 500
    assert info.duration_ns == 499 * 10_000_000
    assert info.rate_hz(info.topics[0]) == pytest.approx(100.0)


def test_split_by_size_keeps_every_message_in_order(tmp_path):
    writer = _write(tmp_path / "bag", 6000, max_bytes=256 * 1024)
    writer.close()
    files = sorted(p.name for p in (tmp_path / "bag").glob("*.mcap"))
    assert len(files) >= 3, files
    assert all((tmp_path / "bag" / f).stat().st_size < 256 * 1024 + 2**20 for f in files)
    rows = _read_positions(tmp_path / "bag")
    assert [t for t, _ in rows] == [1_000_000_000 + i * 10_000_000 for i in range(6000)]


def test_never_overwrites(tmp_path):
    (tmp_path / "bag").mkdir()
    with pytest.raises(BagError, match="exists already"):
        SplitBagWriter(tmp_path / "bag")


def test_truncated_bag_is_reported_and_recovered(tmp_path):
    writer = _write(tmp_path / "bag", 3000)
    writer.flush()  # what the recorder does every second
    # simulate SIGKILL: copy the files as they are on disk, without close()/metadata.yaml
    shutil.copytree(tmp_path / "bag", tmp_path / "killed")
    writer.close()
    info = read_bag_info(tmp_path / "killed")
    assert not info.complete
    assert info.message_count == 3000
    count, original = reindex_bag(tmp_path / "killed")
    assert count == 3000 and original.is_dir()
    assert _read_positions(tmp_path / "killed") == _read_positions(tmp_path / "bag")


def test_type_resolver_knows_custom_messages():
    msgdef, rihs01 = TypeResolver().definition("dexndm_msgs/msg/ControlStep")
    assert "float64[16] q" in msgdef and "MSG: geometry_msgs/Vector3" in msgdef
    assert rihs01 == "RIHS01_6d2268e71324bb54157a7ac20b3ef8dff1d8761df7affc53cb491c796f7ef1d2"


def test_a_file_that_is_not_mcap_is_named_not_called_unclosed(tmp_path):
    bag = tmp_path / "bag"
    bag.mkdir()
    (bag / "x.mcap").write_bytes(bytes(range(256)) * 40)
    with pytest.raises(BagError, match="x.mcap is not an MCAP file"):
        read_bag_info(bag)
    with pytest.raises(BagError, match="x.mcap is not an MCAP file"):
        reindex_bag(bag)
    assert (bag / "x.mcap").read_bytes() == bytes(range(256)) * 40
    assert not (tmp_path / "bag.orig").exists()
    result = subprocess.run([DEXNDM, "info", str(bag)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and "not an MCAP file" in result.stderr
    assert "reindex" not in result.stdout


def test_reindex_never_moves_an_input_it_recovered_nothing_from(tmp_path):
    writer = _write(tmp_path / "bag", 100)  # nothing flushed: no complete chunk on disk yet
    shutil.copytree(tmp_path / "bag", tmp_path / "killed")
    writer.close()
    before = {p.name: p.read_bytes() for p in (tmp_path / "killed").iterdir()}
    result = subprocess.run([DEXNDM, "reindex", str(tmp_path / "killed")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "no complete message" in result.stderr
    assert {p.name: p.read_bytes() for p in (tmp_path / "killed").iterdir()} == before
    assert not (tmp_path / "killed.orig").exists()
    assert not list(tmp_path.glob(".killed*"))  # no staging directory left behind
