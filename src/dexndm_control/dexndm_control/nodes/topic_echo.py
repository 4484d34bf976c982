"""Node ``topic_echo`` (and `dexndm echo`): print the messages of topics, like `ros2 topic echo`."""

from __future__ import annotations

import time
from collections import Counter

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from dexndm_control.core.message_format import EchoConfig, format_message
from dexndm_control.ros_node import declare_settings, run_node
from dexndm_control.ros_types import import_message_type

# the dataclasses that declare this node's ROS parameters (config/*.yaml are checked against them)
SETTINGS = (EchoConfig,)


class TopicEcho(Node):
    def __init__(self, config: EchoConfig | None = None) -> None:
        super().__init__("topic_echo")
        self.config = config or declare_settings(self, EchoConfig)
        self.finished = False
        self.exit_code = 0
        self.counts: Counter[str] = Counter()
        self._pending = list(self.config.topics)
        self._deadline = time.monotonic() + self.config.discovery_timeout_s
        self._subs = []
        self.create_timer(0.1, self._discover)

    def _discover(self) -> None:
        """Subscribe to each topic once a publisher has announced its type."""
        if not self._pending:
            return
        types = dict(self.get_topic_names_and_types())
        for topic in list(self._pending):
            if topic in types:
                msg_type = import_message_type(types[topic][0])
                reliability = ReliabilityPolicy.RELIABLE
                if any(info.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
                       for info in self.get_publishers_info_by_topic(topic)):
                    reliability = ReliabilityPolicy.BEST_EFFORT
                self._subs.append(self.create_subscription(
                    msg_type, topic, lambda m, t=topic: self._on_message(t, m),
                    QoSProfile(depth=100, reliability=reliability)))
                self._pending.remove(topic)
        if self._pending and time.monotonic() > self._deadline:
            self.get_logger().error(f"no publisher appeared on {', '.join(self._pending)} "
                                    "before the discovery timeout")
            self.exit_code, self.finished = 1, True

    def _on_message(self, topic: str, message: object) -> None:
        self.counts[topic] += 1
        if not self.config.quiet:
            print(f"# {topic}\n{format_message(message)}", flush=True)
        if self.config.count and sum(self.counts.values()) >= self.config.count:
            self.finished = True

    def close(self) -> None:
        for topic in self.config.topics:
            print(f"received {self.counts[topic]} message(s) on {topic}", flush=True)


def echo_topics(config: EchoConfig) -> int:
    return run_node(lambda: TopicEcho(config), argv=[])


def main() -> int:
    return run_node(TopicEcho)
