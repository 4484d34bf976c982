"""What `dexndm info` shows: topics, types, counts, duration and rates of a rosbag2 directory."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml
from rosbags.rosbag2 import Reader
from rosbags.rosbag2.errors import ReaderError

from dexndm_collect.bag.mcap_read import require_mcap, scan_mcap
from dexndm_control.errors import BagError


@dataclass
class TopicInfo:
    name: str
    type: str
    count: int


@dataclass
class BagInfo:
    path: Path
    files: list[str]
    size_bytes: int
    start_ns: int
    duration_ns: int
    topics: list[TopicInfo] = field(default_factory=list)
    complete: bool = True  # False: not closed cleanly, shown from a scan of its files

    @property
    def message_count(self) -> int:
        return sum(t.count for t in self.topics)

    def rate_hz(self, topic: TopicInfo) -> float:
        seconds = self.duration_ns / 1e9
        return (topic.count - 1) / seconds if seconds > 0 and topic.count > 1 else 0.0


def read_bag_info(path: str | Path) -> BagInfo:
    path = Path(path)
    if not path.is_dir():
        raise BagError(f"{path} is not a bag directory (a folder with metadata.yaml and .mcap "
                       "files)")
    files = sorted(path.glob("*.mcap"))
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    if (path / "metadata.yaml").is_file():
        try:
            with Reader(path) as reader:
                topics = [TopicInfo(c.topic, c.msgtype, c.msgcount) for c in reader.connections]
                meta = yaml.safe_load((path / "metadata.yaml").read_text())[
                    "rosbag2_bagfile_information"]
                return BagInfo(path, list(meta["relative_file_paths"]), size,
                               int(meta["starting_time"]["nanoseconds_since_epoch"]),
                               int(meta["duration"]["nanoseconds"]), topics)
        except ReaderError as error:
            raise BagError(f"{path} cannot be read ({error}); if the recorder was killed, "
                           f"`dexndm reindex {path}` rebuilds it from its files") from None
    if not files:
        raise BagError(f"{path} has neither metadata.yaml nor .mcap files: not a bag")
    for file in files:  # an unclosed MCAP file still starts with the magic; anything else is not
        require_mcap(file)
    counts: dict[tuple[str, str], int] = {}
    times: list[int] = []
    for file in files:
        scan = scan_mcap(file)
        for channel_id, log_time, _ in scan.messages:
            channel = scan.channels[channel_id]
            schema = scan.schemas.get(channel.schema_id)
            key = (channel.topic, schema.name if schema else "?")
            counts[key] = counts.get(key, 0) + 1
            times.append(log_time)
    start = min(times, default=0)
    topics = [TopicInfo(topic, msgtype, n) for (topic, msgtype), n in counts.items()]
    return BagInfo(path, [f.name for f in files], size, start, max(times, default=0) - start,
                   topics, complete=False)


def format_bag_info(info: BagInfo) -> str:
    start = datetime.fromtimestamp(info.start_ns / 1e9, tz=UTC)
    lines = [
        f"Files:             {', '.join(info.files)}",
        f"Bag size:          {info.size_bytes / 1e6:.2f} MB",
        "Storage id:        mcap",
        f"Duration:          {info.duration_ns / 1e9:.3f} s",
        f"Start:             {start.isoformat()} ({info.start_ns / 1e9:.9f})",
        f"Messages:          {info.message_count}",
        f"Topics:            {len(info.topics)}",
        "Topic information:",
    ]
    width = max((len(t.name) for t in info.topics), default=0)
    for topic in sorted(info.topics, key=lambda t: t.name):
        lines.append(f"  {topic.name:<{width}} | {topic.type} | count {topic.count} | "
                     f"{info.rate_hz(topic):.1f} Hz")
    if not info.complete:
        lines.append("")
        lines.append(f"WARNING: this bag was not closed cleanly (no metadata.yaml): the figures "
                     f"above come from a scan of its complete chunks. Recover it with "
                     f"`dexndm reindex {info.path}`.")
    return "\n".join(lines)
