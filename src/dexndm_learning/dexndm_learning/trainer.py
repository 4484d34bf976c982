"""The one training loop that dynamics, residual and BC training plug a loss and an evaluation
into (the way rsl_rl's runner takes an algorithm).

What the loop owns: the run configuration every trainer shares (``RunConfig``), the device and
rank (``setup_distributed``), the 9:1 split by episode is the trainer's (it builds the windows),
DistributedDataParallel around what the loss calls, the epochs over this rank's share of every
global batch, TensorBoard and metrics.jsonl, the ``last``/``best`` bundles, and resuming: every
epoch writes ``OUT/last/training_state.pt`` (optimizer state, epoch, step, best score, history),
and ``--resume OUT/last`` continues from it with the same optimisation path (bit-equal to an
uninterrupted run where the arithmetic is deterministic: one thread, ``MKL_CBWR=COMPATIBLE``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from dexndm_control.errors import DexndmError
from dexndm_control.settings import setting
from dexndm_learning.runs import (
    Distributed,
    EpochRecorder,
    MetricLog,
    check_output,
    epoch_batches,
    prepare_output,
    seed_everything,
    setup_distributed,
    teardown_distributed,
)

TRAINING_STATE = "training_state.pt"


@dataclass(kw_only=True)
class RunConfig:
    """What every trainer's configuration holds (the CLI's common options)."""

    data: list[str] = setting(help="shard files or directories of shards")
    out: str = setting(help="run directory (best/ and last/ bundles, TensorBoard in tb/)")
    epochs: int = 20
    batch_size: int = 1024
    lr: float = 1e-3
    eval_fraction: float = setting(0.1, help="share of episodes held out (split by episode)")
    seed: int = 0
    device: str = setting("auto", help="auto, cpu, cuda, cuda:1, ...")
    overwrite: bool = setting(False, help="replace an existing run directory")
    progress: bool = setting(True, help="progress bars")
    resume: str | None = setting(None, help="OUT/last of an interrupted run of the same "
                                            "configuration (optimizer state, epoch, best score)")

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise DexndmError("--epochs and --batch-size must be >= 1 and --lr > 0")
        if not 0 <= self.eval_fraction < 1:
            raise DexndmError("--eval-fraction must be within [0, 1)")
        if self.resume and not (Path(self.resume) / TRAINING_STATE).is_file():
            raise DexndmError(f"--resume {self.resume}: no {TRAINING_STATE} there; give the "
                              "last/ directory of a run trained with this version")


@dataclass
class Evaluation:
    """One epoch's evaluation: the score that picks ``best`` (lower is better), the columns it
    adds to the epoch's row, metrics kept with the best bundle only, and a progress line."""

    score: float
    row: dict = field(default_factory=dict)
    best_metrics: dict = field(default_factory=dict)
    line: str = ""


@dataclass
class Task:
    """What a trainer plugs into the loop."""

    name: str  # metric prefix ("dynamics", "residual", "bc")
    kind: str  # bundle kind
    network: torch.nn.Module  # saved in the bundles
    trained: torch.nn.Module  # what ``loss`` calls (the network, or an objective around it)
    train_size: int  # training windows
    loss: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]  # (trained, batch index)
    evaluate: Callable[[], Evaluation]
    extra: dict  # bundle information besides the architecture
    make_optimizer: Callable[[], torch.optim.Optimizer]


def start_run(config: RunConfig) -> tuple[str, Distributed, Path]:
    """Device, rank and output folder of a run; a non-empty OUT is refused before anything is
    loaded (resuming into the run's own folder continues it)."""
    device, distributed = setup_distributed(config.device)
    seed_everything(config.seed)
    out = Path(config.out)
    if distributed.main:  # only the main rank writes OUT; another rank could find it made already
        check_output(out, config.overwrite or _resumes_here(config))
    return device, distributed, out


def _resumes_here(config: RunConfig) -> bool:
    return bool(config.resume) and Path(config.resume).parent.resolve() == \
        Path(config.out).resolve()


def train(task: Task, config: RunConfig, device: str, distributed: Distributed,
          out: Path) -> EpochRecorder:
    """Run the epochs; returns the recorder (history, best score)."""
    network = task.network
    trained = task.trained.to(device)
    if distributed.main:  # inputs are valid: only now does OUT appear
        prepare_output(out, config, config.overwrite or _resumes_here(config),
                       distributed.world_size)
    optimizer = task.make_optimizer()
    recorder = EpochRecorder(out, task.kind, task.name, MetricLog(out, distributed.main),
                             {"training": asdict(config), **task.extra})
    first_epoch, step = 0, 0
    if config.resume:
        state = torch.load(Path(config.resume) / TRAINING_STATE, map_location=device,
                           weights_only=False)
        network.load_state_dict(state["network"])
        optimizer.load_state_dict(state["optimizer"])
        first_epoch, step = state["epoch"], state["step"]
        recorder.best, recorder.history = state["best"], state["history"]
    module = DistributedDataParallel(trained) if distributed.world_size > 1 else trained
    for epoch in range(first_epoch, config.epochs):
        network.train()
        started = time.perf_counter()
        batches = epoch_batches(task.train_size, config.batch_size, epoch, config.seed,
                                distributed)
        total = 0.0
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False,
                   disable=not (config.progress and distributed.main))
        for index in bar:
            loss = task.loss(module, index)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item()
            step += 1
            bar.set_postfix(loss=f"{loss.item():.4f}")
        seconds = time.perf_counter() - started
        if not distributed.main:
            continue
        result = task.evaluate()
        row = {"epoch": epoch + 1, "train_loss": total / max(1, len(batches)), **result.row,
               "epoch_seconds": seconds, "transitions_per_s": task.train_size / seconds}
        recorder.record(step, row, result.score, network, result.best_metrics)
        torch.save({"network": network.state_dict(), "optimizer": optimizer.state_dict(),
                    "epoch": epoch + 1, "step": step, "best": recorder.best,
                    "history": recorder.history}, out / "last" / TRAINING_STATE)
        if config.progress and result.line:
            print(f"epoch {epoch + 1}: {result.line}, {seconds:.1f} s", flush=True)
    recorder.log.close()
    teardown_distributed()
    return recorder
