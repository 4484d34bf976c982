"""`dexndm dataset build`: bags of collection runs -> transition shards.

Per completed episode (an END event): the replayed commands are the last `steps` joint_commands
before END; q[k] is the newest joint state received at or before command k was sent, q[T] the
newest one a control period after the last command. Joints are mapped by name; a command that
names only some joints holds the others at their previous target (what the driver does), a joint
state that misses a joint is unusable. Episodes are cut where commands or usable states are more
than 1.5 control periods apart; pieces shorter than ``min_steps`` are dropped.

Every bag is accounted for: what was kept, and each episode dropped with its reason (aborted,
no END, commands missing, cut short). A bag whose files end before their footer, or hold fewer
messages than metadata.yaml lists, is refused unless ``allow_partial``; a build that keeps no
transition at all is an error, never an empty dataset.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import yaml
from rclpy.serialization import deserialize_message

from dexndm_collect.bag.mcap_read import BagRead, read_topics
from dexndm_collect.dataset.decode import decode_positions
from dexndm_control.errors import DexndmError, JointNameError
from dexndm_control.hand import CONTROL_DT
from dexndm_control.transitions import GAP_FACTOR, Episode, write_shard
from dexndm_msgs.msg import EpisodeEvent

STATES, COMMANDS, EVENTS = "/leap_hand/joint_states", "/leap_hand/joint_commands", "/dexndm/episode"


class DatasetBuildError(DexndmError):
    """A dataset cannot be built from these bags as they are."""


@dataclass
class BagReport:
    bag: str
    episodes_kept: int = 0
    transitions: int = 0
    partial: str = ""  # why the bag is incomplete (read anyway with allow_partial)
    dropped: list[str] = field(default_factory=list)  # "episode N: reason", or the whole bag


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
    per_bag: list[BagReport] = field(default_factory=list)
    # the health report (manifest.yaml) of each collection run the bags came from
    collection_health: dict[str, dict] = field(default_factory=dict)

    def summary(self) -> str:
        """One line per bag: what was kept and what was dropped, with reasons."""
        lines = []
        for bag in self.per_bag:
            line = f"{bag.bag}: {bag.episodes_kept} episode(s), {bag.transitions} transitions"
            if bag.partial:
                line += f"; PARTIAL ({bag.partial})"
            if bag.dropped:
                line += f"; dropped {len(bag.dropped)}: " + "; ".join(bag.dropped[:6])
                if len(bag.dropped) > 6:
                    line += f"; ... ({len(bag.dropped) - 6} more in build_report.json)"
            lines.append(line)
        return "\n".join(lines)


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


def _partial_reason(bag: Path, read: BagRead) -> str:
    reasons = [f"{name} ends before its footer (cut short)" for name in read.truncated]
    for topic, data in read.topics.items():
        if len(data.payloads) < data.expected:
            reasons.append(f"{topic}: {len(data.payloads)} of {data.expected} messages")
    return "; ".join(reasons)


def _decode(bag: Path, topic: str, payloads: list) -> np.ndarray:
    try:
        return decode_positions(payloads)
    except JointNameError as error:
        raise DatasetBuildError(f"{bag} {topic}: {error}; this bag is not from this hand's "
                                "driver (or was recorded with other joint names)") from None


def _hold_unnamed(commands: np.ndarray) -> np.ndarray:
    """Joints a command leaves out keep the previous command's target (the driver holds them)."""
    out = commands.copy()
    for row in range(1, len(out)):
        missing = np.isnan(out[row])
        if missing.any():
            out[row, missing] = out[row - 1, missing]
    return out


def build_dataset(bags: list[str], out: str | Path, control_dt: float = CONTROL_DT,
                  min_steps: int = 20, episodes_per_shard: int = 500,
                  allow_partial: bool = False) -> BuildReport:
    out = Path(out)
    report = BuildReport()
    pending: list[Episode] = []
    found = find_bags(bags)

    def flush() -> None:
        if pending:
            out.mkdir(parents=True, exist_ok=True)
            path = write_shard(out / f"shard_{len(report.shards):04d}.npz", pending, "real",
                               control_dt)
            report.shards.append(str(path))
            pending.clear()

    reads = []
    for bag in found:  # every bag is checked before anything is written
        read = read_topics(bag, [STATES, COMMANDS, EVENTS])
        partial = _partial_reason(bag, read)
        if partial and not allow_partial:
            raise DatasetBuildError(
                f"{bag} is incomplete ({partial}); rebuild it from what it holds with "
                f"`dexndm reindex {bag}`, or pass --allow-partial to build from what is readable")
        reads.append((bag, read, partial))

    for bag, read, partial in reads:
        manifest = bag.parent / "manifest.yaml"
        if str(bag.parent) not in report.collection_health and manifest.is_file():
            health = (yaml.safe_load(manifest.read_text()) or {}).get("health")
            if health:
                report.collection_health[str(bag.parent)] = health
        report.bags += 1
        bag_report = BagReport(str(bag), partial=partial)
        report.per_bag.append(bag_report)
        _build_bag(bag, read, bag_report, report, pending, control_dt, min_steps)
        while len(pending) >= episodes_per_shard:
            flush()
    flush()
    if report.transitions == 0:
        why = "; ".join(f"{Path(b.bag).name}: {', '.join(b.dropped[:3]) or 'nothing kept'}"
                        for b in report.per_bag)
        raise DatasetBuildError(f"no usable transition in {len(found)} bag(s), nothing was "
                                f"written ({why}); build from collection runs that hold "
                                "completed episodes (`dexndm info BAG` shows what a bag holds)")
    (out / "build_report.json").write_text(json.dumps(asdict(report), indent=2))
    return report


