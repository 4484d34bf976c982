"""Message definitions and RIHS01 type hashes for bag connections, from installed interfaces."""

from __future__ import annotations

import json
import re

from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from dexndm_control.errors import BagError, DexndmError
from dexndm_control.ros_types import interface_file, split_type_name

_BUILTINS = {"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16",
             "int32", "uint32", "int64", "uint64", "string", "wstring"}


class TypeResolver:
    """Knows every type of ROS 2 Kilted plus the installed custom interfaces (e.g. dexndm_msgs)."""

    def __init__(self) -> None:
        self.store = get_typestore(Stores.ROS2_KILTED)
        self._cache: dict[str, tuple[str, str]] = {}

    def ensure(self, type_name: str) -> None:
        """Register ``type_name`` (and what it uses) from its installed .msg file if unknown."""
        package, _, name = split_type_name(type_name)
        full = f"{package}/msg/{name}"
        if full in self.store.types:
            return
        text = interface_file(full).read_text()
        self.store.register(get_types_from_msg(text, full))
        for dependency in _dependencies(text, package):
            self.ensure(dependency)

    def definition(self, type_name: str) -> tuple[str, str]:
        """(message definition text, RIHS01 hash) as rosbag2 stores them."""
        if type_name not in self._cache:
            self.ensure(type_name)
            msgdef, _ = self.store.generate_msgdef(type_name, ros_version=2)
            rihs01 = self.store.hash_rihs01(type_name)
            installed = _installed_hash(type_name)
            if installed is not None and installed != rihs01:
                raise BagError(f"type hash mismatch for {type_name}: rosidl {installed} vs "
                               f"rosbags {rihs01}; the installed interface and the recorder's "
                               "type store disagree (reinstall dexndm_msgs)")
            self._cache[type_name] = (msgdef, rihs01)
        return self._cache[type_name]


def _dependencies(text: str, package: str) -> list[str]:
    found = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or "=" in line.split()[0]:
            continue
        token = re.sub(r"\[.*\]$", "", line.split()[0])
        token = re.sub(r"<=\d+$", "", token)
        if token in _BUILTINS:
            continue
        if len(line.split()) >= 3 and line.split()[2].startswith("="):
            continue  # a constant
        if "/" in token:
            parts = token.split("/")
            found.append(f"{parts[0]}/msg/{parts[-1]}")
        elif token == "Header":
            found.append("std_msgs/msg/Header")
        else:
            found.append(f"{package}/msg/{token}")
    return found


def _installed_hash(type_name: str) -> str | None:
    try:
        description = json.loads(interface_file(type_name, ".json").read_text())
    except (DexndmError, OSError, ValueError):  # the .json hash file is optional
        return None
    for entry in description.get("type_hashes", []):
        if entry.get("type_name") == type_name:
            return entry.get("hash_string")
    return None
