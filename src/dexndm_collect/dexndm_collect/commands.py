"""``dexndm`` subcommands contributed by dexndm_collect: record, info, reindex."""

from __future__ import annotations

import argparse
from pathlib import Path

from dexndm_control.cli import Command


def _record_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topics", nargs="*", metavar="TOPIC", help="topics to record")
    parser.add_argument("-o", "--output", required=True, help="bag directory to create")
    parser.add_argument("-a", "--all", action="store_true", help="record every topic seen")
    parser.add_argument("-b", "--max-bag-size", type=int, default=0, metavar="BYTES",
                        help="start a new .mcap file when one exceeds this size (0: never)")
    parser.add_argument("--compress", action="store_true", help="zstd-compress MCAP chunks")
    parser.add_argument("--duration", type=float, default=0.0, metavar="SECONDS",
                        help="stop after this long (default: until Ctrl-C/SIGTERM)")


def _record(args: argparse.Namespace) -> int:
    from dexndm_collect.core.recording import RecorderConfig
    from dexndm_collect.nodes.recorder import record

    config = RecorderConfig(output=Path(args.output), topics=tuple(args.topics),
                            record_all=args.all, max_bag_size=args.max_bag_size,
                            compress=args.compress)
    return record(config, args.duration)


def record_command() -> Command:
    return Command(name="record", help="record topics into a rosbag2 (MCAP) directory",
                   description="Record topics into a rosbag2 directory (metadata.yaml + MCAP), "
                               "readable by `ros2 bag` and the rosbags library.\nSIGINT/SIGTERM "
                               "close the bag cleanly; after a SIGKILL, `dexndm reindex` "
                               "recovers it.",
                   add_arguments=_record_arguments, run=_record)


def _info_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", help="bag directory")


def _info(args: argparse.Namespace) -> int:
    from dexndm_collect.bag.info import format_bag_info, read_bag_info

    info = read_bag_info(args.bag)
    print(format_bag_info(info))
    return 0 if info.complete else 1


def info_command() -> Command:
    return Command(name="info", help="summarise a bag (like `ros2 bag info`)",
                   add_arguments=_info_arguments, run=_info)


def _reindex(args: argparse.Namespace) -> int:
    from dexndm_collect.bag.recover import reindex_bag

    count, original = reindex_bag(args.bag)
    print(f"recovered {count} message(s) into {args.bag}; the original files are kept in "
          f"{original}")
    return 0


def reindex_command() -> Command:
    return Command(name="reindex", help="rebuild a bag that was not closed cleanly",
                   add_arguments=_info_arguments, run=_reindex)
