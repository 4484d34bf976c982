"""The MuJoCo-backed virtual hand behind the emulated bus, driven through the real SDK."""

from __future__ import annotations

import json
import signal
import time

import numpy as np
import pytest

from conftest import wait_until
from dexndm_control import hand
from dexndm_control.dynamixel.dynamixel_bus import BusConfig, DynamixelBus


def _track(bus: DynamixelBus, target: np.ndarray) -> np.ndarray:
    bus.write_goal_positions(hand.model_to_motor_ticks(target))
    return hand.motor_ticks_to_model(bus.read_state().position)


def test_free_hand_tracks_targets(virtual_hand):
    port, control = virtual_hand("--model", "mujoco", "--scene", "free", "--wrist", "palm_up")
    bus = DynamixelBus(BusConfig(port=port))
    bus.open()
    try:
        start_sim = control({"cmd": "state"})["sim_time"]
        target = np.zeros(16)
        target[[0, 4, 8]] = 0.6  # the three mcp joints
        # a real-profile finger sags under gravity and friction: within 0.1 rad, not exact
        assert wait_until(lambda: np.abs(_track(bus, target)[[0, 4, 8]] - 0.6).max() < 0.1, 20)
        q = _track(bus, target)
        assert np.abs(q[[1, 2, 13]]).max() < 0.05
        assert control({"cmd": "state"})["sim_time"] > start_sim  # the physics advanced
    finally:
        bus.close()


@pytest.mark.slow
def test_free_hand_runs_in_real_time(virtual_hand):
    """Wall-clock rate (benchmarks/sim_throughput.py measures it: RTF 1.0)."""
    port, control = virtual_hand("--model", "mujoco", "--scene", "free", "--wrist", "palm_up")
    start_sim, start = control({"cmd": "state"})["sim_time"], time.monotonic()
    time.sleep(3.0)  # the measurement window
    sim_seconds = control({"cmd": "state"})["sim_time"] - start_sim
    assert sim_seconds / (time.monotonic() - start) > 0.9


def _torque_on(control) -> None:
    """Every motor holds at the LEAP default current, as the driver starts them."""
    for motor in range(16):
        control({"cmd": "set", "id": motor, "name": "goal_current", "value": 550})
        control({"cmd": "set", "id": motor, "name": "position_p_gain", "value": 800})
        control({"cmd": "set", "id": motor, "name": "torque_enable", "value": 1})


def _close_on(control, grasp_goal: list[int]) -> None:
    """Goals at the grasp's holding targets: the hand takes the object."""
    for motor, ticks in enumerate(grasp_goal):
        control({"cmd": "set", "id": motor, "name": "goal_position", "value": ticks})


def test_object_scene_reports_at_exit(virtual_hand, tmp_path, processes):
    report = tmp_path / "report.json"
    port, control = virtual_hand("--model", "mujoco", "--scene", "object", "--wrist", "palm_up",
                                 "--object-category", "small_cylinders", "--report", str(report))
    # the object stays pinned in its grasp until every motor holds (torque on) and the goals
    # close on it (the grasp's holding targets, which the state names)
    state = control({"cmd": "state"})
    assert state["registers"]["torque_enable"] == [0] * 16
    assert state["hand_over"]["waiting"] is True
    grasp_goal = state["hand_over"]["grasp_goal"]

    def sim_time() -> float:
        return control({"cmd": "state"})["sim_time"]

    _torque_on(control)
    torque_on = sim_time()
    assert wait_until(lambda: sim_time() - torque_on > 0.5, 30)  # held, still pinned
    goal = control({"cmd": "state"})["registers"]["goal_position"][1]
    control({"cmd": "set", "id": 1, "name": "goal_position", "value": goal + 20})
    nudged = sim_time()
    assert wait_until(lambda: sim_time() - nudged > 0.5, 30)
    assert control({"cmd": "state"})["hand_over"]["waiting"] is True  # one finger, not closed
    _close_on(control, grasp_goal)
    closed = sim_time()
    assert wait_until(lambda: sim_time() - closed > 1.5, 30)
    assert control({"cmd": "state"})["hand_over"]["waiting"] is False
    end = sim_time()
    emulator = processes.started[-1]
    emulator.send_signal(signal.SIGTERM)
    assert emulator.wait(timeout=20) == 0
    assert wait_until(report.exists, 5)
    data = json.loads(report.read_text())
    assert set(data) == {"axis", "radians", "drops", "seconds", "time_to_first_fall"}
    assert data["axis"] == [0.0, 0.0, 1.0]
    # tracked from the hand-over (the goals at the grasp), not from torque-on or the nudge
    assert 1.3 < data["seconds"] <= end - closed + 0.2
    assert data["seconds"] < end - nudged - 0.3  # the nudge was >= 0.5 s earlier


