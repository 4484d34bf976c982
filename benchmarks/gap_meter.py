"""The live gap meter on the virtual hand: its cost in the controller, and how fast it sees a
change the dynamics model was not trained on; and the live view's rate and latency.

`launch/rotate.launch.xml` on the virtual hand (`real` profile, goal current 550 mA, the shipped
base policy) with the shipped dynamics bundle as the meter and the view on. With
``--calibrate N``, N undisturbed runs are recorded first (`dexndm record`) and a copy of the
bundle is calibrated on them (`dexndm dataset gap-calibrate`), so the judged run is not one the
thresholds were taken from. After the meter has judged the hand for ``--settle`` seconds (its
WARN share there is the false-alarm rate), a register of every motor (``--register``, default
the position P gain, times ``--factor``; `--register goal_current --factor 0.615` is the
issue's 650 -> 400 mA at our 550 mA) is changed through the emulator's control socket (as a
wrong setting or a worn motor would), and restored ``--hold`` seconds later. Prints one JSON
line: overhead_ms_p99 (what the meter costs the control tick: queueing the tick for it, wall
clock; overhead_cpu_ms_p99: the same in CPU time, without the preemption by the virtual hand's
physics that the wall time includes), meter_work_ms_p99 / meter_work_cpu_ms_p99 (the meter's own
scoring and prediction per tick, run in the controller's thread after the tick's callback),
controller_period_dev_ms_p99 and controller_publish_ms_p50 / _p99 (the tick's two publishes, a
short section measured in the same ticks: how any short section's wall clock fares here),
detect_seconds (changed -> first WARN or ERROR on /dexndm/gap_meter), recover_seconds
(restored -> first OK), quiet_after_seconds (restored -> the last WARN in the 10 s after),
baseline_warn_share, baseline_joints_out (the joints the undisturbed stretch's WARNs named, ticks
each), changed_warn_share (ticks at WARN or worse while changed), object_fell_after_s and
object_radians (the virtual hand's report of the object over the run), view_hz
(scenes a Foxglove protocol client receives from the live view, `hand_view`, per second while
the hand runs) and view_latency_ms_p50 / _p99 (the joint reading's stamp -> its
scene at the client).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import Children, bin_path, isolated_ros_env, report, spin_until

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dynamics", default=str(REPO / "policies" / "dexndm_dynamics"))
    parser.add_argument("--register", default="position_p_gain",
                        help="the motor register changed on every motor (position_p_gain: a "
                             "softer position loop; goal_current: a lower torque cap)")
    parser.add_argument("--factor", type=float, default=0.3,
                        help="its value times this while injected (default: P gain x 0.3)")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds judged before")
    parser.add_argument("--hold", type=float, default=5.0, help="seconds at the changed value")
    parser.add_argument("--calibrate", type=int, default=0, metavar="RUNS",
                        help="first record this many undisturbed runs of --calibrate-seconds "
                             "and judge with a copy of the bundle calibrated on them (`dexndm "
                             "dataset gap-calibrate`; 0: the bundle as it is)")
    parser.add_argument("--calibrate-seconds", type=float, default=40.0)
    parser.add_argument("--keep-bags", type=Path, default=None,
                        help="keep the calibration runs' bags here")
    parser.add_argument("--dump", type=Path, default=None,
                        help="also save every meter message (time, error, level) and the "
                             "change's times to this .npz, for offline statistics")
    args = parser.parse_args()

    import rclpy

    env = isolated_ros_env()
    rclpy.init()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bundle = Path(args.dynamics)
            calibration = None
            if args.calibrate:
                bundle = Path(tmp) / "dynamics"
                shutil.copytree(args.dynamics, bundle)
                bags_dir = args.keep_bags or Path(tmp) / "bags"
                bags = [record_run(env, args.dynamics, bags_dir / f"run_{i}",
                                   args.calibrate_seconds) for i in range(args.calibrate)]
                calibrated = subprocess.run(
                    [bin_path("dexndm"), "dataset", "gap-calibrate", *map(str, bags),
                     "--bundle", str(bundle)], capture_output=True, text=True, env=env)
                if calibrated.returncode:
                    sys.exit(calibrated.stderr)
                calibration = calibrated.stdout.splitlines()[0]
            result = judge_run(env, bundle, args)
    finally:
        rclpy.shutdown()
    report("gap_meter", {**result, "calibration": calibration})


class Meter:
    """A subscriber to /dexndm/gap_meter in this process: (time, level, error) per message."""

    def __init__(self, name: str) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        from dexndm_msgs.msg import GapMeter

        self.levels: list[tuple[float, int]] = []
        self.errors: list[list[float]] = []
        self.joints_out: list[list[str]] = []
        self.node = rclpy.create_node(name)
        self.node.create_subscription(GapMeter, "/dexndm/gap_meter", self._received, 50)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.spin = functools.partial(self.executor.spin_once, timeout_sec=0.01)

    def _received(self, message) -> None:
        self.levels.append((time.monotonic(), int(message.level)))
        self.errors.append(list(message.error))
        self.joints_out.append(list(message.joints_out))

    def close(self) -> None:
        self.executor.remove_node(self.node)
        self.node.destroy_node()


def start_hand(children: Children, env: dict, tmp: Path, bundle: Path, log,
               view_port: int | None = None):
    """The rotation launch on the virtual hand with ``bundle`` as the meter."""
    extra = ["view:=true", f"view_port:={view_port}", "view_page_port:=-1"] \
        if view_port is not None else []
    return children.start(
        [bin_path("dexndm"), "launch", str(REPO / "launch" / "rotate.launch.xml"),
         f"dynamics_bundle:={bundle}", f"virtual_port:={tmp / 'hand'}",
         f"report:={tmp / 'object.json'}", f"stats_file:={tmp / 'loop.json'}", *extra],
        env=env, stdout=log, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen) -> None:
    """SIGINT (a clean stop: the launch writes its statistics, a recorder closes its bag)."""
    os.killpg(process.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):  # else Children kills it
        process.wait(timeout=30)


def first_message(meter: Meter, tmp: Path) -> None:
    if not spin_until(lambda: len(meter.levels) > 0, 180, meter.spin):
        sys.exit("no /dexndm/gap_meter message within 180 s: "
                 + (tmp / "launch.log").read_text()[-2000:])


def record_run(env: dict, bundle: str, bag: Path, seconds: float) -> Path:
    """An undisturbed run recorded with `dexndm record` (the meter's topic) from its first
    scored tick on, for ``seconds``."""
    bag.parent.mkdir(parents=True, exist_ok=True)
    with (tempfile.TemporaryDirectory() as tmp, Children() as children,
          open(Path(tmp) / "launch.log", "w") as log):
        meter = Meter("gap_meter_calibration")
        try:
            launch = start_hand(children, env, Path(tmp), Path(bundle), log)
            first_message(meter, Path(tmp))
            recorder = children.start([bin_path("dexndm"), "record", "-o", str(bag),
                                       "/dexndm/gap_meter"], env=env, stdout=log,
                                      stderr=subprocess.STDOUT)
            started = time.monotonic()
            spin_until(lambda: False, seconds, meter.spin)
            stop(recorder)
            stop(launch)
            print(f"calibration run {bag.name}: {sum(t >= started for t, _ in meter.levels)} "
                  f"meter messages in {seconds:g} s", file=sys.stderr)
        finally:
            meter.close()
    return bag


def judge_run(env: dict, bundle: Path, args) -> dict:
    from dexndm_sim.xc330.server import control_request

    with socket.socket() as probe:  # a free port for the view's WebSocket server
        probe.bind(("127.0.0.1", 0))
        view_port = probe.getsockname()[1]
    with (tempfile.TemporaryDirectory() as tmp, Children() as children,
          open(Path(tmp) / "launch.log", "w") as log):
        tmp = Path(tmp)
        meter = Meter("gap_meter_probe")
        levels, spin = meter.levels, meter.spin
        try:
            launch = start_hand(children, env, tmp, bundle, log, view_port)
            first_message(meter, tmp)
            viewer = ViewProbe(view_port)
            started = time.monotonic()
            spin_until(lambda: False, args.settle, spin)  # judge the undisturbed hand
            view = viewer.stop()
            baseline = [level for t, level in levels if t >= started]
            baseline_out = collections.Counter(
                joint for (t, _), joints in zip(levels, meter.joints_out, strict=True)
                if t >= started for joint in joints)
            port = tmp / "hand"
            original = control_request(port, {"cmd": "state"})["registers"][args.register]

            def set_register(values: list[int]) -> float:
                for motor, value in enumerate(values):
                    control_request(port, {"cmd": "set", "id": motor, "name": args.register,
                                           "value": int(value)})
                return time.monotonic()

            lowered = set_register([round(args.factor * v) for v in original])
            spin_until(lambda: False, args.hold, spin)
            changed = [(t, lv) for t, lv in levels if t > lowered]
            detect = next((t - lowered for t, lv in changed if lv > 0), None)
            restored = set_register(original)
            spin_until(lambda: False, 10.0, spin)
            after = [(t, lv) for t, lv in levels if t > restored]
            recover = next((t - restored for t, lv in after if lv == 0), None)
            # restored -> the last WARN or ERROR within the 10 s that follow (0: none)
            quiet = max((t - restored for t, lv in after if lv > 0), default=0.0)
            errors = list(meter.errors)
        finally:
            meter.close()
        stop(launch)
        stats = tmp / "loop.json"
        loop = json.loads(stats.read_text()) if stats.is_file() else {}
        held = tmp / "object.json"  # the virtual hand's report of the object, written at exit
        held = json.loads(held.read_text()) if held.is_file() else {}
    if args.dump is not None:
        import numpy as np

        np.savez(args.dump, time=np.array([t for t, _ in levels]),
                 level=np.array([lv for _, lv in levels]), error=np.array(errors),
                 started=started, lowered=lowered, restored=restored)
    return {
        "overhead_ms_p99": loop.get("gap_meter_ms", {}).get("p99"),
        "overhead_cpu_ms_p99": loop.get("gap_meter_cpu_ms", {}).get("p99"),
        "meter_work_ms_p99": loop.get("gap_meter_work_ms", {}).get("p99"),
        "meter_work_cpu_ms_p99": loop.get("gap_meter_work_cpu_ms", {}).get("p99"),
        "controller_period_dev_ms_p99": loop.get("period_deviation_ms", {}).get("p99"),
        # the tick's two publishes (~0.2 ms of CPU): how a short section's wall time fares here
        "controller_publish_ms_p50": loop.get("publish_ms", {}).get("p50"),
        "controller_publish_ms_p99": loop.get("publish_ms", {}).get("p99"),
        "detect_seconds": None if detect is None else round(detect, 2),
        "recover_seconds": None if recover is None else round(recover, 2),
        "quiet_after_seconds": round(quiet, 2),
        **view,
        "baseline_warn_share": round(sum(lv > 0 for lv in baseline) / max(len(baseline), 1), 3),
        "baseline_ticks": len(baseline),
        # which joints the undisturbed stretch's WARNs named (ticks each), and whether the
        # object fell in the run (seconds from the hand-over): a hand that lost its object
        # moves unlike the runs the meter was calibrated on
        "baseline_joints_out": dict(baseline_out.most_common()),
        "object_fell_after_s": held.get("time_to_first_fall"),
        "object_radians": None if "radians" not in held else round(held["radians"], 2),
        "changed_warn_share": round(sum(lv > 0 for _, lv in changed) / max(len(changed), 1), 3),
        "injected": {"register": args.register, "factor": round(args.factor, 3),
                     "from": original[:4], "hold_s": args.hold, "settle_s": args.settle},
        "controller_compute_ms_p99": loop.get("compute_ms", {}).get("p99"),
        "gap_meter": loop.get("gap_meter")}


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
