"""``dexndm-virtual-hand``: 16 emulated XC330 motors on a pty, opened like /dev/ttyUSB0."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from typing import TypeVar

from dexndm_control.errors import DexndmError
from dexndm_control.lifeline import follow_launcher
from dexndm_control.policy.start_grasp import read_initial_grasp, resolve_start_grasp
from dexndm_sim.wrist import LABELS as WRIST_LABELS
from dexndm_sim.xc330.server import PtyServer, control_request
from dexndm_sim.xc330.thermal import ThermalConfig
from dexndm_sim.xc330.virtual_bus import Faults, VirtualBus

T = TypeVar("T")

#: how often --stop-after-held looks at the object's held time (wall seconds)
HELD_CHECK_PERIOD_S = 0.02


def strip_ros_arguments(argv: list[str]) -> list[str]:
    """Drop what `ros2 launch`/`dexndm launch` append to any <node> (--ros-args ... [--])."""
    if "--ros-args" not in argv:
        return argv
    start = argv.index("--ros-args")
    end = argv.index("--", start) + 1 if "--" in argv[start:] else len(argv)
    return argv[:start] + argv[end:]


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="dexndm-virtual-hand",
        description="Emulate the LEAP hand's 16 XC330-M288 motors (Dynamixel Protocol 2.0) on a "
                    "pty. Point the driver's `port` parameter at --port.")
    parser.add_argument("--port", default="/tmp/leap_hand",
                        help="symlink to create for the pty (default /tmp/leap_hand)")
    parser.add_argument("--model", choices=["firmware", "mujoco"], default="mujoco",
                        help="motor model behind the bus: mujoco = the simulated LEAP hand in the "
                             "`real` profile (default); firmware = each motor alone, the XC330 "
                             "law on a link inertia with friction (no MuJoCo needed)")
    # Every option a launch file passes takes "" as its default: launch/leap_hand.launch.xml
    # passes each one as --name=$(var x), whether or not the user set it.
    parser.add_argument("--scene", choices=["free", "object", "chaos_box"], default="free",
                        type=launch_value(str, "free"),
                        help="what the MuJoCo hand touches")
    parser.add_argument("--start-from", metavar="BUNDLE", type=launch_value(str), default=None,
                        help="base policy bundle whose initial_grasp (scripts/set_initial_grasp.py)"
                             " gives the object, wrist and grasp the flags below leave unset: the "
                             "grasp whose target the controller ramps that policy's hand to")
    parser.add_argument("--wrist", type=launch_value(str), default=None,
                        help="palm_up, palm_down, base_up, base_down, thumb_up, thumb_down, random"
                             " (default: --start-from's, else palm_up)")
    parser.add_argument("--object-category", type=launch_value(str), default=None,
                        help="default: --start-from's, else cylinders")
    parser.add_argument("--object-index", type=launch_value(int), default=None,
                        help="object of the category (default: --start-from's for its category, "
                             "else 0)")
    parser.add_argument("--grasp-index", type=launch_value(int), default=None,
                        help="which grasp of the object's training-sim grasp search (nominal, 8 "
                             "grasps, --seed) the object starts in (default: --start-from's for "
                             "its own object and wrist, else 0)")
    parser.add_argument("--axis", nargs="+", default=[],
                        help="X Y Z or [X, Y, Z] (a launch file's list): hand-frame axis (as "
                             "commanded to the controller) the object's "
                             "rotation is measured about (default: +z)")
    parser.add_argument("--balls", type=launch_value(int), default=None,
                        help="chaos box balls (default: ChaosBox's)")
    parser.add_argument("--report", type=launch_value(str), default=None,
                        help="JSON file for the object report at exit (scene object)")
    parser.add_argument("--report-period", type=float, default=5.0,
                        help="seconds between object reports on stdout")
    parser.add_argument("--duration", type=float, default=None, help="exit after SECONDS")
    parser.add_argument("--stop-after-held", type=launch_value(float, 0.0), default=0.0,
                        metavar="SECONDS",
                        help="scene object: exit (writing --report) once the object has been in "
                             "the hand this many simulated seconds since the hand-over (the "
                             "report's `seconds`; the simulation can run slower than the wall "
                             "clock); 0: run until stopped")
    parser.add_argument("--silent-ids", type=int, nargs="*", default=[],
                        help="fault: motors that never answer")
    parser.add_argument("--corrupt-rate", type=float, default=0.0,
                        help="fault: fraction of replies sent with a bad CRC")
    parser.add_argument("--seed", type=int, default=0)
    thermal = ThermalConfig()
    parser.add_argument("--thermal-speedup", type=launch_value(float, thermal.speedup),
                        default=thermal.speedup,
                        help="heat and cool the motors this many times faster than real time "
                             "(tests, benchmarks)")
    parser.add_argument("--ambient-c", type=float, default=thermal.ambient_c,
                        help="room temperature the motors start at and cool to")
    parser.add_argument("--overload-current-ma", type=float,
                        default=thermal.overload_current_ma,
                        help="current the firmware's overload detection counts as full load")
    parser.add_argument("--overload-time-s", type=float, default=thermal.overload_time_s,
                        help="seconds at full load before the overload error latches")
    parser.add_argument("--control", metavar="JSON", default=None,
                        help="send one request to the emulator already running on --port and "
                             "print its reply, e.g. '{\"cmd\": \"overload\", \"id\": 5}', "
                             "'{\"cmd\": \"vanish\", \"seconds\": 2}', '{\"cmd\": \"silence\", "
                             "\"ids\": [3]}', '{\"cmd\": \"load\", \"id\": 5, \"torque\": "
                             "0.4, \"seconds\": 30}', '{\"cmd\": \"ambient\", \"celsius\": 55, "
                             "\"seconds\": 120}', '{\"cmd\": \"corrupt\", \"rate\": 0.1}', "
                             "'{\"cmd\": \"state\"}'")
    args = parser.parse_args(argv)
    axis_text = " ".join(args.axis).strip("[] ").replace(",", " ")
    try:
        args.axis = [float(v) for v in axis_text.split()] if axis_text else [0.0, 0.0, 1.0]
    except ValueError:
        args.axis = []
    if len(args.axis) != 3:
        parser.error("--axis needs three numbers: X Y Z or [X, Y, Z]")
    if args.stop_after_held < 0:
        parser.error("--stop-after-held must be 0 (off) or a positive number of seconds")
    if args.stop_after_held and (args.scene != "object" or args.model != "mujoco"):
        parser.error("--stop-after-held needs --scene object with --model mujoco (only an "
                     "object in the hand is timed)")
    try:
        resolve_start(args)
    except DexndmError as error:
        parser.error(str(error))
    return args


def launch_value(convert: Callable[[str], T], default: T | None = None
                 ) -> Callable[[str], T | None]:
    """An option's converter that reads "" (a launch argument left empty) as ``default``."""
    def parse(value: str) -> T | None:
        return default if value == "" else convert(value)

    parse.__name__ = convert.__name__  # argparse names the type in its error message
    return parse


