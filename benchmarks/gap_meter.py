"""The live gap meter on the virtual hand: its cost in the controller, and how fast it sees a
change the dynamics model was not trained on; and the live view's rate and latency.

`launch/rotate.launch.xml` on the virtual hand (`real` profile, goal current 550 mA, the shipped
base policy) with the shipped dynamics bundle as the meter and the view on. After the meter has
judged the hand for ``--settle`` seconds (its WARN share there is the false-alarm rate), a
register of every motor (``--register``, default the goal current, times ``--factor``) is
changed through the emulator's control socket (as a hotter motor or a wrong setting would), and
restored ``--hold`` seconds later. Prints one JSON line: overhead_ms_p99 (the meter's time per
controller tick; overhead_cpu_ms_p99: its thread's CPU time, without the preemption by the
virtual hand's physics that the wall time includes), detect_seconds (changed -> first WARN
or ERROR on /dexndm/gap_meter), recover_seconds (restored -> first OK), baseline_warn_share,
view_hz (scenes a Foxglove protocol client receives from the live view, `hand_view`, per
second while the hand runs) and view_latency_ms_p50 / _p99 (the joint reading's stamp -> its
scene at the client).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import Children, isolated_ros_env, report, spin_until

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dynamics", default=str(REPO / "policies" / "dexndm_dynamics"))
    parser.add_argument("--register", default="goal_current",
                        help="the motor register changed on every motor (goal_current: a "
                             "lower torque cap; position_p_gain: a softer position loop)")
    parser.add_argument("--factor", type=float, default=250 / 550,
                        help="its value times this while injected (default 550 -> 250 mA)")
    parser.add_argument("--settle", type=float, default=8.0, help="seconds judged before")
    parser.add_argument("--hold", type=float, default=5.0, help="seconds at the low current")
    args = parser.parse_args()

    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from dexndm_msgs.msg import GapMeter
    from dexndm_sim.xc330.server import control_request

    env = isolated_ros_env()
    levels: list[tuple[float, int]] = []
    with socket.socket() as probe:  # a free port for the view's WebSocket server
        probe.bind(("127.0.0.1", 0))
        view_port = probe.getsockname()[1]
    with (tempfile.TemporaryDirectory() as tmp, Children() as children,
          open(Path(tmp) / "launch.log", "w") as log):
        port, stats = Path(tmp) / "hand", Path(tmp) / "loop.json"
        launch = children.start(
            [str(Path(sys.executable).parent / "dexndm"), "launch",
             str(REPO / "launch" / "rotate.launch.xml"), f"dynamics_bundle:={args.dynamics}",
             f"virtual_port:={port}", f"report:={Path(tmp) / 'object.json'}",
             f"stats_file:={stats}", "view:=true", f"view_port:={view_port}",
             "view_page_port:=-1"], env=env, stdout=log, stderr=subprocess.STDOUT)
        rclpy.init()
        try:
            node = rclpy.create_node("gap_meter_probe")
            node.create_subscription(
                GapMeter, "/dexndm/gap_meter",
                lambda m: levels.append((time.monotonic(), int(m.level))), 50)
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            spin = functools.partial(executor.spin_once, timeout_sec=0.01)
            if not spin_until(lambda: len(levels) > 0, 180, spin):
                sys.exit("no /dexndm/gap_meter message within 180 s: "
                         + (Path(tmp) / "launch.log").read_text()[-2000:])
            viewer = ViewProbe(view_port)
            started = time.monotonic()
            spin_until(lambda: False, args.settle, spin)  # judge the undisturbed hand
            view = viewer.stop()
            baseline = [level for t, level in levels if t >= started]

            original = control_request(port, {"cmd": "state"})["registers"][args.register]

            def set_register(values: list[int]) -> float:
                for motor, value in enumerate(values):
                    control_request(port, {"cmd": "set", "id": motor, "name": args.register,
                                           "value": int(value)})
                return time.monotonic()

            lowered = set_register([round(args.factor * v) for v in original])
            detected = spin_until(lambda: any(t > lowered and lv > 0 for t, lv in levels), 10, spin)
            detect = next((t - lowered for t, lv in levels if t > lowered and lv > 0), None)
            spin_until(lambda: False, max(0.0, args.hold - (time.monotonic() - lowered)), spin)
            restored = set_register(original)
            spin_until(lambda: any(t > restored and lv == 0 for t, lv in levels), 10, spin)
            recover = next((t - restored for t, lv in levels if t > restored and lv == 0), None)
            node.destroy_node()
        finally:
            rclpy.shutdown()
        os.killpg(launch.pid, signal.SIGINT)  # a clean stop writes the loop statistics
        with contextlib.suppress(subprocess.TimeoutExpired):  # else Children kills it
            launch.wait(timeout=30)
        loop = json.loads(stats.read_text()) if stats.is_file() else {}
    report("gap_meter", {
        "overhead_ms_p99": loop.get("gap_meter_ms", {}).get("p99"),
        "overhead_cpu_ms_p99": loop.get("gap_meter_cpu_ms", {}).get("p99"),
        "detect_seconds": None if not detected or detect is None else round(detect, 2),
        "recover_seconds": None if recover is None else round(recover, 2),
        **view,
        "baseline_warn_share": round(sum(lv > 0 for lv in baseline) / max(len(baseline), 1), 3),
        "baseline_ticks": len(baseline),
        "injected": {"register": args.register, "factor": round(args.factor, 3),
                     "from": original[:4]},
        "controller_compute_ms_p99": loop.get("compute_ms", {}).get("p99"),
        "gap_meter": loop.get("gap_meter")})


class ViewProbe:
    """A Foxglove protocol client on the view's scene topic, in a thread: scenes per second and
    the latency from each joint reading's stamp to its scene's arrival."""

    def __init__(self, port: int) -> None:
        from dexndm_control.view.client import FoxgloveClient
        from dexndm_control.view.server import TF_TOPIC

        deadline = time.monotonic() + 60
        while True:
            try:
                self.client = FoxgloveClient(port, [TF_TOPIC])
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.topic = TF_TOPIC  # every scene moves the link frames
        self.arrivals: list[tuple[float, float]] = []  # (monotonic, latency s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                stamp, _ = self.client.receive(self.topic, timeout=0.5)
            except TimeoutError:
                continue
            self.arrivals.append((time.monotonic(), time.time() - stamp / 1e9))

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        self.client.close()
        if len(self.arrivals) < 2:
            return {"view_hz": None, "view_latency_ms_p50": None, "view_latency_ms_p99": None}
        span = self.arrivals[-1][0] - self.arrivals[0][0]
        latency = sorted(1e3 * lag for _, lag in self.arrivals)
        return {"view_hz": round((len(self.arrivals) - 1) / span, 1),
                "view_latency_ms_p50": round(latency[len(latency) // 2], 1),
                "view_latency_ms_p99": round(latency[int(0.99 * (len(latency) - 1))], 1),
                "view_scenes": len(self.arrivals)}


if __name__ == "__main__":
    main()
