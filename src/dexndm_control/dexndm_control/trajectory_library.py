"""Trajectory libraries (design.md section 4): what the chaos-box collector replays.

One .npz per source: actions [N, 400, 16] (absolute joint targets, model order, rad),
initial_q [N, 16], wrist_quat [N, 4] (w, x, y, z), axis [N, 3] (hand frame, as commanded to the
controller), and meta (JSON text: source, policy, command that built it, per-trajectory labels).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dexndm_control.errors import DexndmError
from dexndm_control.hand import LOWER, NUM_JOINTS, UPPER


class LibraryError(DexndmError):
    pass


@dataclass
class TrajectoryLibrary:
    actions: np.ndarray
    initial_q: np.ndarray
    wrist_quat: np.ndarray
    axis: np.ndarray
    meta: dict = field(default_factory=dict)
    path: Path | None = None

    def __post_init__(self) -> None:
        self.actions = np.asarray(self.actions, dtype=np.float32)
        count = len(self.actions)
        shapes = {"actions": (self.actions.ndim == 3 and self.actions.shape[2] == NUM_JOINTS),
                  "initial_q": np.shape(self.initial_q) == (count, NUM_JOINTS),
                  "wrist_quat": np.shape(self.wrist_quat) == (count, 4),
                  "axis": np.shape(self.axis) == (count, 3)}
        bad = [name for name, ok in shapes.items() if not ok]
        if bad or count == 0:
            raise LibraryError(f"trajectory library arrays {bad or ['(empty)']} have the wrong "
                               f"shape: need actions [N, T, 16], initial_q [N, 16], "
                               f"wrist_quat [N, 4], axis [N, 3] with N > 0")
        if not np.all(np.isfinite(self.actions)):
            raise LibraryError("trajectory library actions contain NaN or infinity")
        self.initial_q = np.asarray(self.initial_q, dtype=np.float32)
        self.wrist_quat = np.asarray(self.wrist_quat, dtype=np.float32)
        self.axis = np.asarray(self.axis, dtype=np.float32)
        if np.any(self.actions < LOWER - 1e-3) or np.any(self.actions > UPPER + 1e-3):
            raise LibraryError("trajectory library actions leave the joint limits: it was built "
                               "for another joint order or convention")

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def steps(self) -> int:
        return self.actions.shape[1]

    def label(self, index: int) -> str:
        labels = self.meta.get("wrist_labels")
        return labels[index] if labels else "unknown"

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, actions=self.actions, initial_q=self.initial_q,
                            wrist_quat=self.wrist_quat, axis=self.axis,
                            meta=np.array(json.dumps(self.meta)))
        tmp.replace(path)
        return path


def load_library(path: str | Path) -> TrajectoryLibrary:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            library = TrajectoryLibrary(data["actions"], data["initial_q"], data["wrist_quat"],
                                        data["axis"], json.loads(str(data["meta"])), path)
    except (OSError, KeyError, ValueError) as error:
        raise LibraryError(f"{path} is not a trajectory library ({error}); build one with "
                           "`dexndm rollout --library OUT.npz`") from None
    return library
