"""The shipped DexNDM residual against direct transfer (issue: sim-to-sim, paper Table 6).

The residual's base policy (policies/reference_student) in its evaluation environment (the
reference specialist's: cylinders_004, palm up, +-z, its grasps; config/experiments/sim2sim.yaml),
the same starts and seeds in every row: under `nominal` (no gap), under `real` (direct transfer),
and under `real` with the shipped residual (policies/dexndm_residual, trained through the shipped
joint-wise dynamics policies/dexndm_dynamics). Prints one JSON line: nogap_rot, direct_rot,
dexndm_rot (rad per 20 s episode), ratio (dexndm / direct), gap_closed ((dexndm - direct) /
(nogap - direct)), direct_ttf, dexndm_ttf, episodes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import report

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=64, help="episodes per row (>= 32)")
    parser.add_argument("--residual", default=str(REPO / "policies" / "dexndm_residual"))
    parser.add_argument("--gap", default="real", help="the target profile")
    args = parser.parse_args()

    from dexndm_learning.outcomes import outcome_summary
    from dexndm_learning.ppo.transfer import first_episodes
    from dexndm_learning.sim2sim import Sim2Sim, load_config

    started = time.perf_counter()
    config = load_config(REPO / "config" / "experiments" / "sim2sim.yaml",
                         eval_episodes=args.episodes, gap=args.gap,
                         base=str(REPO / "policies" / "reference_student"),
                         environment=str(REPO / "policies" / "gap_reference" / "model_1949.pt"))
    experiment = Sim2Sim(config, REPO / "runs" / "benchmark_sim2sim")
    rows = {}
    for name, profile, residual in (("nogap", "nominal", None), ("direct", args.gap, None),
                                    ("dexndm", args.gap, args.residual)):
        vec_env = experiment.vec_env(profile, args.episodes)
        policy = experiment.policy(residual)
        try:
            rows[name] = outcome_summary(first_episodes(vec_env, policy.advance))
        finally:
            vec_env.close()
    nogap, direct, dexndm = (rows[n]["radians"][0] for n in ("nogap", "direct", "dexndm"))
    report("sim2sim", {
        "nogap_rot": round(nogap, 3), "direct_rot": round(direct, 3),
        "dexndm_rot": round(dexndm, 3),
        "ratio": round(dexndm / direct, 3) if direct > 0 else None,
        "gap_closed": round((dexndm - direct) / (nogap - direct), 3) if nogap > direct else None,
        "direct_ttf": round(rows["direct"]["time_to_fall"][0], 3),
        "dexndm_ttf": round(rows["dexndm"]["time_to_fall"][0], 3),
        "episodes": args.episodes, "gap": args.gap, "residual": Path(args.residual).name,
        "seconds": round(time.perf_counter() - started, 1)})


if __name__ == "__main__":
    main()
