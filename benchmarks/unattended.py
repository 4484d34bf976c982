"""Unattended chaos-box collection on the virtual hand, with faults nobody fixes by hand.

Two runs of `launch/collect.launch.xml` (MuJoCo chaos box, `real` profile, 550 mA, the driver's
automatic reboot on): an undisturbed one for ``--baseline-minutes`` (its episodes per minute are
the reference), then one for ``--minutes`` with an overload latched on a motor every
``--overload-every`` minutes (through the emulator's control socket, as the firmware would) and a
warm spell (the room at ``--warm-c`` for ``--warm-s`` seconds) that drives motors toward their
Temperature Limit, so the collector pauses. Motor heating runs ``--thermal-speedup`` times faster
than real time (so a 60-minute run sees the thermal history of hours); nothing else is sped up,
and the collector's thermal margins are widened with it (``--pause-margin``, ``--resume-margin``:
one episode is worth ten times the heat). ``--baseline-from`` reuses an earlier baseline run.
After the timed part, one motor is overloaded again each time the driver has rebooted it, until the
driver gives up on it and the collector stops by itself.

Checks every episode: each START in the bags has an END or an ABORT, the manifest lists each
completed and aborted episode, and `dexndm dataset build` keeps exactly the completed ones.
Prints one JSON line: completed_ratio (episodes completed in the faulty run / the baseline rate x
its minutes), reboots, pauses, lost_episodes, minutes, and the details behind them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from _common import Children, isolated_ros_env, report, wait_for_path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _manifest(run: Path) -> dict:
    path = run / "manifest.yaml"
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def _launch(children: Children, run: Path, port: Path, args, log, env) -> subprocess.Popen:
    return children.start([str(BIN / "dexndm"), "launch",
                           str(REPO / "launch" / "collect.launch.xml"), f"output:={run}",
                           f"virtual_port:={port}", f"thermal_speedup:={args.thermal_speedup}",
                           f"thermal_pause_margin_c:={args.pause_margin}",
                           f"thermal_resume_margin_c:={args.resume_margin}",
                           "auto_reboot:=true"], env=env, stdout=log, stderr=subprocess.STDOUT)


def _started(run: Path, timeout: float = 300.0) -> float:
    """Wait for the collector's first episode (the scene is built, the hand connected)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = _manifest(run).get("health", {})
        if health.get("seconds", {}).get("ramp", 0) > 0 or _manifest(run).get("completed"):
            return time.monotonic()
        time.sleep(0.5)
    raise TimeoutError(f"no episode started in {run} within {timeout:.0f} s")


def _stop(launch: subprocess.Popen) -> None:
    if launch.poll() is None:
        launch.send_signal(signal.SIGINT)
        try:
            launch.wait(60)
        except subprocess.TimeoutExpired:
            launch.kill()
            launch.wait()


def _episode_events(run: Path) -> dict[int, list[int]]:
    """Episode index -> the event kinds (START, END, ABORT) found in the run's bags."""
    from rclpy.serialization import deserialize_message
    from rosbags.rosbag2 import Reader

    from dexndm_msgs.msg import EpisodeEvent

    events: dict[int, list[int]] = {}
    for bag in sorted(p for p in run.glob("bag_*") if (p / "metadata.yaml").is_file()):
        with Reader(bag) as reader:
            connections = [c for c in reader.connections if c.topic == "/dexndm/episode"]
            for _, _, raw in reader.messages(connections=connections):
                message = deserialize_message(raw, EpisodeEvent)
                events.setdefault(message.episode_index, []).append(message.event)
    return events


def _audit(run: Path) -> dict:
    """Every episode accounted for, in the bags, the manifest and the built dataset."""
    from dexndm_msgs.msg import EpisodeEvent

    manifest = _manifest(run)
    completed = {e["index"] for e in manifest.get("completed", [])}
    aborted = {e["index"] for e in manifest.get("aborted", [])}
    events = _episode_events(run)
    lost = [index for index, kinds in events.items()
            if EpisodeEvent.START in kinds and EpisodeEvent.END not in kinds
            and EpisodeEvent.ABORT not in kinds]
    unlisted = [index for index in events if index not in completed | aborted]
    ends = {index for index, kinds in events.items() if EpisodeEvent.END in kinds}
    build = subprocess.run([str(BIN / "dexndm"), "dataset", "build", str(run), "-o",
                            str(run / "shards")], capture_output=True, text=True)
    built = json.loads((run / "shards" / "build_report.json").read_text()) \
        if build.returncode == 0 else {}
    return {"lost": sorted(lost), "unlisted": sorted(unlisted),
            "completed_without_end": sorted(completed - ends),
            "dataset_episodes_kept": built.get("episodes_kept"),
            "dataset_aborted_dropped": len(built.get("aborted", [])),
            "dataset_build_rc": build.returncode}


