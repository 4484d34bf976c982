"""What every training run shares: output folder, config and commit saved, TensorBoard, DDP."""

from __future__ import annotations

import json
import os
import platform
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import mujoco
import numpy as np
import torch
import torch.distributed as dist
import yaml

from dexndm_control.errors import DexndmError
from dexndm_control.policy.bundle import git_commit


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(requested_device: str) -> tuple[str, Distributed]:
    """The device this process trains on, and its place in the process group torchrun created
    (gloo on CPU, nccl on CUDA), if any. Every trainer starts here, so each rank of a multi-GPU
    run gets its own GPU (cuda:rank modulo the GPUs torch sees)."""
    device = pick_device(requested_device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return device, Distributed()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    distributed = Distributed(dist.get_rank(), dist.get_world_size())
    if device.startswith("cuda"):
        device = f"cuda:{distributed.rank % torch.cuda.device_count()}"
        torch.cuda.set_device(device)
    return device, distributed


def teardown_distributed() -> None:
    """Leave the process group together: a rank that destroys its group and exits while the main
    rank is still evaluating the last epoch can abort in gloo's C++ threads (SIGABRT, seen under
    load), so every rank first waits at a barrier."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(requested: str) -> str:
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise DexndmError("--device cuda asked for, but torch sees no CUDA device; use cpu")
    return requested


def check_output(path: str | Path, overwrite: bool = False) -> None:
    """Refuse a non-empty output directory up front (creates nothing)."""
    out = Path(path)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise DexndmError(f"{out} exists and is not empty; choose a new --out or pass "
                          "--overwrite")


def measured_with() -> dict[str, str]:
    """The commit, the libraries and the processor a result came from. The simulator's episodes
    are chaotic: at one commit the same policy scored 4.71 rad on one machine and 4.64 on
    another (one of its episodes 7.8 and 3.5), so a number is read with where it was measured."""
    return {"git_commit": git_commit(), "torch": str(torch.__version__),
            "mujoco": str(mujoco.__version__), "numpy": str(np.__version__),
            "machine": platform.machine(), "cpu": _cpu_model()}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def prepare_output(path: str | Path, config: object, overwrite: bool = False,
                   world_size: int = 1) -> Path:
    """Create the run directory with run.yaml. Call it once the inputs have been loaded and
    checked, so that a run that cannot start leaves nothing behind."""
    out = Path(path)
    check_output(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    record = {"config": asdict(config), **measured_with(), "world_size": world_size}
    (out / "run.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    return out


class MetricLog:
    """Scalars to TensorBoard and to metrics.jsonl (readable without TensorBoard)."""

    def __init__(self, out: Path, enabled: bool) -> None:
        self.enabled = enabled
        self._writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter
            self._writer = SummaryWriter(str(out / "tb"))
            # open for the run's lifetime (closed in close()), so not a with-block
            self._file = open(out / "metrics.jsonl", "a")  # noqa: SIM115 - see above

    def log(self, step: int, **values: float) -> None:
        if not self.enabled:
            return
        for key, value in values.items():
            self._writer.add_scalar(key, value, step)
        self._file.write(json.dumps({"step": step, **values}) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self.enabled:
            self._writer.close()
            self._file.close()


def epoch_batches(count: int, batch_size: int, epoch: int, seed: int,
                  distributed: Distributed) -> list[torch.Tensor]:
    """This rank's share of each global batch of one epoch.

    One permutation per epoch (same on every rank); global batch k = perm[k*B:(k+1)*B]; rank r
    takes its positions r, r+world, ... of it. The union over ranks is exactly the single-process
    batch, so a DDP run follows the same optimisation path as one process.
    """
    generator = torch.Generator().manual_seed(seed * 100003 + epoch)
    permutation = torch.randperm(count, generator=generator)
    batches = []
    for start in range(0, count - batch_size + 1 if count >= batch_size else 1, batch_size):
        chunk = permutation[start:start + batch_size]
        batches.append(chunk[distributed.rank::distributed.world_size])
    return batches


class EpochRecorder:
    """What every trainer does after an epoch: log the row, save ``last/``, and ``best/`` when
    the score (lower is better) improved. Bundles carry the run's ``extra`` information."""

    def __init__(self, out: Path, kind: str, prefix: str, log: MetricLog, extra: dict) -> None:
        self.out, self.kind, self.prefix, self.log, self.extra = out, kind, prefix, log, extra
        self.best = float("inf")
        self.history: list[dict] = []

    def record(self, step: int, row: dict, score: float, model: torch.nn.Module,
               best_metrics: dict | None = None) -> None:
        from dexndm_control.policy.bundle import save_bundle

        self.history.append(row)
        self.log.log(step, **{f"{self.prefix}/{k}": v for k, v in row.items() if k != "epoch"})
        save_bundle(self.out / "last", self.kind, model.config(), model.state_dict(),
                    {**self.extra, "metrics": row})
        if score < self.best:
            self.best = score
            save_bundle(self.out / "best", self.kind, model.config(), model.state_dict(),
                        {**self.extra, "metrics": {**row, **(best_metrics or {})}})