def test_stop_after_held_exits_on_the_objects_clock(virtual_hand, tmp_path, processes):
    """The demo's runs end once the object has been in the hand their length in simulated
    seconds, however slowly the simulation runs; the report is written on the way out."""
    report = tmp_path / "report.json"
    _, control = virtual_hand("--model", "mujoco", "--scene", "object", "--wrist", "palm_up",
                              "--object-category", "small_cylinders", "--report", str(report),
                              "--stop-after-held", "1.0")
    grasp_goal = control({"cmd": "state"})["hand_over"]["grasp_goal"]
    _torque_on(control)
    torque_on = control({"cmd": "state"})["sim_time"]
    assert wait_until(lambda: control({"cmd": "state"})["sim_time"] - torque_on > 1.5, 30)
    emulator = processes.started[-1]
    assert emulator.poll() is None  # 1.5 s held but not handed over: its clock has not started
    _close_on(control, grasp_goal)
    assert emulator.wait(timeout=60) == 0  # by itself
    data = json.loads(report.read_text())
    assert 1.0 <= data["seconds"] < 1.2


def test_a_driver_holding_its_reading_does_not_take_the_object():
    """The driver's start-up (torque on, then the pose it reads written as the goal) leaves the
    object pinned in its grasp however far the fingers sagged with torque off; goals at the
    grasp's holding targets (where the controller's ramp ends) hand it over; a hand commanded
    to a pose of its own gets it 3 s after it first moved."""
    import struct

    from dexndm_sim.xc330 import protocol
    from dexndm_sim.xc330.mujoco_model import HAND_OVER_AFTER_S, MujocoMotorModel
    from dexndm_sim.xc330.virtual_bus import VirtualBus

    def start():
        model = MujocoMotorModel(scene="object", wrist="palm_up", category="cylinders",
                                 object_index=4)
        bus = VirtualBus(model=model)
        run(bus, 0.5)  # torque off: the fingers sag for half a second
        settings = BusConfig(port="unused")
        for motor in range(16):
            for name, value in settings.settings(motor).items():  # what the driver configures
                bus.set(motor, name, value)
            bus.handle(protocol.Packet(motor, protocol.WRITE, struct.pack("<HB", 64, 1)))
        run(bus, 0.1)
        held = [bus.get(motor, "present_position") for motor in range(16)]
        for motor, ticks in enumerate(held):  # the driver's hold: the reading, a tick or two off
            bus.set(motor, "goal_position", ticks)
        run(bus, 1.0)
        assert model.summary()["seconds"] == 0.0 and model.hand_over["waiting"]
        return model, bus, held

    def run(bus, seconds: float) -> None:  # in 10 ms slices, as the emulator's loop advances
        for _ in range(round(seconds / 0.01)):
            bus.advance(bus.time + 0.01)

    model, bus, _ = start()
    for motor, ticks in enumerate(model.hand_over["grasp_goal"]):  # where the ramp ends
        bus.set(motor, "goal_position", ticks)
    run(bus, 1.0)
    assert model.summary()["seconds"] == pytest.approx(1.0, abs=0.02)

    model, bus, held = start()
    bus.set(0, "goal_position", held[0] + 30)  # a pose of its own
    run(bus, HAND_OVER_AFTER_S - 0.5)
    assert model.hand_over["waiting"]
    run(bus, 1.0)
    assert model.summary()["seconds"] == pytest.approx(0.5, abs=0.02)


