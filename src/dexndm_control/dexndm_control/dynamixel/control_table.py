"""XC330-M288-T control table as data (ROBOTIS e-Manual; cross-checked with dynamixel-sdk 4.1).

Used by the bus (addresses and sizes) and by the emulator (defaults, access, EEPROM area). Never
write an address as a literal elsewhere: look the register up here by name.
"""

from __future__ import annotations

from dataclasses import dataclass

MODEL_NUMBER_XC330_M288 = 1240
EEPROM_END = 64  # addresses below this are EEPROM: writable only while torque is off


@dataclass(frozen=True)
class Register:
    name: str
    address: int
    size: int
    writable: bool
    default: int = 0
    signed: bool = False

    @property
    def eeprom(self) -> bool:
        return self.address < EEPROM_END


XC330_M288: tuple[Register, ...] = (
    Register("model_number", 0, 2, False, MODEL_NUMBER_XC330_M288),
    Register("model_information", 2, 4, False),
    Register("firmware_version", 6, 1, False, 52),
    Register("id", 7, 1, True, 1),
    Register("baud_rate", 8, 1, True, 1),
    Register("return_delay_time", 9, 1, True, 250),
    Register("drive_mode", 10, 1, True, 0),
    Register("operating_mode", 11, 1, True, 3),
    Register("secondary_id", 12, 1, True, 255),
    Register("protocol_type", 13, 1, True, 2),
    Register("homing_offset", 20, 4, True, 0, signed=True),
    Register("moving_threshold", 24, 4, True, 10),
    Register("temperature_limit", 31, 1, True, 70),
    Register("max_voltage_limit", 32, 2, True, 70),
    Register("min_voltage_limit", 34, 2, True, 35),
    Register("pwm_limit", 36, 2, True, 885),
    Register("current_limit", 38, 2, True, 2352),
    Register("velocity_limit", 44, 4, True, 445),
    Register("max_position_limit", 48, 4, True, 4095),
    Register("min_position_limit", 52, 4, True, 0),
    Register("startup_configuration", 60, 1, True, 0),
    Register("pwm_slope", 62, 1, True, 140),
    Register("shutdown", 63, 1, True, 53),
    Register("torque_enable", 64, 1, True, 0),
    Register("led", 65, 1, True, 0),
    Register("status_return_level", 68, 1, True, 2),
    Register("registered_instruction", 69, 1, False),
    Register("hardware_error_status", 70, 1, False),
    Register("velocity_i_gain", 76, 2, True, 1600),
    Register("velocity_p_gain", 78, 2, True, 180),
    Register("position_d_gain", 80, 2, True, 500),
    Register("position_i_gain", 82, 2, True, 0),
    Register("position_p_gain", 84, 2, True, 1100),
    Register("feedforward_2nd_gain", 88, 2, True, 0),
    Register("feedforward_1st_gain", 90, 2, True, 0),
    Register("bus_watchdog", 98, 1, True, 0),
    Register("goal_pwm", 100, 2, True, 885, signed=True),
    Register("goal_current", 102, 2, True, 2352, signed=True),
    Register("goal_velocity", 104, 4, True, 0, signed=True),
    Register("profile_acceleration", 108, 4, True, 0),
    Register("profile_velocity", 112, 4, True, 0),
    Register("goal_position", 116, 4, True, 2048, signed=True),
    Register("realtime_tick", 120, 2, False),
    Register("moving", 122, 1, False),
    Register("moving_status", 123, 1, False),
    Register("present_pwm", 124, 2, False, signed=True),
    Register("present_current", 126, 2, False, signed=True),
    Register("present_velocity", 128, 4, False, signed=True),
    Register("present_position", 132, 4, False, 2048, signed=True),
    Register("velocity_trajectory", 136, 4, False, signed=True),
    Register("position_trajectory", 140, 4, False, signed=True),
    Register("present_input_voltage", 144, 2, False, 50),
    Register("present_temperature", 146, 1, False, 30),
)

REGISTERS: dict[str, Register] = {r.name: r for r in XC330_M288}
TABLE_SIZE = 147

# Operating modes (register operating_mode)
CURRENT_BASED_POSITION_MODE = 5

# Hardware error status bits (register hardware_error_status)
HARDWARE_ERROR_BITS: dict[int, str] = {
    0: "input_voltage", 2: "overheating", 3: "motor_encoder", 4: "electrical_shock",
    5: "overload",
}
# The status packet's error byte: bit 7 = alert (a hardware error is latched), low 7 bits = code.
ALERT_BIT = 0x80
STATUS_ERRORS: dict[int, str] = {1: "result_fail", 2: "instruction_error", 3: "crc_error",
                                 4: "data_range_error", 5: "data_length_error",
                                 6: "data_limit_error", 7: "access_error"}


def hardware_error_bit(name: str) -> int:
    """The mask of one hardware error in register hardware_error_status (e.g. "overload")."""
    return next(1 << bit for bit, known in HARDWARE_ERROR_BITS.items() if known == name)


def decode_hardware_errors(value: int) -> list[str]:
    return [name for bit, name in HARDWARE_ERROR_BITS.items() if value & (1 << bit)]


def span(first: str, last: str) -> tuple[int, int]:
    """(address, length) of the contiguous block from register ``first`` through ``last``."""
    start, end = REGISTERS[first], REGISTERS[last]
    return start.address, end.address + end.size - start.address


def to_signed(value: int, size: int) -> int:
    bits = 8 * size
    return value - (1 << bits) if value >= 1 << (bits - 1) else value
