"""DynamixelBus (real dynamixel-sdk) against the emulator: start-up, missing motors, reads,
faults."""

from __future__ import annotations

import time

import numpy as np
import pytest

from conftest import wait_until
from dexndm_control import hand
from dexndm_control.driver.core import CommandRejected, DriverConfig, DriverCore, parse_command
from dexndm_control.dynamixel.bus import MissingMotorsError
from dexndm_control.dynamixel.dynamixel_bus import BusConfig, DynamixelBus


def test_startup_writes_and_verifies_every_register(virtual_hand):
    port, control = virtual_hand()
    bus = DynamixelBus(BusConfig(port=port, current_limit_ma=600, goal_current_ma=500))
    bus.open()
    try:
        registers = control({"cmd": "state"})["registers"]
        assert registers["return_delay_time"] == [0] * 16
        assert registers["operating_mode"] == [5] * 16
        assert registers["current_limit"] == [600] * 16
        assert registers["goal_current"] == [500] * 16
        side = [0, 4, 8]
        assert [registers["position_p_gain"][i] for i in range(16)] == \
            [600 if i in side else 800 for i in range(16)]
        assert [registers["position_d_gain"][i] for i in range(16)] == \
            [150 if i in side else 200 for i in range(16)]
        assert registers["torque_enable"] == [1] * 16
        reading = bus.read_state()
        assert reading.ok.all() and (reading.position == 2048).all()
        assert (reading.error == 0).all()
    finally:
        bus.close()
    assert control({"cmd": "state"})["registers"]["torque_enable"] == [0] * 16


def test_missing_motors_are_all_reported_within_the_timeout(virtual_hand):
    port, _ = virtual_hand("--silent-ids", "3", "11")
    bus = DynamixelBus(BusConfig(port=port, startup_timeout_s=1.0))
    start = time.monotonic()
    with pytest.raises(MissingMotorsError) as error:
        bus.open()
    assert time.monotonic() - start < 3.0
    assert error.value.missing == [3, 11]
    assert "motor(s) 3, 11 did not answer" in str(error.value)
    bus.close()


def test_a_late_reply_is_never_taken_as_the_answer_to_the_next_request(virtual_hand):
    port, control = virtual_hand()
    bus = DynamixelBus(BusConfig(port=port, current_limit_ma=600, goal_current_ma=500))
    bus.open()
    try:
        # the first reply arrives after the packet timeout: the read retries and succeeds, and
        # the late reply must not answer the next, different read of the same motor
        control({"cmd": "late", "seconds": 0.025, "replies": 1})
        assert bus.read_register(5, "position_p_gain") == 800
        assert bus.read_register(5, "current_limit") == 600
        assert bus.read_register(5, "goal_current") == 500
        control({"cmd": "late", "seconds": 0.025, "replies": 1})
        bus.write_register(5, "goal_current", 450)
        assert bus.read_register(5, "goal_current") == 450
        assert bus.comm_errors[5] >= 2  # more if the machine is loaded
    finally:
        bus.close()


def _first(read, predicate, timeout: float = 10.0):
    """The first of repeated reads for which ``predicate`` holds (fails after ``timeout``)."""
    found = []

    def attempt() -> bool:
        reading = read()
        if predicate(reading):
            found.append(reading)
        return bool(found)

    assert wait_until(attempt, timeout), "no read satisfied the condition"
    return found[0]


def test_reads_keep_the_error_byte_and_survive_a_silent_motor(virtual_hand):
    port, control = virtual_hand()
    bus = DynamixelBus(BusConfig(port=port))
    bus.open()
    try:
        control({"cmd": "overload", "id": 6})
        # a cycle the emulator answers too late (a loaded machine) is reported as missed
        # (ok False), not misread: judge the first cycle that read the motors in question
        reading = _first(bus.read_state, lambda r: r.ok[[5, 6]].all())
        assert reading.error[6] & 0x80 and not reading.error[5]
        assert _first(bus.read_health, lambda h: h.ok[6]).hardware_error[6] == 1 << 5
        control({"cmd": "silence", "ids": [2]})
        # fast read fails; the fallback still reads the others
        reading = _first(bus.read_state, lambda r: r.ok[[0, 1, 3, 15]].all())
        assert not reading.ok[2]
        assert bus.fast_read_failures >= 1
        control({"cmd": "silence", "ids": []})
        bus.reboot([6])
        assert control({"cmd": "state"})["registers"]["torque_enable"][6] == 1
        assert control({"cmd": "state"})["registers"]["position_p_gain"][6] == 800
    finally:
        bus.close()


