"""The rotation controller's decisions (no rclpy): ramp, run the policy, or hold, and why.

Hold (send the last target again) when joint states are older than ``stale_periods`` control
periods, when rotation is disabled (no command, enabled = false, or the command's keepalive
stopped), or when anything the policy would see or produce is not finite.

With a dynamics bundle, the gap meter (core/gap_meter.py) scores every policy tick: it lives here,
in the controller, because the controller alone holds the reading the policy saw and the target
it sent at the same tick (a separate node would pair two topics by time and add their latency).
It restarts after every hold or ramp, whose targets the dynamics was not trained on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from dexndm_control.core.gap_meter import GapMeter, GapReading
from dexndm_control.core.torque_cap import MotorLaw, TorqueCapCheck
from dexndm_control.errors import DexndmError
from dexndm_control.hand import CONTROL_RATE_HZ
from dexndm_control.policy.runtime import PolicyRuntime, StepResult
from dexndm_control.policy.start_grasp import DEFAULT_WRIST
from dexndm_control.rotations import WRIST_ORIENTATIONS
from dexndm_control.settings import setting


@dataclass(frozen=True)
class ControllerConfig:
    base_bundle: str = setting("", deployment=True, help="base_policy bundle directory")
    residual_bundle: str = setting("", deployment=True,
                                   help="residual bundle directory (empty: base policy only)")
    use_residual: bool = setting(True, help="A/B switch, also at runtime: ros2 param set "
                                            "/rotation_controller use_residual false")
    rate_hz: float = setting(CONTROL_RATE_HZ, help="control rate the policy was trained at")
    stale_periods: float = setting(3.0, help="hold when joint_states are older than this many "
                                             "control periods")
    ramp_s: float = setting(2.0, help="ramp to the bundle's initial grasp pose before the "
                                      "policy runs")
    command_timeout_s: float = setting(1.0, help="rotation commands come at >= 10 Hz; hold "
                                                 "after this long without one")
    max_step_rad: float = setting(0.1, help="largest change of a target per tick")
    inference_threads: int = setting(1, help="torch threads; 2+ halves inference time but "
                                             "competes with a simulator on a 2-core machine")
    realtime_priority: int = setting(
        50, help="SCHED_FIFO priority of the control thread (1-99, as ros2_control's "
                 "controller manager uses), so ticks do not wait for a core; 0: normal "
                 "priority. Without the right to it the controller warns and runs at normal "
                 "priority")
    wrist: str = setting(
        "", help="the wrist orientation the hand is at until /dexndm/wrist_orientation arrives: "
                 f"{', '.join(WRIST_ORIENTATIONS)} (empty: the base bundle's initial grasp's, "
                 "else palm_up)")
    stats_file: str = setting("", deployment=True,
                              help="write the loop statistics as JSON here at exit")
    dynamics_bundle: str = setting("", deployment=True,
                                   help="dynamics bundle the live gap meter runs one step ahead "
                                        "(empty: no meter)")
    gap_window_s: float = setting(0.5, help="gap meter: rolling window of the per-joint "
                                            "motion error")
    gap_offset_s: float = setting(2.0, help="gap meter: time constant of the per-joint offset "
                                            "(the slow mean of the error)")
    gap_warn_factor: float = setting(5.0, help="gap meter without a calibration: WARN when a "
                                               "joint's statistic reaches this many times the "
                                               "bundle's reference error")
    gap_error_factor: float = setting(10.0, help="gap meter without a calibration: ERROR at "
                                                 "this many times")
    motor_settings_node: str = setting(
        "/leap_driver", help="gap meter: the driver node whose motor settings (gains, goal "
                             "current) its torque-cap check reads (empty: no torque-cap check)")
    cap_warn_share: float = setting(0.7, help="gap meter: WARN when a motor delivers less than "
                                              "this share of its current cap where its position "
                                              "law asks for more")
    cap_error_share: float = setting(0.4, help="gap meter: ERROR below this share")

    def __post_init__(self) -> None:
        if self.rate_hz <= 0 or self.stale_periods <= 0 or self.ramp_s < 0:
            raise DexndmError("rate_hz and stale_periods must be > 0, ramp_s >= 0")
        if self.max_step_rad <= 0 or self.inference_threads < 1:
            raise DexndmError("max_step_rad must be > 0 and inference_threads >= 1")
        if not 0 <= self.realtime_priority <= 99:
            raise DexndmError("realtime_priority must be 0 (normal scheduling) to 99")
        if min(self.gap_window_s, self.gap_offset_s) <= 0 \
                or not 0 < self.gap_warn_factor < self.gap_error_factor:
            raise DexndmError("gap_window_s and gap_offset_s must be > 0 and 0 < gap_warn_factor "
                              "< gap_error_factor")
        if not 0 < self.cap_error_share < self.cap_warn_share < 1:
            raise DexndmError("need 0 < cap_error_share < cap_warn_share < 1")
        if self.wrist and self.wrist not in WRIST_ORIENTATIONS:
            raise DexndmError(f"wrist '{self.wrist}' is not a wrist orientation: use one of "
                              f"{', '.join(WRIST_ORIENTATIONS)}, or leave it empty for the base "
                              "bundle's")

    def start_wrist(self, initial_grasp: dict | None) -> tuple[str, str]:
        """The wrist the policy sees until /dexndm/wrist_orientation arrives, and where that came
        from: ``wrist`` if set, else the base bundle's initial grasp's (the pose the hand is
        ramped to was made at that wrist), else palm up (a hand on a table)."""
        if self.wrist:
            return self.wrist, "the wrist parameter"
        if initial_grasp and initial_grasp.get("wrist"):
            if initial_grasp["wrist"] not in WRIST_ORIENTATIONS:
                raise DexndmError(f"the base bundle's initial grasp names wrist "
                                  f"'{initial_grasp['wrist']}', not one of "
                                  f"{', '.join(WRIST_ORIENTATIONS)}: set the wrist parameter")
            return initial_grasp["wrist"], "the base bundle's initial grasp"
        return DEFAULT_WRIST, "the default"

    def gap_meter(self) -> GapMeter | None:
        """The meter these settings describe (None without a dynamics bundle)."""
        if not self.dynamics_bundle:
            return None
        return GapMeter(self.dynamics_bundle, self.gap_ticks(self.gap_window_s),
                        self.gap_warn_factor, self.gap_error_factor,
                        self.gap_ticks(self.gap_offset_s))

    def gap_ticks(self, seconds: float) -> int:
        return max(1, int(round(seconds * self.rate_hz)))

    def torque_cap_check(self, motor_settings) -> TorqueCapCheck:
        """The meter's torque-cap check for a driver with these settings (its ``BusConfig``)."""
        return TorqueCapCheck(MotorLaw.from_bus_config(motor_settings),
                              stale_ticks=self.gap_ticks(1.0), warn_ratio=self.cap_warn_share,
                              error_ratio=self.cap_error_share)


