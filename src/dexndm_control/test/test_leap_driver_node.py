"""leap_driver over real DDS against the emulator (real dynamixel-sdk, real pty, own processes)."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from sensor_msgs.msg import JointState
from std_srvs.srv import SetBool, Trigger

from conftest import wait_until
from dexndm_control import hand

DRIVER = str(Path(sys.executable).parent / "leap_driver")
HELPER = str(Path(__file__).parent / "helpers" / "raising_driver.py")


class Probe:
    """Subscribes to the driver's outputs and publishes commands, in the test's own node."""

    def __init__(self, node) -> None:
        self.node = node
        self.states: list[tuple[float, JointState]] = []
        self.diagnostics: list[DiagnosticArray] = []
        node.create_subscription(JointState, "/leap_hand/joint_states",
                                 lambda m: self.states.append((time.monotonic(), m)), 100)
        node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
        self.commands = node.create_publisher(JointState, "/leap_hand/joint_commands", 10)

    def wait_states(self, count: int = 1, timeout: float = 20.0) -> bool:
        start = len(self.states)
        return wait_until(lambda: len(self.states) >= start + count, timeout, spin=self.node.spin)

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.node.spin(0.01)

    def command(self, names: list[str], positions: list[float]) -> None:
        self.commands.publish(JointState(name=names, position=positions))

    def motor_status(self, motor_id: int) -> DiagnosticStatus | None:
        for array in reversed(self.diagnostics):
            for status in array.status:
                if status.hardware_id == f"dxl:{motor_id}":
                    return status
        return None

    def bus_statuses(self, since: int = 0) -> list[DiagnosticStatus]:
        """The bus status of every diagnostics report from report number ``since`` on."""
        return [status for array in self.diagnostics[since:] for status in array.status
                if status.name == "leap_hand: bus"]

    def bus_status(self) -> DiagnosticStatus | None:
        statuses = self.bus_statuses(len(self.diagnostics) - 1)
        return statuses[-1] if statuses else None

    def call(self, service_type, name: str, request):
        client = self.node.create_client(service_type, name)
        assert wait_until(client.service_is_ready, 10, spin=self.node.spin)
        future = client.call_async(request)
        assert wait_until(future.done, 15, spin=self.node.spin)
        return future.result()


def _describe(status: DiagnosticStatus | None) -> str:
    if status is None:
        return "no diagnostics"
    values = ", ".join(f"{v.key}={v.value}" for v in status.values)
    return f"level {status.level} {status.message!r} ({values})"


@pytest.fixture
def driver(virtual_hand, processes, ros_node):
    port, control = virtual_hand()

    def start(executable: list[str] | None = None, *params: str):
        argv = executable or [sys.executable, DRIVER]
        process = processes.start([*argv, "--ros-args", "-p", f"port:={port}",
                                   "-p", "state_rate_hz:=200.0", *params])
        probe = Probe(ros_node)
        assert probe.wait_states(5, 30), "no joint_states from the driver"
        return process, probe

    return start, control


@pytest.mark.slow
def test_state_rate(driver):
    """Wall-clock rate (benchmarks/bus_rate.py measures it: joint_states_hz_200)."""
    start, _ = driver
    _, probe = start()
    first = len(probe.states)
    probe.spin_for(10.0)
    stamps = [t for t, _ in probe.states[first:]]
    assert len(stamps) / (stamps[-1] - stamps[0]) >= 100.0


def test_tracking_by_name(driver):
    start, control = driver
    _, probe = start()
    assert list(probe.states[-1][1].name) == list(hand.JOINT_NAMES)
    # ramp if_mcp and th_cmc to new targets within the max step per command
    for k in range(1, 21):
        probe.command(["if_mcp", "th_cmc"], [0.04 * k, 0.03 * k])
        probe.wait_states(2)
    def goal() -> np.ndarray:
        return hand.motor_ticks_to_model(np.array(control({"cmd": "state"})["registers"]
                                                  ["goal_position"]))

    assert wait_until(lambda: abs(goal()[0] - 0.8) < 1e-3 and abs(goal()[12] - 0.6) < 1e-3, 5,
                      spin=probe.node.spin)

    def settled() -> bool:
        position = np.array(probe.states[-1][1].position)
        return abs(position[0] - 0.8) < 0.03 and abs(position[12] - 0.6) < 0.03

    assert wait_until(settled, 10, spin=probe.node.spin)
    assert abs(probe.states[-1][1].position[4]) < 0.02  # untouched joints stay put


def test_bad_commands_never_reach_the_bus(driver):
    start, control = driver
    process, probe = start()
    before = control({"cmd": "state"})["registers"]["goal_position"]
    for names, positions in (([], [0.1] * 15), (["if_mcp"], [float("nan")]),
                             (["pinky"], [0.1]), ([], [float("inf")] * 16)):
        probe.command(names, positions)
    # then one valid command (one publisher: delivered after the bad ones, in order)
    probe.command(["th_ipl"], [9.0])  # far out of range: clipped to the max step (0.25 rad)
    expected = 2048 + round(0.25 / hand.RAD_PER_TICK)
    assert wait_until(lambda: control({"cmd": "state"})["registers"]["goal_position"][15]
                      == expected, 10, spin=probe.node.spin)
    goal = control({"cmd": "state"})["registers"]["goal_position"]
    assert goal[:15] == before[:15]  # nothing of the bad commands reached the bus
    assert process.poll() is None and probe.wait_states(10, 5)


def test_faults_are_reported_and_recovered(driver):
    start, control = driver
    process, probe = start()
    # a motor stops answering: marked stale, node keeps running, recovers
    control({"cmd": "silence", "ids": [7]})
    assert wait_until(lambda: (s := probe.motor_status(7)) is not None
                      and s.level == DiagnosticStatus.STALE, 5, spin=probe.node.spin)
    # the others keep being read (a single late reply on a loaded machine may flicker)
    assert wait_until(lambda: probe.motor_status(6).level == DiagnosticStatus.OK, 2,
                      spin=probe.node.spin)
    control({"cmd": "silence", "ids": []})
    assert wait_until(lambda: probe.motor_status(7).level == DiagnosticStatus.OK, 5,
                      spin=probe.node.spin)
    # overload: error in diagnostics, ~/reboot restores torque
    control({"cmd": "overload", "id": 13})
    assert wait_until(lambda: probe.motor_status(13).level == DiagnosticStatus.ERROR
                      and "overload" in probe.motor_status(13).message, 5, spin=probe.node.spin)
    assert control({"cmd": "state"})["registers"]["torque_enable"][13] == 0
    response = probe.call(Trigger, "/leap_driver/reboot", Trigger.Request())
    assert response.success, response.message
    registers = control({"cmd": "state"})["registers"]
    assert registers["torque_enable"] == [1] * 16 and registers["hardware_error_status"] == [0] * 16
    assert wait_until(lambda: probe.motor_status(13).level == DiagnosticStatus.OK, 5,
                      spin=probe.node.spin)
    # the port vanishes for 1 s: reported, then reconnected and publishing within 2 s
    reports = len(probe.diagnostics)
    control({"cmd": "vanish", "seconds": 1.0})
    # every report after the loss counts: one made after a fast reconnection still shows it
    assert wait_until(lambda: any(s.level == DiagnosticStatus.ERROR
                                  and {v.key: v.value for v in s.values}["disconnects"] == "1"
                                  for s in probe.bus_statuses(reports)), 5,
                      spin=probe.node.spin), \
        "bus reports since the loss: " + "; ".join(map(_describe, probe.bus_statuses(reports)))
    count = len(probe.states)
    # reconnection backs off 0.2, 0.4, 0.8 ... s and restarts the motors: a few seconds on a
    # loaded machine; on a failure say what the driver last reported (its error, reconnects)
    assert wait_until(lambda: len(probe.states) > count + 5, 15, spin=probe.node.spin), \
        f"no states after the port came back; bus: {_describe(probe.bus_status())}"
    assert wait_until(lambda: probe.bus_status().level != DiagnosticStatus.ERROR, 5,
                      spin=probe.node.spin)  # connected again (WARN: no recent commands)
    assert process.poll() is None
    # corrupt replies at 20 %: the node keeps publishing
    control({"cmd": "corrupt", "rate": 0.2})
    assert probe.wait_states(50, 5)
    control({"cmd": "corrupt", "rate": 0.0})
    # torque service
    assert probe.call(SetBool, "/leap_driver/set_torque", SetBool.Request(data=False)).success
    assert control({"cmd": "state"})["registers"]["torque_enable"] == [0] * 16


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "callback_exception"])
def test_torque_off_on_every_shutdown_path(driver, how):
    start, control = driver
    argv = [sys.executable, HELPER] if how == "callback_exception" else None
    process, probe = start(argv)
    assert control({"cmd": "state"})["registers"]["torque_enable"] == [1] * 16
    if how == "callback_exception":
        probe.command([], [0.0] * 16)
    else:
        process.send_signal(getattr(signal, how))
    code = process.wait(timeout=15)
    assert code == (1 if how == "callback_exception" else 0)
    assert control({"cmd": "state"})["registers"]["torque_enable"] == [0] * 16
    # the node closes while its context is valid: no log line is lost on the way out
    output = process.stdout.read()
    assert "Failed to publish log message to rosout" not in output
    assert "torque off, port closed" in output


def test_a_driver_started_before_the_port_exists_waits_quietly(tmp_path, virtual_hand,
                                                               processes, ros_node):
    port = str(tmp_path / "late_port")
    processes.start([sys.executable, DRIVER, "--ros-args", "-p", f"port:={port}",
                     "-p", "startup_timeout_s:=30.0"])
    probe = Probe(ros_node)
    waiting = wait_until(lambda: (s := probe.bus_status()) is not None
                         and s.message == f"waiting for {port}", 30, spin=ros_node.spin)
    assert waiting and probe.bus_status().level == DiagnosticStatus.WARN
    virtual_hand(port=port)  # the emulator comes up later, as in a launch
    assert probe.wait_states(5, 30)
    assert wait_until(lambda: probe.bus_status().message == "no recent commands: holding "
                      "target", 10, spin=ros_node.spin)  # connected, no controller yet
    bus_levels = [s.level for a in probe.diagnostics for s in a.status
                  if s.name == "leap_hand: bus"]
    assert DiagnosticStatus.ERROR not in bus_levels  # never reported as a failure
