"""``DynamixelBus``: the LEAP hand's 16 XC330-M288 motors through dynamixel-sdk (Protocol 2.0).

What it does beyond the SDK's group helpers (docs/notes/dynamixel.md):
* keeps each motor's status error byte on every read (GroupSyncRead drops it, hiding overloads);
* fast sync read (one status packet for all motors) with byte stuffing removed, falling back to a
  plain sync read that still assigns every reply by ID when a motor is missing or a reply is late;
* a start-up sequence that reports every missing motor at once, gives up after a timeout, and
  verifies everything it wrote by reading it back;
* short packet timeouts (the SDK's default assumes a 16 ms USB latency timer);
* serial failures surface as PortLostError so the owner can reopen and set up again.
"""

from __future__ import annotations

import contextlib
import math
import struct
import termios
import time
from dataclasses import dataclass

import numpy as np
import serial
from dynamixel_sdk import (
    COMM_PORT_BUSY,
    COMM_RX_CORRUPT,
    COMM_SUCCESS,
    DXL_HIBYTE,
    DXL_LOBYTE,
    PacketHandler,
    PortHandler,
)
from dynamixel_sdk.protocol2_packet_handler import (
    INST_READ,
    INST_WRITE,
    PKT_ERROR,
    PKT_INSTRUCTION,
    PKT_LENGTH_H,
    PKT_LENGTH_L,
    PKT_PARAMETER0,
)

from dexndm_control.dynamixel.bus import (
    BusError,
    BusReading,
    MissingMotorsError,
    MotorBus,
    MotorHealth,
    PortLostError,
)
from dexndm_control.dynamixel.control_table import (
    CURRENT_BASED_POSITION_MODE,
    MODEL_NUMBER_XC330_M288,
    REGISTERS,
    span,
    to_signed,
)
from dexndm_control.settings import setting

_STATE_ADDRESS, _STATE_LENGTH = span("present_current", "present_position")  # 126, 10
_HEALTH_ADDRESS, _HEALTH_LENGTH = span("present_input_voltage", "present_temperature")
_SERIAL_ERRORS = (serial.SerialException, OSError, termios.error)
_INST_STATUS = 0x55


@dataclass(frozen=True)
class BusConfig:
    port: str = setting("/dev/ttyUSB0", deployment=True,
                        help="serial port of the U2D2 (or the virtual hand's pty)")
    baudrate: int = 4_000_000
    motor_ids: tuple[int, ...] = tuple(range(16))
    position_p_gain: int = setting(800, help="XC330 register units (LEAP hand API value)")
    position_i_gain: int = 0
    position_d_gain: int = 200
    side_motor_ids: tuple[int, ...] = setting((0, 4, 8),
                                              help="abduction motors, run at side_gain_scale")
    side_gain_scale: float = 0.75
    current_limit_ma: int = setting(550, help="EEPROM current limit")
    goal_current_ma: int = setting(550, help="torque cap of current-based position mode")
    latency_ms: float = setting(1.0, help="USB latency timer of the adapter (1 ms on Linux)")
    startup_timeout_s: float = setting(3.0, help="give up (naming the missing motors) after "
                                                 "this long")
    fast_sync_read: bool = setting(True, help="one status packet for all motors; falls back "
                                              "when one fails")
    # after a failed register transfer, wait this long and discard what arrives: a reply that
    # comes late must not be taken as the answer to the next request
    late_reply_window_ms: float = 20.0
    # register transfers (start-up, torque, reboot) are not time-critical: allow a slow answer
    register_slack_ms: float = 10.0
    # a motor that misses this many cyclic reads in a row while the others answer is left out
    # of them (a dead motor would otherwise cost a reply timeout every cycle) and pinged every
    # absent_reping_s until it answers again
    absent_after_misses: int = 10
    absent_reping_s: float = 0.25

    def __post_init__(self) -> None:
        if not self.motor_ids or len(set(self.motor_ids)) != len(self.motor_ids):
            raise BusError(f"motor_ids must be distinct and non-empty, got {self.motor_ids}")
        if not 0 < self.goal_current_ma <= self.current_limit_ma <= 2352:
            raise BusError("need 0 < goal_current_ma <= current_limit_ma <= 2352 mA (XC330 max);"
                           f" got {self.goal_current_ma} and {self.current_limit_ma}")
        for name in ("position_p_gain", "position_i_gain", "position_d_gain"):
            if not 0 <= getattr(self, name) <= 16383:
                raise BusError(f"{name} must be within 0..16383")
        if not 0 < self.side_gain_scale <= 1:
            raise BusError("side_gain_scale must be within (0, 1]")

    def gains(self, motor_id: int) -> dict[str, int]:
        scale = self.side_gain_scale if motor_id in self.side_motor_ids else 1.0
        return {"position_p_gain": int(round(self.position_p_gain * scale)),
                "position_i_gain": self.position_i_gain,
                "position_d_gain": int(round(self.position_d_gain * scale))}

    def settings(self, motor_id: int) -> dict[str, int]:
        """Every register the start-up sequence writes, in write order (EEPROM first)."""
        return {"return_delay_time": 0, "operating_mode": CURRENT_BASED_POSITION_MODE,
                "current_limit": self.current_limit_ma, **self.gains(motor_id),
                "goal_current": self.goal_current_ma}


