"""Recorded runs into the view: a rosbag2 folder (metadata.yaml + MCAP) or one .mcap file,
decoded with the `mcap` library's ROS 2 decoder (the message definitions the bag carries), and
played into a ``ViewCore`` at the recorded pace (``rate`` x)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import yaml

from dexndm_control.errors import DexndmError, JointNameError
from dexndm_control.hand import positions_by_name
from dexndm_control.view.server import ViewCore

JOINT_STATES = "/leap_hand/joint_states"
JOINT_COMMANDS = "/leap_hand/joint_commands"
GAP_METER = "/dexndm/gap_meter"
WRIST = "/dexndm/wrist_orientation"
CONTROL_STEP = "/dexndm/control_step"  # read for the wrist the controller's policy is given
TOPICS = (JOINT_STATES, JOINT_COMMANDS, GAP_METER, WRIST, CONTROL_STEP)


def bag_files(path: str | Path) -> list[Path]:
    """The MCAP files of a rosbag2 folder, in its metadata's order, or the one file given."""
    path = Path(path)
    if path.is_file() and path.suffix == ".mcap":
        return [path]
    metadata = path / "metadata.yaml"
    if not metadata.is_file():
        raise DexndmError(f"{path} is neither a rosbag2 folder (metadata.yaml + MCAP) nor an "
                          ".mcap file: pass the folder `dexndm record -o` wrote")
    info = yaml.safe_load(metadata.read_text())["rosbag2_bagfile_information"]
    if info.get("storage_identifier") != "mcap":
        raise DexndmError(f"{path} is stored as {info.get('storage_identifier')!r}; the view "
                          "reads MCAP bags (record with `dexndm record`, or convert with "
                          "`ros2 bag convert`)")
    files = [path / name for name in info["relative_file_paths"]]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise DexndmError(f"{path}: metadata.yaml lists files that are not there: {missing}")
    return files


def read_messages(path: str | Path) -> Iterator[tuple[int, str, object]]:
    """(log time ns, topic, decoded message) of the view's topics, in time order per file."""
    from mcap.exceptions import McapError
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    for file in bag_files(path):
        with open(file, "rb") as stream:
            reader = make_reader(stream, decoder_factories=[DecoderFactory()])
            try:
                for _, channel, message, decoded in reader.iter_decoded_messages(
                        topics=list(TOPICS), log_time_order=True):
                    yield message.log_time, channel.topic, decoded
            except McapError as error:
                raise DexndmError(f"{file} is not a readable MCAP file ({error}); was the "
                                  "recording cut off? `mcap recover` can rescue its messages") \
                    from None


def feed(core: ViewCore, topic: str, stamp_ns: int, message) -> None:
    """One decoded message (a ROS message or the decoder's equivalent) into the view. A joint
    reading also draws its scene (as the rate allows), with the targets in force at it: drawn
    later, a held-back reading would show the command that followed it."""
    if topic in (JOINT_STATES, JOINT_COMMANDS):
        held = core.targets if topic == JOINT_COMMANDS and core.targets is not None else np.nan
        try:
            position = positions_by_name(list(message.name), list(message.position), held)
        except JointNameError:
            return  # not the hand's joints
        if topic == JOINT_STATES:
            core.joint_state(stamp_ns, position)
            core.publish()
        else:
            core.command(position)
    elif topic == WRIST:
        q = message.quaternion
        core.set_wrist([q.w, q.x, q.y, q.z])
    elif topic == CONTROL_STEP:
        q = message.wrist
        core.set_wrist([q.w, q.x, q.y, q.z], from_controller=True)
    elif topic == GAP_METER:
        core.gap_meter(stamp_ns, level=message.level, rolling_mae=message.rolling_mae,
                       warn_threshold=message.warn_threshold,
                       error_threshold=message.error_threshold, error=message.error,
                       joints_out=list(message.joints_out), offset=message.offset,
                       offset_warn_threshold=message.offset_warn_threshold,
                       offset_error_threshold=message.offset_error_threshold,
                       cap_delivered=message.cap_delivered,
                       cap_warn_share=message.cap_warn_share,
                       cap_error_share=message.cap_error_share)


def play(core: ViewCore, path: str | Path, rate: float = 1.0, loop: bool = False) -> int:
    """Play the bag into ``core`` at ``rate`` x the recorded pace; returns the scenes sent."""
    if rate <= 0:
        raise DexndmError("--rate must be > 0")
    while True:
        start_wall, start_log = time.monotonic(), None
        seen = 0
        for stamp_ns, topic, message in read_messages(path):
            if start_log is None:
                start_log = stamp_ns
            due = start_wall + (stamp_ns - start_log) / 1e9 / rate
            delay = due - time.monotonic()
            if delay > 0:  # the recorded pace
                time.sleep(delay)
            feed(core, topic, stamp_ns, message)
            seen += 1
        if seen == 0:
            raise DexndmError(f"{path} has none of the view's topics ({', '.join(TOPICS)}); "
                              "record them with `dexndm record`")
        if not loop:
            return core.scenes_sent

