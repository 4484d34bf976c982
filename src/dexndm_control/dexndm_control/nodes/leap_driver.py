"""Node ``leap_driver``: the LEAP hand on a Dynamixel bus (real U2D2 or the virtual hand's pty).

One I/O thread owns the port (driver/core.py does the work); this node converts messages and
publishes. Torque goes off on every way out: SIGINT, SIGTERM, an exception, a node error.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_srvs.srv import SetBool, Trigger

from dexndm_control import hand
from dexndm_control.driver.core import CommandRejected, DriverConfig, DriverCore
from dexndm_control.dynamixel.bus import BusError
from dexndm_control.dynamixel.dynamixel_bus import BusConfig, DynamixelBus
from dexndm_control.ros_node import declare_settings, guarded, run_node

_LEVELS = {"OK": DiagnosticStatus.OK, "WARN": DiagnosticStatus.WARN,
           "ERROR": DiagnosticStatus.ERROR, "STALE": DiagnosticStatus.STALE}


# the dataclasses that declare this node's ROS parameters (config/*.yaml are checked against them)
SETTINGS = (BusConfig, DriverConfig)


class LeapDriver(Node):
    def __init__(self) -> None:
        super().__init__("leap_driver")
        bus_config = declare_settings(self, BusConfig)
        self.config = declare_settings(self, DriverConfig)
        self.core = DriverCore(DynamixelBus(bus_config), self.config)
        self.finished = False
        self.exit_code = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._joint_states = self.create_publisher(JointState, "/leap_hand/joint_states",
                                                   QoSProfile(depth=10))
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_subscription(JointState, "/leap_hand/joint_commands",
                                 guarded(self, self._on_command),
                                 QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        self.create_service(SetBool, "~/set_torque", guarded(self, self._on_set_torque))
        self.create_service(Trigger, "~/reboot", guarded(self, self._on_reboot))
        self.create_timer(1.0 / self.config.diagnostics_rate_hz,
                          guarded(self, self._publish_diagnostics))
        # the port is opened by the I/O thread, started once the node spins (no I/O in __init__)
        self._starter = self.create_timer(0.0, guarded(self, self._start_io))
        self._was_connected = False
        self._waiting_for_port = False
        self.cycle_times: list[float] = []

    def _start_io(self) -> None:
        self._starter.cancel()
        self._thread = threading.Thread(target=self._io_loop, name="leap_bus", daemon=True)
        self._thread.start()

    def _wait_for_port(self) -> None:
        """A launch may start the driver before the emulator (or udev) creates the port: wait
        for the device path quietly, up to startup_timeout_s; connection errors are real after."""
        config = self.core.bus.config
        port = Path(config.port)
        if not port.is_absolute() or port.exists():
            return
        self._waiting_for_port = True
        self.get_logger().info(f"waiting up to {config.startup_timeout_s:.0f} s for {port}")
        deadline = time.monotonic() + config.startup_timeout_s
        while not port.exists() and time.monotonic() < deadline and not self._stop.is_set():
            self._stop.wait(0.02)
        self._waiting_for_port = False

    def _io_loop(self) -> None:
        self._wait_for_port()
        period = 1.0 / self.config.state_rate_hz
        next_time = time.monotonic()
        names = list(hand.JOINT_NAMES)
        while not self._stop.is_set():
            try:
                sample = self.core.step()
            except Exception as error:  # noqa: BLE001 - the I/O thread must never die silently
                self.get_logger().fatal(f"bus thread failed: {error!r}; shutting down")
                self.exit_code, self.finished = 1, True
                return
            self._report_connection()
            while self.core.recovery_events:
                self.get_logger().warning(self.core.recovery_events.popleft())
            if sample is not None:
                message = JointState()
                message.header.stamp = self.get_clock().now().to_msg()
                message.name = names
                message.position = sample.position.tolist()
                message.velocity = sample.velocity.tolist()
                message.effort = sample.effort.tolist()
                try:
                    self._joint_states.publish(message)
                except Exception as error:  # noqa: BLE001 - expected while the context shuts down
                    if self.context.ok():
                        self.get_logger().fatal(f"publishing joint_states failed: {error!r}")
                        self.exit_code, self.finished = 1, True
                    return
            next_time += period
            delay = next_time - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_time = time.monotonic()  # overrun: do not try to catch up with a burst

    def _report_connection(self) -> None:
        connected = self.core.connected
        if connected != self._was_connected:
            if connected:
                self.get_logger().info(f"hand connected on {self.core.bus.config.port}; "
                                       "holding the current pose")
            else:
                self.get_logger().error(f"hand disconnected: {self.core.last_error}")
            self._was_connected = connected
        elif not connected and self.core.last_error:
            self.get_logger().error(f"cannot reach the hand: {self.core.last_error}",
                                    throttle_duration_sec=5.0)

    def _on_command(self, message: JointState) -> None:
        try:
            self.core.submit_command(list(message.name), list(message.position))
        except CommandRejected as error:
            self.get_logger().error(f"rejected /leap_hand/joint_commands: {error}",
                                    throttle_duration_sec=1.0)

    def _on_set_torque(self, request: SetBool.Request, response: SetBool.Response):
        try:
            response.message = self.core.request("torque", request.data)
            response.success = True
        except BusError as error:
            response.success, response.message = False, str(error)
        return response

    def _on_reboot(self, _request: Trigger.Request, response: Trigger.Response):
        try:
            response.message = self.core.request("reboot", timeout=10.0)
            response.success = True
        except BusError as error:
            response.success, response.message = False, str(error)
        return response

    def _publish_diagnostics(self) -> None:
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        core = self.core
        bus = DiagnosticStatus(name="leap_hand: bus", hardware_id=core.bus.config.port)
        level, bus.message = core.bus_status(self._waiting_for_port)
        bus.level = _LEVELS[level]
        bus.values = [KeyValue(key=k, value=str(v)) for k, v in (
            ("cycles", core.cycles), ("reconnects", core.reconnects),
            ("disconnects", core.disconnects),
            ("torque_enabled", core.torque_enabled), ("rejected_commands", core.rejected_commands),
            ("clipped_commands", core.clipped_commands),
            ("auto_reboots", int(core.auto_reboots.sum())),
            ("fast_read_failures", getattr(core.bus, "fast_read_failures", 0)))]
        array.status.append(bus)
        for status in core.motor_statuses():
            item = DiagnosticStatus(level=_LEVELS[status.level],
                                    name=f"leap_hand: motor {status.motor_id} ({status.joint})",
                                    message=status.message, hardware_id=f"dxl:{status.motor_id}")
            item.values = [KeyValue(key=k, value=v) for k, v in status.values.items()]
            array.status.append(item)
        self._diagnostics.publish(array)

    def close(self) -> None:
        """Stop the I/O thread, then torque off and release the port (every shutdown path)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self.core.bus.close()
        self.get_logger().info("torque off, port closed")


def main() -> int:
    return run_node(LeapDriver)
