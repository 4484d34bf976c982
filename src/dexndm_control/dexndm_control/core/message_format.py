"""Render a generated ROS message as indented YAML-like text (what `ros2 topic echo` prints)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dexndm_control.settings import setting


@dataclass(frozen=True)
class EchoConfig:
    """What `dexndm echo` and the ``topic_echo`` node print."""

    topics: tuple[str, ...] = setting(("/dexndm/rotation_command",), help="topics to print")
    count: int = setting(0, aliases=("-n",),
                         help="exit after this many messages (0: until Ctrl-C)")
    discovery_timeout_s: float = setting(10.0, flag="--timeout",
                                         help="seconds to wait for a publisher to appear")
    quiet: bool = setting(False, help="print only the summary")


def _is_message(value: object) -> bool:
    return hasattr(type(value), "get_fields_and_field_types")


def message_to_lines(message: object, indent: int = 0) -> list[str]:
    pad = "  " * indent
    lines: list[str] = []
    for field in type(message).get_fields_and_field_types():
        value = getattr(message, field)
        if _is_message(value):
            lines.append(f"{pad}{field}:")
            lines.extend(message_to_lines(value, indent + 1))
        elif isinstance(value, (str, bytes)):
            lines.append(f"{pad}{field}: {value!r}" if isinstance(value, bytes)
                         else f"{pad}{field}: '{value}'")
        elif isinstance(value, Sequence) or hasattr(value, "tolist"):
            items = value.tolist() if hasattr(value, "tolist") else list(value)
            if items and _is_message(items[0]):
                lines.append(f"{pad}{field}:")
                for item in items:
                    sub = message_to_lines(item, indent + 2)
                    lines.append(f"{pad}- " + sub[0].lstrip())
                    lines.extend(sub[1:])
            else:
                lines.append(f"{pad}{field}: {_short(items)}")
        else:
            lines.append(f"{pad}{field}: {value}")
    return lines


def _short(items: list) -> str:
    def one(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.6g}"
        return f"'{value}'" if isinstance(value, str) else str(value)

    return "[" + ", ".join(one(v) for v in items) + "]"


def format_message(message: object) -> str:
    return "\n".join(message_to_lines(message)) + "\n---"
