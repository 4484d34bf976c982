"""Node ``rotation_controller``: the base generalist (+ residual) at 20 Hz on the steady clock.

Subscribes /leap_hand/joint_states, /dexndm/rotation_command, /dexndm/wrist_orientation;
publishes /leap_hand/joint_commands and /dexndm/control_step, and with a dynamics bundle the gap
meter: /dexndm/gap_meter every policy tick and its summary on /diagnostics at 1 Hz (its
torque-cap check once the driver's motor settings are read from its parameters). Policy and
observation come from bundles (policy/runtime.py); ramp/hold decisions and the meter from
core/controller.py. The loop is timed: period, inference and publish times, latency from
joint_states receipt to command publish; overruns are logged with their cause, and statistics
are printed (and written to ``stats_file``) at exit.
"""

from __future__ import annotations

import gc
import json
import time
from collections import deque
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Quaternion, QuaternionStamped, Vector3
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.parameter import parameter_value_to_python
from rclpy.parameter_client import AsyncParameterClient
from sensor_msgs.msg import JointState

from dexndm_control.core.controller import ControllerConfig, ControllerCore, Decision
from dexndm_control.core.gap_meter import GapReading, GapSummary
from dexndm_control.core.torque_cap import MOTOR_SETTINGS
from dexndm_control.dynamixel.dynamixel_bus import BusConfig
from dexndm_control.errors import DexndmError, JointNameError
from dexndm_control.hand import JOINT_NAMES, positions_by_name
from dexndm_control.policy.runtime import PolicyRuntime
from dexndm_control.realtime import current_policy, request_fifo
from dexndm_control.ros_node import declare_settings, guarded, run_node
from dexndm_control.rotations import WRIST_ORIENTATIONS
from dexndm_control.settings import from_parameters
from dexndm_msgs.msg import ControlStep, GapMeter, RotationCommand

# the dataclasses that declare this node's ROS parameters (config/*.yaml are checked against them)
SETTINGS = (ControllerConfig,)


