"""``dexndm sim ...``: evaluate or render a base policy in simulation (evaluation.py, here in
learning because it runs policies), chaos-box data in simulation (dexndm_sim.chaos_replay) and
the profile gap (dexndm_sim.profile_gap)."""

from __future__ import annotations

import argparse
import json

import numpy as np

from dexndm_control.cli import Command
from dexndm_control.settings import add_arguments, from_arguments


def _arguments(parser: argparse.ArgumentParser) -> None:
    from dexndm_learning.comparison import CompareConfig
    from dexndm_learning.evaluation import EvalConfig

    sub = parser.add_subparsers(dest="what", required=True, metavar="WHAT")
    evaluate = sub.add_parser("eval", help="evaluate a base policy (RotR, RotP, TTF, Rot, GO)")
    add_arguments(evaluate, EvalConfig, positional=["policy"])
    evaluate.add_argument("--goal-current", type=float, default=None, metavar="MA",
                          help="real profile: goal current in mA (default: the calibrated one)")
    evaluate.add_argument("--out", default=None, help="JSON file for the results")
    compare = sub.add_parser("compare", help="a generalist against its specialist teachers in "
                                             "their training environments (RotR, RotP, TTF, "
                                             "Rot, drops; JSON and a markdown table)")
    add_arguments(compare, CompareConfig, positional=["policy"],
                  metavars={"teachers": "RUN/model_N.pt[@OBJECT,...]"})
    compare.add_argument("--out", default=None, help="JSON file for the results")
    render = sub.add_parser("render", help="render an episode of a base policy (PNG/MP4/GIF)")
    render.add_argument("policy", help="base_policy bundle directory")
    render.add_argument("--out", required=True,
                        help="episode.mp4, episode.gif, or a directory for PNG frames")
    render.add_argument("--category", default=None,
                        help="object category (default: the bundle's initial_grasp, else "
                             "cylinders)")
    render.add_argument("--object-index", type=int, default=None,
                        help="object of the category (default: the bundle's initial_grasp)")
    render.add_argument("--grasp-index", type=int, default=None,
                        help="grasp of the object's training-sim grasp search (default: the "
                             "bundle's initial_grasp, else a random one)")
    render.add_argument("--wrist", default=None, help="default: the bundle's, else palm_up")
    render.add_argument("--axis", type=float, nargs=3, default=[0.0, 0.0, 1.0],
                        help="rotation axis (world frame)")
    render.add_argument("--steps", type=int, default=200)
    render.add_argument("--profile", default="nominal")
    render.add_argument("--seed", type=int, default=None,
                        help="objects and grasps seed (default: the bundle's, else 0)")
    render.add_argument("--size", type=int, nargs=2, default=[640, 480], metavar=("W", "H"))
    from dexndm_sim.chaos_replay import ChaosReplayConfig

    chaos = sub.add_parser("chaos-box", help="the chaos-box collector's episodes replayed by "
                                             "simulated hands in boxes of balls, batched, "
                                             "written as transition shards")
    add_arguments(chaos, ChaosReplayConfig)
    gap = sub.add_parser("gap", help="per-joint open-loop tracking difference of two profiles")
    gap.add_argument("--library", default=None, help="trajectory library (first trajectory); "
                                                     "default: a smooth random one")
    gap.add_argument("--profiles", nargs=2, default=["nominal", "real"],
                     help="two profiles, by name or NAME:key=value,... (e.g. real:law=actuator)")
    gap.add_argument("--wrist", default="palm_up")
    gap.add_argument("--object-category", default=None, help="hold an object (default: free)")
    gap.add_argument("--steps", type=int, default=400)


def _run(args: argparse.Namespace) -> int:
    if args.what == "eval":
        from dexndm_learning.evaluation import EvalConfig, evaluate_policy, format_results

        profile_params = {} if args.goal_current is None else {"goal_current_ma": args.goal_current}
        result = evaluate_policy(from_arguments(EvalConfig, args, profile_params=profile_params),
                                 args.out)
        print(format_results(result))
        return 0
    if args.what == "compare":
        from dexndm_learning.comparison import CompareConfig, compare, markdown_table

        result = compare(from_arguments(CompareConfig, args), args.out)
        print(markdown_table(result))
        return 0
    if args.what == "render":
        from dexndm_learning.evaluation import render_episode

        result = render_episode(args.policy, args.out, args.category, args.wrist,
                                tuple(args.axis), args.steps, args.profile, args.seed,
                                *args.size, object_index=args.object_index,
                                grasp_index=args.grasp_index)
        print(json.dumps(result))
        return 0
    if args.what == "chaos-box":
        from dexndm_sim.chaos_replay import ChaosReplayConfig, chaos_replay

        report = chaos_replay(from_arguments(ChaosReplayConfig, args), progress=True)
        print(json.dumps({key: report[key] for key in ("episodes", "transitions", "seconds")}
                         | {"out": report["config"]["out"]}))
        return 0
    from dexndm_control.hand import ACTION_SCALE, CANONICAL_POSE, LOWER, UPPER
    from dexndm_sim.profile_gap import tracking_gap

    if args.library:
        from dexndm_control.trajectory_library import load_library

        library = load_library(args.library)
        actions, initial = library.actions[0, :args.steps], library.initial_q[0]
    else:
        rng = np.random.default_rng(0)
        steps = np.cumsum(rng.uniform(-1, 1, (args.steps, 16)) * ACTION_SCALE, axis=0)
        actions = np.clip(CANONICAL_POSE + 0.3 * np.sin(steps), LOWER, UPPER)
        initial = actions[0]
    result = tracking_gap(actions, initial, *args.profiles, wrist=args.wrist,
                          category=args.object_category)
    width = max(map(len, result["rms_rad"]))
    for joint, value in result["rms_rad"].items():
        print(f"{joint:<{width}}  {value:.4f} rad")
    print(json.dumps({"mean_rms_rad": round(result["mean_rms_rad"], 4),
                      "profiles": result["profiles"]}))
    return 0


def sim_command() -> Command:
    return Command(name="sim", help="simulation tools: evaluate, compare or render policies, "
                                    "chaos-box data, profile gap", add_arguments=_arguments,
                   run=_run)