def _build_bag(bag: Path, read: BagRead, bag_report: BagReport, report: BuildReport,
               pending: list[Episode], control_dt: float, min_steps: int) -> None:
    states_data, commands_data = read.topics[STATES], read.topics[COMMANDS]
    missing = [topic for topic, data in ((STATES, states_data), (COMMANDS, commands_data),
                                         (EVENTS, read.topics[EVENTS])) if not len(data.times)]
    if missing:
        bag_report.dropped.append(f"whole bag: no message on {', '.join(missing)}")
        return
    states = _decode(bag, STATES, states_data.payloads)
    commands = _decode(bag, COMMANDS, commands_data.payloads)
    state_order = np.argsort(states_data.times, kind="stable")
    command_order = np.argsort(commands_data.times, kind="stable")
    state_t, states = states_data.times[state_order], states[state_order]
    complete = ~np.isnan(states).any(axis=1)  # a state missing a joint cannot be a q
    if not complete.all():
        bag_report.dropped.append(f"{int((~complete).sum())} joint state(s) missing joints")
    state_t, states = state_t[complete], states[complete]
    command_t = commands_data.times[command_order]
    commands = _hold_unnamed(commands[command_order])
    event_data = read.topics[EVENTS]
    events = [(t, deserialize_message(bytes(raw), EpisodeEvent))
              for t, raw in zip(event_data.times, event_data.payloads, strict=True)]
    starts = {e.episode_index: t for t, e in events if e.event == EpisodeEvent.START}
    ended = {e.episode_index for _, e in events if e.event != EpisodeEvent.START}
    for index in sorted(set(starts) - ended):
        name = f"{bag.name}#{index}"
        report.incomplete.append(name)
        bag_report.dropped.append(f"episode {index}: started, never ended (no END or ABORT: "
                                  "the collector was killed or the bag cut)")
    for t_end, event in events:
        name = f"{bag.name}#{event.episode_index}"
        if event.event == EpisodeEvent.ABORT:
            report.aborted.append(f"{name}: {event.reason}")
            bag_report.dropped.append(f"episode {event.episode_index}: aborted "
                                      f"({event.reason})")
            continue
        if event.event != EpisodeEvent.END:
            continue
        if event.episode_index not in starts:
            report.incomplete.append(name)
            bag_report.dropped.append(f"episode {event.episode_index}: END without START")
            continue
        first_command = np.searchsorted(command_t, starts[event.episode_index], side="right")
        last_command = np.searchsorted(command_t, t_end, side="right")
        indices = np.arange(max(first_command, last_command - event.steps), last_command)
        if len(indices) < event.steps:
            report.incomplete.append(name)
            bag_report.dropped.append(f"episode {event.episode_index}: {len(indices)} of "
                                      f"{event.steps} commands in the bag")
            continue
        unknown = np.isnan(commands[indices]).any(axis=1)
        if unknown.any():  # joints never commanded since the bag began
            bag_report.dropped.append(f"episode {event.episode_index}: {int(unknown.sum())} "
                                      "command(s) with joints never named")
            indices = indices[~unknown]
        pieces = _pieces(command_t[indices], state_t, control_dt)
        if len(pieces) > 1:
            report.cut.append(f"{name}: {len(pieces)} pieces")
        kept_any = False
        for first, last in pieces:
            sel = indices[first:last]
            if len(sel) < min_steps:
                report.dropped_short += 1
                bag_report.dropped.append(f"episode {event.episode_index}: a piece of "
                                          f"{len(sel)} step(s) after a gap (< {min_steps})")
                continue
            t_cmd = command_t[sel]
            t_q = np.append(t_cmd, t_cmd[-1] + int(control_dt * 1e9))
            q_index = np.searchsorted(state_t, t_q, side="right") - 1
            meta = {"bag": bag.name, "episode_index": int(event.episode_index),
                    "trajectory_id": event.trajectory_id, "wrist_label": event.wrist_label,
                    "noise_enabled": bool(event.noise_enabled),
                    "noise_sigma": float(event.noise_sigma), "seed": int(event.seed),
                    "first_step": int(first)}
            pending.append(Episode(states[q_index], commands[sel], t_q / 1e9, meta))
            report.pieces += 1
            report.transitions += len(sel)
            bag_report.transitions += len(sel)
            kept_any = True
        report.episodes_kept += kept_any
        bag_report.episodes_kept += kept_any
    if bag_report.transitions == 0 and not bag_report.dropped:
        bag_report.dropped.append("whole bag: no completed episode")


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
