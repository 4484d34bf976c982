"""A rosbag2 (MCAP, version 9) writer that splits by size and survives being killed.

Built from the `rosbags` library's MCAP storage writer. What it adds to ``rosbags.rosbag2.Writer``:
* split files ``<bag>_0.mcap``, ``<bag>_1.mcap``, ... once a file exceeds ``max_bytes``, all listed
  in one metadata.yaml the way rosbag2 does it;
* ``flush()``: closes the pending chunk and hands it to the OS, so a SIGKILL loses at most what
  arrived since the last flush (the recorder flushes every second); `dexndm reindex` recovers it.
"""

from __future__ import annotations

import os
from io import BytesIO, StringIO
from pathlib import Path

from rosbags.interfaces import (
    Connection,
    ConnectionExtRosbag2,
    MessageDefinition,
    MessageDefinitionFormat,
    Qos,
)
from rosbags.rosbag2.enums import CompressionMode
from rosbags.rosbag2.metadata import dump_qos_v9
from rosbags.rosbag2.storage_mcap import McapWriter, PendingChunk, write_record, write_string
from ruamel.yaml import YAML

from dexndm_control.errors import BagError

VERSION = 9


class _McapFile(McapWriter):
    """rosbags' MCAP storage writer, writing to a file name of our choosing."""

    def __init__(self, file: Path, compression: CompressionMode) -> None:
        from collections import defaultdict
        from importlib.metadata import version

        self.path = file
        self.bio = file.open("xb")
        self.bio.write(b"\x89MCAP\x30\r\n")
        record = BytesIO()
        write_string(record, "ros2")
        write_string(record, f"rosbags-{version('rosbags')}")
        write_record(self.bio, 0x01, record)
        self.schemas, self.channels, self.chunks = [], [], []
        self.chunk = PendingChunk(2**63 - 1, 0, BytesIO(), defaultdict(list))
        self.compression = ""
        self.compressor = lambda data: data
        if compression == CompressionMode.STORAGE:
            from rosbags.rosbag2.storage_mcap import zstd
            self.compression, self.compressor = "zstd", zstd.compress
        self.message_start_time = 2**63 - 1
        self.message_end_time = 0
        self.channel_stats = {}

    def flush(self) -> None:
        if self.chunk.bio.tell():
            self.close_chunk()
        self.bio.flush()


