"""`dexndm reindex`: rebuild a bag that was not closed cleanly (recorder killed, power loss)."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from rosbags.rosbag2.metadata import parse_qos
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from dexndm_collect.bag.mcap_read import require_mcap, scan_mcap
from dexndm_collect.bag.writer import SplitBagWriter
from dexndm_control.errors import BagError


def _rihs01(msgtype: str, msgdef: str) -> str:
    store = get_typestore(Stores.EMPTY)
    parts = msgdef.split("=" * 80 + "\n")
    store.register(get_types_from_msg(parts[0], msgtype))
    for part in parts[1:]:
        header, _, body = part.partition("\n")
        name = header.removeprefix("MSG: ").strip()
        if "/msg/" not in name:
            package, _, short = name.partition("/")
            name = f"{package}/msg/{short}"
        store.register(get_types_from_msg(body, name))
    return store.hash_rihs01(msgtype)


def reindex_bag(path: str | Path) -> tuple[int, Path]:
    """Rewrite the complete chunks of every MCAP file of ``path`` into a closed bag at ``path``.

    The original directory is kept, renamed to ``<path>.orig``. Returns (messages recovered,
    where the original went).
    """
    path = Path(path)
    files = sorted(path.glob("*.mcap"))
    if not files:
        raise BagError(f"{path} holds no .mcap file: nothing to reindex")
    for file in files:  # refuse before anything is written or moved
        require_mcap(file)
    original = path.with_name(path.name + ".orig")
    if original.exists():
        raise BagError(f"{original} exists from an earlier reindex; move it away first")
    staging = path.with_name(f".{path.name}.reindex")
    if staging.exists():
        shutil.rmtree(staging)
    writer = SplitBagWriter(staging, file_stem=path.name)
    connections: dict[tuple[str, str], object] = {}
    hashes: dict[str, str] = {}
    for file in files:
        scan = scan_mcap(file)
        for channel_id, log_time, data in scan.messages:
            channel = scan.channels[channel_id]
            schema = scan.schemas[channel.schema_id]
            key = (channel.topic, schema.name)
            if key not in connections:
                msgdef = schema.data.decode()
                if schema.name not in hashes:
                    hashes[schema.name] = _rihs01(schema.name, msgdef)
                qos_text = channel.metadata.get("offered_qos_profiles", "")
                qos = parse_qos(yaml.safe_load(qos_text) or []) if qos_text else []
                connections[key] = writer.add_connection(channel.topic, schema.name, msgdef,
                                                         hashes[schema.name], qos)
            writer.write(connections[key], log_time, data)
    writer.close()
    if writer.message_count == 0:  # nothing to gain: the input stays where it is, untouched
        shutil.rmtree(staging)
        raise BagError(f"no complete message could be recovered from {path} (its files end "
                       "before the first complete chunk); the files were left as they are")
    path.rename(original)
    staging.rename(path)
    return writer.message_count, original