def resolve_start(args: argparse.Namespace) -> None:
    """Fill the object, wrist and grasp the flags left unset from --start-from's initial grasp."""
    grasp = read_initial_grasp(args.start_from) if args.start_from else None
    if args.start_from and grasp is None and args.scene == "object":
        # a bundle fresh from BC/DAgger starts from the mean start pose, no grasp at all
        print(f"dexndm-virtual-hand: warning: {args.start_from} names no initial_grasp, so the "
              "object starts in grasp 0 of object 0 and the controller's ramp ends elsewhere: "
              "set one with scripts/set_initial_grasp.py BUNDLE", file=sys.stderr)
    start = resolve_start_grasp(grasp, args.object_category, args.object_index, args.wrist,
                                args.grasp_index)
    if args.grasp_index is None and start.grasp_index is not None and start.seed != args.seed:
        raise DexndmError(f"{args.start_from}'s initial grasp was found with grasp search seed "
                          f"{start.seed}: pass --seed {start.seed}, or --grasp-index")
    if start.wrist not in WRIST_LABELS:
        raise DexndmError(f"--wrist {start.wrist} is not a wrist orientation: use one of "
                          f"{', '.join(WRIST_LABELS)}")
    if args.scene == "object":
        from dexndm_sim.objects import TRAINING_CATEGORIES  # MuJoCo: what an object scene needs
        if start.category not in TRAINING_CATEGORIES:
            raise DexndmError(f"--object-category {start.category} is not an object category: "
                              f"use one of {', '.join(TRAINING_CATEGORIES)}")
    args.object_category, args.object_index, args.wrist = (start.category, start.object_index,
                                                           start.wrist)
    args.grasp_index = 0 if start.grasp_index is None else start.grasp_index


def main(argv: list[str] | None = None) -> int:
    follow_launcher()  # started by `dexndm launch`: end with it
    args = parse_arguments(strip_ros_arguments(list(sys.argv[1:] if argv is None else argv)))
    if args.control is not None:
        try:
            reply = control_request(args.port, json.loads(args.control))
        except (OSError, ValueError) as error:
            print(f"dexndm-virtual-hand: cannot reach the emulator on {args.port}: {error}",
                  file=sys.stderr)
            return 2
        print(json.dumps(reply))
        return 0 if reply.get("ok") else 1
    if not 0.0 <= args.corrupt_rate <= 1.0:
        print("dexndm-virtual-hand: --corrupt-rate must be within [0, 1]", file=sys.stderr)
        return 2
    try:
        thermal = ThermalConfig(ambient_c=args.ambient_c, speedup=args.thermal_speedup,
                                overload_current_ma=args.overload_current_ma,
                                overload_time_s=args.overload_time_s)
    except DexndmError as error:
        print(f"dexndm-virtual-hand: {error}", file=sys.stderr)
        return 2
    model = None
    if args.model == "mujoco":
        from dexndm_sim.xc330.mujoco_model import MujocoMotorModel
        model = MujocoMotorModel(args.scene, args.wrist, args.object_category, args.object_index,
                                 args.axis, args.balls, args.seed, grasp_index=args.grasp_index)
    bus = VirtualBus(model=model, faults=Faults(set(args.silent_ids), args.corrupt_rate,
                                                args.seed), thermal=thermal)
    server = PtyServer(bus, args.port)
    if model is not None and model.report is not None:
        server.on_tick(args.report_period, lambda: print(
            "virtual hand object: " + json.dumps(model.summary()), flush=True))
        if args.stop_after_held:
            def stop_once_held() -> None:
                if model.report.seconds >= args.stop_after_held:
                    server.stop()

            server.on_tick(HELD_CHECK_PERIOD_S, stop_once_held)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    signal.signal(signal.SIGINT, lambda *_: server.stop())
    print(f"virtual hand: 16 x XC330-M288 on {args.port} (control socket {args.port}.ctl)",
          flush=True)
    if args.scene == "object":
        origin = f" (defaults: {args.start_from}'s initial_grasp)" if args.start_from else ""
        print(f"virtual hand: {args.object_category} object {args.object_index}, grasp "
              f"{args.grasp_index}, {args.wrist}{origin}", flush=True)
    server.serve(args.duration)
    if model is not None and model.report is not None:
        print("virtual hand object (final): " + json.dumps(model.summary()), flush=True)
        if args.report:
            model.write_report(args.report)
    print("virtual hand: stopped", flush=True)
    return 0
