"""The emulator's motor heat and firmware protection: hand-computed curves and timings, the
registers they drive, and the present current the MuJoCo hand reports."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dexndm_control.errors import DexndmError
from dexndm_control.hand import MODEL_INDEX_OF_MOTOR
from dexndm_sim.xc330.thermal import MotorThermals, ThermalConfig
from dexndm_sim.xc330.virtual_bus import OVERHEATING_BIT, OVERLOAD_BIT, VirtualBus


def test_heating_and_cooling_follow_the_first_order_curve():
    config = ThermalConfig()  # 30 C room, 2.8 ohm, 20 K/W, 300 s
    thermals = MotorThermals(2, config)
    # 550 mA held: steady rise 0.55^2 * 2.8 * 20 = 16.94 K; after one time constant 63.2 % of it
    for _ in range(300_000):
        thermals.advance(0.001, np.array([550.0, 0.0]))
    rise = 0.55 ** 2 * 2.8 * 20
    assert rise == pytest.approx(16.94)
    assert thermals.temperature[0] == pytest.approx(30 + rise * (1 - math.exp(-1)), abs=1e-6)
    assert thermals.temperature[1] == pytest.approx(30.0)
    # then cooling at 0 mA for 600 s: what is left of the rise decays by e^-2
    left = thermals.temperature[0] - 30
    thermals.advance(600.0, np.zeros(2))  # one long step is exact for a held current
    assert thermals.temperature[0] == pytest.approx(30 + left * math.exp(-2), abs=1e-6)
    assert thermals.peak[0] == pytest.approx(30 + left, abs=1e-6)


def test_speedup_runs_the_same_curve_faster():
    slow, fast = MotorThermals(1), MotorThermals(1, ThermalConfig(speedup=10.0))
    slow.advance(300.0, np.array([1000.0]))
    fast.advance(30.0, np.array([1000.0]))
    assert fast.temperature[0] == pytest.approx(slow.temperature[0])
    # 1 A held settles 56 K up: past the 70 C limit, as the docstring promises
    assert ThermalConfig().steady_rise(1000.0) == pytest.approx(56.0)


def test_overload_latches_after_sustained_full_current_only():
    thermals = MotorThermals(3, ThermalConfig(overload_current_ma=1700.0, overload_time_s=2.0))
    current = np.array([1800.0, 1800.0, 1000.0])
    first = None
    for k in range(4000):  # motor 1 loads 1.5 s, rests 0.5 s (bucket +1.5 -0.5 per 2 s)
        t = k * 0.001
        current[1] = 1800.0 if (t % 2.0) < 1.5 else 0.0
        tripped = thermals.advance(0.001, current)
        if tripped[0] and first is None:
            first = t + 0.001
    assert first == pytest.approx(2.0, abs=0.0015)
    assert not tripped[2]  # below the threshold: never
    # motor 1: 1.5 at 1.5 s, 1.0 at 2.0 s, full 2.0 at 3.0 s
    assert thermals.overload_bucket[1] == pytest.approx(2.0, abs=0.003)
    thermals.clear_overload(1)
    assert thermals.overload_bucket[1] == 0.0


def test_bad_thermal_settings_are_refused():
    with pytest.raises(DexndmError, match="positive"):
        ThermalConfig(time_constant_s=0.0)
    with pytest.raises(DexndmError, match="overload current"):
        ThermalConfig(overload_current_ma=-1.0)


def _torque_on(bus: VirtualBus, current_ma: int) -> None:
    for motor in bus.ids:
        bus.set(motor, "current_limit", current_ma)
        bus.set(motor, "goal_current", current_ma)
        bus.set(motor, "torque_enable", 1)


def test_an_overheated_motor_shuts_down_and_relatches_after_a_reboot_until_cool():
    bus = VirtualBus(thermal=ThermalConfig(speedup=100.0))
    _torque_on(bus, 550)
    bus.set(3, "temperature_limit", 35)
    bus.load(3, 0.5, seconds=30.0)  # pushes against motor 3: its law holds at the cap
    t = 0.0
    while not bus.get(3, "hardware_error_status") and t < 10.0:
        t += 0.05
        bus.advance(t)
    assert bus.get(3, "hardware_error_status") == OVERHEATING_BIT
    assert bus.get(3, "torque_enable") == 0  # Shutdown (63) default 53 selects bit 2
    assert bus.get(3, "present_temperature") >= 35
    assert all(bus.get(m, "hardware_error_status") == 0 for m in bus.ids if m != 3)
    bus.set_ambient(40.0, seconds=100.0)  # a warm room keeps it above its limit
    bus.advance(t + 1.0)
    bus.reboot(3)
    assert bus.get(3, "hardware_error_status") == 0
    bus.advance(t + 1.05)  # still hot: the error is back at once
    assert bus.get(3, "hardware_error_status") == OVERHEATING_BIT
    bus.set_ambient(30.0, seconds=100.0)
    bus.advance(t + 30.0)  # ten (sped-up) time constants later it is cool
    bus.reboot(3)
    bus.advance(t + 30.05)
    assert bus.get(3, "hardware_error_status") == 0
    assert bus.stats["overheats_detected"] == 2


def test_sustained_stall_current_trips_the_overload_error():
    bus = VirtualBus(thermal=ThermalConfig(overload_time_s=0.5))
    _torque_on(bus, 2352)  # the XC330's default limit, not the LEAP hand's 550 mA
    bus.load(6, -1.5, seconds=5.0)  # more than the motor can give: it stalls at full current
    t = 0.0
    while not bus.get(6, "hardware_error_status") and t < 3.0:
        t += 0.01
        bus.advance(t)
    assert bus.get(6, "hardware_error_status") == OVERLOAD_BIT
    assert 0.5 <= t <= 0.7  # the current needs a moment to reach full load
    assert bus.get(6, "torque_enable") == 0
    assert bus.stats["overloads_detected"] == 1


def test_the_room_warms_for_a_while_then_cools_back():
    bus = VirtualBus(thermal=ThermalConfig(speedup=1000.0))
    bus.set_ambient(60.0, seconds=2.0)
    bus.advance(1.9)
    assert bus.get(0, "present_temperature") == 60
    bus.advance(2.1)
    bus.advance(4.0)
    assert bus.get(0, "present_temperature") == 30


def test_mujoco_hand_reports_the_current_its_law_outputs():
    from dexndm_sim.profiles import TORQUE_CONSTANT
    from dexndm_sim.xc330.mujoco_model import MujocoMotorModel

    model = MujocoMotorModel("free")
    bus = VirtualBus(model=model)
    _torque_on(bus, 550)
    bus.set(1, "goal_position", 2600)  # if_mcp, 0.85 rad away: the law saturates
    bus.advance(0.05)
    output = model.hand.data.actuator_force / TORQUE_CONSTANT * 1000.0  # model order
    present = bus.column("present_current")  # motor order
    # the motor's current: at the cap exactly where the law saturates (the output torque is off
    # it by the gear's friction, up to 10 %), within that friction of the output elsewhere
    assert present[1] == 550
    by_motor = output[MODEL_INDEX_OF_MOTOR]
    assert np.all(np.abs(present - by_motor) <= 0.1 * np.abs(present) + 1)
    assert np.count_nonzero(present) >= 4  # other motors hold against gravity
