"""The LEAP hand driver's logic, without ROS: commands, safety clipping, I/O cycle, faults.

One thread owns the bus and calls ``step()`` at the state rate; other threads hand it commands
(``submit_command``) and requests (``request``). Everything crosses the hardware boundary through
dexndm_control.hand, so callers only see model order and SI units.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from dexndm_control import hand
from dexndm_control.dynamixel.bus import BusError, MotorBus, PortLostError
from dexndm_control.dynamixel.control_table import ALERT_BIT, decode_hardware_errors
from dexndm_control.errors import DexndmError, JointNameError
from dexndm_control.settings import setting


class CommandRejected(DexndmError):
    """A joint command that must not reach the motors (and why)."""


@dataclass(frozen=True)
class DriverConfig:
    state_rate_hz: float = setting(200.0, help="/leap_hand/joint_states rate (bus-limited, "
                                               "~870 Hz at 4 Mbaud)")
    health_rate_hz: float = setting(2.0, help="hardware error / temperature / voltage polling")
    diagnostics_rate_hz: float = 2.0
    max_step_rad: float = setting(0.25, help="largest target change one command may make, "
                                             "per joint")
    command_timeout_s: float = setting(0.5, help="after this without commands: hold, and say so")
    stale_after_s: float = setting(0.1, help="a motor whose data is older than this is stale")
    reconnect_backoff_s: tuple[float, float] = setting(
        (0.2, 2.0), help="first and largest delay between reconnection attempts")
    auto_reboot: bool = setting(False, help="reboot a motor that latched an overload or "
                                            "overheating error by itself, after a cool-down, "
                                            "restoring its settings and torque")
    auto_reboot_cooldown_s: float = setting(5.0, help="wait this long after the error before "
                                                       "an automatic reboot")
    auto_reboot_max_per_hour: int = setting(
        3, help="automatic reboots of one motor within any hour; one more error and the driver "
                "gives up on that motor (ERROR naming it) until ~/reboot")
    auto_reboot_temperature_margin_c: float = setting(
        10.0, help="an overheated motor is rebooted only once this far below its Temperature "
                   "Limit")

    def __post_init__(self) -> None:
        if not 1.0 <= self.state_rate_hz <= 2000.0:
            raise DexndmError(f"state_rate_hz must be within 1..2000, got {self.state_rate_hz}")
        if not 0.0 < self.max_step_rad <= math.pi:
            raise DexndmError(f"max_step_rad must be within (0, pi], got {self.max_step_rad}")
        if min(self.command_timeout_s, self.stale_after_s, self.health_rate_hz,
               self.diagnostics_rate_hz) <= 0:
            raise DexndmError("timeouts and rates must be positive")
        if self.auto_reboot_cooldown_s < 0 or self.auto_reboot_max_per_hour < 1 \
                or self.auto_reboot_temperature_margin_c < 0:
            raise DexndmError("auto_reboot_cooldown_s and auto_reboot_temperature_margin_c must "
                              "be >= 0 and auto_reboot_max_per_hour >= 1")


# errors that an automatic reboot may clear: both come from load and heat, not from a broken part
RECOVERABLE_ERRORS = frozenset({"overload", "overheating"})
HOUR_S = 3600.0


@dataclass
class JointSample:
    stamp: float
    position: np.ndarray  # rad, model order
    velocity: np.ndarray  # rad/s
    effort: np.ndarray  # A (present current)


@dataclass
class MotorStatus:
    motor_id: int
    joint: str
    level: str  # OK, WARN, ERROR, STALE
    message: str
    values: dict[str, str] = field(default_factory=dict)


def parse_command(names: Sequence[str], positions: Sequence[float],
                  current_target: np.ndarray) -> np.ndarray:
    """A full model-order target from a JointState-style command, or CommandRejected."""
    positions = np.asarray(positions, dtype=float)
    if not np.all(np.isfinite(positions)):
        raise CommandRejected("command has NaN or infinite positions; nothing was sent")
    try:
        return hand.positions_by_name(names, positions, fill=current_target)
    except JointNameError as error:
        raise CommandRejected(str(error)) from None


class DriverCore:
    def __init__(self, bus: MotorBus, config: DriverConfig = DriverConfig(),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bus = bus
        self.config = config
        self.clock = clock
        self._lock = threading.Lock()
        self._target: np.ndarray | None = None  # model order; None until the first reading
        self._last_command: float | None = None
        self._requests: list[tuple[str, object, threading.Event, list]] = []
        self.connected = False
        self.last_error = ""
        self._next_connect = 0.0
        self._backoff = config.reconnect_backoff_s[0]
        self._next_health = 0.0
        self._last_ok = np.full(hand.NUM_JOINTS, -math.inf)
        self._sample: JointSample | None = None
        self._hardware_error = np.zeros(hand.NUM_JOINTS, dtype=np.int64)
        self._status_error = np.zeros(hand.NUM_JOINTS, dtype=np.int64)
        self._temperature = np.full(hand.NUM_JOINTS, math.nan)
        self._temperature_limit = np.full(hand.NUM_JOINTS, math.nan)
        self._voltage = np.full(hand.NUM_JOINTS, math.nan)
        # automatic recovery: when each motor's error was first seen, its reboots, given up
        self._error_since = np.full(hand.NUM_JOINTS, math.nan)
        self._reboot_times: list[deque[float]] = [deque() for _ in range(hand.NUM_JOINTS)]
        self.auto_reboots = np.zeros(hand.NUM_JOINTS, dtype=np.int64)
        self.gave_up = np.zeros(hand.NUM_JOINTS, dtype=bool)
        self.recovery_events: deque[str] = deque(maxlen=100)  # for the node to log
        self.torque_enabled = False
        self.cycles = 0
        self.reconnects = 0
        self.disconnects = 0
        self._reported_disconnects = 0  # how many of them a bus status has shown
        self._last_loss = ""
        self.rejected_commands = 0
        self.clipped_commands = 0

    # -- called from other threads ---------------------------------------------------------

    def submit_command(self, names: Sequence[str], positions: Sequence[float]) -> np.ndarray:
        """Validate, clip to limits and to the max step, and make it the target. Returns it."""
        with self._lock:
            if self._target is None:
                self.rejected_commands += 1
                raise CommandRejected("the hand is not connected yet; command dropped")
            try:
                wanted = parse_command(names, positions, self._target)
            except CommandRejected:
                self.rejected_commands += 1
                raise
            step = self.config.max_step_rad
            clipped = hand.clip_to_limits(np.clip(wanted, self._target - step,
                                                  self._target + step))
            if not np.allclose(clipped, wanted):
                self.clipped_commands += 1
            self._target = clipped
            self._last_command = self.clock()
            return clipped.copy()

    def request(self, kind: str, argument: object = None, timeout: float = 5.0) -> str:
        """Run 'torque' (bool) or 'reboot' on the I/O thread; wait for its result message."""
        done, result = threading.Event(), []
        with self._lock:
            self._requests.append((kind, argument, done, result))
        if not done.wait(timeout):
            raise BusError(f"{kind} request timed out after {timeout} s (is the hand connected?)")
        if isinstance(result[0], Exception):
            raise result[0]
        return result[0]

    @property
    def target(self) -> np.ndarray | None:
        with self._lock:
            return None if self._target is None else self._target.copy()

    def commands_stale(self, now: float | None = None) -> bool:
        now = self.clock() if now is None else now
        return self._last_command is None or now - self._last_command > \
            self.config.command_timeout_s

    # -- the I/O thread --------------------------------------------------------------------

    def step(self) -> JointSample | None:
        """One I/O cycle: (re)connect, serve requests, write the target, read the state."""
        now = self.clock()
        if not self.connected and not self._connect(now):
            return None
        try:
            self._serve_requests()
            with self._lock:
                target = None if self._target is None else self._target.copy()
            if target is not None and self.torque_enabled:
                self.bus.write_goal_positions(hand.model_to_motor_ticks(target))
            sample = self._read(now)
            if now >= self._next_health:
                self._poll_health(now)
                self._next_health = now + 1.0 / self.config.health_rate_hz
                if self.config.auto_reboot and self.torque_enabled:
                    self._recover(now)
            self.cycles += 1
            return sample
        except PortLostError as error:
            self._disconnect(now, str(error))
            return None

    def _connect(self, now: float) -> bool:
        if now < self._next_connect:
            return False
        try:
            self.bus.open()
        except BusError as error:
            self.bus.close()
            self.last_error = str(error)
            self._next_connect = now + self._backoff
            self._backoff = min(self._backoff * 2, self.config.reconnect_backoff_s[1])
            self._fail_requests(error)
            return False
        self.connected, self.torque_enabled = True, True
        self._backoff = self.config.reconnect_backoff_s[0]
        self.reconnects += 1
        self.last_error = ""
        reading = self.bus.read_state()
        with self._lock:
            if self._target is None:
                # hold the pose the hand is in: never jump on start-up
                self._target = hand.motor_ticks_to_model(reading.position)
        return True

    def _disconnect(self, now: float, reason: str) -> None:
        self.connected, self.torque_enabled = False, False
        self.last_error = self._last_loss = f"port lost: {reason}"
        self.disconnects += 1
        self.bus.close()
        self._next_connect = now + self._backoff

    def _fail_requests(self, error: Exception) -> None:
        with self._lock:
            requests, self._requests = self._requests, []
        for _kind, _argument, done, result in requests:
            result.append(error)
            done.set()

    def _serve_requests(self) -> None:
        with self._lock:
            requests, self._requests = self._requests, []
        for kind, argument, done, result in requests:
            try:
                if kind == "torque":
                    self.bus.set_torque(bool(argument))
                    self.torque_enabled = bool(argument)
                    result.append(f"torque {'on' if argument else 'off'}")
                elif kind == "reboot":
                    self.bus.reboot(list(range(hand.NUM_JOINTS)))
                    self.torque_enabled = True
                    self._hardware_error[:] = 0
                    self._error_since[:] = math.nan
                    self.gave_up[:] = False  # a person looked at it: automatic recovery again
                    self._next_health = 0.0
                    result.append("rebooted all motors; settings and torque restored")
                else:
                    result.append(BusError(f"unknown request {kind}"))
            except PortLostError as error:
                result.append(error)
                done.set()
                raise
            except BusError as error:
                result.append(error)
            done.set()

    def _read(self, now: float) -> JointSample:
        reading = self.bus.read_state()
        ok_model = reading.ok[hand.MOTOR_IDS]
        self._last_ok[ok_model] = now
        status_error = np.where(ok_model, reading.error[hand.MOTOR_IDS], self._status_error)
        if np.any(status_error & ALERT_BIT & ~self._status_error):
            # learn which error before the alert is visible to diagnostics (another thread),
            # so a report never names an alert without its cause when the bus could tell it
            self._poll_health(now)
        self._status_error = status_error
        previous = self._sample
        position = hand.motor_ticks_to_model(reading.position)
        velocity = hand.motor_velocity_to_model(reading.velocity)
        effort = hand.motor_current_to_model(reading.current)
        if previous is not None:  # keep the last known value of a motor that did not answer
            position = np.where(ok_model, position, previous.position)
            velocity = np.where(ok_model, velocity, previous.velocity)
            effort = np.where(ok_model, effort, previous.effort)
        self._sample = JointSample(now, position, velocity, effort)
        if np.any(self._status_error & ALERT_BIT):
            self._next_health = min(self._next_health, now)  # recovery acts in this cycle
        return self._sample

    def _poll_health(self, now: float) -> None:
        health = self.bus.read_health()
        ok_model = health.ok[hand.MOTOR_IDS]
        self._hardware_error = np.where(ok_model, health.hardware_error[hand.MOTOR_IDS],
                                        self._hardware_error)
        self._temperature = np.where(ok_model, health.temperature[hand.MOTOR_IDS],
                                     self._temperature)
        self._voltage = np.where(ok_model, health.voltage[hand.MOTOR_IDS], self._voltage)
        if len(health.temperature_limit):
            self._temperature_limit = health.temperature_limit[hand.MOTOR_IDS].astype(float)
        erring = self._hardware_error != 0
        self._error_since = np.where(erring, np.fmin(self._error_since, now), math.nan)

    def _recover(self, now: float) -> None:
        """Reboot each motor whose latched error may clear by itself (overload, overheating)
        once it has cooled down; give up on a motor past the hourly cap."""
        for index in np.flatnonzero(self._hardware_error):
            errors = set(decode_hardware_errors(int(self._hardware_error[index])))
            if self.gave_up[index] or not errors or not errors <= RECOVERABLE_ERRORS:
                continue
            if now - self._error_since[index] < self.config.auto_reboot_cooldown_s:
                continue
            cool_enough = self._temperature_limit[index] - \
                self.config.auto_reboot_temperature_margin_c
            if "overheating" in errors and not self._temperature[index] <= cool_enough:
                continue  # NaN limit or temperature: wait for a reading
            recent = self._reboot_times[index]
            while recent and now - recent[0] >= HOUR_S:
                recent.popleft()
            motor_id, joint = int(hand.MOTOR_IDS[index]), hand.JOINT_NAMES[index]
            if len(recent) >= self.config.auto_reboot_max_per_hour:
                self.gave_up[index] = True
                self.recovery_events.append(
                    f"motor {motor_id} ({joint}): {', '.join(sorted(errors))} again after "
                    f"{len(recent)} automatic reboot(s) within the hour: giving up on it")
                continue
            self.bus.reboot([motor_id])
            recent.append(now)
            self.auto_reboots[index] += 1
            self._hardware_error[index] = 0
            self._status_error[index] = 0  # the alert bit of the read before the reboot
            self._error_since[index] = math.nan
            self._next_health = now  # see at once whether the error comes back
            self.recovery_events.append(
                f"motor {motor_id} ({joint}): rebooted automatically after "
                f"{', '.join(sorted(errors))} (reboot {len(recent)} of "
                f"{self.config.auto_reboot_max_per_hour} this hour); settings and torque "
                "restored")

    # -- diagnostics -----------------------------------------------------------------------

    def bus_status(self, waiting_for_port: bool = False) -> tuple[str, str]:
        """(level, message) of the bus for one diagnostics report. A port lost and regained
        between two reports is still reported, once, as ERROR: a short unplug must not vanish
        from /diagnostics because it fell between two publications."""
        unreported = self.disconnects > self._reported_disconnects
        self._reported_disconnects = self.disconnects
        if not self.connected:
            if waiting_for_port or not self.last_error:  # starting up: nothing failed yet
                return "WARN", (f"waiting for {self.bus.config.port}" if waiting_for_port
                                else "connecting")
            return "ERROR", self.last_error
        if unreported:
            return "ERROR", f"{self._last_loss}; reconnected"
        if self.commands_stale():
            return "WARN", "no recent commands: holding target"
        return "OK", "connected"

    def motor_statuses(self, now: float | None = None) -> list[MotorStatus]:
        now = self.clock() if now is None else now
        comm = getattr(self.bus, "comm_errors", {})
        statuses = []
        for index, joint in enumerate(hand.JOINT_NAMES):
            motor_id = int(hand.MOTOR_IDS[index])
            age = now - self._last_ok[index]
            errors = decode_hardware_errors(int(self._hardware_error[index]))
            # a latched error outranks stale data: a motor being rebooted (the I/O thread is
            # busy for ~0.2 s) is still in error, not merely late, until the reboot is done
            if not self.connected:
                level, message = "STALE", self.last_error or "not connected"
            elif errors and self.gave_up[index]:
                level, message = "ERROR", (
                    "hardware error: " + ", ".join(errors) + f" keeps coming back (gave up after "
                    f"{len(self._reboot_times[index])} automatic reboots within the hour): check "
                    f"motor {motor_id} ({joint}) for a jam or heat, then call ~/reboot")
            elif errors:
                level, message = "ERROR", "hardware error: " + ", ".join(errors) + \
                    self._recovery_hint(index, errors, now)
            elif age > self.config.stale_after_s:
                level, message = "STALE", f"no data for {age:.2f} s"
            elif self._status_error[index] & ALERT_BIT:
                level, message = "ERROR", "hardware alert (reading error status)"
            else:
                level, message = "OK", "ok"
            statuses.append(MotorStatus(motor_id, joint, level, message, {
                "hardware_error_status": str(int(self._hardware_error[index])),
                "temperature_c": f"{self._temperature[index]:.0f}",
                "temperature_limit_c": f"{self._temperature_limit[index]:.0f}",
                "auto_reboots": str(int(self.auto_reboots[index])),
                "recovery": "gave_up" if self.gave_up[index] else
                            ("auto" if self.config.auto_reboot else "manual"),
                "voltage_v": f"{self._voltage[index]:.1f}",
                "comm_errors": str(comm.get(motor_id, 0)),
                "stale": str(age > self.config.stale_after_s).lower(),
                "data_age_s": f"{min(age, 1e6):.3f}"}))
        return statuses

    def _recovery_hint(self, index: int, errors: list[str], now: float) -> str:
        if not self.config.auto_reboot or not set(errors) <= RECOVERABLE_ERRORS:
            return " (torque off; call ~/reboot)"
        if not self.torque_enabled:
            return " (torque off by request; automatic recovery resumes with torque on)"
        wait = self.config.auto_reboot_cooldown_s - (now - self._error_since[index])
        if "overheating" in errors:
            below = self._temperature_limit[index] - self.config.auto_reboot_temperature_margin_c
            return f" (torque off; automatic reboot once below {below:.0f} C)"
        return f" (torque off; automatic reboot in {max(wait, 0.0):.0f} s)" \
            if math.isfinite(wait) else " (torque off; automatic reboot after the cool-down)"