class RotationController(Node):
    def __init__(self) -> None:
        super().__init__("rotation_controller")
        self.config = declare_settings(self, ControllerConfig)
        if not self.config.base_bundle:
            raise ValueError("parameter base_bundle is empty: point it at a base_policy bundle "
                             "(the repository ships policies/test_base_policy)")
        self.runtime = PolicyRuntime(self.config.base_bundle,
                                     self.config.residual_bundle or None,
                                     max_step=self.config.max_step_rad,
                                     threads=self.config.inference_threads)
        self.runtime.use_residual = self.config.use_residual and \
            self.runtime.residual is not None
        self.meter = self.config.gap_meter()
        self.core = ControllerCore(self.runtime, self.config, self.meter)
        self.gap_summary = GapSummary()
        # per policy tick: handing it to the meter (in the tick), the meter's work (after it)
        self.gap_times: list[float] = []
        self.gap_cpu_times: list[float] = []
        self.gap_work_times: list[float] = []
        self.gap_work_cpu_times: list[float] = []
        self._gap_queue: deque[tuple[Decision, np.ndarray, np.ndarray | None,
                                     np.ndarray | None]] = deque()
        self._score_gap_guarded = guarded(self, self._score_gap)
        self._last_gap: GapReading | None = None
        wrist, origin = self.config.start_wrist(self.runtime.initial_grasp)
        self._wrist = np.asarray(WRIST_ORIENTATIONS[wrist], dtype=float)
        self.get_logger().info(f"wrist {wrist} ({origin}) until /dexndm/wrist_orientation "
                               "arrives")
        self._stats_file = self.config.stats_file
        self.finished, self.exit_code = False, 0
        self._q: np.ndarray | None = None
        self._velocity: np.ndarray | None = None  # of the reading in _q (rad/s), if it had one
        self._current: np.ndarray | None = None  # its present current (A, the effort field)
        self._state_time: float | None = None
        self._command_time: float | None = None
        self._axis: np.ndarray | None = None
        self._enabled = False
        self._last_reason = None
        self._last_tick: float | None = None
        self.periods: list[float] = []
        self.compute: list[float] = []
        self.latency: list[float] = []
        self.publish_times: list[float] = []
        self._commands = self.create_publisher(JointState, "/leap_hand/joint_commands", 10)
        self._steps = self.create_publisher(ControlStep, "/dexndm/control_step", 10)
        if self.meter is not None:
            self._gap = self.create_publisher(GapMeter, "/dexndm/gap_meter", 10)
            self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
            self.create_timer(1.0, guarded(self, self._publish_diagnostics),
                              clock=Clock(clock_type=ClockType.STEADY_TIME))
            if self.config.motor_settings_node:
                # asked once the driver's parameter services are up (no waiting here)
                self._driver_parameters = AsyncParameterClient(
                    self, self.config.motor_settings_node)
                self._settings_timer = self.create_timer(
                    1.0, guarded(self, self._ask_motor_settings),
                    clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.create_subscription(JointState, "/leap_hand/joint_states",
                                 guarded(self, self._on_state), 10)
        self.create_subscription(RotationCommand, "/dexndm/rotation_command",
                                 guarded(self, self._on_command), 10)
        self.create_subscription(QuaternionStamped, "/dexndm/wrist_orientation",
                                 guarded(self, self._on_wrist), 10)
        self.add_on_set_parameters_callback(self._on_parameters)
        self.create_timer(1.0 / self.config.rate_hz, guarded(self, self._tick),
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        # this thread spins the executor, so the ticks run at this priority (DDS's threads,
        # started before, keep theirs)
        refused = request_fifo(self.config.realtime_priority)
        if refused is not None:
            self.get_logger().warning(refused)
        self.scheduling = "{} {}".format(*current_policy())
        # the bundles leave ~170,000 objects for the collector to walk: a full collection of
        # them stalls the loop ~100 ms. What is loaded stays, so it leaves the collector's view
        gc.freeze()

    def _on_parameters(self, parameters) -> SetParametersResult:
        for parameter in parameters:
            if parameter.name == "use_residual":
                if parameter.value and self.runtime.residual is None:
                    return SetParametersResult(successful=False,
                                               reason="no residual bundle was loaded")
                self.runtime.use_residual = bool(parameter.value)
                self.get_logger().info(f"residual {'on' if parameter.value else 'off'}")
        return SetParametersResult(successful=True)

    def _on_state(self, message: JointState) -> None:
        try:  # joints a message leaves out are NaN: the controller holds on non-finite input
            q = positions_by_name(message.name, message.position)
        except JointNameError as error:  # not this hand's state: ignored, so states go stale
            self.get_logger().error(f"ignored a joint state: {error}", throttle_duration_sec=5.0)
            return
        if self.meter is not None:  # only the meter's torque-cap check reads them
            self._velocity = self._by_name(message.name, message.velocity)
            self._current = self._by_name(message.name, message.effort)
        self._q, self._state_time = q, time.monotonic()

    @staticmethod
    def _by_name(names, values) -> np.ndarray | None:
        """A JointState's velocity or effort in model order (None when it carries none)."""
        if len(values) != len(names) or not len(values):
            return None
        return positions_by_name(names, values)

    def _ask_motor_settings(self) -> None:
        if not self._driver_parameters.services_are_ready():
            return
        self._settings_timer.cancel()
        self._driver_parameters.get_parameters(
            list(MOTOR_SETTINGS), guarded(self, self._on_motor_settings))

    def _on_motor_settings(self, future) -> None:
        node = self.config.motor_settings_node
        values = {name: parameter_value_to_python(value)
                  for name, value in zip(MOTOR_SETTINGS, future.result().values, strict=False)}
        try:
            if set(values) != set(MOTOR_SETTINGS) or None in values.values():
                raise DexndmError(f"{node} does not have the parameters {list(MOTOR_SETTINGS)}")
            check = self.config.torque_cap_check(from_parameters(BusConfig, values))
        except DexndmError as error:
            self.get_logger().error(f"gap meter: no torque-cap check: {error}; set "
                                    "motor_settings_node to the driver node (empty: no check)")
            return
        self.meter.watch_torque_cap(check)
        self.get_logger().info(
            f"gap meter: torque-cap check on, from {node}'s settings (goal current "
            f"{values['goal_current_ma']} mA, P {values['position_p_gain']}, D "
            f"{values['position_d_gain']})")

    def _on_command(self, message: RotationCommand) -> None:
        self._axis = np.array([message.axis.x, message.axis.y, message.axis.z])
        self._enabled, self._command_time = bool(message.enabled), time.monotonic()

    def _on_wrist(self, message: QuaternionStamped) -> None:
        q = message.quaternion
        self._wrist = np.array([q.w, q.x, q.y, q.z])

    def _tick(self) -> None:
        started = time.monotonic()
        if self._last_tick is not None:
            period = started - self._last_tick
            self.periods.append(period)
            if period > 1.5 / self.config.rate_hz:
                cause = self._overrun_cause(period)
                self.get_logger().warning(f"loop overrun: {period * 1000:.1f} ms period, cause: "
                                       f"{cause}", throttle_duration_sec=2.0)
        self._last_tick = started
        if self._gap_queue:  # the last tick's scoring has not run yet: the meter goes in order
            self._score_gap()
        state_time, q, velocity, current = self._state_time, self._q, self._velocity, \
            self._current
        decision = self.core.tick(started, state_time, q, self._command_time, self._axis,
                                  self._enabled, self._wrist)
        kind = decision.reason.split(" (")[0] if decision.holding else None
        if kind is not None and kind != self._last_reason:  # say why once, not every tick
            self.get_logger().info(f"holding: {decision.reason}")
        self._last_reason = kind
        if decision.target is None:
            return
        publish_started = time.monotonic()
        command = JointState(name=list(JOINT_NAMES), position=decision.target.tolist())
        command.header.stamp = self.get_clock().now().to_msg()
        self._commands.publish(command)
        if state_time is not None and not decision.holding:
            self.latency.append(time.monotonic() - state_time)
        if decision.step is not None:
            self.compute.append(decision.step.compute_s)
        self._steps.publish(self._control_step(decision, started))
        self.publish_times.append(time.monotonic() - publish_started)
        if self.meter is None:
            return
        if decision.step is None:  # a hold or ramp: the meter starts over ("waiting")
            self._last_gap = None
            return
        # after the command left: queued here and scored by an executor task, which runs once
        # this tick's callback has returned, so the meter never delays a command. Same thread:
        # no hand-over to another thread, whose wake-up made this one wait for the GIL
        # (docs/gap_meter.md, "Overhead").
        handover_started, handover_cpu = time.perf_counter(), time.thread_time()
        self._gap_queue.append((decision, q, velocity, current))
        self.executor.create_task(self._score_gap_guarded)
        self.gap_times.append(time.perf_counter() - handover_started)
        self.gap_cpu_times.append(time.thread_time() - handover_cpu)

    def _score_gap(self) -> None:
        """Score every queued tick, oldest first (executor tasks may run out of order), and
        publish the readings."""
        while self._gap_queue:
            decision, q, velocity, current = self._gap_queue.popleft()
            reading = self.core.score_gap(decision, q, velocity, current)
            self.gap_work_times.append(decision.gap_s)
            self.gap_work_cpu_times.append(decision.gap_cpu_s)
            if reading is not None:
                self._publish_gap(reading)

    def _publish_gap(self, reading: GapReading) -> None:
        self._last_gap = reading
        self.gap_summary.add(reading)
        t = self.meter.thresholds
        message = GapMeter(predicted=reading.predicted.tolist(),
                           measured=reading.measured.tolist(), error=reading.error.tolist(),
                           rolling_mae=reading.rolling_mae.tolist(),
                           warn_threshold=t.motion_warn.tolist(),
                           error_threshold=t.motion_error.tolist(),
                           offset=reading.offset.tolist(),
                           offset_warn_threshold=t.offset_warn.tolist(),
                           offset_error_threshold=t.offset_error.tolist(),
                           cap_delivered=reading.cap_delivered.tolist(),
                           cap_warn_share=t.cap_warn, cap_error_share=t.cap_error,
                           level=reading.level, joints_out=reading.joints_out)
        message.header.stamp = self.get_clock().now().to_msg()
        self._gap.publish(message)

    def _publish_diagnostics(self) -> None:
        level, text, values = self.meter.diagnostic(self._last_gap)
        status = DiagnosticStatus(level=bytes([level]), name="rotation_controller: reality gap",
                                  message=text, hardware_id=self.config.dynamics_bundle)
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics.publish(array)

    def _overrun_cause(self, period: float) -> str:
        """Which part of the previous tick used the time: inference, publish, or neither (then
        the timer fired late: the process was waiting for the CPU)."""
        inference = self.compute[-1] if self.compute else 0.0
        publish = self.publish_times[-1] if self.publish_times else 0.0
        budget = 1.0 / self.config.rate_hz
        if inference > 0.5 * budget:
            return f"inference ({inference * 1000:.1f} ms)"
        if publish > 0.5 * budget:
            return f"publish ({publish * 1000:.1f} ms)"
        return "waiting (the timer fired late: the process was busy or descheduled)"

    def _control_step(self, decision, started: float) -> ControlStep:
        message = ControlStep()
        message.header.stamp = self.get_clock().now().to_msg()
        step = decision.step
        if self._q is not None:
            message.q = np.nan_to_num(self._q).tolist()
        message.target = decision.target.tolist()
        if step is not None:
            message.previous_target = step.previous_target.tolist()
            message.base_delta = step.base_delta.tolist()
            message.residual = step.residual.tolist()
            message.compute_time = step.compute_s
        if self._axis is not None:
            message.axis = Vector3(x=float(self._axis[0]), y=float(self._axis[1]),
                                   z=float(self._axis[2]))
        message.wrist = Quaternion(w=float(self._wrist[0]), x=float(self._wrist[1]),
                                   y=float(self._wrist[2]), z=float(self._wrist[3]))
        message.residual_enabled = self.runtime.use_residual
        message.holding = decision.holding
        message.hold_reason = decision.reason if decision.holding else \
            ("ramp" if decision.phase == "ramp" else "")
        message.loop_period = self.periods[-1] if self.periods else 0.0
        return message

    def statistics(self) -> dict:
        def percentiles(values: list[float]) -> dict:
            if not values:
                return {}
            ms = np.asarray(values) * 1000.0
            return {"p50": round(float(np.percentile(ms, 50)), 3),
                    "p99": round(float(np.percentile(ms, 99)), 3),
                    "max": round(float(ms.max()), 3)}
        deviation = [abs(p - 1.0 / self.config.rate_hz) for p in self.periods]
        return {"ticks": len(self.periods) + 1, "scheduling": self.scheduling,
                "rate_hz": round(len(self.periods) / sum(self.periods), 3) if self.periods
                else 0.0, "period_deviation_ms": percentiles(deviation),
                "compute_ms": percentiles(self.compute),
                "publish_ms": percentiles(self.publish_times),
                "latency_ms": percentiles(self.latency),
                **({"gap_meter_ms": percentiles(self.gap_times),
                    "gap_meter_cpu_ms": percentiles(self.gap_cpu_times),
                    "gap_meter_work_ms": percentiles(self.gap_work_times),
                    "gap_meter_work_cpu_ms": percentiles(self.gap_work_cpu_times),
                    "gap_meter": self.gap_summary.to_dict(self.meter.reference)}
                   if self.meter is not None else {})}

    def close(self) -> None:
        stats = self.statistics()
        print("controller loop: " + json.dumps(stats), flush=True)
        if self._stats_file:
            Path(self._stats_file).write_text(json.dumps(stats, indent=2))


def main() -> int:
    return run_node(RotationController)
