"""quest_bridge over real DDS: WebSocket token, poses to /teleop/arm_target, fuzzing, the
oculus_reader source through a replayed logcat, the page in headless Chromium."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseStamped, QuaternionStamped
from sensor_msgs.msg import Joy

from conftest import HeadlessPage, Output, find_chromium, pid_alive, wait_until
from dexndm_msgs.msg import RotationCommand

BIN = Path(sys.executable).parent
TOKEN = "test-token-123"


class SourceStatus:
    """The bridge's /diagnostics status of its input source, as the test node receives it."""

    def __init__(self, node) -> None:
        self.node = node
        self.received: list[dict[str, str]] = []
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_array, 10)

    def _on_array(self, array: DiagnosticArray) -> None:
        for status in array.status:
            if status.name == "quest_bridge: source":
                self.received.append({"level": status.level, "message": status.message,
                                      **{v.key: v.value for v in status.values}})

    def wait(self, predicate, timeout: float = 20.0) -> dict[str, str]:
        """The first status (from now on) for which ``predicate`` holds."""
        start = len(self.received)
        found = []
        assert wait_until(lambda: found or any(predicate(s) and not found.append(s)
                                               for s in self.received[start:]),
                          timeout, spin=self.node.spin), self.received[-3:]
        return found[0]


def start_bridge(processes, *params: str) -> tuple[subprocess.Popen, Output]:
    argv = [sys.executable, str(BIN / "quest_bridge"), "--ros-args"]
    for param in params:
        argv += ["-p", param]
    process = processes.start(argv)
    return process, Output(process)


def webxr_bridge(processes, status: SourceStatus):
    process, _ = start_bridge(processes, "source:=webxr", "webxr_port:=0",
                              f"webxr_token:={TOKEN}", "max_linear_speed:=10.0")
    return process, int(status.wait(lambda s: "port" in s)["port"])


def message(x: float, buttons=("RG", "LTr"), trigger=1.0) -> str:
    right = [b for b in buttons if b.startswith("R")]
    left = [b for b in buttons if b.startswith("L") or b in ("X", "Y")]
    return json.dumps({"t": 0, "right": {"position": [x, 1.0, 0.0],
                                         "orientation": [0, 0, 0, 1], "buttons": right,
                                         "grip": 1.0 if "RG" in right else 0.0},
                       "left": {"position": [0, 1, 0], "orientation": [0, 0, 0, 1],
                                "buttons": left, "trigger": trigger}})


def test_token_is_required_and_poses_arrive_on_the_arm_target(processes, ros_node):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    status = SourceStatus(ros_node)
    bridge, port = webxr_bridge(processes, status)
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{port}/ws", open_timeout=5).close()
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        connect(f"ws://127.0.0.1:{port}/ws?token=wrong", open_timeout=5).close()

    targets, wrists, commands, joys = [], [], [], []
    ros_node.create_subscription(PoseStamped, "/teleop/arm_target", targets.append, 100)
    ros_node.create_subscription(QuaternionStamped, "/dexndm/wrist_orientation", wrists.append,
                                 100)
    ros_node.create_subscription(RotationCommand, "/dexndm/rotation_command", commands.append,
                                 100)
    ros_node.create_subscription(Joy, "/teleop/joy", joys.append, 100)
    with connect(f"ws://127.0.0.1:{port}/ws?token={TOKEN}", open_timeout=5) as client:
        # wait for discovery: keep sending the engage pose until targets arrive
        assert wait_until(lambda: (client.send(message(0.0)), bool(targets))[1], 20,
                          spin=ros_node.spin)
        # left trigger held, X/Y/LG not pressed: rotation enabled about the default axis
        assert wait_until(lambda: (client.send(message(0.0)),
                                   any(c.enabled for c in commands))[1], 10, spin=ros_node.spin)
        home_x = targets[-1].pose.position.x
        # the controller moves -z in VR (forward) by 5 cm: the arm target moves +x by 5 cm
        # (at the rate limit: the pose is streamed until the target has caught up)
        moved = json.dumps({**json.loads(message(0.0)), "right": {
            "position": [0.0, 1.0, -0.05], "orientation": [0, 0, 0, 1], "buttons": ["RG"],
            "grip": 1.0}})
        assert wait_until(lambda: (client.send(moved),
                                   abs(targets[-1].pose.position.x - home_x - 0.05) < 1e-6)[1],
                          5, spin=ros_node.spin), targets[-1].pose.position
    assert targets[-1].header.frame_id == "world"
    assert wrists and (wrists[-1].quaternion.x, wrists[-1].quaternion.w) == \
        pytest.approx((1.0, 0.0))
    enabled = [c for c in commands if c.enabled]
    assert enabled[-1].source == "quest_buttons" and enabled[-1].axis.z == 1.0
    assert joys[-1].buttons[4] == 1 and joys[-1].buttons[11] == 1  # RG and LTr
    # the client is gone: rotation is disabled, the arm target held, and it stays so
    assert wait_until(lambda: commands and not commands[-1].enabled, 5, spin=ros_node.spin)
    stale = status.wait(lambda s: s["stale"] == "true")
    assert stale["rotation_enabled"] == "false" and stale["level"] == DiagnosticStatus.WARN
    held = len(targets)
    status.wait(lambda s: True)  # a second later: no arm target since, keepalive still "off"
    assert len(targets) == held and not commands[-1].enabled
    assert bridge.poll() is None


