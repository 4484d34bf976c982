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
    RotationState,
    normalize_axis,
)
from dexndm_control.ros_node import run_node
from dexndm_msgs.msg import RotationCommand


class RotationCommander(Node):
    def __init__(self) -> None:
        super().__init__("rotation_commander")
        self.declare_parameter("axis", [0.0, 0.0, 1.0])
        self.declare_parameter("enabled", True)
        self.declare_parameter("source", "cli")
        self.declare_parameter("frame_id", "hand")
        self.declare_parameter("keepalive_hz", 10.0)
        self.declare_parameter("duration_s", 0.0)  # > 0: exit after this long (demos, scripts)
        self.finished = False
        self.exit_code = 0
        self._state = self._read_state(self.get_parameter("axis").value,
                                       self.get_parameter("enabled").value)
        self._keepalive = KeepalivePublisher(1.0 / self.get_parameter("keepalive_hz").value)
        self._publisher = self.create_publisher(RotationCommand, "/dexndm/rotation_command", 10)
        self._start = time.monotonic()
        self._duration = float(self.get_parameter("duration_s").value)
        self.add_on_set_parameters_callback(self._on_parameters)
        self.create_timer(0.02, self._tick)

    def _read_state(self, axis, enabled) -> RotationState:
        return RotationState(normalize_axis(axis), bool(enabled),
                             str(self.get_parameter("source").value))

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
