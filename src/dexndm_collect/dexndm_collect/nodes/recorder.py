"""Node ``recorder`` (and `dexndm record`): record topics into a rosbag2 (MCAP) directory.

Raw (serialized) subscriptions, no deserialization: the bytes on the wire go to the bag as-is,
stamped with the receive time. Subscriptions match the publishers' reliability and durability.
"""

from __future__ import annotations

import time

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)

from dexndm_collect.core.recording import RecorderConfig, RecordingSession
from dexndm_control.ros_node import declare_settings, guarded, run_node
from dexndm_control.ros_types import import_message_type


def _bag_qos(profile: QoSProfile) -> Qos:
    def duration(value) -> QosTime:
        nanoseconds = value.nanoseconds
        return QosTime(nanoseconds // 10**9, nanoseconds % 10**9)

    return Qos(
        history=QosHistory(int(profile.history)),
        depth=int(profile.depth),
        reliability=QosReliability(int(profile.reliability)),
        durability=QosDurability(int(profile.durability)),
        deadline=duration(profile.deadline), lifespan=duration(profile.lifespan),
        liveliness=QosLiveliness(int(profile.liveliness)),
        liveliness_lease_duration=duration(profile.liveliness_lease_duration),
        avoid_ros_namespace_conventions=bool(profile.avoid_ros_namespace_conventions))


# the dataclasses that declare this node's ROS parameters (config/*.yaml are checked against them)
SETTINGS = (RecorderConfig,)


class Recorder(Node):
    def __init__(self, config: RecorderConfig | None = None) -> None:
        super().__init__("recorder")
        if config is None:
            config = declare_settings(self, RecorderConfig)
        self.session = RecordingSession(config)
        self.finished = False
        self.exit_code = 0
        self.summary: dict[str, int] = {}
        self._duration = config.duration_s
        self._start = time.monotonic()
        self._subs = []
        self._discover()
        self.create_timer(0.5, guarded(self, self._discover))
        self.create_timer(0.1, guarded(self, self._tick))
        self.get_logger().info(f"recording to {config.output}")

    def _discover(self) -> None:
        for topic, msgtype in self.session.wanted(self.get_topic_names_and_types()):
            publishers = self.get_publishers_info_by_topic(topic)
            if not publishers:
                continue
            profiles = [info.qos_profile for info in publishers]
            reliable = all(p.reliability == ReliabilityPolicy.RELIABLE for p in profiles)
            latched = all(p.durability == DurabilityPolicy.TRANSIENT_LOCAL for p in profiles)
            qos = QoSProfile(
                history=HistoryPolicy.KEEP_LAST, depth=1000,
                reliability=ReliabilityPolicy.RELIABLE if reliable
                else ReliabilityPolicy.BEST_EFFORT,
                durability=DurabilityPolicy.TRANSIENT_LOCAL if latched
                else DurabilityPolicy.VOLATILE)
            self.session.add_topic(topic, msgtype, [_bag_qos(p) for p in profiles])
            self._subs.append(self.create_subscription(
                import_message_type(msgtype), topic,
                guarded(self, lambda data, t=topic: self.session.on_message(
                    t, data, time.time_ns())),
                qos, raw=True))
            self.get_logger().info(f"subscribed to {topic} [{msgtype}]")

    def _tick(self) -> None:
        now = time.monotonic()
        self.session.maybe_flush(now)
        if self._duration > 0 and now - self._start >= self._duration:
            self.finished = True

    def close(self) -> None:
        self.summary = self.session.close()
        missing = self.session.missing_topics()
        for topic, count in self.summary.items():
            print(f"recorded {count} message(s) on {topic}", flush=True)
        if missing:
            print(f"no publisher appeared on: {', '.join(missing)}", flush=True)
        print(f"bag closed: {self.session.config.output}", flush=True)


def record(config: RecorderConfig) -> int:
    return run_node(lambda: Recorder(config), argv=["recorder"], events_executor=True)


def main() -> int:
    return run_node(Recorder, events_executor=True)
