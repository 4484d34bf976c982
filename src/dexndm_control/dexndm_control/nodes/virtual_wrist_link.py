"""Node ``virtual_wrist_link``: turn the virtual hand's palm to follow /dexndm/wrist_orientation.

With no arm, the teleop loop (headset -> bridge -> wrist + axis -> policy -> hand) still closes:
this node forwards the wrist orientation to the MuJoCo virtual hand through its control socket
(``<port>.ctl``, one JSON line per request), at most ``rate_hz`` times a second.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass

import numpy as np
from geometry_msgs.msg import QuaternionStamped
from rclpy.node import Node

from dexndm_control.ros_node import declare_settings, guarded, run_node
from dexndm_control.settings import setting


@dataclass(frozen=True)
class WristLinkConfig:
    port: str = setting("/tmp/dexndm_leap_hand", deployment=True,
                        help="the virtual hand's pty; its control socket is <port>.ctl")
    rate_hz: float = setting(50.0, help="largest forwarding rate")


# the dataclasses that declare this node's ROS parameters (config/*.yaml are checked against them)
SETTINGS = (WristLinkConfig,)


class VirtualWristLink(Node):
    def __init__(self) -> None:
        super().__init__("virtual_wrist_link")
        config = declare_settings(self, WristLinkConfig)
        self.control_path = config.port + ".ctl"
        rate = config.rate_hz
        self._latest: np.ndarray | None = None
        self._sent: np.ndarray | None = None
        self._stream = None
        self.sent = 0
        self.create_subscription(QuaternionStamped, "/dexndm/wrist_orientation",
                                 guarded(self, self._on_wrist), 10)
        self.create_timer(1.0 / rate, guarded(self, self._forward))

    def _on_wrist(self, message: QuaternionStamped) -> None:
        q = message.quaternion
        quat = np.array([q.w, q.x, q.y, q.z], dtype=float)
        norm = np.linalg.norm(quat)
        if not np.isfinite(norm) or abs(norm - 1.0) > 1e-2:
            self.get_logger().warning("ignoring a wrist orientation that is not a unit "
                                      "quaternion", throttle_duration_sec=5.0)
            return
        self._latest = quat / norm

    def _forward(self) -> None:
        if self._latest is None or (self._sent is not None
                                    and np.allclose(self._latest, self._sent, atol=1e-6)):
            return
        try:
            if self._stream is None:
                client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                client.settimeout(1.0)
                client.connect(self.control_path)
                self._stream = client.makefile("rw")
            self._stream.write(json.dumps({"cmd": "wrist", "quat": self._latest.tolist()}) + "\n")
            self._stream.flush()
            reply = json.loads(self._stream.readline() or "{}")
        except (OSError, ValueError) as error:
            self._stream = None
            self.get_logger().warning(f"virtual hand control socket {self.control_path}: {error}"
                                      "; is the virtual hand running (hardware:=virtual)?",
                                      throttle_duration_sec=5.0)
            return
        if not reply.get("ok"):
            self.get_logger().warning(f"virtual hand refused the wrist: {reply.get('error')}",
                                      throttle_duration_sec=5.0)
        self._sent = self._latest
        self.sent += 1


def main() -> int:
    return run_node(VirtualWristLink)
