"""``dexndm`` subcommands contributed by dexndm_control: launch, echo, demo, quantize, view."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dexndm_control.cli import Command
from dexndm_control.errors import DexndmError
from dexndm_control.settings import add_arguments, from_arguments


def parse_launch_arguments(items: list[str]) -> dict[str, str]:
    arguments = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            raise DexndmError(f"launch arguments are written name:=value, got '{item}'")
        arguments[name] = value
    return arguments


def _launch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="launch file (ROS 2 XML or YAML frontend), e.g. "
                                     "launch/demo.launch.xml")
    parser.add_argument("arguments", nargs="*", metavar="name:=value",
                        help="launch arguments declared by the file's <arg> entries")
    parser.add_argument("-s", "--show-args", action="store_true",
                        help="list the file's launch arguments and exit")
    parser.add_argument("--print", dest="print_only", action="store_true",
                        help="print the processes the file would start, and exit")
    parser.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                        help="stop everything after this many seconds (exit status 0)")
    parser.add_argument("--sigint-timeout", type=float, default=3.0, metavar="SECONDS",
                        help="how long children get to exit after SIGINT before SIGTERM/SIGKILL")
    parser.add_argument("--log-dir", default=None,
                        help="where processes with output=\"log\"/\"both\" write their logs "
                             "(default ~/.ros/log/dexndm)")


def _launch(args: argparse.Namespace) -> int:
    from dexndm_control.launcher import Supervisor, resolve_launch
    from dexndm_control.launcher.description import declared_arguments

    if args.show_args:
        for argument in declared_arguments(args.file):
            default = "(required)" if argument.default is None else f"default: '{argument.default}'"
            print(f"'{argument.name}': {argument.description}\n    {default}")
        return 0
    specs = resolve_launch(args.file, parse_launch_arguments(args.arguments))
    if args.print_only:
        for spec in specs:
            flags = " [required]" if spec.required else ""
            print(f"{spec.name}{flags}: {' '.join(spec.argv)}")
        return 0
    if not specs:
        raise DexndmError(f"{args.file} starts no process with these arguments")
    result = Supervisor(specs, sigint_timeout=args.sigint_timeout,
                        log_dir=args.log_dir).run(duration=args.duration)
    if result.exit_code:
        print(f"dexndm launch: {result.reason}", file=sys.stderr)
    return result.exit_code


def launch_command() -> Command:
    return Command(
        name="launch", help="start the nodes of a launch file (no ROS install needed)",
        description="Start the processes of a ROS 2 launch file (XML or YAML frontend) with their "
                    "parameters, remappings and namespaces.\nCtrl-C stops them all; a process "
                    "marked on_exit=\"shutdown\" ends the launch when it exits.\nSupported "
                    "subset: docs/launch.md.",
        add_arguments=_launch_arguments, run=_launch)


def _echo_arguments(parser: argparse.ArgumentParser) -> None:
    from dexndm_control.core.message_format import EchoConfig

    add_arguments(parser, EchoConfig, positional=["topics"], metavars={"topics": "TOPIC"})


def _echo(args: argparse.Namespace) -> int:
    from dexndm_control.core.message_format import EchoConfig
    from dexndm_control.nodes.topic_echo import echo_topics

    return echo_topics(from_arguments(EchoConfig, args))


def echo_command() -> Command:
    return Command(name="echo", help="print the messages of a topic (like `ros2 topic echo`)",
                   add_arguments=_echo_arguments, run=_echo)


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=30.0,
                        help="simulated seconds the object is in the hand (from the hand-over) "
                             "before each run stops; the virtual hand's clock, which runs a "
                             "little slower than the wall clock on a busy machine")
    parser.add_argument("--axis", default="[0.0, 0.0, 1.0]", help="rotation axis (hand frame)")
    parser.add_argument("--runs", type=int, default=1,
                        help="runs of each arm, alternating (base, base + residual, base, ...); "
                             "one real-time run can move by several radians between repeats "
                             "(docs/sim2sim.md)")
    parser.add_argument("--residual", default=None,
                        help="residual bundle for the second run (default: the shipped "
                             "policies/dexndm_residual; 'none': the base policy alone, once)")
    parser.add_argument("--dynamics", default=None,
                        help="dynamics bundle of the live gap meter (default: the shipped "
                             "policies/dexndm_dynamics; 'none': no meter)")


def _demo(args: argparse.Namespace) -> int:
    """The main job on the embedded default: virtual hand with an object, driver, controller;
    base alone, then base + the DexNDM residual."""
    from dexndm_control.demo import (
        RESIDUAL_BASE,
        SHIPPED_DYNAMICS,
        SHIPPED_RESIDUAL,
        arm_lines,
        initial_grasp,
        run_rotation,
        summary_lines,
        wall_clock_cap,
    )

    residual = str(SHIPPED_RESIDUAL) if args.residual is None else args.residual
    dynamics = str(SHIPPED_DYNAMICS) if args.dynamics is None else args.dynamics
    for bundle, flag, what in ((residual, "--residual", "the base policy alone"),
                               (dynamics, "--dynamics", "no gap meter")):
        if bundle != "none" and not (Path(bundle) / "bundle.yaml").is_file():
            raise DexndmError(f"no bundle at {bundle}: pass {flag} BUNDLE, or {flag} none for "
                              f"{what}")
    plans = [("base policy (direct transfer)", "")]
    if residual != "none":
        plans.append(("base + DexNDM residual", residual))
    if args.runs < 1:
        raise DexndmError(f"--runs must be at least 1, got {args.runs}")
    if args.duration <= 0:
        raise DexndmError(f"--duration must be a positive number of seconds, got {args.duration}")
    meter = "" if dynamics == "none" else dynamics
    grasp = initial_grasp(RESIDUAL_BASE)
    runs = [run_rotation(label, RESIDUAL_BASE, bundle, meter, args.duration, args.axis)
            for _ in range(args.runs) for label, bundle in plans]
    print("\n=== dexndm demo: virtual LEAP hand (`real` profile), driver, rotation controller ===")
    print("\n".join(summary_lines(runs)))
    if args.runs > 1:
        print("\n".join(arm_lines(runs)))
    for run in runs:
        if run.object is not None and run.object["seconds"] < args.duration - 0.1:
            print(f"{run.label}: stopped before the object had been in the hand "
                  f"{args.duration:g} s (wall-clock cap of {wall_clock_cap(args.duration):g} s, "
                  "or the launch ended early: its log above says why)")
    print(f"{args.runs} run(s) of each, the same object and grasp ({grasp['object']}, grasp "
          f"{grasp['grasp_index']}), axis {args.axis}; base: policies/reference_student (the "
          "residual's, docs/sim2sim.md; the controller's default base is policies/base_policy, "
          "docs/base_policy.md)"
          + (f"; residual: {residual} (docs/sim2sim.md)" if residual != "none" else "")
          + (f"; gap meter: {dynamics} one step ahead (mean error against its reference error; "
             "levels from its calibration when it holds one, docs/gap_meter.md)" if meter else ""))
    return 1 if any(run.failed for run in runs) else 0


def demo_command() -> Command:
    return Command(name="demo", help="run the main job on the embedded default (virtual hand)",
                   add_arguments=_demo_arguments, run=_demo)


def _quantize_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", help="fp32 base_policy bundle (what `dexndm train bc` exports)")
    parser.add_argument("--out", required=True, help="directory for the converted bundle")
    parser.add_argument("--precision", default="int8_dynamic",
                        help="int8_dynamic (default): int8 weights, the controller's fast path; "
                             "fp16_weights: weights stored as float16 (half the file), run in "
                             "float32")


def _quantize(args: argparse.Namespace) -> int:
    import json

    from dexndm_control.policy.precision import check_precision, convert_base_bundle

    check_precision(args.precision)
    if Path(args.out).exists():
        raise DexndmError(f"{args.out} exists; choose a new --out")
    check = convert_base_bundle(args.bundle, args.out, args.precision)
    print(json.dumps({"out": args.out, "precision": args.precision, **check}))
    return 0


def quantize_command() -> Command:
    return Command(name="quantize", help="convert a base policy bundle to int8 or fp16 weights",
                   description="Write a base_policy bundle at another precision. The controller "
                               "runs what the bundle holds; bundle.yaml records the precision "
                               "and the largest output difference to the fp32 policy.",
                   add_arguments=_quantize_arguments, run=_quantize)


def _view_arguments(parser: argparse.ArgumentParser) -> None:
    from dexndm_control.nodes.hand_view import ViewSourceConfig
    from dexndm_control.view.server import ViewConfig

    parser.add_argument("--bag", default=None, metavar="DIR",
                        help="play a recorded run (rosbag2 folder of `dexndm record`, or one "
                             ".mcap file) instead of the live topics")
    parser.add_argument("--rate", type=float, default=1.0, help="bag playback speed (x)")
    parser.add_argument("--loop", action="store_true", help="play the bag again and again")
    add_arguments(parser, ViewConfig)
    add_arguments(parser, ViewSourceConfig)


def _view(args: argparse.Namespace) -> int:
    from dexndm_control.nodes.hand_view import ViewSourceConfig
    from dexndm_control.view.server import ViewConfig

    config = from_arguments(ViewConfig, args)
    if args.bag is None:
        from dexndm_control.nodes.hand_view import HandView
        from dexndm_control.ros_node import run_node

        source = from_arguments(ViewSourceConfig, args)
        return run_node(lambda: HandView(config, source), argv=[sys.argv[0]])
    from dexndm_control.view.bag_source import bag_files, play
    from dexndm_control.view.server import ViewCore

    bag_files(args.bag)  # a wrong path fails before the server starts
    core = ViewCore(config)
    core.start()
    print(f"view of {args.bag}: Foxglove app -> {core.ws_url}"
          + (f"; browser -> {core.page_url}" if core.page_url else ""), flush=True)
    try:
        scenes = play(core, args.bag, args.rate, args.loop)
    except KeyboardInterrupt:
        scenes = core.scenes_sent
    finally:
        core.stop()
    print(f"played {args.bag}: {scenes} scenes")
    return 0


def view_command() -> Command:
    return Command(
        name="view", help="live 3D view of the hand for the Foxglove app or a browser",
        description="Serve the hand (joint readings -> link poses), the commanded targets as a "
                    "ghost, the object the virtual hand holds and the gap meter, over the "
                    "Foxglove WebSocket protocol (open ws://HOST:PORT in the Foxglove app with "
                    "the layout config/foxglove_layout.json) and as a page at "
                    "http://HOST:PAGE_PORT/. Live from ROS, or from a bag (--bag). "
                    "docs/view.md.",
        add_arguments=_view_arguments, run=_view)
