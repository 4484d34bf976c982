#!/usr/bin/env python3
"""Set a base policy bundle's initial pose to the target of one of its training grasps.

The controller ramps the hand to the bundle's ``initial_pose`` before the policy starts. BC and
DAgger export the mean of their episodes' start poses, which is no grasp at all: the eight grasps
of the shipped policy's object lie 0.52-0.73 rad from that mean, and on the virtual hand the
policy held the cylinder without rotating it (-0.23 rad in 20 s) from there, against 4.91 rad
from grasp 0's own target. This writes grasp N's target (the grasp search of the rotation
environment: training profile `nominal`, 8 grasps, seed 0) and records which grasp in the
bundle as ``initial_grasp``; the virtual hand starts the object in the same grasp
(`dexndm-virtual-hand --object-index I --grasp-index N`).

  .venv/bin/python scripts/set_initial_grasp.py policies/base_policy --category cylinders \
      --object-index 4 --wrist palm_up --grasp-index 0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import yaml

from dexndm_sim.grasps import load_or_generate
from dexndm_sim.objects import generate_category
from dexndm_sim.profiles import nominal
from dexndm_sim.wrist import wrist_quaternion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--category", default="cylinders")
    parser.add_argument("--object-index", type=int, default=0)
    parser.add_argument("--wrist", default="palm_up")
    parser.add_argument("--grasp-index", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    info_path = args.bundle / "bundle.yaml"
    if not info_path.is_file():
        parser.error(f"{args.bundle} is not a bundle (no bundle.yaml)")
    info = yaml.safe_load(info_path.read_text())
    if info.get("kind") != "base_policy":
        parser.error(f"{args.bundle} holds a {info.get('kind')} bundle, not a base_policy")
    obj = generate_category(args.category, args.seed)[args.object_index]
    wrist = wrist_quaternion(args.wrist, np.random.default_rng(args.seed))
    cache = load_or_generate(obj, wrist, nominal(), "fast", wanted=8, seed=args.seed)
    if not 0 <= args.grasp_index < len(cache):
        parser.error(f"{obj.name} has {len(cache)} grasps at {args.wrist}; pick --grasp-index "
                     f"within 0-{len(cache) - 1}")
    info["initial_pose"] = [float(v) for v in cache.target[args.grasp_index]]
    info["initial_grasp"] = {"object": obj.name, "category": args.category,
                             "object_index": args.object_index, "wrist": args.wrist,
                             "grasp_index": args.grasp_index, "profile": "nominal",
                             "grasps": 8, "seed": args.seed}
    info_path.write_text(yaml.safe_dump(info, sort_keys=False))
    print(f"{info_path}: initial pose = {obj.name} grasp {args.grasp_index} at {args.wrist}")


if __name__ == "__main__":
    main()
