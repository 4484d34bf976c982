"""Transition shards -> windowed training samples, split by episode, gathered vectorised."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dexndm_control.errors import DexndmError
from dexndm_control.transitions import Episode, read_shard, shard_files, valid_window_ends


def fingerprint(paths: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()


@dataclass
class LoadedEpisodes:
    episodes: list[Episode]
    keys: list[str]  # "<shard file name>#<index>", stable across runs
    control_dt: float
    files: list[Path]


def load_episodes(paths: Sequence[str | Path]) -> LoadedEpisodes:
    files = shard_files(paths)
    episodes, keys, dts = [], [], set()
    for file in files:
        shard = read_shard(file)
        dts.add(round(shard.control_dt, 6))
        for index, episode in enumerate(shard.episodes):
            episodes.append(episode)
            keys.append(f"{file.name}#{index}")
    if len(dts) != 1:
        raise DexndmError(f"shards mix control periods {sorted(dts)}: train on one rate")
    return LoadedEpisodes(episodes, keys, dts.pop(), files)


def split_by_episode(keys: Sequence[str], eval_fraction: float, seed: int
                     ) -> tuple[list[int], list[int]]:
    """Deterministic train/eval split of episode indices (9:1 by default)."""
    order = np.random.default_rng(seed).permutation(len(keys))
    n_eval = int(round(eval_fraction * len(keys))) if len(keys) > 1 else 0
    if eval_fraction > 0 and len(keys) > 1:
        n_eval = max(1, n_eval)
    return sorted(order[n_eval:].tolist()), sorted(order[:n_eval].tolist())


def at_rest_before(episode: Episode, steps: int, control_dt: float,
                   target: np.ndarray | None = None) -> Episode:
    """``episode`` after ``steps`` control steps of the hand holding still at its first reading
    with ``target`` (default: its first target), what a hand does before its first policy tick,
    so that a window that ends at the episode's start holds no motion. Its own times are kept."""
    held = episode.a[:1] if target is None else np.asarray(target, dtype=np.float32)[None]
    q = np.concatenate([np.repeat(episode.q[:1], steps, axis=0), episode.q])
    a = np.concatenate([np.repeat(held, steps, axis=0), episode.a])
    before = episode.t[0] - control_dt * np.arange(steps, 0, -1)
    return Episode(q, a, np.concatenate([before, episode.t]), dict(episode.meta))


class Windows:
    """Every valid window of a set of episodes, as flat arrays plus gather indices.

    ``history`` extra steps before each window make room for policy observations (residual);
    ``horizon`` states after it (``future``) for multi-step rollouts.
    """

    def __init__(self, episodes: Sequence[Episode], window: int, control_dt: float,
                 history: int = 0, meta_arrays: bool = False, horizon: int = 1) -> None:
        self.window, self.history, self.horizon = window, history, horizon
        q_rows, a_rows, ends_q, ends_a, episode_of = [], [], [], [], []
        wrist, axis = [], []
        q_offset = a_offset = 0
        for number, episode in enumerate(episodes):
            ends = valid_window_ends(episode, window, control_dt, history, horizon)
            q_rows.append(episode.q)
            a_rows.append(episode.a)
            ends_a.append(a_offset + ends)
            ends_q.append(q_offset + ends)
            episode_of.append(np.full(len(ends), number))
            wrist.append(episode.meta.get("wrist_quat", [1.0, 0.0, 0.0, 0.0]))
            axis.append(episode.meta.get("axis", [0.0, 0.0, 1.0]))
            q_offset += len(episode.q)
            a_offset += len(episode.a)
        self.q = torch.from_numpy(np.concatenate(q_rows)) if q_rows else torch.zeros(0, 16)
        self.a = torch.from_numpy(np.concatenate(a_rows)) if a_rows else torch.zeros(0, 16)
        self.end_q = torch.from_numpy(np.concatenate(ends_q)) if ends_q else torch.zeros(0)
        self.end_a = torch.from_numpy(np.concatenate(ends_a)) if ends_a else torch.zeros(0)
        self.episode = torch.from_numpy(np.concatenate(episode_of)) if episode_of \
            else torch.zeros(0)
        self.wrist = torch.tensor(wrist, dtype=torch.float32).reshape(-1, 4)
        self.axis = torch.tensor(axis, dtype=torch.float32).reshape(-1, 3)
        self._offsets = torch.arange(-window + 1, 1)

    def __len__(self) -> int:
        return len(self.end_q)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(q history [B, W, 16], a history [B, W, 16], q next [B, 16]) of windows ``index``."""
        qi, ai = self.end_q[index], self.end_a[index]
        return (self.q[qi[:, None] + self._offsets], self.a[ai[:, None] + self._offsets],
                self.q[qi + 1])

    def span(self, index: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """q [B, length, 16] and a [B, length, 16] ending at each window's last step."""
        steps = torch.arange(-length + 1, 1)
        qi, ai = self.end_q[index], self.end_a[index]
        return self.q[qi[:, None] + steps], self.a[ai[:, None] + steps]

    def future(self, index: torch.Tensor, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``steps`` states after each window, q_{k+1..k+steps} [B, steps, 16], and the
        targets between them, a_{k+1..k+steps-1} [B, steps - 1, 16] (k: the window's end)."""
        if not 1 <= steps <= self.horizon:
            raise ValueError(f"these windows keep {self.horizon} future steps, not {steps}")
        qi, ai = self.end_q[index], self.end_a[index]
        return (self.q[qi[:, None] + torch.arange(1, steps + 1)],
                self.a[ai[:, None] + torch.arange(1, steps)])

    def first_of_each_episode(self) -> Windows:
        """Only each episode's first window (the one nearest its start), in place."""
        first = torch.ones(len(self), dtype=torch.bool)
        first[1:] = self.episode[1:] != self.episode[:-1]
        self.end_q, self.end_a, self.episode = \
            self.end_q[first], self.end_a[first], self.episode[first]
        return self

    def statistics(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Per-joint mean/std of q, a and dq = q_{t+1} - q_t over the windows' rows."""
        qi = self.end_q
        dq = self.q[qi + 1] - self.q[qi]
        rows_a = self.a[self.end_a]
        return {"q": (self.q.mean(0), self.q.std(0)), "a": (rows_a.mean(0), rows_a.std(0)),
                "dq": (dq.mean(0), dq.std(0))}