def _fuzz(rng: random.Random, valid: str) -> str | bytes:
    kind = rng.randrange(6)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    if kind == 1:  # a valid message with bytes flipped
        text = list(valid)
        for _ in range(rng.randrange(1, 6)):
            text[rng.randrange(len(text))] = chr(rng.randrange(32, 127))
        return "".join(text)
    if kind == 2:
        return valid[:rng.randrange(len(valid))]
    if kind == 3:
        return json.dumps({"right": {"position": [rng.uniform(-1e12, 1e12) for _ in range(3)],
                                     "orientation": [rng.random() for _ in range(4)]}})
    if kind == 4:
        return "x" * rng.randrange(4097, 20000)  # oversized (dropped, connection kept)
    return json.dumps(rng.choice([None, [], 3, "s", {"left": []}, {"right": {"buttons": 5}}]))


def test_ten_thousand_fuzzed_messages_leave_the_bridge_up(processes, ros_node):
    from websockets.sync.client import connect

    status = SourceStatus(ros_node)
    bridge, port = webxr_bridge(processes, status)
    rng = random.Random(7)
    valid = message(0.0)
    always_malformed = 0  # cut-off JSON and oversized frames can never parse
    with connect(f"ws://127.0.0.1:{port}/ws?token={TOKEN}", open_timeout=5) as client:
        for _ in range(10_000):
            fuzzed = _fuzz(rng, valid)
            always_malformed += isinstance(fuzzed, str) and (
                len(fuzzed) > 4096 or (fuzzed != valid and valid.startswith(fuzzed)))
            client.send(fuzzed)
        targets = []
        ros_node.create_subscription(PoseStamped, "/teleop/arm_target", targets.append, 10)
        assert wait_until(lambda: (client.send(valid), bool(targets))[1], 20,
                          spin=ros_node.spin)
    assert bridge.poll() is None and pid_alive(bridge.pid)
    counted = status.wait(lambda s: int(s["received"]) >= 1)
    assert always_malformed <= int(counted["dropped_malformed"]) <= 10_000
    assert always_malformed > 1000


def test_oculus_reader_source_replays_logcat_lines(processes, ros_node, tmp_path):
    pose = "1 0 0 0 0 1 0 1.0 0 0 1 {z} 0 0 0 1"
    lines = [f"11-22 06:00:00.{k:03d} 1 1 I wE9ryARX: r:{pose.format(z=-0.001 * k)}"
             f"|l:1 0 0 0 0 1 0 1 0 0 1 0 0 0 0 1&R,L,RG,X,LTr,rightGrip 1.0,leftTrig 1.0"
             for k in range(200)] + ["garbage wE9ryARX: r:1 2 3&R"]
    log = tmp_path / "logcat.txt"
    log.write_text("\n".join(lines) + "\n")
    replay = ("import time, sys\n"
              f"for line in open({str(log)!r}):\n"
              "    print(line, end='', flush=True)\n"
              "    time.sleep(0.01)\n")
    (tmp_path / "replay.py").write_text(replay)
    script = f"{sys.executable} {tmp_path / 'replay.py'}"
    bridge, output = start_bridge(processes, "source:=oculus_reader", f"logcat_command:={script}",
                                  "max_linear_speed:=10.0")
    targets, commands = [], []
    ros_node.create_subscription(PoseStamped, "/teleop/arm_target", targets.append, 100)
    ros_node.create_subscription(RotationCommand, "/dexndm/rotation_command", commands.append,
                                 100)
    assert wait_until(lambda: len(targets) > 50, 30, spin=ros_node.spin)
    xs = [t.pose.position.x for t in targets]
    assert max(xs) - min(xs) > 0.02  # the controller moved forward: so did the arm target
    assert any(c.enabled and c.axis.z == pytest.approx(1.0) for c in commands)  # X = +z
    status = SourceStatus(ros_node)
    counted = status.wait(lambda s: int(s["received"]) >= 200)
    # the source restarts the command when it exits: one garbage line per replay of 200
    replays = int(counted["received"]) // 200
    assert replays <= int(counted["dropped_malformed"]) <= replays + 1
    assert bridge.poll() is None


@pytest.mark.skipif(find_chromium() is None and not os.environ.get("CI"),
                    reason="no Chromium (bash scripts/bootstrap.sh installs Debian's chromium "
                           "when run as root; else: sudo apt-get install chromium)")
def test_page_loads_in_headless_chromium_and_connects(processes, ros_node, tmp_path):
    assert find_chromium() is not None, "CI needs Chromium: scripts/bootstrap.sh installs it"
    status = SourceStatus(ros_node)
    _, port = webxr_bridge(processes, status)
    url = f"http://localhost:{port}/?token={TOKEN}"
    with HeadlessPage(processes, url, tmp_path / "profile") as page:
        connected = page.wait_for(
            "document.getElementById('status').dataset.state === 'connected'", timeout=30)
        assert connected, (f"the page says {page.evaluate('status.textContent')!r}, socket "
                           f"readyState {page.evaluate('socket && socket.readyState')}")
        status.wait(lambda s: int(s["received"]) >= 1)  # the page's hello reached the bridge