class _Port(PortHandler):
    """PortHandler whose packet timeout uses the adapter's real latency, not a fixed 16 ms."""

    def __init__(self, name: str, latency_ms: float) -> None:
        super().__init__(name)
        self.latency_ms = latency_ms
        self.slack_ms = 0.0  # extra wait for transfers that are not time-critical

    def setPacketTimeout(self, packet_length):  # noqa: N802 - SDK override
        self.packet_start_time = self.getCurrentTime()
        self.packet_timeout = (self.tx_time_per_byte * packet_length + 2 * self.latency_ms + 2.0
                               + self.slack_ms)


class DynamixelBus(MotorBus):
    def __init__(self, config: BusConfig) -> None:
        self.config = config
        self.ids = list(config.motor_ids)
        self._port: _Port | None = None
        self._packets = PacketHandler(2.0)
        self.comm_errors = {i: 0 for i in self.ids}
        self.fast_read_failures = 0
        self._misses = {i: 0 for i in self.ids}
        self.absent: dict[int, float] = {}  # motor ID -> when to ping it next
        # Temperature Limit (EEPROM, read at configuration): where the firmware shuts down
        self.temperature_limits = {i: math.nan for i in self.ids}

    # -- connection ------------------------------------------------------------------------

    def open(self) -> None:
        self.absent.clear()  # start-up waits for every motor
        self._misses = {i: 0 for i in self.ids}
        self._port = _Port(self.config.port, self.config.latency_ms)
        try:
            if not self._port.openPort() or not self._port.setBaudRate(self.config.baudrate):
                raise PortLostError(f"cannot open {self.config.port} at {self.config.baudrate}")
        except _SERIAL_ERRORS as error:
            self._port = None
            raise PortLostError(f"cannot open {self.config.port}: {error}; check the cable and "
                                "that you may use the device (dialout group)") from None
        self._port.clearPort()
        self._startup()

    def close(self) -> None:
        if self._port is None:
            return
        with contextlib.suppress(BusError):
            self.set_torque(False, verify=False)
        with contextlib.suppress(_SERIAL_ERRORS):
            self._port.closePort()
        self._port = None

    @property
    def is_open(self) -> bool:
        return self._port is not None

    # -- start-up --------------------------------------------------------------------------

    def _startup(self) -> None:
        self.set_torque(False, verify=False)
        self._wait_for_motors()
        self.configure(self.ids)
        self.set_torque(True)

    def _wait_for_motors(self) -> None:
        deadline = time.monotonic() + self.config.startup_timeout_s
        missing = list(self.ids)
        while missing:
            for motor_id in list(missing):
                model, result, _ = self._call(self._packets.ping, motor_id)
                if result == COMM_SUCCESS:
                    if model != MODEL_NUMBER_XC330_M288:
                        raise BusError(f"motor {motor_id} is model {model}, expected XC330-M288 "
                                       f"({MODEL_NUMBER_XC330_M288})")
                    missing.remove(motor_id)
            if missing and time.monotonic() >= deadline:
                raise MissingMotorsError(missing, self.config.port)

    def configure(self, motor_ids: list[int]) -> None:
        """Write and verify the settings of ``motor_ids`` (their torque must be off)."""
        for motor_id in motor_ids:
            for name, value in self.config.settings(motor_id).items():
                self.write_register(motor_id, name, value)
        for motor_id in motor_ids:
            for name, value in self.config.settings(motor_id).items():
                actual = self.read_register(motor_id, name)
                if actual != value:
                    raise BusError(f"motor {motor_id}: {name} reads back {actual}, wrote {value}")
            self.temperature_limits[motor_id] = float(
                self.read_register(motor_id, "temperature_limit"))

    # -- registers -------------------------------------------------------------------------

    def _call(self, function, *args):
        try:
            result = function(self._port, *args)
        except _SERIAL_ERRORS as error:
            raise PortLostError(f"{self.config.port}: {error}") from None
        except IndexError:  # a stray late reply confused the SDK's parser
            self._port.clearPort()
            if function in (self._packets.ping, self._packets.txRxPacket):
                return ([] if function is self._packets.txRxPacket else None), COMM_RX_CORRUPT, 0
            return COMM_RX_CORRUPT, 0
        if result == COMM_PORT_BUSY or (isinstance(result, tuple) and COMM_PORT_BUSY in result[1:]):
            raise PortLostError(f"{self.config.port} is stuck busy after a failed transfer")
        return result

    def _register_transfer(self, motor_id: int, instruction: int, address: int,
                           params: list[int], reply_params: int) -> tuple[list[int], int, int]:
        """One request/status exchange whose reply is checked against the request: status
        instruction and parameter count (the SDK only checks the ID). On any failure the late
        reply window is drained so a stale answer cannot satisfy the next request."""
        txpacket = [0] * (10 + len(params) + 2)
        length = 3 + len(params) + 2  # instruction + address + params + CRC
        txpacket[4], txpacket[PKT_LENGTH_L], txpacket[PKT_LENGTH_H] = motor_id, \
            DXL_LOBYTE(length), DXL_HIBYTE(length)
        txpacket[PKT_INSTRUCTION] = instruction
        txpacket[PKT_PARAMETER0:PKT_PARAMETER0 + 2] = [DXL_LOBYTE(address), DXL_HIBYTE(address)]
        txpacket[PKT_PARAMETER0 + 2:PKT_PARAMETER0 + 2 + len(params)] = params
        self._port.slack_ms = self.config.register_slack_ms
        try:
            rxpacket, result, error = self._call(self._packets.txRxPacket, txpacket)
        finally:
            self._port.slack_ms = 0.0
        if result == COMM_SUCCESS:
            reply_length = rxpacket[PKT_LENGTH_L] | rxpacket[PKT_LENGTH_H] << 8
            if rxpacket[PKT_INSTRUCTION] != _INST_STATUS or reply_length != reply_params + 4:
                result = COMM_RX_CORRUPT  # an answer to some other request
            else:
                error = rxpacket[PKT_ERROR]
        if result != COMM_SUCCESS:
            self._drain_late_replies()
            return [], result, 0
        data = rxpacket[PKT_PARAMETER0 + 1:PKT_PARAMETER0 + 1 + reply_params]
        return data, result, error

    def _drain_late_replies(self) -> None:
        time.sleep(self.config.late_reply_window_ms / 1000.0)
        try:
            self._port.clearPort()
        except _SERIAL_ERRORS as error:
            raise PortLostError(f"{self.config.port}: {error}") from None

    def write_register(self, motor_id: int, name: str, value: int, attempts: int = 3) -> None:
        register = REGISTERS[name]
        data = list((value & ((1 << (8 * register.size)) - 1)).to_bytes(register.size, "little"))
        for _ in range(attempts):
            _, result, error = self._register_transfer(motor_id, INST_WRITE, register.address,
                                                       data, 0)
            if result == COMM_SUCCESS and not error & 0x7F:
                return
            self.comm_errors[motor_id] += result != COMM_SUCCESS
        raise BusError(f"motor {motor_id}: writing {name}={value} failed ("
                       f"{self._packets.getTxRxResult(result)} "
                       f"{self._packets.getRxPacketError(error) if error else ''})")

    def read_register(self, motor_id: int, name: str, attempts: int = 3) -> int:
        register = REGISTERS[name]
        size = [DXL_LOBYTE(register.size), DXL_HIBYTE(register.size)]
        for _ in range(attempts):
            data, result, _error = self._register_transfer(motor_id, INST_READ,
                                                           register.address, size, register.size)
            if result == COMM_SUCCESS:
                raw = int.from_bytes(bytes(data), "little")
                return to_signed(raw, register.size) if register.signed else raw
            self.comm_errors[motor_id] += 1
        raise BusError(f"motor {motor_id}: reading {name} failed "
                       f"({self._packets.getTxRxResult(result)})")

    # -- cyclic I/O ------------------------------------------------------------------------

    def write_goal_positions(self, ticks: np.ndarray) -> None:
        address, size = REGISTERS["goal_position"].address, REGISTERS["goal_position"].size
        params = []
        for motor_id in self.ids:
            params.append(motor_id)
            params.extend(int(ticks[motor_id]).to_bytes(size, "little", signed=True))
        self._call(self._packets.syncWriteTxOnly, address, size, params, len(params))

    def _present_ids(self) -> list[int]:
        return [i for i in self.ids if i not in self.absent]

    def _reping_absent(self) -> None:
        """Ping each absent motor once per absent_reping_s; one that answers is read again."""
        now = time.monotonic()
        for motor_id, due in list(self.absent.items()):
            if now < due:
                continue
            _, result, _ = self._call(self._packets.ping, motor_id)
            if result == COMM_SUCCESS:
                del self.absent[motor_id]
                self._misses[motor_id] = 0
            else:
                self.comm_errors[motor_id] += 1
                self.absent[motor_id] = now + self.config.absent_reping_s

    def _count_misses(self, answered: dict) -> None:
        if not answered:  # nobody answered: a bus-wide glitch, not a dead motor
            for motor_id in self._present_ids():
                self.comm_errors[motor_id] += 1
            return
        for motor_id in self._present_ids():
            if motor_id in answered:
                self._misses[motor_id] = 0
                continue
            self.comm_errors[motor_id] += 1
            self._misses[motor_id] += 1
            if self._misses[motor_id] >= self.config.absent_after_misses:
                self.absent[motor_id] = time.monotonic() + self.config.absent_reping_s

    def _sync_read(self, address: int, length: int, fast: bool) -> tuple[dict, dict]:
        """Return ({id: bytes}, {id: error byte}) of one (fast) sync read of the motors that
        are not known to be absent."""
        ids = self._present_ids()
        if not ids:
            return {}, {}
        result = self._call(self._packets.syncReadTx, address, length, ids, len(ids), fast)
        if result != COMM_SUCCESS:
            return {}, {}
        data: dict[int, bytes] = {}
        errors: dict[int, int] = {}
        try:
            if fast:
                packet, result = self._packets.rxPacket(self._port, True)
                if result == COMM_SUCCESS:
                    packet = self._packets.removeStuffing(list(packet))
                    stride = length + 4  # error, id, data, crc
                    # a late answer to another request must not be read as this one
                    if packet[7] != _INST_STATUS or len(packet) != 8 + len(ids) * stride:
                        return {}, {}
                    for k in range(len(ids)):
                        start = 8 + k * stride
                        motor_id = packet[start + 1]
                        errors[motor_id] = packet[start]
                        data[motor_id] = bytes(packet[start + 2:start + 2 + length])
            else:
                while len(data) < len(ids):
                    packet, result = self._packets.rxPacket(self._port, False)
                    if result != COMM_SUCCESS:
                        break
                    motor_id = packet[4]
                    # the status of THIS read (length field = instruction, error, data, CRC):
                    # a late reply to a longer or shorter read would otherwise be sliced into
                    # plausible-looking values (an error byte from a voltage, ...)
                    reply_length = packet[5] | packet[6] << 8
                    if (motor_id in self.comm_errors and packet[7] == _INST_STATUS
                            and reply_length == length + 4):
                        errors[motor_id] = packet[8]
                        data[motor_id] = bytes(packet[9:9 + length])
        except _SERIAL_ERRORS as error:
            raise PortLostError(f"{self.config.port}: {error}") from None
        except IndexError:
            self._port.clearPort()
            return {}, {}
        finally:
            self._port.is_using = False
        return data, errors

    def read_state(self) -> BusReading:
        self._reping_absent()
        data: dict[int, bytes] = {}
        errors: dict[int, int] = {}
        if self.config.fast_sync_read:
            data, errors = self._sync_read(_STATE_ADDRESS, _STATE_LENGTH, fast=True)
            if len(data) != len(self._present_ids()):
                self.fast_read_failures += 1
                self._port.clearPort()
                data, errors = self._sync_read(_STATE_ADDRESS, _STATE_LENGTH, fast=False)
        else:
            data, errors = self._sync_read(_STATE_ADDRESS, _STATE_LENGTH, fast=False)
        size = max(self.ids) + 1
        reading = BusReading(np.zeros(size), np.zeros(size), np.zeros(size),
                             np.zeros(size, dtype=np.int64), np.zeros(size, dtype=bool),
                             time.monotonic())
        self._count_misses(data)
        for motor_id in self.ids:
            if motor_id not in data:
                continue
            current, velocity, position = struct.unpack("<hii", data[motor_id])
            reading.current[motor_id] = current
            reading.velocity[motor_id] = velocity
            reading.position[motor_id] = position
            reading.error[motor_id] = errors[motor_id]
            reading.ok[motor_id] = True
        return reading

    def read_health(self) -> MotorHealth:
        size = max(self.ids) + 1
        health = MotorHealth(np.zeros(size, dtype=np.int64), np.zeros(size), np.zeros(size),
                             np.zeros(size, dtype=bool), np.full(size, math.nan))
        for motor_id, limit in self.temperature_limits.items():
            health.temperature_limit[motor_id] = limit
        status_address = REGISTERS["hardware_error_status"].address
        hardware, _ = self._sync_read(status_address, 1, fast=False)
        analog, _ = self._sync_read(_HEALTH_ADDRESS, _HEALTH_LENGTH, fast=False)
        for motor_id in self.ids:
            if motor_id in hardware and motor_id in analog:
                health.hardware_error[motor_id] = hardware[motor_id][0]
                voltage, temperature = struct.unpack("<HB", analog[motor_id])
                health.voltage[motor_id] = voltage / 10.0
                health.temperature[motor_id] = temperature
                health.ok[motor_id] = True
            elif motor_id not in self.absent:
                self.comm_errors[motor_id] += 1
        return health

    def set_torque(self, enabled: bool, verify: bool = True,
                   motor_ids: list[int] | None = None) -> None:
        failed = []
        for motor_id in motor_ids or self.ids:
            try:
                self.write_register(motor_id, "torque_enable", int(enabled),
                                    attempts=3 if verify else 1)
            except BusError:
                failed.append(motor_id)
        if failed and verify:
            raise BusError(f"torque {'on' if enabled else 'off'} failed on motor(s) "
                           f"{', '.join(map(str, failed))} (a latched hardware error keeps "
                           "torque off until ~/reboot)")

    def reboot(self, motor_ids: list[int], attempts: int = 3) -> None:
        for motor_id in motor_ids:
            for _ in range(attempts):
                self._port.slack_ms = self.config.register_slack_ms
                try:
                    result, _error = self._call(self._packets.reboot, motor_id)
                finally:
                    self._port.slack_ms = 0.0
                if result == COMM_SUCCESS:
                    break
                self.comm_errors[motor_id] += 1
                self._drain_late_replies()  # a late acknowledgement must not answer the retry
            else:
                raise BusError(f"motor {motor_id} did not acknowledge the reboot "
                               f"({self._packets.getTxRxResult(result)})")
        time.sleep(0.2)  # the firmware restarts before it answers again
        self._port.clearPort()
        self.set_torque(False, verify=False, motor_ids=motor_ids)
        self.configure(motor_ids)
        self.set_torque(True, motor_ids=motor_ids)
