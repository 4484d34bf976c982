"""``dexndm sysid``: identify a hardware profile from recordings (sysid.py), written as YAML."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from dexndm_control.cli import Command
from dexndm_control.hand import JOINT_NAMES
from dexndm_control.settings import add_arguments, from_arguments, setting
from dexndm_sim import PHYSICS_THREADS_HELP


@dataclass(frozen=True)
class SysidConfig:
    data: tuple[str, ...] = setting((), help="transition shards (files or directories) of "
                                             "free-hand recordings: probing replays, waves")
    out: str = setting("", help="the identified profile (.yaml); the report goes beside it")
    write_probe: str | None = setting(None, help="instead: write probing trajectories as a "
                                                 "trajectory library (.npz) for the collector")
    probe_count: int = setting(12, help="--write-probe: trajectories")
    probe_steps: int = setting(160, help="--write-probe: control steps each")
    base: str = setting("nominal", help="the simulator model whose parameters are identified "
                                        "(a profile name or file): nominal (MuJoCo position "
                                        "actuators) or real:effects=false,spread_seed=null "
                                        "(the XC330 firmware law, quantised readings, backlash)")
    population: int = setting(32, help="K: simulated hands stepped together (least squares "
                                       "needs >= 29)")
    random_generations: int = setting(4, help="stage 1: random search (also picks the latency)")
    refine_generations: int = setting(30, help="stage 2: least-squares iterations, or CMA-ES / "
                                               "random generations")
    refine: str = setting("least_squares", help="least_squares, cma (one CMA-ES per finger) "
                                                "or random (the baseline)")
    max_steps: int = setting(200, help="control steps used of each recording")
    holdout: float = setting(0.25, help="share of recordings kept out of the search (report)")
    wrist: str | None = setting(None, help="the hand's wrist for every recording (default: "
                                           "each episode's wrist_quat or wrist_label)")
    threads: int = setting(0, help=PHYSICS_THREADS_HELP)
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if self.write_probe is not None:
            if not self.write_probe.endswith(".npz") or self.probe_count < 1 or \
                    self.probe_steps < 10:
                raise ValueError("--write-probe FILE.npz with --probe-count >= 1 and "
                                 "--probe-steps >= 10")
            return
        if not self.data or not self.out.endswith((".yaml", ".yml")):
            raise ValueError("give --data SHARDS and --out NAME.yaml (or --write-probe FILE.npz)")
        if self.population < 4 or self.max_steps < 10 or not 0 < self.holdout < 1:
            raise ValueError("need --population >= 4, --max-steps >= 10, 0 < --holdout < 1")


def run_sysid(config: SysidConfig) -> dict:
    from tqdm import tqdm

    from dexndm_sim.profiles import get_profile, save_profile
    from dexndm_sim.sysid import (
        Replayer,
        identified_profile,
        load_recordings,
        profile_values,
        rms_per_joint,
        search,
        split_recordings,
        write_report,
    )

    recordings = load_recordings(config.data, config.max_steps, config.wrist)
    fit, held = split_recordings(recordings, config.holdout, config.seed)
    base_profile = get_profile(config.base)
    replayer = Replayer(base_profile, config.population, config.threads)
    total = config.random_generations + config.refine_generations
    bar = tqdm(total=total, desc="sysid", unit="gen", disable=not config.progress)

    def progress(entry: dict) -> None:
        bar.update(1)
        bar.set_postfix(stage=entry["stage"], mse=f"{entry['best_total_mse']:.2e}")

    try:
        started = time.perf_counter()
        result = search(replayer, fit, config.random_generations, config.refine_generations,
                        config.refine, config.seed, progress)
        bar.close()
        base = profile_values(base_profile, replayer)
        before, after = (rms_per_joint(replayer, c, held) for c in (base, result.best))
        profile = identified_profile(replayer, result.best)
        report = {
            "config": asdict(config), "recordings": {"search": len(fit), "held_out": len(held)},
            "latency_steps": result.best.latency, "latency_substeps": result.best.substeps,
            "evaluations": result.evaluations,
            "simulated_control_steps": replayer.steps,
            "seconds": round(time.perf_counter() - started, 1),
            "held_out_rms_rad": {"base": _by_joint(before), "identified": _by_joint(after)},
            "held_out_rms_mean_rad": {"base": float(before.mean()),
                                      "identified": float(after.mean())},
            "search_mse_per_joint": _by_joint(result.cost), "history": result.history}
        out = Path(config.out)
        save_profile(profile, out, comment=(
            f"identified by `dexndm sysid` from {len(fit)} recordings ({config.refine}); "
            f"held-out tracking RMS {before.mean():.4f} rad ({config.base}) -> "
            f"{after.mean():.4f} rad"))
        write_report(out.with_suffix(""), replayer, base, result.best, held, report)
    finally:
        bar.close()
        replayer.close()
    return report


def _by_joint(values) -> dict[str, float]:
    return {name: round(float(v), 5) for name, v in zip(JOINT_NAMES, values, strict=True)}


def _arguments(parser: argparse.ArgumentParser) -> None:
    add_arguments(parser, SysidConfig, metavars={"data": "SHARDS"})


def write_probe(config: SysidConfig) -> dict:
    """The probing trajectories as a trajectory library the chaos-box collector replays."""
    import numpy as np

    from dexndm_control.trajectory_library import TrajectoryLibrary
    from dexndm_sim.sysid import probing_targets
    from dexndm_sim.wrist import CANONICAL

    wrist = config.wrist or "palm_up"
    if wrist not in CANONICAL:
        raise ValueError(f"--wrist must be one of {', '.join(CANONICAL)}")
    targets = np.stack(probing_targets(config.probe_count, config.probe_steps, config.seed))
    count = len(targets)
    library = TrajectoryLibrary(targets, targets[:, 0].copy(),
                                np.tile(CANONICAL[wrist], (count, 1)),
                                np.tile([0.0, 0.0, 1.0], (count, 1)),
                                {"source": "dexndm sysid --write-probe",
                                 "wrist_labels": [wrist] * count})
    path = library.save(config.write_probe)
    return {"library": str(path), "trajectories": count, "steps": config.probe_steps,
            "wrist": wrist}


def _run(args: argparse.Namespace) -> int:
    config = from_arguments(SysidConfig, args)
    if config.write_probe is not None:
        print(json.dumps(write_probe(config)))
        return 0
    report = run_sysid(config)
    width = max(map(len, JOINT_NAMES))
    print(f"{'joint':<{width}}  {'base':>8}  {'identified':>10}  (held-out RMS, rad)")
    for joint in JOINT_NAMES:
        print(f"{joint:<{width}}  {report['held_out_rms_rad']['base'][joint]:8.4f}  "
              f"{report['held_out_rms_rad']['identified'][joint]:10.4f}")
    print(json.dumps({"latency_steps": report["latency_steps"],
                      "latency_substeps": report["latency_substeps"],
                      "held_out_rms_mean_rad": report["held_out_rms_mean_rad"],
                      "seconds": report["seconds"], "out": args.out}))
    return 0


def sysid_command() -> Command:
    return Command(name="sysid", help="identify a hardware profile from recordings (autotune)",
                   description="Replays recorded joint targets open loop in a population of "
                               "simulated hands (per-joint gains, torque limit, friction, "
                               "armature, link mass; latency) and keeps the set that tracks "
                               "the recordings best: random search, then one CMA-ES per joint "
                               "(docs/sysid.md).",
                   add_arguments=_arguments, run=_run)
