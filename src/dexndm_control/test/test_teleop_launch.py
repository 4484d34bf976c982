"""launch/teleop.launch.xml on the virtual hand: a WebXR client turns the arm target, the virtual
hand's palm follows the wrist stream, and the controller runs the policy under the dead-man."""

from __future__ import annotations

import json
import math
import signal
import socket
import sys
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray

from conftest import Output, wait_until
from dexndm_msgs.msg import ControlStep

ROOT = Path(__file__).resolve().parents[3]
DEXNDM = str(Path(sys.executable).parent / "dexndm")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _message(yaw: float, deadman: bool) -> str:
    """Right grip held, right controller yawed by ``yaw`` about the VR up axis (y)."""
    return json.dumps({"right": {"position": [0, 1, 0],
                                 "orientation": [0, math.sin(yaw / 2), 0, math.cos(yaw / 2)],
                                 "buttons": ["RG"], "grip": 1.0},
                       "left": {"position": [0, 1, 0], "orientation": [0, 0, 0, 1],
                                "buttons": ["LTr"] if deadman else [],
                                "trigger": 1.0 if deadman else 0.0}})


def test_teleop_turns_the_virtual_palm_and_runs_the_policy(tmp_path, ros_domain, processes,
                                                           ros_node):
    from websockets.sync.client import connect

    from dexndm_sim.xc330.server import control_request

    port, hand = _free_port(), str(tmp_path / "hand")
    launcher = processes.start([DEXNDM, "launch", str(ROOT / "launch" / "teleop.launch.xml"),
                                f"virtual_port:={hand}", f"webxr_port:={port}",
                                "webxr_token:=tok"])
    out = Output(launcher)
    steps: list[ControlStep] = []
    ros_node.create_subscription(ControlStep, "/dexndm/control_step", steps.append, 100)
    bridge_up: list[DiagnosticArray] = []  # the bridge reports its source once it serves
    ros_node.create_subscription(DiagnosticArray, "/diagnostics", lambda a: bridge_up.extend(
        s for s in a.status if s.name == "quest_bridge: source"), 10)
    assert wait_until(lambda: bool(bridge_up), 60, spin=ros_node.spin), out.text()
    assert wait_until(lambda: Path(hand + ".ctl").exists(), 30), out.text()
    start = control_request(hand, {"cmd": "state"})["wrist"]
    np.testing.assert_allclose(start, [0, 1, 0, 0], atol=1e-9)  # palm up
    with connect(f"ws://127.0.0.1:{port}/ws?token=tok", open_timeout=10) as client:
        client.send(_message(0.0, True))  # engage the clutch here
        # yaw the controller by 0.5 rad: the target (and the hand base) turns about world z;
        # palm up (0, 1, 0, 0) turned by +0.5 rad about world z:
        # (cos .25, 0, 0, sin .25) * (0, 1, 0, 0) = (0, cos .25, sin .25, 0)
        expected = np.array([0, math.cos(0.25), math.sin(0.25), 0])

        def turned() -> bool:  # the turn is rate-limited: stream the pose until it arrives
            client.send(_message(0.5, True))
            wrist = np.array(control_request(hand, {"cmd": "state"})["wrist"])
            return np.abs(wrist - expected).max() < 0.02

        assert wait_until(turned, 30, spin=ros_node.spin), out.text()
        # with the dead-man held the controller runs the policy (not holding)
        assert wait_until(lambda: (client.send(_message(0.5, True)),
                                   any(not s.holding for s in steps))[1], 30,
                          spin=ros_node.spin), out.text()
    wrist = np.array(control_request(hand, {"cmd": "state"})["wrist"])
    np.testing.assert_allclose(wrist, expected, atol=0.02)  # and it stays there
    launcher.send_signal(signal.SIGINT)
    assert launcher.wait(timeout=20) == 130
