"""A weighted average of base policies' weights (a weight-space ensemble, or "model soup").

Networks fine-tuned from one start stay close in weight space, and a point between two of them
can keep what each learned better than either end: distilling the palm-down wrist further moved
the network towards it and cost palm-up rotation, while a third of the way there kept the palm-up
cells and gained more palm down than the fine-tune itself (docs/base_policy_log.md, "Between two
networks"). Only networks of one architecture, one observation layout and one normaliser (the
start's, which distillation keeps) are averaged; anything else is refused, because an average of
unrelated networks is not a policy.

A source may also be a checkpoint of a `train ppo --generalist` run (RUN/model_N.pt), taken as the
bundle its actor exports to: averaging a fine-tune's checkpoints (stochastic weight averaging)
smooths the checkpoint-to-checkpoint swings of a low-rate PPO fine-tune, which are as large as
what it gains (docs/base_policy_log.md, "Both wrists in one fine-tune"). Checkpoints of an oracle
teacher's run are averaged as a teacher checkpoint instead (ppo/checkpoint_average.py).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from dexndm_control.errors import DexndmError
from dexndm_control.policy.bundle import Bundle, load_bundle, save_bundle
from dexndm_control.policy.precision import FLOAT32_NETWORK
from dexndm_control.settings import setting
from dexndm_learning.ppo.checkpoint_average import average_checkpoints, is_teacher_checkpoint
from dexndm_learning.ppo.generalist_actor import export_generalist
from dexndm_learning.ppo.specialist import fine_tuned_bundle

# what must match for an average to mean anything: the network, what it reads and what it writes
_SHARED_INFO = ("config", "layout", "action_scale")
# bundle.yaml entries that describe one source's training, not the average
_PER_SOURCE_INFO = ("format", "version", "kind", "joint_names", "config", "created", "git_commit",
                    "metrics", "dagger_round", "training", "fine_tuned_from",
                    "fine_tuning_checkpoint", "precision", "precision_check", "converted_from")


@dataclass(kw_only=True)
class AverageConfig:
    bundles: tuple[str, ...] = setting(help="base_policy bundles fine-tuned from one start (fp32, "
                                            "or fp16_weights: their float32 values), "
                                            "or checkpoints RUN/model_N.pt of a `train ppo "
                                            "--generalist` run (the first gives the start "
                                            "pose); or checkpoints of one oracle teacher's "
                                            "`train ppo` run (and its resumes), averaged into "
                                            "OUT/model_N.pt")
    weights: tuple[float, ...] = setting((), help="one weight per bundle, normalised to sum to "
                                                  "1 (default: equal)")
    out: str = setting(help="the averaged base_policy bundle (teachers: its run directory)")
    overwrite: bool = setting(False, help="replace an existing --out")

    def __post_init__(self) -> None:
        if len(self.bundles) < 2:
            raise DexndmError("average needs at least two bundles")
        if self.weights and len(self.weights) != len(self.bundles):
            raise DexndmError(f"--weights gives {len(self.weights)} weights for "
                              f"{len(self.bundles)} bundles: give one per bundle")
        if any(w < 0 for w in self.weights) or (self.weights and sum(self.weights) <= 0):
            raise DexndmError("--weights must be >= 0 with a positive sum")

    def normalised_weights(self) -> list[float]:
        weights = self.weights or (1.0,) * len(self.bundles)
        return [w / sum(weights) for w in weights]


def _check_precision(bundle: Bundle) -> None:
    # fp16_weights are averaged as the float32 values the controller upcasts them to (exactly
    # the network it runs); int8 weights are not the trained values, nor is an average of them
    if bundle.info.get("precision", "fp32") not in FLOAT32_NETWORK:
        raise DexndmError(
            f"{bundle.path} holds {bundle.info['precision']} weights: average the fp32 "
            f"bundles they were converted from ({bundle.info.get('converted_from', '?')})")


def _check_compatible(first: Bundle, other: Bundle) -> None:
    for key in _SHARED_INFO:
        if first.info.get(key) != other.info.get(key):
            raise DexndmError(f"{other.path} has another {key} than {first.path}: only networks "
                              "of one architecture and observation layout can be averaged")
    if set(first.state_dict) != set(other.state_dict):
        raise DexndmError(f"{other.path} holds other tensors than {first.path}")
    for name, value in first.state_dict.items():
        if name.startswith("obs_norm.") and not torch.equal(value, other.state_dict[name]):
            raise DexndmError(
                f"{other.path}'s observation normaliser differs from {first.path}'s: average "
                "only networks fine-tuned from one start (distillation keeps its normaliser)")


def _load_source(path: str, scratch: Path) -> Bundle:
    """A base_policy bundle, or a `train ppo --generalist` checkpoint as the bundle its actor
    exports to (written to ``scratch``, a fresh directory of its own)."""
    source = Path(path)
    if not source.is_file():
        return load_bundle(path, "base_policy")
    start = fine_tuned_bundle(source)
    if start is None:
        raise DexndmError(f"{path} is not a checkpoint of a `train ppo --generalist` run (no "
                          "run.yaml naming its --generalist bundle beside it): average "
                          "base_policy bundles or such checkpoints")
    exported = export_generalist(source, load_bundle(start, "base_policy"), scratch)
    return load_bundle(exported, "base_policy")


def average_bundles(config: AverageConfig) -> dict:
    """Write the weighted average of ``config.bundles`` to ``config.out``; the observation
    normaliser (equal in all) is kept as it is. Returns what bundle.yaml records. Teacher
    checkpoints are averaged into a teacher checkpoint (ppo/checkpoint_average.py)."""
    teachers = [is_teacher_checkpoint(source) for source in config.bundles]
    if all(teachers):
        return average_checkpoints(list(config.bundles), config.normalised_weights(),
                                   config.out, config.overwrite)
    if any(teachers):
        raise DexndmError(f"{config.bundles[teachers.index(True)]} is an oracle teacher's "
                          "checkpoint and the others are base policies: average either "
                          "teachers' checkpoints or base policies")
    out = Path(config.out)
    if out.exists() and not config.overwrite:
        raise DexndmError(f"{out} exists; choose a new --out or pass --overwrite")
    if out.exists() and not (out / "bundle.yaml").is_file():
        raise DexndmError(f"{out} exists and is not a bundle; --overwrite replaces only a bundle")
    with tempfile.TemporaryDirectory() as scratch:
        bundles = [_load_source(path, Path(scratch) / str(index))
                   for index, path in enumerate(config.bundles)]
        for bundle in bundles:
            _check_precision(bundle)
        for other in bundles[1:]:
            _check_compatible(bundles[0], other)
        shutil.rmtree(out, ignore_errors=True)  # nothing of a replaced bundle stays beside it
        return _write_average(config, bundles, out)


def _write_average(config: AverageConfig, bundles: list[Bundle], out: Path) -> dict:
    weights = config.normalised_weights()
    first = bundles[0]
    state = {}
    for name, value in first.state_dict.items():
        if name.startswith("obs_norm."):
            state[name] = value.clone()
        else:
            average = sum(w * b.state_dict[name].double() for b, w in
                          zip(bundles, weights, strict=True))
            state[name] = average.to(torch.float32 if value.is_floating_point() else value.dtype)
    # a checkpoint source is named by its path, not by the scratch bundle it was exported to
    averaged_from = [{"bundle": source, "weight": w, "git_commit": b.info.get("git_commit")}
                     for source, b, w in zip(config.bundles, bundles, weights, strict=True)]
    info = {k: v for k, v in first.info.items() if k not in _PER_SOURCE_INFO}
    save_bundle(out, "base_policy", first.config, state, {**info, "averaged_from": averaged_from})
    return {"out": str(out), "averaged_from": averaged_from}
