"""The ``dexndm`` command.

Subcommands come from the ``dexndm.commands`` entry-point group: each installed package of the
stack contributes its own (launch and echo from dexndm_control; record, info and reindex from
dexndm_collect; training commands from dexndm_learning). Discovering them at run time keeps the
package import direction one way (design.md section 1) while giving users one command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points

from dexndm_control.errors import DexndmError
from dexndm_control.lifeline import follow_launcher
from dexndm_control.ros_env import apply_default_ros_env


@dataclass(frozen=True)
class Command:
    """One ``dexndm`` subcommand."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str = ""


def discover_commands() -> dict[str, Command]:
    commands: dict[str, Command] = {}
    for entry in entry_points(group="dexndm.commands"):
        try:
            command = entry.load()()
        except ImportError as error:
            raise DexndmError(f"`dexndm {entry.name}` cannot be loaded from {entry.value} "
                              f"({error}); reinstall the stack: bash scripts/bootstrap.sh"
                              ) from None
        if command.name in commands:
            raise DexndmError(
                f"two installed packages define `dexndm {command.name}`; "
                f"uninstall the stale one (pip list | grep dexndm)")
        commands[command.name] = command
    if not commands:  # the sources are importable but not installed: no entry points
        raise DexndmError("no dexndm commands are installed (they are found through the "
                          "packages' entry points): set up with bash scripts/bootstrap.sh, or "
                          "pip install -e each src/dexndm_* package")
    return commands


def build_parser(commands: dict[str, Command]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dexndm",
        description="DexNDM in-hand rotation stack: launch nodes, record and inspect bags, "
                    "train and evaluate models.",
        epilog="Run `dexndm COMMAND --help` for the options of one command.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in sorted(commands):
        command = commands[name]
        child = sub.add_parser(name, help=command.help,
                               description=command.description or command.help,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_arguments(child)
        child.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    apply_default_ros_env()
    follow_launcher()  # a `dexndm record` in a launch file ends with its launcher
    try:
        commands = discover_commands()
        parser = build_parser(commands)
        args = parser.parse_args(argv)
        return int(args._run(args) or 0)
    except DexndmError as error:
        print(f"dexndm: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
