"""Write collection-run bags with known content (tests and the dataset benchmark).

Same topics and timing structure as the collector: START event, ramp commands, the replayed
commands, END (or ABORT); joint states at the control rate, each received just before the command
of its tick. Payloads are built from one serialised template with the joint arrays patched in, so
millions of messages are written quickly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sensor_msgs.msg import JointState

from dexndm_collect.bag.cdr import CdrSerializer
from dexndm_collect.bag.typestore import TypeResolver
from dexndm_collect.bag.writer import SplitBagWriter
from dexndm_collect.dataset.decode import position_layout
from dexndm_control.hand import JOINT_NAMES
from dexndm_msgs.msg import EpisodeEvent

TOPICS = ("/leap_hand/joint_states", "/leap_hand/joint_commands", "/dexndm/episode")
TYPES = ("sensor_msgs/msg/JointState", "sensor_msgs/msg/JointState",
         "dexndm_msgs/msg/EpisodeEvent")


@dataclass
class SyntheticEpisode:
    q: np.ndarray  # [T + 1, 16]
    a: np.ndarray  # [T, 16]
    aborted_at: int | None = None  # replay step at which an ABORT is written instead of END
    gap_after: int | None = None  # replay step after which 1 s passes with no messages
    ramp: int = 2
    meta: dict = field(default_factory=dict)


class _Template:
    def __init__(self, cdr: CdrSerializer) -> None:
        message = JointState(name=list(JOINT_NAMES), position=[0.0] * 16,
                             velocity=[0.0] * 16, effort=[0.0] * 16)
        self.payload = bytearray(cdr.serialize(message))
        self.offset = position_layout(bytes(self.payload))[2]

    def make(self, positions: np.ndarray) -> bytes:
        payload = self.payload[:]
        payload[self.offset:self.offset + 128] = np.asarray(positions, "<f8").tobytes()
        return bytes(payload)


def write_collection_bag(path: str | Path, episodes: list[SyntheticEpisode],
                         period_ns: int = 50_000_000, start_ns: int = 10**18) -> Path:
    resolver = TypeResolver()
    writer = SplitBagWriter(path)
    connections = [writer.add_connection(t, m, *resolver.definition(m))
                   for t, m in zip(TOPICS, TYPES, strict=True)]
    states, commands, events = connections
    cdr = CdrSerializer(resolver)
    template = _Template(cdr)
    t = start_ns
    def event(index: int, time_ns: int, kind: int, steps: int, reason: str = "") -> None:
        message = EpisodeEvent(event=kind, episode_index=index, steps=steps, reason=reason,
                               trajectory_id=f"synthetic:{index}", wrist_label="palm_down")
        writer.write(events, time_ns, cdr.serialize(message))

    for index, episode in enumerate(episodes):
        event(index, t, EpisodeEvent.START, 0)
        for _ in range(episode.ramp):
            t += period_ns
            writer.write(states, t - 1000, template.make(episode.q[0]))
            writer.write(commands, t, template.make(episode.q[0]))
        steps = len(episode.a)
        for k in range(steps):
            t += period_ns
            writer.write(states, t - 1000, template.make(episode.q[k]))
            writer.write(commands, t, template.make(episode.a[k]))
            if episode.aborted_at == k:
                event(index, t, EpisodeEvent.ABORT, k + 1, "joint_states stale")
                break
            if episode.gap_after == k:
                t += 1_000_000_000
        else:
            writer.write(states, t + period_ns - 1000, template.make(episode.q[steps]))
            event(index, t, EpisodeEvent.END, steps)
        writer.flush()  # one chunk per episode, as the collector flushes at every END
        t += 5 * period_ns
    writer.close()
    return Path(path)
