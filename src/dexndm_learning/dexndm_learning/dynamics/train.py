"""Train a dynamics model on transition shards: pretraining on sim data, finetuning on bags."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dexndm_control.errors import DexndmError
from dexndm_control.policy.dynamics_model import (
    ARCHITECTURES,
    BUNDLE_KIND,
    DynamicsModel,
    load_dynamics,
)
from dexndm_control.settings import setting
from dexndm_learning.data import Windows, fingerprint, load_episodes, split_by_episode
from dexndm_learning.trainer import Evaluation, RunConfig, Task, start_run
from dexndm_learning.trainer import train as train_loop


@dataclass(kw_only=True)
class DynamicsTrainConfig(RunConfig):
    arch: str = setting("joint", help="joint, finger, whole or shared")
    window: int = setting(10, help="W: steps of (q, a) history per prediction")
    hidden: list[int] = setting(default_factory=list,
                                help="hidden sizes per net (default depends on --arch)")
    weight_decay: float = 0.0
    init: str | None = setting(None, help="dynamics bundle to finetune from")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.arch not in ARCHITECTURES:
            raise DexndmError(f"--arch must be one of {', '.join(ARCHITECTURES)}")
        if self.window < 1:
            raise DexndmError("--window must be >= 1")


def build_model(config: DynamicsTrainConfig, train: Windows) -> DynamicsModel:
    if config.init:
        model = load_dynamics(config.init)  # keeps the pretraining normalisers
        if model.arch != config.arch or model.window != config.window:
            raise DexndmError(f"--init {config.init} is a {model.arch} model with "
                              f"W={model.window}; this run asks for {config.arch} "
                              f"with W={config.window}")
        return model
    model = DynamicsModel(config.arch, config.window, tuple(config.hidden) or None)
    stats = train.statistics()
    model.q_norm.set(*stats["q"])
    model.a_norm.set(*stats["a"])
    model.dq_norm.set(*stats["dq"], min_std=1e-5)
    return model


@torch.no_grad()
def evaluate(model: DynamicsModel, windows: Windows, device: str,
             batch_size: int = 8192) -> dict[str, torch.Tensor]:
    """Per-joint mean absolute and root-mean-square error of q_{t+1} (rad)."""
    model.eval()
    absolute = torch.zeros(16)
    squared = torch.zeros(16)
    for start in range(0, len(windows), batch_size):
        index = torch.arange(start, min(start + batch_size, len(windows)))
        q_hist, a_hist, q_next = windows.batch(index)
        error = (model(q_hist.to(device), a_hist.to(device)).cpu() - q_next)
        absolute += error.abs().sum(0)
        squared += (error ** 2).sum(0)
    count = max(1, len(windows))
    return {"mae": absolute / count, "rmse": (squared / count).sqrt()}


def train_dynamics(config: DynamicsTrainConfig) -> dict:
    device, distributed, out = start_run(config)
    loaded = load_episodes(config.data)
    train_ids, eval_ids = split_by_episode(loaded.keys, config.eval_fraction, config.seed)
    train = Windows([loaded.episodes[i] for i in train_ids], config.window, loaded.control_dt)
    evaluation = Windows([loaded.episodes[i] for i in eval_ids], config.window,
                         loaded.control_dt)
    if len(train) == 0:
        raise DexndmError(f"no training window of {config.window} steps in {config.data}")
    model = build_model(config, train).to(device)  # loads --init
    dq_std = model.dq_norm.std.to(device)

    def loss(module: torch.nn.Module, index: torch.Tensor) -> torch.Tensor:
        q_hist, a_hist, q_next = (t.to(device) for t in train.batch(index))
        return (((module(q_hist, a_hist) - q_next) / dq_std) ** 2).mean()

    def assess() -> Evaluation:
        metrics = evaluate(model, evaluation if len(evaluation) else train, device)
        mae = float(metrics["mae"].mean())
        return Evaluation(mae, {"eval_mae_rad": mae},
                          {"eval_mae_per_joint": metrics["mae"].tolist()},
                          f"eval MAE {mae:.5f} rad")

    recorder = train_loop(Task(
        "dynamics", BUNDLE_KIND, model, model, len(train), loss, assess,
        {"data_fingerprint": fingerprint(loaded.files),
         "eval_episodes": [loaded.keys[i] for i in eval_ids],
         "train_episodes": len(train_ids), "control_dt": loaded.control_dt},
        lambda: torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)),
        config, device, distributed, out)
    return {"best_eval_mae_rad": recorder.best, "history": recorder.history, "out": str(out),
            "windows": {"train": len(train), "eval": len(evaluation)}}

