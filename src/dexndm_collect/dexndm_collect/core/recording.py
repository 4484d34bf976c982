"""Recording session logic (no rclpy): which topics to record, writing, periodic flush, summary."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rosbags.interfaces import Qos

from dexndm_collect.bag.typestore import TypeResolver
from dexndm_collect.bag.writer import SplitBagWriter
from dexndm_control.errors import DexndmError
from dexndm_control.settings import setting

# Never recorded by --all: they describe the graph, not the robot (ros2 bag does the same with
# hidden topics).
GRAPH_TOPICS = ("/parameter_events",)


@dataclass(frozen=True)
class RecorderConfig:
    output: str = setting("", aliases=("-o",), deployment=True,
                          help="bag directory to create (empty: rosbag2_<date>-<time>)")
    topics: tuple[str, ...] = setting((), help="topics to record")
    record_all: bool = setting(False, flag="--all", aliases=("-a",), param="all",
                               help="record every topic seen")
    max_bag_size: int = setting(0, aliases=("-b",), help="start a new .mcap file when one "
                                                        "exceeds this many bytes (0: never)")
    flush_period_s: float = 1.0
    compress: bool = setting(False, help="zstd-compress MCAP chunks")
    duration_s: float = setting(0.0, flag="--duration",
                                help="stop after this many seconds (0: until Ctrl-C/SIGTERM)")

    def __post_init__(self) -> None:
        if not self.output:  # like `ros2 bag record`
            object.__setattr__(self, "output", time.strftime("rosbag2_%Y_%m_%d-%H_%M_%S"))
        if not self.topics and not self.record_all:
            raise DexndmError("name the topics to record, or pass --all")
        if self.max_bag_size < 0:
            raise DexndmError(f"max bag size must be >= 0 bytes, got {self.max_bag_size}")
        if self.max_bag_size and self.max_bag_size < 64 * 1024:
            raise DexndmError("max bag size below 64 KiB splits on every chunk; use a larger "
                              "value (e.g. 1000000000 for 1 GB files)")
        if self.duration_s < 0:
            raise DexndmError("duration must be >= 0 s (0: until stopped)")
        if not self.flush_period_s > 0:
            raise DexndmError("flush period must be positive")
        bad = [t for t in self.topics if not t.startswith("/")]
        if bad:
            raise DexndmError(f"topics must be absolute names starting with '/': {bad}")


class RecordingSession:
    def __init__(self, config: RecorderConfig, resolver: TypeResolver | None = None) -> None:
        self.config = config
        self.resolver = resolver or TypeResolver()
        self.writer = SplitBagWriter(Path(config.output), max_bytes=config.max_bag_size,
                                     compress=config.compress)
        self._connections: dict[str, object] = {}
        self._last_flush: float | None = None

    def wanted(self, graph: Iterable[tuple[str, list[str]]]) -> list[tuple[str, str]]:
        """(topic, type) pairs from the ROS graph that should be subscribed now."""
        result = []
        for topic, types in graph:
            if topic in self._connections or not types:
                continue
            if self.config.record_all:
                if topic in GRAPH_TOPICS or any(p.startswith("_") for p in topic.split("/")):
                    continue
            elif topic not in self.config.topics:
                continue
            result.append((topic, types[0]))
        return result

    def add_topic(self, topic: str, msgtype: str, qos: list[Qos]) -> None:
        msgdef, rihs01 = self.resolver.definition(msgtype)
        self._connections[topic] = self.writer.add_connection(topic, msgtype, msgdef, rihs01, qos)

    def missing_topics(self) -> list[str]:
        return [t for t in self.config.topics if t not in self._connections]

    def on_message(self, topic: str, data: bytes, receive_time_ns: int) -> None:
        self.writer.write(self._connections[topic], receive_time_ns, data)

    def maybe_flush(self, now: float) -> None:
        if self._last_flush is None or now - self._last_flush >= self.config.flush_period_s:
            self.writer.flush()
            self._last_flush = now

    def close(self) -> dict[str, int]:
        self.writer.close()
        return {c.topic: self.writer.counts[c.id] for c in self.writer.connections}