@dataclass
class Decision:
    target: np.ndarray | None
    phase: str  # wait, ramp, run
    holding: bool = False
    reason: str = ""
    step: StepResult | None = None
    gap: GapReading | None = None  # the gap meter's score of this tick's reading
    gap_s: float = 0.0  # the meter's time on this tick (wall)
    gap_cpu_s: float = 0.0  # its CPU time (no preemption)


class ControllerCore:
    def __init__(self, runtime: PolicyRuntime, config: ControllerConfig = ControllerConfig(),
                 meter: GapMeter | None = None) -> None:
        self.runtime, self.config, self.meter = runtime, config, meter
        self.period = 1.0 / config.rate_hz
        self.phase = "wait"
        self.last_target: np.ndarray | None = None
        self._ramp_from: np.ndarray | None = None
        self._ramp_step = 0
        self._ramp_steps = max(1, int(round(config.ramp_s / self.period)))

    def tick(self, now: float, state_time: float | None, q: np.ndarray | None,
             command_time: float | None, axis: np.ndarray | None, enabled: bool,
             wrist: np.ndarray) -> Decision:
        if state_time is None or q is None:
            return Decision(None, "wait", True, "waiting for joint_states")
        if now - state_time > self.config.stale_periods * self.period:
            return self._hold(f"joint_states stale ({(now - state_time) * 1000:.0f} ms old)")
        if not np.all(np.isfinite(q)) or not np.all(np.isfinite(wrist)):
            return self._hold("non-finite joint state or wrist orientation")
        if self.phase == "wait":
            self.phase, self._ramp_from, self._ramp_step = "ramp", np.asarray(q, float), 0
        if self.phase == "ramp":
            self._restart_meter()
            self._ramp_step += 1
            fraction = min(1.0, self._ramp_step / self._ramp_steps)
            target = self._ramp_from + (self.runtime.initial_pose - self._ramp_from) * fraction
            if fraction >= 1.0:
                self.phase = "run"
                self.runtime.reset(np.asarray(q, float), self.runtime.initial_pose)
            self.last_target = target
            return Decision(target, "ramp", False, "ramping to the initial grasp pose")
        if command_time is None or not enabled:
            return self._hold("rotation disabled")
        if now - command_time > self.config.command_timeout_s:
            return self._hold("rotation command keepalive lost")
        if axis is None or not np.all(np.isfinite(axis)) or np.linalg.norm(axis) < 1e-6:
            return self._hold("invalid rotation axis")
        step = self.runtime.step(np.asarray(q, float), wrist, np.asarray(axis) /
                                 np.linalg.norm(axis))
        if not np.all(np.isfinite(step.target)):
            return self._hold("policy produced a non-finite target")
        self.last_target = step.target
        return Decision(step.target, "run", False, "", step)

    def score_gap(self, decision: Decision, q: np.ndarray, velocity: np.ndarray | None = None,
                  current: np.ndarray | None = None) -> GapReading | None:
        """The gap meter's turn for a policy tick, once its target is on its way: score the
        reading ``q`` the policy saw (with its velocity and present current, for the torque-cap
        check) and predict the next from the target sent. Puts the reading in decision.gap and
        the meter's time in decision.gap_s / gap_cpu_s (None: no meter or not a policy tick)."""
        if self.meter is None or decision.step is None:
            return None
        started, started_cpu = time.perf_counter(), time.thread_time()
        decision.gap = self.meter.update(q, decision.target, velocity, current)
        decision.gap_s = time.perf_counter() - started
        decision.gap_cpu_s = time.thread_time() - started_cpu
        return decision.gap

    def _hold(self, reason: str) -> Decision:
        self._restart_meter()
        return Decision(self.last_target, self.phase, True, reason)

    def _restart_meter(self) -> None:
        if self.meter is not None:
            self.meter.reset()
