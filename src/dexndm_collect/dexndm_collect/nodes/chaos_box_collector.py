"""Node ``chaos_box_collector``: replay trajectories open loop with noise, record everything.

Writes one run directory: manifest.yaml (completed episodes, config) and bag_NNN/ rosbag2 (MCAP)
directories holding /leap_hand/joint_states, /leap_hand/joint_commands, /dexndm/episode and
/diagnostics. Its own commands and events go into the bag directly (no round trip through DDS);
the bag is flushed before an episode is recorded as completed, so a crash loses at most the
episode in flight. A restart recovers an unclosed bag and continues after the last completed
episode.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import JointState
from std_srvs.srv import SetBool

from dexndm_collect.bag.cdr import CdrSerializer
from dexndm_collect.bag.recover import reindex_bag
from dexndm_collect.bag.typestore import TypeResolver
from dexndm_collect.bag.writer import SplitBagWriter
from dexndm_collect.core.chaos_box import START, CollectorConfig, CollectorCore, Event
from dexndm_collect.core.health import HandHealth, hand_health
from dexndm_control.errors import JointNameError
from dexndm_control.hand import JOINT_NAMES, positions_by_name
from dexndm_control.ros_node import declare_settings, guarded, run_node
from dexndm_msgs.msg import EpisodeEvent

HEALTH_SAVE_PERIOD_S = 5.0
_LEVEL_NAMES = {DiagnosticStatus.OK: "OK", DiagnosticStatus.WARN: "WARN",
                DiagnosticStatus.ERROR: "ERROR", DiagnosticStatus.STALE: "STALE"}

TOPICS = {"/leap_hand/joint_states": "sensor_msgs/msg/JointState",
          "/leap_hand/joint_commands": "sensor_msgs/msg/JointState",
          "/dexndm/episode": "dexndm_msgs/msg/EpisodeEvent",
          "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray"}


def open_run_bag(run_dir: Path, max_bag_size: int, resolver: TypeResolver
                 ) -> SplitBagWriter:
    """A new bag_NNN in ``run_dir``; an earlier bag left unclosed by a crash is recovered first."""
    run_dir.mkdir(parents=True, exist_ok=True)
    existing = sorted(p for p in run_dir.glob("bag_*") if p.is_dir()
                      and not p.name.endswith(".orig"))
    for bag in existing:
        if not (bag / "metadata.yaml").exists() and list(bag.glob("*.mcap")):
            reindex_bag(bag)
    writer = SplitBagWriter(run_dir / f"bag_{len(existing):03d}", max_bytes=max_bag_size)
    for topic, msgtype in TOPICS.items():
        writer.add_connection(topic, msgtype, *resolver.definition(msgtype))
    return writer


# the dataclasses that declare this node's ROS parameters (config/*.yaml are checked against them)
SETTINGS = (CollectorConfig,)


class ChaosBoxCollector(Node):
    def __init__(self) -> None:
        super().__init__("chaos_box_collector")
        self.config = declare_settings(self, CollectorConfig)
        self.run_dir = Path(self.config.output)
        resolver = TypeResolver()
        self._cdr = CdrSerializer(resolver)  # exact bytes: what the node writes skips DDS
        self.writer = open_run_bag(self.run_dir, self.config.max_bag_size, resolver)
        self.core = CollectorCore(self.config, self.run_dir)
        self.finished = False
        self.exit_code = 0
        self._connections = {c.topic: c for c in self.writer.connections}
        self._state_time: float | None = None
        self._q: np.ndarray | None = None
        self._health: HandHealth | None = None
        self._last_flush = self._last_health_save = time.monotonic()
        self.periods: list[float] = []
        self._last_tick: float | None = None
        qos = QoSProfile(depth=100)
        self._commands = self.create_publisher(JointState, "/leap_hand/joint_commands", 10)
        self._events = self.create_publisher(EpisodeEvent, "/dexndm/episode", 10)
        self._torque = self.create_client(SetBool, self.config.driver_torque_service)
        self.create_subscription(JointState, "/leap_hand/joint_states",
                                 guarded(self, self._on_joint_state), qos, raw=True)
        self.create_subscription(DiagnosticArray, "/diagnostics",
                                 guarded(self, self._on_diagnostics), qos, raw=True)
        self.create_timer(1.0 / self.config.control_rate_hz, guarded(self, self._tick))
        self.get_logger().info(f"collecting into {self.writer.path}; next episode "
                               f"{self.core.next_index}")

    def _write(self, topic: str, data: bytes) -> None:
        self.writer.write(self._connections[topic], time.time_ns(), data)

    def _on_joint_state(self, data: bytes) -> None:
        self._write("/leap_hand/joint_states", data)
        message = deserialize_message(data, JointState)
        try:
            q = positions_by_name(message.name, message.position)
        except JointNameError as error:  # recorded as received; not used to drive the hand
            self.get_logger().error(f"ignored a joint state: {error}", throttle_duration_sec=5.0)
            return
        if np.all(np.isfinite(q)):  # a state that misses joints cannot start or ramp an episode
            self._q, self._state_time = q, time.monotonic()

    def _on_diagnostics(self, data: bytes) -> None:
        self._write("/diagnostics", data)
        message = deserialize_message(data, DiagnosticArray)
        self._health = hand_health([(_LEVEL_NAMES.get(s.level, "ERROR"), s.name, s.message,
                                     {v.key: v.value for v in s.values})
                                    for s in message.status])

    def _tick(self) -> None:
        now = time.monotonic()
        if self._last_tick is not None:
            self.periods.append(now - self._last_tick)
            if self.periods[-1] > 1.5 / self.config.control_rate_hz:
                self.get_logger().warning(f"control tick late: {self.periods[-1] * 1000:.1f} ms "
                                       "between ticks", throttle_duration_sec=5.0)
        self._last_tick = now
        activity = self.core.activity
        result = self.core.tick(now, self._state_time, self._q, self._health)
        if self.core.activity != activity and self.core.activity in ("thermal_pause",
                                                                      "error_wait"):
            pause = self.core.pause
            self.get_logger().warning(f"pausing ({self.core.activity}): "
                                      f"{pause['why'] if pause else self.core.finish_reason}")
        if result.torque is not None:
            self._switch_torque(result.torque)
        for event in result.events:
            if event.kind == START:
                self._emit(event)
        if result.command is not None:
            command = JointState(name=list(JOINT_NAMES), position=result.command.tolist())
            command.header.stamp = self.get_clock().now().to_msg()
            self._commands.publish(command)
            self._write("/leap_hand/joint_commands", self._cdr.serialize(command))
        for event in result.events:
            if event.kind != START:
                self._finish_episode(event)
        if now - self._last_flush >= 1.0:
            self.writer.flush()
            self._last_flush = now
        if now - self._last_health_save >= HEALTH_SAVE_PERIOD_S and \
                self.core.phase == CollectorCore.IDLE:
            # `dexndm collect status` reads it while the run goes on; never mid-episode: a long
            # run's manifest takes a good part of a second to write, a late tick would show in
            # the replay (episode ends and aborts write it anyway)
            self.core.save_health()
            self._last_health_save = now
        if self.core.finished:
            if self.core.failed:
                self.get_logger().error(f"collection stopped: {self.core.finish_reason}")
                self.exit_code = 1
            else:
                self.get_logger().info(f"collection finished: {self.core.finish_reason}")
            self.finished = True

    def _switch_torque(self, enabled: bool) -> None:
        if not self._torque.service_is_ready():
            self.get_logger().warning(
                f"{self.config.driver_torque_service} is not available yet: no episode starts "
                f"until the driver switches torque {'on' if enabled else 'off'}",
                throttle_duration_sec=10.0)
            self.core.torque_switched(enabled, ok=False)
            return
        future = self._torque.call_async(SetBool.Request(data=enabled))
        future.add_done_callback(guarded(self, lambda done: self._torque_switched(done, enabled)))

    def _torque_switched(self, future, enabled: bool) -> None:
        response = future.result()
        ok = response is not None and response.success
        if not ok:
            self.get_logger().error(f"torque {'on' if enabled else 'off'} failed: "
                                    f"{response.message if response else 'no response'}; "
                                    "asking again", throttle_duration_sec=10.0)
        elif not enabled:
            self.get_logger().info("torque off for the thermal pause")
        self.core.torque_switched(enabled, ok)

    def _finish_episode(self, event: Event) -> None:
        self._emit(event)
        if event.kind == EpisodeEvent.END:
            self.writer.flush()  # on disk before the manifest says "completed"
            self.core.record_completed(event.plan, event.steps, self.writer.path.name)
            return
        self.core.record_aborted(event.plan, event.steps, event.reason, self.writer.path.name)
        if self.context.ok():
            self.get_logger().warning(f"episode {event.plan.index} aborted: {event.reason}")
        else:  # shutting down: rosout is gone
            print(f"collector: episode {event.plan.index} aborted: {event.reason}", flush=True)

    def _emit(self, event: Event) -> None:
        plan = event.plan
        message = EpisodeEvent(event=event.kind, episode_index=plan.index,
                               trajectory_id=plan.trajectory_id, wrist_label=plan.wrist_label,
                               noise_enabled=plan.noise_enabled, noise_sigma=plan.noise_sigma,
                               seed=plan.seed, steps=event.steps, reason=event.reason)
        message.header.stamp = self.get_clock().now().to_msg()
        if self.context.ok():  # on SIGINT/SIGTERM the context is gone: the bag still gets it
            self._events.publish(message)
        self._write("/dexndm/episode", self._cdr.serialize(message))

    def close(self) -> None:
        aborted = self.core.abort("shutdown")
        if aborted is not None:  # the episode in flight is marked, so no reader mistakes it
            self._finish_episode(aborted)
        self.writer.close()
        if not self.core.finished:
            self.core.finish("stopped from outside (SIGINT/SIGTERM)")
        else:
            self.core.save_health()
        if len(self.periods) > 1:
            periods_ms = np.array(self.periods) * 1000.0
            print("collector timing: " + json.dumps({
                "ticks": len(periods_ms), "period_ms_mean": round(float(periods_ms.mean()), 3),
                "period_ms_p99": round(float(np.percentile(periods_ms, 99)), 3),
                "period_ms_max": round(float(periods_ms.max()), 3)}), flush=True)
        print(f"collector: {self.core.completed_this_run} episode(s) completed this run, "
              f"{len(self.core.manifest.completed)} in {self.run_dir}; bag {self.writer.path}",
              flush=True)


def main() -> int:
    return run_node(ChaosBoxCollector)
