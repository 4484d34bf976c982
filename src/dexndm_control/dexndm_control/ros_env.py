"""Environment every process of the stack runs with (no rclpy import here).

Fast DDS announces itself by multicast on every interface unless told otherwise; on the machines
this stack targets, traffic off loopback is unwanted by default. Each entry point calls
``apply_default_ros_env`` before rclpy is imported, and child processes inherit the result.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

DISCOVERY_RANGE_VAR = "ROS_AUTOMATIC_DISCOVERY_RANGE"
DEFAULT_DISCOVERY_RANGE = "LOCALHOST"


def apply_default_ros_env(env: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Set the stack's defaults in ``env`` (``os.environ`` by default) without overriding the user.

    Returns the same mapping so that it can be passed on to ``subprocess``.
    """
    target = os.environ if env is None else env
    if not target.get(DISCOVERY_RANGE_VAR):
        target[DISCOVERY_RANGE_VAR] = DEFAULT_DISCOVERY_RANGE
    # Children print through the launcher's pipes: unbuffered output keeps lines in order and live.
    target.setdefault("PYTHONUNBUFFERED", "1")
    target.setdefault("RCUTILS_COLORIZED_OUTPUT", "0")
    return target
