"""Node ``hand_view``: the live 3D view of the hand (``dexndm view``) fed from ROS topics.

Subscribes to the joint readings, the commanded targets, the wrist orientation (before it
arrives, the wrist in the controller's /dexndm/control_step) and the gap meter, and publishes a
Foxglove scene per new reading (at most ``rate_hz``) through ``dexndm_control.view`` (no rclpy
there). With ``virtual_port`` it also draws the object the virtual hand holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from geometry_msgs.msg import QuaternionStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState

from dexndm_control.ros_node import declare_settings, guarded, run_node
from dexndm_control.settings import setting
from dexndm_control.view.bag_source import (
    CONTROL_STEP,
    GAP_METER,
    JOINT_COMMANDS,
    JOINT_STATES,
    WRIST,
    feed,
)
from dexndm_control.view.server import ViewConfig, ViewCore
from dexndm_control.view.virtual_object import VirtualObjectSource
from dexndm_msgs.msg import ControlStep, GapMeter


@dataclass(frozen=True)
class ViewSourceConfig:
    virtual_port: str = setting("", help="the virtual hand's pty: draw the object it holds "
                                         "(asked over its control socket); empty: no object")
    object_rate_hz: float = setting(20.0, help="how often the object's pose is asked for")


SETTINGS = (ViewConfig, ViewSourceConfig)


class HandView(Node):
    def __init__(self, config: ViewConfig | None = None,
                 source: ViewSourceConfig | None = None) -> None:
        """Settings from ROS parameters, or given (``dexndm view`` passes its CLI's)."""
        super().__init__("hand_view")
        config = config or declare_settings(self, ViewConfig)
        source = source or declare_settings(self, ViewSourceConfig)
        self.core = ViewCore(config)
        self.core.start()  # a server, not hardware: a taken port fails here, named
        self.get_logger().info(f"view: Foxglove app -> {self.core.ws_url}"
                               + (f"; browser -> {self.core.page_url}" if self.core.page_url
                                  else ""))
        self.object = VirtualObjectSource(source.virtual_port) if source.virtual_port else None
        self.create_subscription(JointState, JOINT_STATES,
                                 guarded(self, lambda m: self._on(JOINT_STATES, m)), 10)
        self.create_subscription(JointState, JOINT_COMMANDS,
                                 guarded(self, lambda m: self._on(JOINT_COMMANDS, m)), 10)
        self.create_subscription(GapMeter, GAP_METER,
                                 guarded(self, lambda m: self._on(GAP_METER, m)), 10)
        self.create_subscription(QuaternionStamped, WRIST,
                                 guarded(self, lambda m: self._on(WRIST, m)), 10)
        self.create_subscription(ControlStep, CONTROL_STEP,
                                 guarded(self, lambda m: self._on(CONTROL_STEP, m)), 10)
        if self.object is not None:
            self.create_timer(1.0 / source.object_rate_hz, guarded(self, self._poll_object))

    def _stamp_ns(self, message) -> int:
        stamp = message.header.stamp
        ns = stamp.sec * 1_000_000_000 + stamp.nanosec
        return ns or self.get_clock().now().nanoseconds

    def _on(self, topic: str, message) -> None:
        feed(self.core, topic, self._stamp_ns(message), message)

    def _poll_object(self) -> None:
        geoms = self.object.poll()
        self.core.set_object(geoms)
        if geoms is None and self.object.last_error:
            self.get_logger().warning(self.object.last_error + "; is the virtual hand running?",
                                      throttle_duration_sec=10.0)

    def close(self) -> None:
        self.core.stop()
        if self.object is not None:
            self.object.close()


def main() -> int:
    return run_node(HandView)
