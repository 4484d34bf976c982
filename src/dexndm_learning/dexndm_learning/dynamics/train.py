"""Train a dynamics model on transition shards: pretraining on sim data, finetuning on bags."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from dexndm_control.errors import DexndmError
from dexndm_control.policy.bundle import load_bundle
from dexndm_learning.data import Windows, fingerprint, load_episodes, split_by_episode
from dexndm_learning.dynamics.models import ARCHITECTURES, DynamicsModel
from dexndm_learning.runs import (
    EpochRecorder,
    MetricLog,
    check_output,
    epoch_batches,
    prepare_output,
    seed_everything,
    setup_distributed,
    teardown_distributed,
)

BUNDLE_KIND = "dynamics"


@dataclass
class DynamicsTrainConfig:
    data: list[str]
    out: str
    arch: str = "joint"
    window: int = 10
    hidden: list[int] = field(default_factory=list)  # empty: the architecture's default
    epochs: int = 20
    batch_size: int = 1024
    lr: float = 1e-3
    weight_decay: float = 0.0
    eval_fraction: float = 0.1
    seed: int = 0
    device: str = "auto"
    init: str | None = None  # a dynamics bundle to start from (finetuning)
    overwrite: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise DexndmError(f"--arch must be one of {', '.join(ARCHITECTURES)}")
        if self.window < 1 or self.epochs < 1 or self.batch_size < 1:
            raise DexndmError("--window, --epochs and --batch-size must be >= 1")
        if not 0 <= self.eval_fraction < 1:
            raise DexndmError("--eval-fraction must be within [0, 1)")


def build_model(config: DynamicsTrainConfig, train: Windows) -> DynamicsModel:
    if config.init:
        bundle = load_bundle(config.init, BUNDLE_KIND)
        model_config = bundle.config
        if model_config["arch"] != config.arch or model_config["window"] != config.window:
            raise DexndmError(f"--init {config.init} is a {model_config['arch']} model with "
                              f"W={model_config['window']}; this run asks for {config.arch} "
                              f"with W={config.window}")
        model = DynamicsModel(config.arch, config.window, tuple(model_config["hidden"]))
        model.load_state_dict(bundle.state_dict)  # keeps the pretraining normalisers
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
    device, distributed = setup_distributed(config.device)
    seed_everything(config.seed)
    out = Path(config.out)
    check_output(out, config.overwrite)
    loaded = load_episodes(config.data)
    train_ids, eval_ids = split_by_episode(loaded.keys, config.eval_fraction, config.seed)
    train = Windows([loaded.episodes[i] for i in train_ids], config.window, loaded.control_dt)
    evaluation = Windows([loaded.episodes[i] for i in eval_ids], config.window,
                         loaded.control_dt)
    if len(train) == 0:
        raise DexndmError(f"no training window of {config.window} steps in {config.data}")
    model = build_model(config, train).to(device)  # loads --init
    if distributed.main:  # inputs are valid: only now does OUT appear
        prepare_output(out, config, config.overwrite, distributed.world_size)
    trained = DistributedDataParallel(model) if distributed.world_size > 1 else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    log = MetricLog(out, distributed.main)
    extra = {"training": asdict(config), "data_fingerprint": fingerprint(loaded.files),
             "eval_episodes": [loaded.keys[i] for i in eval_ids],
             "train_episodes": len(train_ids), "control_dt": loaded.control_dt}
    recorder = EpochRecorder(out, BUNDLE_KIND, "dynamics", log, extra)
    step = 0
    dq_std = model.dq_norm.std.to(device)
    for epoch in range(config.epochs):
        model.train()
        started = time.perf_counter()
        batches = epoch_batches(len(train), config.batch_size, epoch, config.seed, distributed)
        total = 0.0
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False,
                   disable=not (config.progress and distributed.main))
        for index in bar:
            q_hist, a_hist, q_next = (t.to(device) for t in train.batch(index))
            predicted = trained(q_hist, a_hist)
            loss = (((predicted - q_next) / dq_std) ** 2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item()
            step += 1
            bar.set_postfix(loss=f"{loss.item():.4f}")
        seconds = time.perf_counter() - started
        if not distributed.main:
            continue
        metrics = evaluate(model, evaluation if len(evaluation) else train, device)
        eval_mae = float(metrics["mae"].mean())
        row = {"epoch": epoch + 1, "train_loss": total / max(1, len(batches)),
               "eval_mae_rad": eval_mae, "epoch_seconds": seconds,
               "transitions_per_s": len(train) / seconds}
        recorder.record(step, row, eval_mae, model,
                        {"eval_mae_per_joint": metrics["mae"].tolist()})
        if config.progress:
            print(f"epoch {epoch + 1}: train loss {row['train_loss']:.4f}, eval MAE "
                  f"{eval_mae:.5f} rad, {seconds:.1f} s", flush=True)
    log.close()
    teardown_distributed()
    return {"best_eval_mae_rad": recorder.best, "history": recorder.history, "out": str(out),
            "windows": {"train": len(train), "eval": len(evaluation)}}


def load_dynamics(path: str | Path) -> DynamicsModel:
    bundle = load_bundle(path, BUNDLE_KIND)
    config = bundle.config
    model = DynamicsModel(config["arch"], config["window"], tuple(config["hidden"]))
    model.load_state_dict(bundle.state_dict)
    model.eval()
    return model
