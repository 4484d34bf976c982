"""Sixteen emulated XC330-M288 motors: control tables, Protocol 2.0 instructions, faults.

Pure logic (no I/O): ``handle(packet)`` returns the bytes the motors would put on the wire, and
``advance(t)`` runs the motor model up to time ``t``. The pty server drives both.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field

import numpy as np

from dexndm_control.dynamixel.control_table import (
    ALERT_BIT,
    MODEL_NUMBER_XC330_M288,
    REGISTERS,
    TABLE_SIZE,
    XC330_M288,
    hardware_error_bit,
    to_signed,
)
from dexndm_sim.xc330 import protocol as p
from dexndm_sim.xc330.motor_models import FirmwareMotorModel, MotorModel
from dexndm_sim.xc330.thermal import MotorThermals, ThermalConfig

OVERHEATING_BIT = hardware_error_bit("overheating")
OVERLOAD_BIT = hardware_error_bit("overload")
PHYSICS_DT = 0.001
MAX_CATCH_UP_STEPS = 200  # after a stall, the physics runs at most 0.2 s to catch up


def _default_table(motor_id: int) -> bytearray:
    table = bytearray(TABLE_SIZE)
    for register in XC330_M288:
        value = register.default if register.name != "id" else motor_id
        table[register.address:register.address + register.size] = (
            value & ((1 << (8 * register.size)) - 1)).to_bytes(register.size, "little")
    return table


@dataclass
class Faults:
    """What tests and the CLI can break. All effects are immediate."""

    silent_ids: set[int] = field(default_factory=set)
    corrupt_rate: float = 0.0
    seed: int = 0


class VirtualBus:
    def __init__(self, ids: range = range(16), model: MotorModel | None = None,
                 faults: Faults | None = None, thermal: ThermalConfig | None = None) -> None:
        self.ids = list(ids)
        self.tables = {i: _default_table(i) for i in self.ids}
        self.model = model or FirmwareMotorModel(len(self.ids))
        self.faults = faults or Faults()
        self.thermals = MotorThermals(len(self.ids), thermal)
        self._rng = random.Random(self.faults.seed)
        self.time = 0.0  # bus clock: follows the wall clock it is advanced to
        # physics actually stepped: behind the bus clock after a stall (catch-up is capped)
        self.simulated_time = 0.0
        self.stats = {"packets": 0, "corrupted": 0, "ignored": 0, "overloads_detected": 0,
                      "overheats_detected": 0}
        self._loads: dict[int, float] = {}  # motor ID -> bus time its external load ends
        self._warm_until: float | None = None  # bus time a warm spell (set_ambient) ends
        self._sync_present()
        self._goal_at_present(self.ids)

    # -- control table access ----------------------------------------------------------------

    def get(self, motor_id: int, name: str) -> int:
        register = REGISTERS[name]
        raw = int.from_bytes(self.tables[motor_id][register.address:
                                                   register.address + register.size], "little")
        return to_signed(raw, register.size) if register.signed else raw

    def set(self, motor_id: int, name: str, value: int) -> None:
        register = REGISTERS[name]
        value &= (1 << (8 * register.size)) - 1
        self.tables[motor_id][register.address:register.address + register.size] = \
            value.to_bytes(register.size, "little")

    def column(self, name: str) -> np.ndarray:
        return np.array([self.get(i, name) for i in self.ids], dtype=float)

    def snapshot(self) -> dict[str, list[int]]:
        return {r.name: [self.get(i, r.name) for i in self.ids] for r in XC330_M288}

    # -- faults ------------------------------------------------------------------------------

    def overload(self, motor_id: int) -> None:
        """Latch an overload: hardware error bit 5 set, torque off until a reboot."""
        self._latch(motor_id, OVERLOAD_BIT)

    def _latch(self, motor_id: int, bit: int) -> None:
        """A hardware error: the bit stays set until a reboot; the torque goes off if the
        Shutdown register (63) selects that error (its default, 53, selects all of them)."""
        self.set(motor_id, "hardware_error_status",
                 self.get(motor_id, "hardware_error_status") | bit)
        if self.get(motor_id, "shutdown") & bit:
            self.set(motor_id, "torque_enable", 0)

    def load(self, motor_id: int, torque_nm: float, seconds: float) -> None:
        """Push on the motor's joint with ``torque_nm`` for ``seconds`` (a jammed ball, a finger
        pressed against the box): its position law then works against it, drawing current."""
        apply_load = getattr(self.model, "apply_load", None)
        if apply_load is None:
            raise ValueError("this motor model cannot take an external load")
        apply_load(motor_id, torque_nm)
        self._loads[motor_id] = self.time + seconds

    def set_ambient(self, celsius: float, seconds: float) -> None:
        """Warm (or cool) the room the hand is in for ``seconds``, then back to the default."""
        self.thermals.ambient_c = celsius
        self._warm_until = self.time + seconds

    def reboot(self, motor_id: int) -> None:
        """What the firmware does on REBOOT: RAM back to defaults, errors cleared, torque off.
        The heat stays: a motor rebooted above its Temperature Limit latches again at once."""
        fresh = _default_table(motor_id)
        self.tables[motor_id][64:] = fresh[64:]
        self.thermals.clear_overload(self.ids.index(motor_id))
        self._sync_present()
        self._goal_at_present([motor_id])

    def _goal_at_present(self, motor_ids: list[int]) -> None:
        """RAM starts with Goal Position at Present Position (power-on, reboot), as torque-on
        sets it (``_write``): a joint is held where it is, never pulled to the table's 2048."""
        for motor_id in motor_ids:
            self.set(motor_id, "goal_position", self.get(motor_id, "present_position"))

    # -- physics -----------------------------------------------------------------------------

    def advance(self, until: float) -> None:
        steps = int((until - self.time) / PHYSICS_DT + 1e-6)  # 0.01 / 0.001 is 9.999...
        if steps <= 0:
            return
        # the clock moves by whole physics steps, the remainder waits for the next call (an
        # emulator loop of 1.4 ms would otherwise lose 0.4 ms of physics every turn); after a
        # stall it jumps, and the physics catches up at most 0.2 s
        stepped = min(steps, MAX_CATCH_UP_STEPS)
        commands = {name: self.column(name) for name in (
            "goal_position", "torque_enable", "position_p_gain", "position_i_gain",
            "position_d_gain", "goal_current", "current_limit")}
        for _ in range(stepped):
            self.model.step(PHYSICS_DT, commands)
        self.simulated_time += stepped * PHYSICS_DT
        elapsed = steps * PHYSICS_DT
        self.time += elapsed
        if self._warm_until is not None and self.time >= self._warm_until:
            self.thermals.ambient_c, self._warm_until = self.thermals.config.ambient_c, None
        for motor_id, ends in list(self._loads.items()):
            if self.time >= ends:
                self.model.apply_load(motor_id, 0.0)
                del self._loads[motor_id]
        # heat and overload from the current over the interval (its end value: the thermal time
        # constant is minutes, the interval a millisecond or two)
        present = self.model.present()
        overloaded = self.thermals.advance(elapsed, present["current"][self.ids])
        limit_address = REGISTERS["temperature_limit"].address
        limits = np.array([self.tables[i][limit_address] for i in self.ids])
        for index in np.flatnonzero(overloaded | (self.thermals.temperature > limits)):
            motor_id = self.ids[index]
            error = self.get(motor_id, "hardware_error_status")
            if overloaded[index] and not error & OVERLOAD_BIT:
                self.stats["overloads_detected"] += 1
                self._latch(motor_id, OVERLOAD_BIT)
            if self.thermals.temperature[index] > limits[index] and not error & OVERHEATING_BIT:
                self.stats["overheats_detected"] += 1
                self._latch(motor_id, OVERHEATING_BIT)
        self._sync_present(present)

    def _sync_present(self, present: dict[str, np.ndarray] | None = None) -> None:
        present = self.model.present() if present is None else present
        for index, motor_id in enumerate(self.ids):
            self.set(motor_id, "present_position", int(round(present["position"][index])))
            self.set(motor_id, "present_velocity",
                     int(round(present["velocity"][index] / 0.0239808)))
            self.set(motor_id, "present_current", int(round(present["current"][index])))
            self.set(motor_id, "present_temperature",
                     int(round(self.thermals.temperature[index])))

    # -- protocol ----------------------------------------------------------------------------

    def _answers(self, motor_id: int) -> bool:
        return motor_id in self.tables and motor_id not in self.faults.silent_ids

    def _error_byte(self, motor_id: int, code: int = 0) -> int:
        alert = ALERT_BIT if self.get(motor_id, "hardware_error_status") else 0
        return alert | code

    def _status(self, motor_id: int, code: int = 0, params: bytes = b"") -> bytes:
        frame = p.build_status(motor_id, self._error_byte(motor_id, code), params)
        return self._maybe_corrupt(frame)

    def _maybe_corrupt(self, frame: bytes) -> bytes:
        if self.faults.corrupt_rate and self._rng.random() < self.faults.corrupt_rate:
            self.stats["corrupted"] += 1
            broken = bytearray(frame)
            broken[-1] ^= 0x5A
            return bytes(broken)
        return frame

    def _read(self, motor_id: int, address: int, length: int) -> tuple[int, bytes]:
        if address + length > TABLE_SIZE or length == 0:
            return p.ERR_DATA_RANGE, b""
        return 0, bytes(self.tables[motor_id][address:address + length])

    def _write(self, motor_id: int, address: int, data: bytes) -> int:
        end = address + len(data)
        if end > TABLE_SIZE or not data:
            return p.ERR_DATA_RANGE
        torque_on = self.get(motor_id, "torque_enable") == 1
        for register in XC330_M288:
            overlaps = register.address < end and address < register.address + register.size
            if not overlaps:
                continue
            if not register.writable or (register.eeprom and torque_on):
                return p.ERR_ACCESS
        if (address <= REGISTERS["torque_enable"].address < end and self.get(
                motor_id, "hardware_error_status") and data[64 - address]):
            return p.ERR_RESULT_FAIL  # torque stays off until the error is cleared by a reboot
        self.tables[motor_id][address:end] = data
        goal = REGISTERS["goal_position"]
        if not torque_on and self.get(motor_id, "torque_enable") == 1 \
                and not (address < goal.address + goal.size and goal.address < end):
            # the firmware starts holding where the joint is: Goal Position := Present Position
            self.set(motor_id, "goal_position", self.get(motor_id, "present_position"))
        return 0

    def handle(self, packet: p.Packet) -> list[bytes]:
        self.stats["packets"] += 1
        instruction, params = packet.instruction, packet.params
        handler = {p.PING: self._ping, p.READ: self._read_one, p.WRITE: self._write_one,
                   p.REBOOT: self._reboot, p.SYNC_READ: self._sync_read,
                   p.FAST_SYNC_READ: self._fast_sync_read, p.SYNC_WRITE: self._sync_write,
                   p.BULK_READ: self._bulk_read}.get(instruction)
        if handler is None:
            if packet.id in self.tables and self._answers(packet.id):
                return [self._status(packet.id, p.ERR_INSTRUCTION)]
            return []
        return handler(packet.id, params)

    def _ping(self, target: int, _params: bytes) -> list[bytes]:
        ids = self.ids if target == p.BROADCAST_ID else [target]
        payload = struct.pack("<HB", MODEL_NUMBER_XC330_M288, self.get(0, "firmware_version")
                              if 0 in self.tables else 52)
        return [self._status(i, 0, payload) for i in ids if self._answers(i)]

    def _read_one(self, target: int, params: bytes) -> list[bytes]:
        if not self._answers(target) or len(params) != 4:
            return []
        address, length = struct.unpack("<HH", params)
        code, data = self._read(target, address, length)
        return [self._status(target, code, data)]

    def _write_one(self, target: int, params: bytes) -> list[bytes]:
        if not self._answers(target) or len(params) < 3:
            return []
        address = struct.unpack_from("<H", params)[0]
        return [self._status(target, self._write(target, address, params[2:]))]

    def _reboot(self, target: int, _params: bytes) -> list[bytes]:
        if not self._answers(target):
            return []
        status = self._status(target)
        self.reboot(target)
        return [status]

    def _sync_targets(self, params: bytes) -> tuple[int, int, list[int]]:
        address, length = struct.unpack_from("<HH", params)
        return address, length, list(params[4:])

    def _sync_read(self, _target: int, params: bytes) -> list[bytes]:
        address, length, ids = self._sync_targets(params)
        out = []
        for motor_id in ids:
            if self._answers(motor_id):
                code, data = self._read(motor_id, address, length)
                out.append(self._status(motor_id, code, data))
        return out

    def _fast_sync_read(self, _target: int, params: bytes) -> list[bytes]:
        """One status packet (ID 0xFE): per motor [error, id, data, crc]; the chain stops at the
        first motor that does not answer, as on a real bus."""
        address, length, ids = self._sync_targets(params)
        segments = []
        for motor_id in ids:
            if not self._answers(motor_id):
                break
            code, data = self._read(motor_id, address, length)
            segments.append(bytes([self._error_byte(motor_id, code), motor_id]) + data)
        if not segments:
            return []
        # segments are separated by a 2-byte CRC slot; the last one's CRC is the packet CRC
        body = b"\x00\x00".join(segments)
        frame = p.build(p.BROADCAST_ID, p.STATUS, body)
        if len(segments) < len(ids):  # chain broken: the packet never completes
            return [frame[:-2]]
        return [self._maybe_corrupt(frame)]

    def _sync_write(self, _target: int, params: bytes) -> list[bytes]:
        address, length = struct.unpack_from("<HH", params)
        data = params[4:]
        for offset in range(0, len(data) - length, length + 1):
            motor_id = data[offset]
            if self._answers(motor_id):
                self._write(motor_id, address, data[offset + 1:offset + 1 + length])
        return []

    def _bulk_read(self, _target: int, params: bytes) -> list[bytes]:
        out = []
        for offset in range(0, len(params) - 4, 5):
            motor_id, address, length = struct.unpack_from("<BHH", params, offset)
            if self._answers(motor_id):
                code, data = self._read(motor_id, address, length)
                out.append(self._status(motor_id, code, data))
        return out
