"""An unattended run's health, without ROS: what the hand reports, and where every minute went.

``HandHealth`` is what the collector needs from /diagnostics (the errors standing now, motor
temperatures against their limits, the driver's automatic reboots and the motors it gave up on).
``RunHealth`` is the report kept in the run directory's manifest.yaml: episodes completed and
aborted (by cause), pauses (count, time, why), reboots and peak temperature per motor, and the
collector's wall time split by what it was doing, so the parts add up to the whole.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from dexndm_control.dynamixel.control_table import REGISTERS

DEFAULT_TEMPERATURE_LIMIT_C = float(REGISTERS["temperature_limit"].default)

# what the collector was doing, in the order the report lists it
ACTIVITIES = ("replay", "ramp", "thermal_pause", "error_wait", "waiting_for_hand", "between")
_MOTOR_NAME = re.compile(r"motor (\d+) \((\w+)\)")


@dataclass(frozen=True)
class MotorReport:
    name: str  # "motor 5 (if_mcp)"
    level: str  # OK, WARN, ERROR, STALE
    message: str
    temperature_c: float = math.nan
    temperature_limit_c: float = math.nan
    auto_reboots: int = 0
    gave_up: bool = False


@dataclass(frozen=True)
class HandHealth:
    """One /diagnostics message, reduced to what collection decisions need."""

    errors: tuple[str, ...] = ()
    motors: tuple[MotorReport, ...] = ()

    @property
    def error(self) -> str | None:
        return "; ".join(self.errors) or None

    def gave_up(self) -> list[MotorReport]:
        return [m for m in self.motors if m.gave_up]

    def headroom_c(self) -> dict[str, float]:
        """Kelvin left below each motor's Temperature Limit (motors with a reading)."""
        return {m.name: (m.temperature_limit_c if math.isfinite(m.temperature_limit_c)
                         else DEFAULT_TEMPERATURE_LIMIT_C) - m.temperature_c
                for m in self.motors if math.isfinite(m.temperature_c)}


def _number(values: dict[str, str], key: str) -> float:
    try:
        return float(values[key])
    except (KeyError, ValueError):
        return math.nan


def hand_health(statuses: list[tuple[str, str, str, dict[str, str]]]) -> HandHealth:
    """(level name, status name, message, values) of each status in a /diagnostics message."""
    errors, motors = [], []
    for level, name, message, values in statuses:
        if level == "ERROR":
            errors.append(f"{name}: {message}")
        match = _MOTOR_NAME.search(name)
        if match:
            reboots = _number(values, "auto_reboots")
            motors.append(MotorReport(
                f"motor {match.group(1)} ({match.group(2)})", level, message,
                _number(values, "temperature_c"), _number(values, "temperature_limit_c"),
                int(reboots) if math.isfinite(reboots) else 0,
                values.get("recovery") == "gave_up"))
    return HandHealth(tuple(errors), tuple(motors))


def abort_cause(reason: str) -> str:
    """A short cause for an abort reason (the report counts aborts by it)."""
    lowered = reason.lower()
    for cause in ("overload", "overheating", "stale", "shutdown"):
        if cause in lowered:
            return "stale_states" if cause == "stale" else cause
    return "hardware_error" if "diagnostics" in lowered else "other"


