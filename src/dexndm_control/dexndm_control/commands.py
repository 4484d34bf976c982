"""``dexndm`` subcommands contributed by dexndm_control: launch, echo, demo, quantize."""

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
                        help="seconds to run before stopping and printing the summary")
    parser.add_argument("--axis", default="[0.0, 0.0, 1.0]", help="rotation axis (hand frame)")


def _demo(args: argparse.Namespace) -> int:
    """The main job on the embedded default: virtual hand with an object, driver, controller."""
    import json
    import tempfile

    from dexndm_control.launcher import Supervisor, resolve_launch

    launch_file = Path(__file__).resolve().parents[3] / "launch" / "rotate.launch.xml"
    if not launch_file.is_file():
        raise DexndmError(f"{launch_file} not found: run `dexndm demo` from a checkout of the "
                          "repository (pip install -e)")
    with tempfile.TemporaryDirectory() as tmp:
        report, stats = Path(tmp) / "object.json", Path(tmp) / "loop.json"
        specs = resolve_launch(launch_file, {"report": str(report), "stats_file": str(stats),
                                             "axis": args.axis})
        result = Supervisor(specs).run(duration=args.duration)
        print("\n=== dexndm demo: virtual LEAP hand, driver, rotation controller ===")
        if report.is_file():
            data = json.loads(report.read_text())
            ttf = data["time_to_first_fall"]
            print(f"object: rotated {data['radians']:.2f} rad about {data['axis']} in "
                  f"{data['seconds']:.1f} s simulated; "
                  + (f"fell after {ttf:.1f} s (TTF)" if ttf is not None else "never fell"))
        else:
            print("object: no report (the virtual hand did not finish cleanly)")
        if stats.is_file():
            loop = json.loads(stats.read_text())
            print(f"controller: {loop['ticks']} ticks at {loop['rate_hz']:.2f} Hz; period "
                  f"deviation p99 {loop['period_deviation_ms'].get('p99')} ms; compute p99 "
                  f"{loop['compute_ms'].get('p99')} ms; latency p99 "
                  f"{loop['latency_ms'].get('p99')} ms")
        print("policy: policies/base_policy, distilled (BC + DAgger) from the one-object reference "
              "cylinder specialist (docs/base_policy.md); the hand runs the `real` profile")
        return 0 if result.exit_code == 0 else result.exit_code


def demo_command() -> Command:
    return Command(name="demo", help="run the main job on the embedded default (virtual hand)",
                   add_arguments=_demo_arguments, run=_demo)


def _quantize_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", help="fp32 base_policy bundle (what `dexndm train bc` exports)")
    parser.add_argument("--out", required=True, help="directory for the converted bundle")
    parser.add_argument("--precision", default="int8_dynamic",
                        help="int8_dynamic (default): int8 weights, the controller's fast path")


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
    return Command(name="quantize", help="convert a base policy bundle to int8 for the controller",
                   description="Write a base_policy bundle at another precision. The controller "
                               "runs what the bundle holds; bundle.yaml records the precision "
                               "and the largest output difference to the fp32 policy.",
                   add_arguments=_quantize_arguments, run=_quantize)