def test_parse_command():
    current = np.zeros(16)
    full = parse_command([], np.arange(16) / 10, current)
    assert full.tolist() == (np.arange(16) / 10).tolist()
    partial = parse_command(["th_ipl", "if_rot"], [0.5, -0.25], current)
    assert partial[15] == 0.5 and partial[1] == -0.25 and partial.sum() == 0.25
    for names, positions, fragment in (([], [0.0] * 15, "needs all 16"),
                                       (["if_mcp"], [float("nan")], "NaN"),
                                       (["wrist"], [0.0], "unknown joint"),
                                       (["if_mcp", "if_rot"], [0.0], "2 names but 1"),
                                       (["if_mcp", "if_mcp"], [0.0, 0.1], "named twice")):
        with pytest.raises(CommandRejected, match=fragment):
            parse_command(names, positions, current)


def test_core_clips_to_limits_and_max_step(virtual_hand):
    port, control = virtual_hand()
    core = DriverCore(DynamixelBus(BusConfig(port=port)), DriverConfig(max_step_rad=0.2))
    with pytest.raises(CommandRejected, match="not connected"):
        core.submit_command([], [0.0] * 16)
    assert core.step() is not None and core.connected
    target = core.submit_command(["if_mcp", "if_rot"], [1.0, -0.05])
    assert target[0] == pytest.approx(0.2) and target[1] == pytest.approx(-0.05)
    for _ in range(20):
        target = core.submit_command(["th_ipl"], [5.0])
    assert target[15] == pytest.approx(hand.UPPER[15])  # joint limit
    core.step()
    goal = control({"cmd": "state"})["registers"]["goal_position"]
    assert goal[15] == hand.model_to_motor_ticks(target)[15]
    assert goal[1] == 2048 + round(0.2 / hand.RAD_PER_TICK)  # if_mcp is motor 1
    core.bus.close()


def test_a_dead_motor_is_left_out_of_cyclic_reads_and_pinged_back(virtual_hand):
    port, control = virtual_hand()
    bus = DynamixelBus(BusConfig(port=port))
    bus.open()
    try:
        control({"cmd": "silence", "ids": [7]})
        readings = [bus.read_state() for _ in range(bus.config.absent_after_misses + 5)]
        assert list(bus.absent) == [7]
        others = [i for i in range(16) if i != 7]
        assert not any(r.ok[7] for r in readings)
        # the others keep being read (a cycle missed on a loaded machine is reported as missed)
        assert not _first(bus.read_state, lambda r: r.ok[others].all()).ok[7]
        errors_when_absent = bus.comm_errors[7]
        for _ in range(20):  # absent: no more reply timeouts counted against it per cycle
            bus.read_state()
        assert bus.comm_errors[7] <= errors_when_absent + 2  # only the periodic re-pings
        control({"cmd": "silence", "ids": []})
        assert wait_until(lambda: bus.read_state().ok.all(), 5)  # pinged back within 0.25 s
        assert bus.absent == {}
    finally:
        bus.close()



def test_a_late_reply_to_another_read_is_never_sliced_into_values(virtual_hand):
    """The plain sync read takes a status packet only if its length is this read's: a late
    voltage/temperature reply (3 bytes) waiting on the port must not become a hardware-error
    byte (its first byte, 50 = 5.0 V, would read as electrical shock + overload)."""
    from dexndm_sim.xc330.protocol import build_status

    port, _ = virtual_hand()
    bus = DynamixelBus(BusConfig(port=port))
    bus.open()
    try:
        stale = build_status(15, 0, bytes([50, 0, 30]))  # 5.0 V, 30 C: another read's answer
        answers = [stale] + [build_status(i, 0, bytes([0])) for i in range(16)]
        bus._packets.syncReadTx = lambda *args: 0  # COMM_SUCCESS; the replies are ours
        bus._packets.rxPacket = lambda _port, _fast: (list(answers.pop(0)), 0)
        data, errors = bus._sync_read(70, 1, fast=False)
        assert data == {i: b"\x00" for i in range(16)} and errors == dict.fromkeys(range(16), 0)
    finally:
        bus._packets = type(bus._packets)()
        bus.close()
