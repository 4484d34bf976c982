"""``dexndm`` subcommands contributed by dexndm_collect: record, info, reindex, dataset,
collect."""

from __future__ import annotations

import argparse
from pathlib import Path

from dexndm_control.cli import Command
from dexndm_control.hand import CONTROL_DT
from dexndm_control.settings import add_arguments, from_arguments


def _record_arguments(parser: argparse.ArgumentParser) -> None:
    from dexndm_collect.core.recording import RecorderConfig

    add_arguments(parser, RecorderConfig, positional=["topics"], metavars={"topics": "TOPIC"})


def _record(args: argparse.Namespace) -> int:
    from dexndm_collect.core.recording import RecorderConfig
    from dexndm_collect.nodes.recorder import record

    return record(from_arguments(RecorderConfig, args))


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


def _dataset_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", required=True, metavar="WHAT")
    build = sub.add_parser("build", help="bags -> transition shards")
    build.add_argument("bags", nargs="+", help="bag directories or run directories")
    build.add_argument("-o", "--output", required=True, help="directory for the shards")
    build.add_argument("--control-dt", type=float, default=CONTROL_DT,
                       help="control period of the collection run (s)")
    build.add_argument("--min-steps", type=int, default=20,
                       help="drop episode pieces shorter than this after cutting at gaps")
    build.add_argument("--allow-partial", action="store_true",
                       help="build from a bag whose files were cut short (default: refuse it "
                            "and point to `dexndm reindex`)")
    stats = sub.add_parser("stats", help="per-joint coverage of q and a - q (numbers + PNG); "
                                         "of a bag: what the live gap meter saw")
    stats.add_argument("shards", help="shard directory (or one shard), or a bag with "
                                      "/dexndm/gap_meter")
    stats.add_argument("--png", default=None, help="where the picture goes (default "
                                                   "SHARDS/coverage.png, BAG_gap_meter.png)")
    calibrate = sub.add_parser(
        "gap-calibrate", help="the live gap meter's thresholds from bags of supervised runs "
                              "(with /dexndm/gap_meter), written into the dynamics bundle")
    calibrate.add_argument("bags", nargs="+", help="bag directories")
    calibrate.add_argument("--bundle", required=True, help="the dynamics bundle the runs used")
    calibrate.add_argument("--window-s", type=float, default=None,
                           help="the controller's gap_window_s (default: its default)")
    calibrate.add_argument("--offset-s", type=float, default=None,
                           help="the controller's gap_offset_s (default: its default)")
    calibrate.add_argument("--warn-margin", type=float, default=2.0,
                           help="WARN at this many times the largest value seen per joint")
    calibrate.add_argument("--error-margin", type=float, default=4.0, help="ERROR at this many")


def _dataset(args: argparse.Namespace) -> int:
    import json

    if args.what == "build":
        from dexndm_collect.dataset.build import build_dataset

        report = build_dataset(args.bags, args.output, args.control_dt, args.min_steps,
                               allow_partial=args.allow_partial)
        print(report.summary())
        print(json.dumps({k: (v if not isinstance(v, list) or len(v) < 8 else
                              f"{len(v)} entries (see build_report.json)")
                          for k, v in report.__dict__.items() if k != "per_bag"}))
        return 0
    from dexndm_collect.dataset.gap_stats import (
        calibrate_from_bags,
        format_calibration,
        format_gap_stats,
        gap_meter_stats,
        is_bag,
    )
    from dexndm_collect.dataset.stats import dataset_stats, format_stats

    if args.what == "gap-calibrate":
        from dexndm_control.core.controller import ControllerConfig

        given = {key: value for key, value in (("gap_window_s", args.window_s),
                                               ("gap_offset_s", args.offset_s))
                 if value is not None}
        config = ControllerConfig(**given)
        print(format_calibration(calibrate_from_bags(
            args.bags, args.bundle, config.gap_ticks(config.gap_window_s),
            config.gap_ticks(config.gap_offset_s), args.warn_margin, args.error_margin)))
        return 0

    if is_bag(args.shards):
        bag = Path(args.shards)  # the picture goes beside the bag: a bag folder stays as recorded
        png = args.png or str(bag.with_name(f"{bag.name}_gap_meter.png"))
        print(format_gap_stats(gap_meter_stats(args.shards, png)))
        return 0
    png = args.png or (str(Path(args.shards) / "coverage.png") if Path(args.shards).is_dir()
                       else str(Path(args.shards).with_suffix(".coverage.png")))
    print(format_stats(dataset_stats(args.shards, png)))
    return 0


def dataset_command() -> Command:
    return Command(name="dataset", help="build transition datasets from bags; coverage stats",
                   add_arguments=_dataset_arguments, run=_dataset)


def _collect_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", required=True, metavar="WHAT")
    status = sub.add_parser("status", help="the health report of a collection run (also while "
                                           "it runs)")
    status.add_argument("run", help="run directory (the collector's output)")
    status.add_argument("--json", action="store_true", help="print the report as JSON")


def _collect(args: argparse.Namespace) -> int:
    import json
    import sys
    import time

    import yaml

    from dexndm_collect.core.health import format_health

    manifest = Path(args.run) / "manifest.yaml"
    if not manifest.is_file():
        print(f"dexndm collect status: no manifest.yaml in {args.run}: not a collection run "
              "directory (the collector's output, e.g. `dexndm launch launch/collect.launch.xml "
              f"output:={args.run}`)", file=sys.stderr)
        return 2
    data = yaml.safe_load(manifest.read_text()) or {}
    health = data.get("health") or {}
    if args.json:
        print(json.dumps(health))
        return 0
    age = time.time() - manifest.stat().st_mtime
    print(f"{args.run}: {len(data.get('completed', []))} completed and "
          f"{len(data.get('aborted', []))} aborted episode(s) listed; manifest written "
          f"{age:.0f} s ago" + ("" if health.get("stopped") else " (running, or killed)"))
    print(format_health(health) if health else "no health report yet (a collector older than "
                                               "this one, or one that has not ticked)")
    return 0


def collect_command() -> Command:
    return Command(name="collect", help="inspect chaos-box collection runs (status)",
                   add_arguments=_collect_arguments, run=_collect)