def _give_up(port: Path, motor: int, launch: subprocess.Popen, timeout: float) -> dict:
    """Overload ``motor`` each time it is back, until the collector stops by itself."""
    from dexndm_sim.xc330.server import control_request

    started, injected = time.monotonic(), 0
    while launch.poll() is None and time.monotonic() - started < timeout:
        try:
            registers = control_request(port, {"cmd": "state"})["registers"]
        except OSError:  # the launch is ending: the virtual hand went first
            break
        if not registers["hardware_error_status"][motor] and registers["torque_enable"][motor]:
            control_request(port, {"cmd": "overload", "id": motor})
            injected += 1
        time.sleep(0.5)
    with contextlib.suppress(subprocess.TimeoutExpired):
        launch.wait(30)
    return {"overloads": injected, "stopped_by_itself": launch.poll() is not None,
            "seconds": round(time.monotonic() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--baseline-minutes", type=float, default=10.0)
    parser.add_argument("--overload-every", type=float, default=5.0, help="minutes")
    parser.add_argument("--warm-at", type=float, default=0.4,
                        help="when the warm spell starts, as a share of --minutes")
    parser.add_argument("--warm-c", type=float, default=60.0)
    parser.add_argument("--warm-s", type=float, default=60.0)
    parser.add_argument("--thermal-speedup", type=float, default=10.0)
    # heating 10x faster makes one 22 s episode as long, thermally, as ten: the collector can
    # only pause between episodes, so its margin must cover what a motor gains in one episode
    # (at 1x, ~1 K at the 550 mA cap; at 10x, ~10 K)
    parser.add_argument("--pause-margin", type=float, default=15.0,
                        help="collector thermal_pause_margin_c (K below the limit)")
    parser.add_argument("--resume-margin", type=float, default=25.0,
                        help="collector thermal_resume_margin_c")
    parser.add_argument("--baseline-from", default=None,
                        help="an earlier run's baseline directory (its rate is reused; "
                             "--baseline-minutes must be the minutes it ran)")
    parser.add_argument("--keep", default=None, help="keep the run directories here")
    args = parser.parse_args()

    from dexndm_sim.xc330.server import control_request

    env = isolated_ros_env()
    base = Path(args.keep or tempfile.mkdtemp(prefix="unattended_"))
    base.mkdir(parents=True, exist_ok=True)
    result: dict = {"thermal_speedup": args.thermal_speedup,
                    "thermal_margins_k": [args.pause_margin, args.resume_margin]}
    with Children() as children:
        # 1. the undisturbed reference
        if args.baseline_from:
            done = len(_manifest(Path(args.baseline_from)).get("completed", []))
            result["baseline_reused"] = True  # the path is printed, not stored
        else:
            run, port = base / "baseline", base / "hand_baseline"
            with open(base / "baseline.log", "w") as log:
                launch = _launch(children, run, port, args, log, env)
                wait_for_path(f"{port}.ctl", 300)
                start = _started(run)
                time.sleep(max(args.baseline_minutes * 60 - (time.monotonic() - start), 0))
                done = len(_manifest(run).get("completed", []))
                _stop(launch)
        per_minute = done / args.baseline_minutes
        result["baseline"] = {"minutes": args.baseline_minutes, "completed": done,
                              "per_minute": round(per_minute, 3)}

        # 2. the faulty run
        run, port = base / "faulty", base / "hand_faulty"
        injections: list[dict] = []
        with open(base / "faulty.log", "w") as log:
            launch = _launch(children, run, port, args, log, env)
            wait_for_path(f"{port}.ctl", 300)
            start = _started(run)
            overload_at = [args.overload_every * 60 * (k + 0.5)
                           for k in range(int(args.minutes / args.overload_every))]
            warm_at = args.warm_at * args.minutes * 60
            motors = [1, 5, 9, 12, 2, 6, 10, 13, 3, 7, 11, 14]  # fingers and thumb in turn
            while (elapsed := time.monotonic() - start) < args.minutes * 60:
                if launch.poll() is not None:
                    raise RuntimeError(f"the launch ended early (see {base / 'faulty.log'})")
                if overload_at and elapsed >= overload_at[0]:
                    motor = motors[len(injections) % len(motors)]
                    control_request(port, {"cmd": "overload", "id": motor})
                    injections.append({"at_s": round(elapsed), "overload": motor})
                    overload_at.pop(0)
                if warm_at is not None and elapsed >= warm_at:
                    control_request(port, {"cmd": "ambient", "celsius": args.warm_c,
                                           "seconds": args.warm_s})
                    injections.append({"at_s": round(elapsed), "warm_c": args.warm_c,
                                       "seconds": args.warm_s})
                    warm_at = None
                time.sleep(0.5)
            timed = _manifest(run).get("health", {})
            completed = timed.get("episodes", {}).get("completed", 0)
            # 3. a motor that keeps overloading: the driver gives up, the collector stops
            give_up = _give_up(port, 5, launch, timeout=300)
            _stop(launch)
        final = _manifest(run).get("health", {})
        audit = _audit(run)
        expected = per_minute * args.minutes
        result.update({
            "completed_ratio": round(completed / expected, 3) if expected else None,
            "reboots": timed.get("reboots", {}).get("total", 0),
            "pauses": timed.get("pauses", {}).get("count", 0),
            "thermal_pauses": timed.get("pauses", {}).get("by_cause", {}).get("thermal", {}),
            "lost_episodes": len(audit["lost"]) + len(audit["unlisted"]),
            "minutes": args.minutes,
            "accounted_minutes": timed.get("minutes"),
            "completed": completed, "expected": round(expected, 1),
            "aborted_by_cause": timed.get("episodes", {}).get("aborted_by_cause", {}),
            "time_split_s": timed.get("seconds", {}),
            "duty_cycle": timed.get("duty_cycle"),
            "peak_temperature_c": max(timed.get("peak_temperature_c", {}).values(), default=None),
            "injections": injections, "give_up": {**give_up, "stopped": final.get("stopped")},
            "audit": audit})
    report("unattended", result)
    print(f"run directories: {base}" + (f"; baseline from {args.baseline_from}"
                                         if args.baseline_from else ""), flush=True)


if __name__ == "__main__":
    main()
