"""Node ``quest_bridge``: Quest 3 (or keyboard/gamepad) -> arm target, wrist and rotation axis.

Publishes /teleop/arm_target (PoseStamped, at the input rate), /dexndm/wrist_orientation
(QuaternionStamped), /dexndm/rotation_command (on change + keepalive), /teleop/joy (raw
buttons and values) and, at 1 Hz, /diagnostics (the source: inputs received and dropped, stale
or live, the WebXR port). The mapping lives in teleop/mapping.py; sources in teleop/.
"""

from __future__ import annotations

import threading
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped, QuaternionStamped, Vector3
from rclpy.node import Node
from sensor_msgs.msg import Joy

from dexndm_control.core.rotation_command import KeepalivePublisher
from dexndm_control.ros_node import declare_settings, guarded, run_node
from dexndm_control.teleop.controller_state import ControllerState, MalformedInput
from dexndm_control.teleop.mapping import (
    ArmMappingConfig,
    AxisConfig,
    BridgeConfig,
    TeleopCore,
    TeleopOutput,
)
from dexndm_control.teleop.sources import SourceConfig, make_source
from dexndm_msgs.msg import RotationCommand

# the dataclasses that declare this node's ROS parameters (config/*.yaml are checked against them)
SETTINGS = (SourceConfig, ArmMappingConfig, AxisConfig, BridgeConfig)


class QuestBridge(Node):
    def __init__(self) -> None:
        super().__init__("quest_bridge")
        self.source_config = declare_settings(self, SourceConfig)
        arm = declare_settings(self, ArmMappingConfig)
        axis = declare_settings(self, AxisConfig)
        bridge = declare_settings(self, BridgeConfig)
        source_label = "quest" if self.source_config.name in ("oculus_reader", "webxr") \
            else self.source_config.name
        self.core = TeleopCore(arm, axis, bridge.stale_after_s, source_label)
        self.world_frame = bridge.world_frame
        self.hand_frame = bridge.hand_frame
        self._keepalive = KeepalivePublisher(1.0 / bridge.keepalive_hz)
        self._lock = threading.Lock()
        self.arm_publisher = self.create_publisher(PoseStamped, "/teleop/arm_target", 10)
        self.wrist_publisher = self.create_publisher(QuaternionStamped,
                                                     "/dexndm/wrist_orientation", 10)
        self.rotation_publisher = self.create_publisher(RotationCommand,
                                                        "/dexndm/rotation_command", 10)
        self.joy_publisher = self.create_publisher(Joy, "/teleop/joy", 10)
        self.diagnostics_publisher = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.source = None
        self._reported_drops = 0
        self.finished, self.exit_code = False, 0
        # the source (adb, server, terminal) starts from the executor, not in __init__
        self._start_timer = self.create_timer(0.0, guarded(self, self._start_source))
        self.create_timer(0.02, guarded(self, self._tick))
        self.create_timer(5.0, guarded(self, self._report))
        self.create_timer(1.0, guarded(self, self._publish_diagnostics))

    def _start_source(self) -> None:
        self._start_timer.cancel()
        self.source = make_source(self.source_config, self._on_state)
        self.source.start()
        if self.source_config.name == "webxr":
            self.get_logger().info(
                f"WebXR teleop page: {self.source.url} (on the headset: adb reverse "
                f"tcp:{self.source.port} tcp:{self.source.port}, then open that URL)")
        else:
            self.get_logger().info(f"teleop source: {self.source_config.name}")

    def _on_state(self, state: ControllerState) -> None:
        """From the source's thread: map and publish at the input rate."""
        try:
            with self._lock:
                output = self.core.on_input(state, time.monotonic())
                self._publish(output, state)
        except MalformedInput as error:  # a value the parser let through but mapping cannot use
            self.get_logger().warning(f"dropped an input: {error}", throttle_duration_sec=5.0)

    def _tick(self) -> None:
        with self._lock:
            self._publish(self.core.on_tick(time.monotonic()), None)

    def _publish(self, output: TeleopOutput, state: ControllerState | None) -> None:
        if not self.context.ok():
            return
        for event in output.events:
            if event.startswith("no input"):
                self.get_logger().warning(event)
            else:
                self.get_logger().info(event)
        stamp = self.get_clock().now().to_msg()
        if state is not None:
            pose = PoseStamped()
            pose.header.stamp, pose.header.frame_id = stamp, self.world_frame
            pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = \
                (float(v) for v in output.arm_position)
            o = pose.pose.orientation
            o.w, o.x, o.y, o.z = (float(v) for v in output.arm_orientation)
            self.arm_publisher.publish(pose)
            wrist = QuaternionStamped()
            wrist.header.stamp, wrist.header.frame_id = stamp, self.world_frame
            q = wrist.quaternion
            q.w, q.x, q.y, q.z = (float(v) for v in output.wrist)
            self.wrist_publisher.publish(wrist)
            joy = Joy()
            joy.header.stamp, joy.header.frame_id = stamp, state.source
            joy.buttons, joy.axes = state.joy_arrays()
            self.joy_publisher.publish(joy)
        if self._keepalive.should_publish(output.rotation, time.monotonic()):
            command = RotationCommand()
            command.header.stamp, command.header.frame_id = stamp, self.hand_frame
            command.axis = Vector3(x=output.rotation.axis[0], y=output.rotation.axis[1],
                                   z=output.rotation.axis[2])
            command.enabled = output.rotation.enabled
            command.source = output.rotation.source
            self.rotation_publisher.publish(command)

    def _report(self) -> None:
        source = self.source
        if source is None:
            return
        if source.dropped_malformed > self._reported_drops:
            self.get_logger().warning(
                f"dropped {source.dropped_malformed - self._reported_drops} malformed input(s) "
                f"(last: {source.last_error}); {source.received} received")
            self._reported_drops = source.dropped_malformed
        elif source.last_error and source.received == 0:
            self.get_logger().warning(source.last_error, throttle_duration_sec=30.0)

    def _publish_diagnostics(self) -> None:
        source = self.source
        if source is None:
            return
        status = DiagnosticStatus(name="quest_bridge: source",
                                  hardware_id=self.source_config.name)
        with self._lock:
            stale, enabled = self.core.stale, self.core.enabled
        if source.last_error and source.received == 0:
            status.level, status.message = DiagnosticStatus.WARN, source.last_error
        elif stale:
            status.level = DiagnosticStatus.WARN
            status.message = "no input: rotation disabled, arm target held"
        else:
            status.level, status.message = DiagnosticStatus.OK, "receiving"
        values = {"received": source.received, "dropped_malformed": source.dropped_malformed,
                  "stale": str(stale).lower(), "rotation_enabled": str(enabled).lower()}
        if self.source_config.name == "webxr":
            values["port"] = source.port
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_publisher.publish(array)

    def close(self) -> None:
        if self.source is not None:
            self.source.stop()


def main() -> int:
    return run_node(QuestBridge)
