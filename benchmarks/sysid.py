"""System identification (`dexndm sysid`) on the virtual hand's own recordings.

The recordings come from the `real` stand-in (the physics behind the virtual hand, default seed):
16 probing trajectories of 160 control steps (8 s) at four wrists, replayed open loop from rest
(sysid.probing_targets); 12 are searched, 4 held out. The search runs in two models:

- the XC330 firmware law (`real:effects=false,spread_seed=null`: quantised readings, backlash,
  PD with a current cap, started from paper Table 16 without the stand-in's per-joint spread):
  the headline keys, since its kp, kd and torque limit are the registers' own quantities;
- MuJoCo position actuators (`nominal`): effective gains, `position_actuators`.

The stand-in also has what neither model holds (torque-speed curve, gear friction, fingertip
pads). Reported: the identified per-joint kp, kd and torque limit against the stand-in's true
values (median relative error), held-out open-loop tracking RMS under `nominal` and under the
identified profiles, the latency found, the time on this machine. `--compare` adds CMA-ES and
random search at equal simulator budget (position-actuator model); `--in-set` a search on
recordings of `real:law=actuator,effects=false`, a hand inside the position-actuator set;
`--in-model` the firmware-law search on recordings of `real:effects=false` (the stand-in's law and
per-joint spread without its torque-speed curve, gear friction and pads: what the search finds
when nothing outside its parameters moves the hand); `--effects-split` the same search on the
stand-in with only its torque-speed curve and with only its gear friction.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _common import report


def _identify(truth_spec: str, refine: str, generations: int, seed: int,
              save_profile_to: str | None = None, base_spec: str = "nominal",
              without: tuple[str, ...] = ()) -> dict:
    """``without``: stand-in effects switched off in the recorded hand ("torque_speed",
    "gear_friction"), to see which of them the search cannot represent."""
    from dataclasses import replace

    from dexndm_sim.profiles import get_profile, save_profile
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

    truth, base = get_profile(truth_spec), get_profile(base_spec)
    if "torque_speed" in without:
        truth = replace(truth, stall_torque=0.0, no_load_speed=0.0)
    if "gear_friction" in without:
        truth = replace(truth, gear_friction=0.0)
    wrists = [CANONICAL[w] for w in ("palm_up", "palm_down", "base_up", "thumb_up")]
    recordings = simulate_recordings(truth, probing_targets(16, 160, seed),
                                     [wrists[i % 4] for i in range(16)])
    fit, held = split_recordings(recordings, 0.25, seed)
    replayer = Replayer(base, 32)
    try:
        started = time.perf_counter()
        result = search(replayer, fit, 4, generations, refine, seed)
        seconds = time.perf_counter() - started
        true_values = profile_values(truth, replayer)
        rms_base = rms_per_joint(replayer, profile_values(base, replayer), held)
        rms_found = rms_per_joint(replayer, result.best, held)
        rms_true = rms_per_joint(replayer, Candidate(true_values.values, truth.latency_steps,
                                                     truth.latency_substeps), held)
        if save_profile_to:
            save_profile(identified_profile(replayer, result.best), save_profile_to,
                         comment=f"benchmarks/sysid.py: identified from {len(fit)} recordings of "
                                 f"`{truth_spec}` ({refine}, model {base_spec}); held-out RMS "
                                 f"{rms_base.mean():.4f} -> {rms_found.mean():.4f} rad")
    finally:
        replayer.close()
    errors = np.abs(result.best.values / true_values.values - 1)
    out = {f"{name}_rel_err_median": round(float(np.median(errors[:, i])), 3)
           for i, name in enumerate(PARAMETERS)}
    # the PD's velocity term and the joint's viscous friction together
    velocity_terms = [PARAMETERS.index("kd"), PARAMETERS.index("damping")]
    out["kd_plus_damping_rel_err_median"] = round(float(np.median(np.abs(
        result.best.values[:, velocity_terms].sum(axis=1)
        / true_values.values[:, velocity_terms].sum(axis=1) - 1))), 3)
    return {**out, "base": base_spec, "rms_base_rad": round(float(rms_base.mean()), 5),
            "rms_identified_rad": round(float(rms_found.mean()), 5),
            "rms_true_parameters_rad": round(float(rms_true.mean()), 5),
            "latency_steps": result.best.latency, "latency_substeps": result.best.substeps,
            "true_latency_steps": truth.latency_steps,
            "budget_replays": result.evaluations, "seconds": round(seconds, 1)}


FIRMWARE_LAW = "real:effects=false,spread_seed=null"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=40,
                        help="least-squares iterations (the others get the same budget)")
    parser.add_argument("--compare", action="store_true",
                        help="also run CMA-ES and random search at the same budget (position-"
                             "actuator model)")
    parser.add_argument("--in-set", action="store_true",
                        help="also identify a hand inside the searched parameter set")
    parser.add_argument("--in-model", action="store_true",
                        help="also identify the stand-in without its effects outside the "
                             "firmware-law model")
    parser.add_argument("--effects-split", action="store_true",
                        help="also identify the stand-in with only its torque-speed curve and "
                             "with only its gear friction (which effect kd absorbs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-profile", default=None, metavar="FILE.yaml",
                        help="also write the profile identified in the position-actuator model")
    args = parser.parse_args()

    position = _identify("real", "least_squares", args.iterations, args.seed, args.save_profile)
    firmware = _identify("real", "least_squares", args.iterations, args.seed,
                         base_spec=FIRMWARE_LAW)
    # headline: the model with the hand's own control law, whose parameters are its registers
    result = {key: firmware[key] for key in ("kp_rel_err_median", "torque_limit_rel_err_median",
                                             "kd_rel_err_median")}
    result.update({"rms_nominal_rad": position["rms_base_rad"],
                   "rms_identified_rad": firmware["rms_identified_rad"],
                   "seconds": firmware["seconds"],
                   "rms_drop": round(position["rms_base_rad"] / firmware["rms_identified_rad"], 1),
                   "rms_identified_position_rad": position["rms_identified_rad"],
                   "firmware_law": firmware, "position_actuators": position})
    if args.compare:
        # the same simulator budget: population-sized generations worth the least-squares run
        generations = max(1, position["budget_replays"] // 32 - 4)
        for refine in ("cma", "random"):
            result[refine] = _identify("real", refine, generations, args.seed)
            result[f"rms_identified_{refine}_rad"] = result[refine]["rms_identified_rad"]
    if args.in_set:
        result["in_set"] = _identify("real:law=actuator,effects=false", "least_squares",
                                     args.iterations, args.seed)
    if args.in_model:
        result["in_model"] = _identify("real:effects=false", "least_squares", args.iterations,
                                       args.seed, base_spec=FIRMWARE_LAW)
    if args.effects_split:
        for key, without in (("only_torque_speed", ("gear_friction",)),
                             ("only_gear_friction", ("torque_speed",))):
            result[key] = _identify("real", "least_squares", args.iterations, args.seed,
                                    base_spec=FIRMWARE_LAW, without=without)
    report("sysid", result)


if __name__ == "__main__":
    main()
