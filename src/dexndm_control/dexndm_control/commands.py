"""``dexndm`` subcommands contributed by dexndm_control: launch, echo."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dexndm_control.cli import Command
from dexndm_control.errors import DexndmError


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
    parser.add_argument("topic", help="topic to print, e.g. /dexndm/rotation_command")
    parser.add_argument("-n", "--count", type=int, default=0,
                        help="exit after this many messages (default: until Ctrl-C)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds to wait for a publisher to appear")


def _echo(args: argparse.Namespace) -> int:
    from dexndm_control.nodes.topic_echo import echo_topics

    return echo_topics([args.topic], count=args.count, discovery_timeout=args.timeout)


def echo_command() -> Command:
    return Command(name="echo", help="print the messages of a topic (like `ros2 topic echo`)",
                   add_arguments=_echo_arguments, run=_echo)


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=8.0,
                        help="seconds to run before stopping and printing the summary")


def _demo(args: argparse.Namespace) -> int:
    from dexndm_control.launcher import Supervisor, resolve_launch

    launch_file = Path(__file__).resolve().parents[3] / "launch" / "demo.launch.xml"
    if not launch_file.is_file():
        raise DexndmError(f"{launch_file} not found: run `dexndm demo` from a checkout of the "
                          "repository (pip install -e)")
    specs = resolve_launch(launch_file, {"duration": str(args.duration)})
    return Supervisor(specs).run(duration=args.duration + 15.0).exit_code


def demo_command() -> Command:
    return Command(name="demo", help="run the embedded default job (see README)",
                   add_arguments=_demo_arguments, run=_demo)
