"""The weighted average of an oracle teacher's PPO checkpoints (stochastic weight averaging).

A teacher late in training swings from checkpoint to checkpoint by as much as it gains in a
hundred iterations (own evaluations of the category-wide cylinder teacher 6.3-7.1 rad over
1170-1280); the average of those twelve checkpoints turned the same fresh starts 7.53 rad where
the last of them turned 6.38 (docs/base_policy_log.md). Checkpoints of one run, or of the runs
that resume it, are averaged: actor and critic, in float64, written as float32. The result is a
teacher like a stored one (storage.py): RUN/model_N.pt (N the newest source's iteration) with
the first source's env.yaml and run.yaml beside it, no optimizer state (continue it with
`train ppo --init`), and averaged_from.yaml naming the sources and weights.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
import yaml

from dexndm_control.errors import DexndmError
from dexndm_learning.ppo.specialist import fine_tuned_bundle, specialist_env_config
from dexndm_learning.ppo.storage import NETWORKS, PROVENANCE_FILES, RUN_FILES

RECORD = PROVENANCE_FILES[0]  # stored with the teacher (storage.py)


def is_teacher_checkpoint(path: str | Path) -> bool:
    """A model_N.pt of a `train ppo` run without --generalist (its run files beside it)."""
    path = Path(path)
    return (path.is_file() and any((path.parent / name).is_file() for name in RUN_FILES)
            and fine_tuned_bundle(path) is None)


def _load(path: Path) -> dict:
    loaded = torch.load(path, weights_only=False, map_location="cpu")
    missing = [key for key in NETWORKS if key not in loaded]
    if missing:
        raise DexndmError(f"{path} has no {', '.join(missing)}: give checkpoints "
                          "(RUN/model_N.pt) of a `dexndm train ppo` run")
    return loaded


def _check_compatible(first: Path, first_loaded: dict, other: Path, other_loaded: dict) -> None:
    for key in NETWORKS:
        shapes = {name: tuple(value.shape) for name, value in first_loaded[key].items()}
        if shapes != {name: tuple(value.shape) for name, value in other_loaded[key].items()}:
            raise DexndmError(f"{other}'s networks differ from {first}'s: average checkpoints "
                              "of one run (or of the runs resuming it)")
    # what the teacher is scored and rolled out in; training aids (shares, gait states) may differ
    # (the batch size is not: a resume may run more environments)
    if specialist_env_config(other, num_envs=1) != specialist_env_config(first, num_envs=1):
        raise DexndmError(f"{other} was trained in another environment than {first} (their "
                          "env.yaml differ): average checkpoints of one run or its resumes")


def average_checkpoints(sources: list[str], weights: list[float], out: str | Path,
                        overwrite: bool = False) -> dict:
    """Write the ``weights``-weighted (normalised) average of the teacher checkpoints
    ``sources`` to ``out``/model_N.pt; returns what averaged_from.yaml records."""
    out, paths = Path(out), [Path(source) for source in sources]
    if out.exists() and not overwrite:
        raise DexndmError(f"{out} exists; choose a new --out or pass --overwrite")
    if out.exists() and not (out / RECORD).is_file():
        raise DexndmError(f"{out} exists and is not an averaged teacher; --overwrite replaces "
                          "only one")
    loaded = [_load(path) for path in paths]
    for path, checkpoint in zip(paths[1:], loaded[1:], strict=True):
        _check_compatible(paths[0], loaded[0], path, checkpoint)
    iteration = max(int(checkpoint.get("iter", 0)) for checkpoint in loaded)
    averaged = {"iter": iteration, "infos": None}
    for key in NETWORKS:
        averaged[key] = {
            name: sum(w * checkpoint[key][name].double()
                      for checkpoint, w in zip(loaded, weights, strict=True)).float()
            for name in loaded[0][key]}
    record = {"averaged_from": [
        {"checkpoint": str(path), "weight": w, "iteration": int(checkpoint.get("iter", 0))}
        for path, checkpoint, w in zip(paths, loaded, weights, strict=True)]}
    shutil.rmtree(out, ignore_errors=True)  # nothing of a replaced average stays beside it
    out.mkdir(parents=True)
    target = out / f"model_{iteration}.pt"
    torch.save(averaged, target)
    for name in RUN_FILES:
        if (paths[0].parent / name).is_file():
            shutil.copyfile(paths[0].parent / name, out / name)
    (out / RECORD).write_text(yaml.safe_dump(record, sort_keys=False))
    return {"out": str(target), **record}
