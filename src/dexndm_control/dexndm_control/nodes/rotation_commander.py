"""Node ``rotation_commander``: publish /dexndm/rotation_command from parameters.

The command-line / parameter source of rotation commands (teleop is the other): publishes on every
parameter change and as a keepalive, so the controller keeps rotating while this node runs.
"""

from __future__ import annotations

import time

from geometry_msgs.msg import Vector3
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node

from dexndm_control.core.rotation_command import (
    InvalidAxisError,
    KeepalivePublisher,
    RotationCommanderConfig,
    RotationState,
    normalize_axis,
)
from dexndm_control.ros_node import declare_settings, run_node
from dexndm_msgs.msg import RotationCommand

# the dataclasses that declare this node's ROS parameters (config/*.yaml are checked against them)
SETTINGS = (RotationCommanderConfig,)


class RotationCommander(Node):
    def __init__(self) -> None:
        super().__init__("rotation_commander")
        self.config = declare_settings(self, RotationCommanderConfig)
        self.finished = False
        self.exit_code = 0
        self._state = self._read_state(self.config.axis, self.config.enabled)
        self._keepalive = KeepalivePublisher(1.0 / self.config.keepalive_hz)
        self._publisher = self.create_publisher(RotationCommand, "/dexndm/rotation_command", 10)
        self._start = time.monotonic()
        self._duration = self.config.duration_s
        self.add_on_set_parameters_callback(self._on_parameters)
        self.create_timer(0.02, self._tick)

    def _read_state(self, axis, enabled) -> RotationState:
        return RotationState(normalize_axis(axis), bool(enabled), self.config.source)

    def _on_parameters(self, parameters) -> SetParametersResult:
        values = {p.name: p.value for p in parameters}
        try:
            self._state = self._read_state(values.get("axis", self._state.axis),
                                           values.get("enabled", self._state.enabled))
        except InvalidAxisError as error:
            return SetParametersResult(successful=False, reason=str(error))
        return SetParametersResult(successful=True)

    def _tick(self) -> None:
        now = time.monotonic()
        if self._duration > 0 and now - self._start >= self._duration:
            self.finished = True
            return
        if not self._keepalive.should_publish(self._state, now):
            return
        message = RotationCommand()
        message.header.stamp = self.get_clock().now().to_msg()
        message.header.frame_id = str(self.get_parameter("frame_id").value)
        message.axis = Vector3(x=self._state.axis[0], y=self._state.axis[1], z=self._state.axis[2])
        message.enabled = self._state.enabled
        message.source = self._state.source
        self._publisher.publish(message)


def main() -> int:
    return run_node(RotationCommander)