@dataclass
class RunHealth:
    """The report; ``as_dict``/``from_dict`` round-trip it through manifest.yaml."""

    sessions: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(ACTIVITIES, 0.0))
    completed: int = 0
    aborted: dict[str, int] = field(default_factory=dict)
    pauses: list[dict] = field(default_factory=list)  # cause, started (unix s), seconds, why
    reboots: dict[str, int] = field(default_factory=dict)  # per motor, all sessions
    peak_temperature_c: dict[str, float] = field(default_factory=dict)
    stopped: str = ""
    _last_reboots: dict[str, int] = field(default_factory=dict, repr=False)

    # -- accounting ---------------------------------------------------------------------------

    def spend(self, activity: str, seconds: float) -> None:
        self.seconds[activity] = self.seconds.get(activity, 0.0) + max(seconds, 0.0)

    def abort(self, reason: str) -> None:
        cause = abort_cause(reason)
        self.aborted[cause] = self.aborted.get(cause, 0) + 1

    def observe(self, health: HandHealth) -> None:
        """Peak temperatures and reboot counts from one diagnostics message. The driver counts
        reboots since it started: an increase is new reboots, a drop is a restarted driver."""
        for motor in health.motors:
            if math.isfinite(motor.temperature_c):
                self.peak_temperature_c[motor.name] = max(
                    self.peak_temperature_c.get(motor.name, -math.inf), motor.temperature_c)
            last = self._last_reboots.get(motor.name, 0)
            new = motor.auto_reboots - last if motor.auto_reboots >= last else motor.auto_reboots
            if new:
                self.reboots[motor.name] = self.reboots.get(motor.name, 0) + new
            self._last_reboots[motor.name] = motor.auto_reboots

    # -- summary ------------------------------------------------------------------------------

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    @property
    def duty_cycle(self) -> float:
        """Share of the collector's time spent replaying episodes."""
        total = self.total_seconds
        return self.seconds.get("replay", 0.0) / total if total > 0 else 0.0

    def pause_summary(self) -> dict[str, dict[str, float]]:
        summary: dict[str, dict[str, float]] = {}
        for pause in self.pauses:
            entry = summary.setdefault(pause["cause"], {"count": 0, "seconds": 0.0})
            entry["count"] += 1
            entry["seconds"] = round(entry["seconds"] + pause["seconds"], 3)
        return summary

    def as_dict(self) -> dict:
        return {"sessions": self.sessions,
                "minutes": round(self.total_seconds / 60.0, 2),
                "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
                "duty_cycle": round(self.duty_cycle, 4),
                "episodes": {"completed": self.completed,
                             "aborted": sum(self.aborted.values()),
                             "aborted_by_cause": dict(self.aborted)},
                "pauses": {"count": len(self.pauses),
                           "seconds": round(sum(p["seconds"] for p in self.pauses), 3),
                           "by_cause": self.pause_summary(), "list": self.pauses},
                "reboots": {"total": sum(self.reboots.values()), "per_motor": dict(self.reboots)},
                "peak_temperature_c": {k: round(v, 1)
                                       for k, v in self.peak_temperature_c.items()},
                "stopped": self.stopped}

    @classmethod
    def from_dict(cls, data: dict | None) -> RunHealth:
        if not data:
            return cls()
        health = cls(sessions=int(data.get("sessions", 0)),
                     completed=int(data.get("episodes", {}).get("completed", 0)),
                     aborted=dict(data.get("episodes", {}).get("aborted_by_cause", {})),
                     pauses=list(data.get("pauses", {}).get("list", [])),
                     reboots=dict(data.get("reboots", {}).get("per_motor", {})),
                     peak_temperature_c=dict(data.get("peak_temperature_c", {})),
                     stopped=str(data.get("stopped", "")))
        for activity, seconds in data.get("seconds", {}).items():
            health.seconds[activity] = float(seconds)
        return health


def format_health(data: dict) -> str:
    """The report as lines a person reads (``dexndm collect status``)."""
    minutes = data.get("minutes", 0.0)
    episodes = data.get("episodes", {})
    lines = [f"{minutes:.1f} min over {data.get('sessions', 0)} session(s); duty cycle "
             f"{100 * data.get('duty_cycle', 0.0):.1f} % (share of the time replaying)",
             f"episodes: {episodes.get('completed', 0)} completed, "
             f"{episodes.get('aborted', 0)} aborted"
             + (" (" + ", ".join(f"{cause} {count}" for cause, count in
                                 episodes.get("aborted_by_cause", {}).items()) + ")"
                if episodes.get("aborted") else "")]
    seconds = data.get("seconds", {})
    total = sum(seconds.values()) or 1.0
    lines.append("time: " + ", ".join(f"{activity} {value / 60:.1f} min "
                                       f"({100 * value / total:.0f} %)"
                                       for activity, value in seconds.items() if value > 0))
    pauses = data.get("pauses", {})
    lines.append(f"pauses: {pauses.get('count', 0)}, {pauses.get('seconds', 0.0) / 60:.1f} min"
                 + "".join(f"; {cause}: {entry['count']} ({entry['seconds'] / 60:.1f} min)"
                           for cause, entry in pauses.get("by_cause", {}).items()))
    for pause in pauses.get("list", [])[-5:]:
        lines.append(f"  {pause['cause']} pause {pause['seconds']:.0f} s: {pause['why']}")
    reboots = data.get("reboots", {})
    lines.append(f"automatic reboots: {reboots.get('total', 0)}" + "".join(
        f"; {motor} {count}" for motor, count in reboots.get("per_motor", {}).items()))
    peaks = data.get("peak_temperature_c", {})
    if peaks:
        hottest = sorted(peaks.items(), key=lambda item: -item[1])
        lines.append("peak temperature: " + ", ".join(f"{motor} {value:.0f} C"
                                                      for motor, value in hottest[:4])
                     + (f" (others <= {hottest[4][1]:.0f} C)" if len(hottest) > 4 else ""))
    if data.get("stopped"):
        lines.append(f"stopped: {data['stopped']}")
    return "\n".join(lines)
