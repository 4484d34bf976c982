"""`dexndm dataset build`: bags of collection runs -> transition shards.

Per completed episode (an END event; aborted episodes are dropped and reported): the replayed
commands are the last `steps` joint_commands before END; q[k] is the newest joint state received
at or before command k was sent, q[T] the newest one a control period after the last command.
Episodes are cut where commands or states are more than 1.5 control periods apart; pieces shorter
than ``min_steps`` are dropped. Everything is reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rclpy.serialization import deserialize_message

from dexndm_collect.bag.fast_read import read_topics
from dexndm_collect.dataset.decode import decode_positions
from dexndm_control.errors import DexndmError
from dexndm_control.transitions import GAP_FACTOR, Episode, write_shard
from dexndm_msgs.msg import EpisodeEvent

STATES, COMMANDS, EVENTS = "/leap_hand/joint_states", "/leap_hand/joint_commands", "/dexndm/episode"


@dataclass
class BuildReport:
    bags: int = 0
    episodes_kept: int = 0
    pieces: int = 0
    transitions: int = 0
    aborted: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    cut: list[str] = field(default_factory=list)
    dropped_short: int = 0
    shards: list[str] = field(default_factory=list)


def find_bags(paths: list[str]) -> list[Path]:
    bags: list[Path] = []
    for path in map(Path, paths):
        if (path / "metadata.yaml").is_file():
            bags.append(path)
        elif path.is_dir():
            found = sorted(p.parent for p in path.glob("**/metadata.yaml")
                           if not p.parent.name.endswith(".orig"))
            if not found:
                raise DexndmError(f"{path} holds no closed bag (metadata.yaml); bags of a killed "
                                  "recorder need `dexndm reindex` first")
            bags.extend(found)
        else:
            raise DexndmError(f"no bag at {path}")
    return bags


def _read(bag: Path) -> dict[str, tuple[np.ndarray, list]]:
    return read_topics(bag, [STATES, COMMANDS, EVENTS])


def build_dataset(bags: list[str], out: str | Path, control_dt: float = 0.05,
                  min_steps: int = 20, episodes_per_shard: int = 500) -> BuildReport:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = BuildReport()
    pending: list[Episode] = []

    def flush() -> None:
        if pending:
            path = write_shard(out / f"shard_{len(report.shards):04d}.npz", pending, "real",
                               control_dt)
            report.shards.append(str(path))
            pending.clear()

    for bag in find_bags(bags):
        report.bags += 1
        data = _read(bag)
        state_t, state_raw = data[STATES]
        command_t, command_raw = data[COMMANDS]
        if not len(state_t) or not len(command_t):
            continue
        states = decode_positions(state_raw)
        commands = decode_positions(command_raw)
        state_order, command_order = np.argsort(state_t, kind="stable"), \
            np.argsort(command_t, kind="stable")
        state_t, states = state_t[state_order], states[state_order]
        command_t, commands = command_t[command_order], commands[command_order]
        events = [(t, deserialize_message(bytes(raw), EpisodeEvent))
                  for t, raw in zip(*data[EVENTS])]
        starts = {e.episode_index: t for t, e in events if e.event == EpisodeEvent.START}
        for t_end, event in events:
            name = f"{bag.name}#{event.episode_index}"
            if event.event == EpisodeEvent.ABORT:
                report.aborted.append(f"{name}: {event.reason}")
                continue
            if event.event != EpisodeEvent.END:
                continue
            if event.episode_index not in starts:
                report.incomplete.append(name)
                continue
            first_command = np.searchsorted(command_t, starts[event.episode_index], side="right")
            last_command = np.searchsorted(command_t, t_end, side="right")
            indices = np.arange(max(first_command, last_command - event.steps), last_command)
            if len(indices) < event.steps:
                report.incomplete.append(name)
                continue
            pieces = _pieces(command_t[indices], state_t, control_dt)
            if len(pieces) > 1:
                report.cut.append(f"{name}: {len(pieces)} pieces")
            kept_any = False
            for first, last in pieces:
                sel = indices[first:last]
                if len(sel) < min_steps:
                    report.dropped_short += 1
                    continue
                t_cmd = command_t[sel]
                t_q = np.append(t_cmd, t_cmd[-1] + int(control_dt * 1e9))
                q_index = np.searchsorted(state_t, t_q, side="right") - 1
                if q_index[0] < 0:
                    report.dropped_short += 1
                    continue
                meta = {"bag": bag.name, "episode_index": int(event.episode_index),
                        "trajectory_id": event.trajectory_id, "wrist_label": event.wrist_label,
                        "noise_enabled": bool(event.noise_enabled),
                        "noise_sigma": float(event.noise_sigma), "seed": int(event.seed),
                        "first_step": int(first)}
                pending.append(Episode(states[q_index], commands[sel], t_q / 1e9, meta))
                report.pieces += 1
                report.transitions += len(sel)
                kept_any = True
                if len(pending) >= episodes_per_shard:
                    flush()
            report.episodes_kept += kept_any
    flush()
    (out / "build_report.json").write_text(json.dumps(report.__dict__, indent=2))
    return report


def _pieces(command_times: np.ndarray, state_times: np.ndarray, control_dt: float
            ) -> list[tuple[int, int]]:
    """[start, stop) runs of commands with no gap > 1.5 periods between commands, and a joint
    state no older than 1.5 periods at each command (commands without one are left out)."""
    limit = int(GAP_FACTOR * control_dt * 1e9)
    latest = np.searchsorted(state_times, command_times, side="right") - 1
    stale = (latest < 0) | (command_times - state_times[np.maximum(latest, 0)] > limit)
    new = np.zeros(len(command_times), dtype=bool)
    new[1:] = np.diff(command_times) > limit
    new |= stale
    new[1:] |= stale[:-1]
    ids = np.cumsum(new)
    valid = np.flatnonzero(~stale)
    if not len(valid):
        return []
    groups = np.split(valid, np.flatnonzero(np.diff(ids[valid]) != 0) + 1)
    return [(int(g[0]), int(g[-1]) + 1) for g in groups]
