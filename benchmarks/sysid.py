"""System identification (`dexndm sysid`) on the virtual hand's own recordings.

The recordings come from the `real` stand-in (the physics behind the virtual hand, default seed):
16 probing trajectories of 160 control steps (8 s) at four wrists, replayed open loop from rest
(sysid.probing_targets); 12 are searched, 4 held out. The search starts from `nominal`.

Reported: the identified per-joint kp, kd and torque limit against the stand-in's true values
(median relative error), held-out open-loop tracking RMS under `nominal` and under the identified
profile, the latency found, the time on this machine, and the refinement stages compared at equal
simulator budget (least squares, one CMA-ES per finger, random search). `--in-set` also runs the
search on recordings of `real:law=actuator,effects=false`, a hand inside the searched parameter
set, where the true values are reachable exactly. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _common import report


def _identify(truth_spec: str, refine: str, generations: int, seed: int,
              save_profile_to: str | None = None) -> dict:
    from dexndm_sim.profiles import get_profile, nominal, save_profile
    from dexndm_sim.sysid import (
        PARAMETERS,
        Candidate,
        Replayer,
        identified_profile,
        probing_targets,
        profile_values,
        rms_per_joint,
        search,
        simulate_recordings,
        split_recordings,
    )
    from dexndm_sim.wrist import CANONICAL

    truth = get_profile(truth_spec)
    wrists = [CANONICAL[w] for w in ("palm_up", "palm_down", "base_up", "thumb_up")]
    recordings = simulate_recordings(truth, probing_targets(16, 160, seed),
                                     [wrists[i % 4] for i in range(16)])
    fit, held = split_recordings(recordings, 0.25, seed)
    replayer = Replayer(nominal(), 32)
    try:
        started = time.perf_counter()
        result = search(replayer, fit, 4, generations, refine, seed)
        seconds = time.perf_counter() - started
        true_values = profile_values(truth, replayer)
        rms_base = rms_per_joint(replayer, profile_values(nominal(), replayer), held)
        rms_found = rms_per_joint(replayer, result.best, held)
        rms_true = rms_per_joint(replayer, Candidate(true_values.values, truth.latency_steps,
                                                     truth.latency_substeps), held)
        if save_profile_to:
            save_profile(identified_profile(replayer, result.best), save_profile_to,
                         comment=f"benchmarks/sysid.py: identified from {len(fit)} recordings of "
                                 f"`{truth_spec}` ({refine}); held-out RMS "
                                 f"{rms_base.mean():.4f} -> {rms_found.mean():.4f} rad")
    finally:
        replayer.close()
    errors = np.abs(result.best.values / true_values.values - 1)
    out = {f"{name}_rel_err_median": round(float(np.median(errors[:, i])), 3)
           for i, name in enumerate(PARAMETERS)}
    return {**out, "rms_nominal_rad": round(float(rms_base.mean()), 5),
            "rms_identified_rad": round(float(rms_found.mean()), 5),
            "rms_true_parameters_rad": round(float(rms_true.mean()), 5),
            "latency_steps": result.best.latency, "latency_substeps": result.best.substeps,
            "true_latency_steps": truth.latency_steps,
            "budget_replays": result.evaluations, "seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=40,
                        help="least-squares iterations (the others get the same budget)")
    parser.add_argument("--no-compare", dest="compare", action="store_false",
                        help="skip the CMA-ES and random-search runs")
    parser.add_argument("--in-set", action="store_true",
                        help="also identify a hand inside the searched parameter set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-profile", default=None, metavar="FILE.yaml",
                        help="also write the profile identified from the `real` recordings")
    args = parser.parse_args()

    main_run = _identify("real", "least_squares", args.iterations, args.seed, args.save_profile)
    result = {key: main_run[key] for key in ("kp_rel_err_median", "torque_limit_rel_err_median",
                                             "rms_nominal_rad", "rms_identified_rad",
                                             "seconds")}
    result.update({"rms_drop": round(main_run["rms_nominal_rad"] /
                                     main_run["rms_identified_rad"], 1),
                   "kd_rel_err_median": main_run["kd_rel_err_median"], "real": main_run})
    if args.compare:
        # the same simulator budget: population-sized generations worth the least-squares run
        generations = max(1, main_run["budget_replays"] // 32 - 4)
        for refine in ("cma", "random"):
            result[refine] = _identify("real", refine, generations, args.seed)
            result[f"rms_identified_{refine}_rad"] = result[refine]["rms_identified_rad"]
    if args.in_set:
        result["in_set"] = _identify("real:law=actuator,effects=false", "least_squares",
                                     args.iterations, args.seed)
    report("sysid", result)


if __name__ == "__main__":
    main()