class SplitBagWriter:
    """Write a rosbag2 directory: connections, serialized messages, split files, metadata.yaml."""

    def __init__(self, path: str | Path, *, max_bytes: int = 0, compress: bool = False,
                 custom_data: dict[str, str] | None = None, file_stem: str | None = None) -> None:
        self.path = Path(path)
        self._stem = file_stem or self.path.name
        if self.path.exists():
            raise BagError(f"{self.path} exists already; choose a new output directory "
                           "(bags are never overwritten)")
        self.path.mkdir(parents=True)
        self.max_bytes = int(max_bytes)
        self._compression = CompressionMode.STORAGE if compress else CompressionMode.NONE
        self.custom_data = dict(custom_data or {})
        self.connections: list[Connection] = []
        self.counts: dict[int, int] = {}
        self.files: list[dict] = []  # finished files: path, start, end, count
        self._storage: _McapFile | None = None
        self._file_counts: dict[int, int] = {}
        self._open_next_file()

    # -- public ----------------------------------------------------------------------------

    def add_connection(self, topic: str, msgtype: str, msgdef: str, rihs01: str,
                       qos: list[Qos] | None = None) -> Connection:
        for existing in self.connections:
            if existing.topic == topic and existing.msgtype == msgtype:
                return existing
        fmt = MessageDefinitionFormat.IDL if msgdef.startswith("=" * 80 + "\nIDL: ") \
            else MessageDefinitionFormat.MSG
        connection = Connection(
            id=len(self.connections) + 1, topic=topic, msgtype=msgtype,
            msgdef=MessageDefinition(fmt, msgdef), digest=rihs01, msgcount=0,
            ext=ConnectionExtRosbag2(serialization_format="cdr",
                                     offered_qos_profiles=list(qos or [])),
            owner=self)
        self.connections.append(connection)
        self.counts[connection.id] = 0
        self._register(connection)
        return connection

    def write(self, connection: Connection, timestamp_ns: int, data: bytes | memoryview) -> None:
        if self._storage is None:
            raise BagError(f"bag {self.path} is closed")
        self._storage.write(connection, int(timestamp_ns), data)
        self.counts[connection.id] += 1
        self._file_counts[connection.id] = self._file_counts.get(connection.id, 0) + 1
        if self.max_bytes and self._storage.bio.tell() + self._storage.chunk.bio.tell() \
                >= self.max_bytes:
            self._finish_file()
            self._open_next_file()

    def flush(self) -> None:
        if self._storage is not None:
            self._storage.flush()
            os.fsync(self._storage.bio.fileno())

    def close(self) -> None:
        """Finish the current file and write metadata.yaml (atomically)."""
        if self._storage is None:
            return
        self._finish_file()
        self._storage = None
        metadata = {"rosbag2_bagfile_information": self._metadata()}
        yaml = YAML(typ="safe")
        yaml.default_flow_style = False
        text = StringIO()
        yaml.dump(metadata, text)
        tmp = self.path / "metadata.yaml.tmp"
        tmp.write_text(text.getvalue())
        tmp.replace(self.path / "metadata.yaml")

    @property
    def message_count(self) -> int:
        return sum(self.counts.values())

    def __enter__(self) -> SplitBagWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------

    def _open_next_file(self) -> None:
        file = self.path / f"{self._stem}_{len(self.files)}.mcap"
        self._storage = _McapFile(file, self._compression)
        self._file_counts = {}
        for connection in self.connections:
            self._register(connection)

    def _register(self, connection: Connection) -> None:
        assert self._storage is not None
        if all(s.name != connection.msgtype for s in self._storage.schemas):
            self._storage.add_msgtype(connection)
        qos = dump_qos_v9(connection.ext.offered_qos_profiles)
        stream = StringIO()
        yaml = YAML(typ="safe")
        yaml.default_flow_style = False
        yaml.dump(qos, stream)
        self._storage.add_connection(connection, stream.getvalue().strip())

    def _finish_file(self) -> None:
        storage = self._storage
        assert storage is not None
        count = sum(self._file_counts.values())
        start = storage.message_start_time if count else 0
        end = storage.message_end_time if count else 0
        info = self._metadata(extra_file={"path": storage.path.name, "start": start, "end": end,
                                          "count": count})
        storage.close(VERSION, _dump(info))
        self.files.append({"path": storage.path.name, "start": start, "end": end, "count": count})

    def _metadata(self, extra_file: dict | None = None) -> dict:
        files = self.files + ([extra_file] if extra_file else [])
        counted = [f for f in files if f["count"]]
        start = min((f["start"] for f in counted), default=0)
        end = max((f["end"] for f in counted), default=0)
        return {
            "version": VERSION,
            "storage_identifier": "mcap",
            "relative_file_paths": [f["path"] for f in files],
            "duration": {"nanoseconds": max(0, end - start)},
            "starting_time": {"nanoseconds_since_epoch": start},
            "message_count": self.message_count,
            "topics_with_message_count": [
                {"topic_metadata": {
                    "name": c.topic, "type": c.msgtype, "serialization_format": "cdr",
                    "offered_qos_profiles": dump_qos_v9(c.ext.offered_qos_profiles),
                    "type_description_hash": c.digest},
                 "message_count": self.counts[c.id]}
                for c in self.connections],
            "compression_format": "",
            "compression_mode": "",
            "files": [{"path": f["path"],
                       "starting_time": {"nanoseconds_since_epoch": f["start"]},
                       "duration": {"nanoseconds": max(0, f["end"] - f["start"])},
                       "message_count": f["count"]} for f in files],
            "custom_data": self.custom_data or None,
            "ros_distro": "kilted",
        }


def _dump(data: dict) -> str:
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    stream = StringIO()
    yaml.dump(data, stream)
    return stream.getvalue().strip()
