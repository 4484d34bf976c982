"""Map ROS type names ('pkg/msg/Name') to generated Python classes and interface files.

No rclpy: the generated message packages are imported directly."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

from dexndm_control.errors import DexndmError


def split_type_name(type_name: str) -> tuple[str, str, str]:
    parts = type_name.split("/")
    if len(parts) == 2:  # 'pkg/Name' shorthand
        parts = [parts[0], "msg", parts[1]]
    if len(parts) != 3 or not all(parts):
        raise DexndmError(f"'{type_name}' is not a ROS type name like sensor_msgs/msg/JointState")
    return parts[0], parts[1], parts[2]


def import_message_type(type_name: str) -> type:
    package, kind, name = split_type_name(type_name)
    try:
        module = importlib.import_module(f"{package}.{kind}")
        return getattr(module, name)
    except (ImportError, AttributeError):
        raise DexndmError(f"message type {type_name} is not installed: pip install the "
                          f"ros-{package.replace('_', '-')} wheel (or build {package})") from None


def share_prefixes() -> list[Path]:
    """Install prefixes holding share/<pkg>/: AMENT_PREFIX_PATH entries, then this environment."""
    prefixes = [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    prefixes.append(Path(sys.prefix))
    return prefixes


def interface_file(type_name: str, suffix: str = ".msg") -> Path:
    """Path of the installed interface definition (.msg, or .json with the RIHS01 hashes)."""
    package, kind, name = split_type_name(type_name)
    for prefix in share_prefixes():
        candidate = prefix / "share" / package / kind / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    raise DexndmError(f"no {name}{suffix} of {type_name} under share/{package}/{kind} in "
                      f"{', '.join(map(str, share_prefixes()))}: is {package} installed?")
