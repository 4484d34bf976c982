"""Transition shards (design.md section 4): the one format between bags/simulation and learning.

A shard is an .npz holding several episodes back to back:
  q       float32 [sum(T_e + 1), 16]  joint positions at each control tick (model order, rad)
  a       float32 [sum(T_e), 16]      target sent at tick k (after q[k] was observed)
  t       float64 [sum(T_e + 1)]      time of each q sample (s)
  q_start int64   [E + 1]             episode e's q rows are q[q_start[e]:q_start[e + 1]]
  a_start int64   [E + 1]             and its targets a[a_start[e]:a_start[e + 1]]
  meta    str                         JSON: {"format", "version", "source", "control_dt",
                                      "joint_names", "episodes": [{...per episode...}]}
Per-episode metadata may hold "wrist_quat" (w, x, y, z) and "axis" (x, y, z, in the hand frame
as the controller is commanded) for policy observations, "initial_target" (the 16 targets the hand
held before the first one in ``a``: a rollout's grasp target, which fills the policy's history at
the start as the controller's does) and anything else (trajectory_id, seed, noise, wrist_label,
axis_world).
Windows of W steps are cut at load time and never cross an episode boundary or a time gap of
more than 1.5 control periods.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dexndm_control.errors import DexndmError
from dexndm_control.hand import CONTROL_DT, JOINT_NAMES, NUM_JOINTS

FORMAT, VERSION = "dexndm-transitions", 1
GAP_FACTOR = 1.5
#: per-episode metadata key: the target held before the episode's first action
INITIAL_TARGET = "initial_target"


class ShardError(DexndmError):
    pass


@dataclass
class Episode:
    q: np.ndarray  # [T + 1, 16]
    a: np.ndarray  # [T, 16]
    t: np.ndarray  # [T + 1]
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.q = np.asarray(self.q, dtype=np.float32)
        self.a = np.asarray(self.a, dtype=np.float32)
        self.t = np.asarray(self.t, dtype=np.float64)
        if self.q.ndim != 2 or self.q.shape[1] != NUM_JOINTS or self.a.shape != (
                self.q.shape[0] - 1, NUM_JOINTS) or self.t.shape != (self.q.shape[0],):
            raise ShardError(f"an episode needs q [T+1, 16], a [T, 16], t [T+1]; got "
                             f"{self.q.shape}, {self.a.shape}, {self.t.shape}")


@dataclass
class Shard:
    episodes: list[Episode]
    source: str = "sim"
    control_dt: float = CONTROL_DT
    path: Path | None = None


def shard_files(paths: Sequence[str | Path]) -> list[Path]:
    """Shard files and directories (every *.npz inside, sorted) -> shard files. A bag is refused
    with the command that turns it into shards."""
    found: list[Path] = []
    for path in map(Path, paths):
        if (path / "metadata.yaml").is_file():
            raise ShardError(f"{path} is a bag: build shards from it first (`dexndm dataset "
                             f"build {path} -o SHARDS`), then pass SHARDS")
        if path.is_dir():
            found.extend(sorted(path.glob("**/*.npz")))
        elif path.is_file():
            found.append(path)
        else:
            raise ShardError(f"no shard or directory at {path}")
    if not found:
        raise ShardError(f"no .npz shards found in {', '.join(map(str, paths))}")
    return found


def write_shard(path: str | Path, episodes: Sequence[Episode], source: str,
                control_dt: float = CONTROL_DT) -> Path:
    path = Path(path)
    if not episodes:
        raise ShardError("a shard needs at least one episode")
    q_lengths = [len(e.q) for e in episodes]
    meta = {"format": FORMAT, "version": VERSION, "source": source, "control_dt": control_dt,
            "joint_names": list(JOINT_NAMES), "episodes": [e.meta for e in episodes]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, q=np.concatenate([e.q for e in episodes]),
             a=np.concatenate([e.a for e in episodes]), t=np.concatenate([e.t for e in episodes]),
             q_start=np.concatenate([[0], np.cumsum(q_lengths)]).astype(np.int64),
             a_start=np.concatenate([[0], np.cumsum([n - 1 for n in q_lengths])]).astype(np.int64),
             meta=np.array(json.dumps(meta)))
    tmp.replace(path)
    return path


def read_shard(path: str | Path) -> Shard:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            q, a, t = data["q"], data["a"], data["t"]
            q_start, a_start = data["q_start"], data["a_start"]
    except (OSError, KeyError, ValueError) as error:
        raise ShardError(f"{path} is not a transition shard ({error}); build shards with "
                         "`dexndm dataset build` or the simulation rollout tools") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ShardError(f"{path}: format {meta.get('format')} v{meta.get('version')}, "
                         f"expected {FORMAT} v{VERSION}")
    if meta.get("joint_names") != list(JOINT_NAMES):
        raise ShardError(f"{path}: joint order {meta.get('joint_names')} differs from the model "
                         f"order {list(JOINT_NAMES)}; rebuild the shard")
    episodes = [Episode(q[q_start[e]:q_start[e + 1]], a[a_start[e]:a_start[e + 1]],
                        t[q_start[e]:q_start[e + 1]], meta["episodes"][e])
                for e in range(len(q_start) - 1)]
    return Shard(episodes, meta["source"], float(meta["control_dt"]), path)


def valid_window_ends(episode: Episode, window: int, control_dt: float,
                      history: int = 0, horizon: int = 1) -> np.ndarray:
    """Indices k (into the episode's targets) such that steps k-window-history+1..k and the
    next ``horizon`` states k+1..k+horizon lie in the episode with no time gap. ``history``
    extends the window back (policy observations need T more steps); ``horizon`` forward
    (multi-step rollouts need the states, and the targets before them, that follow)."""
    if horizon < 1:
        raise ValueError("horizon must be >= 1")
    span = window + history
    steps = len(episode.a)
    if steps < span + horizon - 1:
        return np.zeros(0, dtype=np.int64)
    gaps = np.diff(episode.t) > GAP_FACTOR * control_dt  # gap between q[i] and q[i+1]
    bad = np.concatenate([[0], np.cumsum(gaps)])  # bad[i] = gaps before q[i]
    ends = np.arange(span - 1, steps - horizon + 1)
    # the sample uses q[k-span+1 .. k+horizon]: no gap inside means the counts agree
    return ends[bad[ends + horizon] == bad[ends - span + 1]]