def test_present_current_is_the_motors_current_at_the_cap():
    """A joint pushed beyond what its cap can hold reads its goal current as present current
    (the motor's current, which the gear's friction between motor and joint does not change:
    the stand-in's output torque is up to 10 % off it), the lowered one once it is lowered."""
    import struct

    from dexndm_sim.xc330 import protocol
    from dexndm_sim.xc330.mujoco_model import TORQUE_CONSTANT, MujocoMotorModel
    from dexndm_sim.xc330.virtual_bus import VirtualBus

    model = MujocoMotorModel(scene="free", wrist="palm_up")
    bus = VirtualBus(model=model)
    settings = BusConfig(port="unused")
    for motor in range(16):
        for name, value in settings.settings(motor).items():
            bus.set(motor, name, value)
        bus.handle(protocol.Packet(motor, protocol.WRITE, struct.pack("<HB", 64, 1)))
    motor = 13  # th_axl
    assert model.profile.gear_friction > 0  # what the reading must not show
    bus.load(motor, 0.6, seconds=10.0)  # the cap holds 0.55 A * 0.517 N m/A = 0.28 N m
    readings, torques = [], []
    for _ in range(100):  # 1 s: pushed through its range to the limit
        bus.advance(bus.time + 0.01)
        readings.append(bus.get(motor, "present_current"))
        joint = int(hand.MODEL_INDEX_OF_MOTOR[motor])
        torques.append(model.hand.data.actuator_force[joint] / TORQUE_CONSTANT * 1000)
    assert all(abs(abs(r) - 550) <= 1 for r in readings[5:]), readings
    assert max(abs(abs(t) - 550) for t in torques[5:]) > 20  # the output torque moved off it
    bus.set(motor, "goal_current", 330)
    for _ in range(20):
        bus.advance(bus.time + 0.01)
    assert abs(abs(bus.get(motor, "present_current")) - 330) <= 1


def test_the_position_law_runs_fast_enough_to_be_stable_on_every_joint():
    """MuJoCo integrates the law's D term explicitly (a user bias has no derivative): stable only
    while kd dt / I < 2. With the LEAP gains (P 800, D 200, side joints 0.75x) times the stand-in's
    per-joint spread, every joint stays below 1 at the virtual hand's physics step; and a free
    hand that reached its goals rests, no motor chattering between +-cap."""
    import struct

    import mujoco

    from dexndm_control.dynamixel.position_law import current_gains
    from dexndm_sim.xc330 import protocol
    from dexndm_sim.xc330.mujoco_model import LAW_SUBSTEPS, TORQUE_CONSTANT, MujocoMotorModel
    from dexndm_sim.xc330.virtual_bus import VirtualBus

    model = MujocoMotorModel(scene="free", wrist="palm_up")
    settings = BusConfig(port="unused")
    d_gain = np.array([settings.gains(int(m))["position_d_gain"] for m in hand.MOTOR_IDS])
    kd = TORQUE_CONSTANT * current_gains(0, d_gain)[1] * model._spread
    mujoco.mj_forward(model.hand.model, model.hand.data)
    inertia = np.empty((model.hand.model.nv, model.hand.model.nv))
    mujoco.mj_fullM(model.hand.model, model.hand.data, inertia)
    ratio = kd * model.dt / np.diag(inertia)[:16]
    assert ratio.max() < 1.0, dict(zip(hand.JOINT_NAMES, ratio.round(2), strict=True))
    assert ratio.max() * LAW_SUBSTEPS > 2.0  # at the training sim's 1/120 s it would not be

    bus = VirtualBus(model=model)
    for motor in range(16):
        for name, value in settings.settings(motor).items():
            bus.set(motor, name, value)
        bus.handle(protocol.Packet(motor, protocol.WRITE, struct.pack("<HB", 64, 1)))
        bus.set(motor, "goal_position", bus.get(motor, "present_position") + 60)  # 92 mrad
    for _ in range(100):
        bus.advance(bus.time + 0.01)
    currents = []
    for _ in range(50):
        bus.advance(bus.time + 0.01)
        currents.append([bus.get(motor, "present_current") for motor in range(16)])
    assert np.abs(currents).max() < 0.5 * settings.goal_current_ma, np.abs(currents).max(axis=0)
