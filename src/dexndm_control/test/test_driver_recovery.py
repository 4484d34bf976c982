"""The driver's automatic recovery against the emulator: cool-down, settings and torque restored,
the hourly cap and giving up by name, overheated motors waiting to cool, and what a manual reboot
resets. The driver's clock is a test clock; the bus and the motors are real (emulated)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import wait_until
from dexndm_control import hand
from dexndm_control.driver.core import DriverConfig, DriverCore
from dexndm_control.dynamixel.control_table import hardware_error_bit
from dexndm_control.dynamixel.dynamixel_bus import BusConfig, DynamixelBus

MOTOR = 5
INDEX = int(hand.MODEL_INDEX_OF_MOTOR[MOTOR])


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _driver(port: str, **overrides) -> tuple[DriverCore, Clock]:
    clock = Clock()
    config = DriverConfig(auto_reboot=True, auto_reboot_cooldown_s=5.0,
                          auto_reboot_max_per_hour=2, **overrides)
    core = DriverCore(DynamixelBus(BusConfig(port=port)), config, clock=clock)
    assert core.step() is not None and core.connected
    return core, clock


def _run(core: DriverCore, clock: Clock, seconds: float, dt: float = 0.5) -> None:
    """Step the driver over ``seconds`` of its clock (the health poll runs at 2 Hz)."""
    for _ in range(round(seconds / dt)):
        clock.now += dt
        core.step()


def _status(core: DriverCore):
    return core.motor_statuses()[INDEX]


def _run_until_ok(core: DriverCore, clock: Clock, seconds: float, dt: float = 0.5) -> bool:
    """Step until the motor reads OK, for at most ``seconds`` of the driver's clock. One reply
    lost on a busy machine leaves one cycle stale (as it should); recovery must not hinge on it."""
    for _ in range(round(seconds / dt)):
        clock.now += dt
        core.step()
        if _status(core).level == "OK":
            return True
    return False


def test_overload_is_rebooted_after_the_cool_down_then_given_up_past_the_cap(virtual_hand):
    port, control = virtual_hand()
    core, clock = _driver(port)
    try:
        control({"cmd": "set", "id": MOTOR, "name": "position_p_gain", "value": 123})
        control({"cmd": "overload", "id": MOTOR})
        _run(core, clock, 1.0)
        status = _status(core)
        assert status.level == "ERROR" and "overload" in status.message
        assert "automatic reboot in" in status.message
        _run(core, clock, 3.0)  # 4 s after the error: still cooling down
        assert core.auto_reboots[INDEX] == 0
        # no fresh data (as while a reboot holds the I/O thread): the motor is still in error,
        # so a collector cannot mistake it for a late but healthy one; the others are stale
        later = core.motor_statuses(now=clock.now + 1.0)
        assert later[INDEX].level == "ERROR"
        assert {s.level for i, s in enumerate(later) if i != INDEX} == {"STALE"}
        assert control({"cmd": "state"})["registers"]["torque_enable"][MOTOR] == 0
        _run(core, clock, 2.5)  # up to a missed poll later
        assert core.auto_reboots[INDEX] == 1
        registers = control({"cmd": "state"})["registers"]
        assert registers["hardware_error_status"][MOTOR] == 0
        assert registers["torque_enable"][MOTOR] == 1
        assert registers["position_p_gain"][MOTOR] == 800  # the driver's setting, restored
        assert registers["torque_enable"] == [1] * 16  # the other motors were never touched
        assert "rebooted automatically after overload" in core.recovery_events[-1]
        assert _run_until_ok(core, clock, 3.0), _status(core).message
        assert _status(core).values["auto_reboots"] == "1"

        control({"cmd": "overload", "id": MOTOR})
        _run(core, clock, 7.0)
        assert core.auto_reboots[INDEX] == 2
        control({"cmd": "overload", "id": MOTOR})  # a third time within the hour: give up
        _run(core, clock, 10.0)
        assert core.auto_reboots[INDEX] == 2 and core.gave_up[INDEX]
        status = _status(core)
        assert status.level == "ERROR" and status.values["recovery"] == "gave_up"
        assert f"motor {MOTOR} ({hand.JOINT_NAMES[INDEX]})" in status.message
        assert "gave up after 2 automatic reboots" in status.message
        assert "giving up" in core.recovery_events[-1]
        assert control({"cmd": "state"})["registers"]["torque_enable"][MOTOR] == 0

        # a person calls ~/reboot: the motor is back and automatic recovery applies again
        assert "rebooted all motors" in _request_reboot(core, clock)
        assert not core.gave_up.any()
        assert _run_until_ok(core, clock, 3.0), _status(core).message
    finally:
        core.bus.close()


def test_a_port_lost_and_back_between_two_reports_is_reported_once(virtual_hand):
    port, control = virtual_hand()
    core, clock = _driver(port)
    try:
        assert core.bus_status() == ("WARN", "no recent commands: holding target")
        control({"cmd": "vanish", "seconds": 0.3})
        clock.now += 0.02
        assert core.step() is None and not core.connected and core.disconnects == 1
        assert wait_until(Path(port).exists, 10)  # the emulator plugs the port back in
        clock.now += 1.0  # past the reconnection back-off
        assert core.step() is not None and core.connected
        # no report was made while it was away: the next one still says so, the one after not
        level, message = core.bus_status()
        assert level == "ERROR" and message.startswith("port lost: ")
        assert message.endswith("; reconnected")
        assert core.bus_status() == ("WARN", "no recent commands: holding target")
        # while it is away, every report says so
        control({"cmd": "vanish", "seconds": 0.3})
        clock.now += 0.02
        assert core.step() is None and core.disconnects == 2
        assert core.bus_status()[0] == "ERROR" and core.bus_status()[0] == "ERROR"
    finally:
        core.bus.close()


def _request_reboot(core: DriverCore, clock: Clock) -> str:
    import threading

    result: list[str] = []
    thread = threading.Thread(target=lambda: result.append(core.request("reboot", timeout=10)))
    thread.start()
    while thread.is_alive():
        clock.now += 0.01
        core.step()
        thread.join(0.01)
    return result[0]


def test_reboots_older_than_an_hour_do_not_count_toward_the_cap(virtual_hand):
    port, control = virtual_hand()
    core, clock = _driver(port)
    try:
        for _ in range(2):
            control({"cmd": "overload", "id": MOTOR})
            _run(core, clock, 7.0)
        assert core.auto_reboots[INDEX] == 2
        clock.now += 3600.0
        control({"cmd": "overload", "id": MOTOR})
        _run(core, clock, 7.0)
        assert core.auto_reboots[INDEX] == 3 and not core.gave_up[INDEX]
    finally:
        core.bus.close()


def test_an_overheated_motor_waits_until_it_is_cool(virtual_hand):
    from conftest import wait_until

    port, control = virtual_hand("--model", "firmware", "--thermal-speedup", "1000")
    # a 35 C limit (read by the driver at start-up) with the motors at the 30 C room temperature
    control({"cmd": "set", "id": MOTOR, "name": "temperature_limit", "value": 35})
    core, clock = _driver(port, auto_reboot_temperature_margin_c=10.0)
    try:
        control({"cmd": "set", "id": MOTOR, "name": "hardware_error_status",
                 "value": hardware_error_bit("overheating")})
        control({"cmd": "set", "id": MOTOR, "name": "torque_enable", "value": 0})
        _run(core, clock, 10.0)
        assert core.auto_reboots[INDEX] == 0  # 30 C is not 10 K below 35 C
        assert "overheating" in _status(core).message
        assert "automatic reboot once below 25 C" in _status(core).message
        control({"cmd": "ambient", "celsius": 20.0, "seconds": 600.0})  # a cold room
        assert wait_until(lambda: control({"cmd": "state"})["registers"]
                          ["present_temperature"][MOTOR] <= 24, 10)
        _run(core, clock, 2.0)
        assert core.auto_reboots[INDEX] == 1
        assert control({"cmd": "state"})["registers"]["torque_enable"][MOTOR] == 1
    finally:
        core.bus.close()


def test_errors_that_heat_and_load_do_not_explain_are_left_to_a_person(virtual_hand):
    port, control = virtual_hand()
    core, clock = _driver(port)
    try:
        control({"cmd": "set", "id": MOTOR, "name": "hardware_error_status",
                 "value": hardware_error_bit("motor_encoder")})
        _run(core, clock, 20.0)
        assert core.auto_reboots[INDEX] == 0
        assert _status(core).message.endswith("(torque off; call ~/reboot)")
        assert "motor_encoder" in _status(core).message
    finally:
        core.bus.close()


def test_recovery_settings_are_checked():
    from dexndm_control.errors import DexndmError

    with pytest.raises(DexndmError, match="auto_reboot_max_per_hour"):
        DriverConfig(auto_reboot_max_per_hour=0)
