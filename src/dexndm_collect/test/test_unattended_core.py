"""Unattended collection without ROS: waiting out errors, thermal pauses, giving up, and a health
report whose minutes add up; timelines driven tick by tick with hand-set clocks."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from dexndm_collect.core.chaos_box import ABORT, END, START, CollectorConfig, CollectorCore
from dexndm_collect.core.health import (
    HandHealth,
    MotorReport,
    RunHealth,
    abort_cause,
    format_health,
    hand_health,
)
from dexndm_control.errors import DexndmError
from dexndm_control.hand import CANONICAL_POSE
from dexndm_control.trajectory_library import TrajectoryLibrary

DT = 0.05
OVERLOAD = "leap_hand: motor 5 (mf_mcp): hardware error: overload (torque off; automatic reboot)"


def _core(tmp_path, **overrides) -> CollectorCore:
    """Episodes of a 0.1 s ramp and 10 replay steps (a held pose: timing is what matters)."""
    poses = np.broadcast_to(CANONICAL_POSE, (2, 10, 16)).copy()
    library = TrajectoryLibrary(poses, poses[:, 0], np.tile([1.0, 0, 0, 0], (2, 1)),
                                np.tile([0, 0, 1.0], (2, 1)), {"wrist_labels": ["palm_down"] * 2})
    config = CollectorConfig(output=str(tmp_path), library="lib.npz", ramp_s=0.1, **overrides)
    return CollectorCore(config, tmp_path, library)


def _hand(temperature: float = 35.0, limit: float = 70.0, errors: tuple[str, ...] = (),
          reboots: int = 0, gave_up: bool = False) -> HandHealth:
    motor = MotorReport("motor 5 (mf_mcp)", "ERROR" if errors else "OK",
                        errors[0] if errors else "ok", temperature, limit, reboots, gave_up)
    cool = MotorReport("motor 1 (if_mcp)", "OK", "ok", 31.0, limit)
    return HandHealth(errors, (motor, cool))


class Timeline:
    """Tick a core every 50 ms with a given hand; record what it did."""

    def __init__(self, core: CollectorCore) -> None:
        self.core, self.t = core, 0.0
        self.events, self.torque, self.commands = [], [], 0

    def run(self, seconds: float, health: HandHealth) -> None:
        for _ in range(round(seconds / DT)):
            tick = self.core.tick(self.t, self.t, np.zeros(16), health)
            for event in tick.events:
                self.events.append((round(self.t, 2), event.kind, event.reason))
                if event.kind == END:
                    self.core.record_completed(event.plan, event.steps, "bag_000")
                elif event.kind == ABORT:
                    self.core.record_aborted(event.plan, event.steps, event.reason, "bag_000")
            if tick.torque is not None:
                self.torque.append((round(self.t, 2), tick.torque))
                self.core.torque_switched(tick.torque, ok=True)
            self.commands += tick.command is not None
            self.t += DT

    def run_until_end(self, health: HandHealth) -> None:
        """Tick until an episode ends (the collector is then between episodes)."""
        ends = self.kinds().count(END)
        for _ in range(100):
            self.run(DT, health)
            if self.kinds().count(END) > ends:
                return
        raise AssertionError("no episode ended")

    def kinds(self) -> list[int]:
        return [kind for _, kind, _ in self.events]


def test_an_error_aborts_the_episode_then_collection_waits_and_resumes(tmp_path):
    core = _core(tmp_path, thermal_pause_torque_off=False)
    line = Timeline(core)
    line.run(0.3, _hand())  # ramp 2 ticks + part of the 10-step replay
    assert line.kinds() == [START]
    line.run(2.0, _hand(errors=(OVERLOAD,)))  # the motor overloads: abort, then wait
    assert line.kinds() == [START, ABORT] and "overload" in line.events[-1][2]
    assert core.activity == "error_wait" and core.pause["cause"] == "error"
    commands_while_waiting = line.commands
    line.run(1.0, _hand(errors=(OVERLOAD,)))
    assert line.commands == commands_while_waiting  # nothing is sent while it stands
    line.run_until_end(_hand())  # cleared (the driver rebooted the motor): the next one runs
    assert line.kinds()[2:] == [START, END]
    health = core.health.as_dict()
    assert health["episodes"] == {"completed": 1, "aborted": 1,
                                  "aborted_by_cause": {"overload": 1}}
    assert health["pauses"]["count"] == 1
    assert health["pauses"]["list"][0]["cause"] == "error"
    assert health["pauses"]["list"][0]["seconds"] == pytest.approx(3.0, abs=0.06)
    # every tick's time is in one activity: the parts add up to the clock
    assert sum(core.health.seconds.values()) == pytest.approx(line.t - DT)
    assert core.health.seconds["error_wait"] == pytest.approx(3.0, abs=0.06)
    # 4 replay ticks of the aborted episode, 10 of the next (the last one's period not yet over)
    assert core.health.seconds["replay"] == pytest.approx(4 * DT + 9 * DT)
    manifest = yaml.safe_load((tmp_path / "manifest.yaml").read_text())
    assert [e["index"] for e in manifest["aborted"]] == [0]
    assert manifest["aborted"][0]["cause"] == "overload"
    assert [e["index"] for e in manifest["completed"]] == [1]  # the aborted one is not redone


def test_a_hot_motor_pauses_between_episodes_with_torque_off_and_hysteresis(tmp_path):
    core = _core(tmp_path)  # pause within 5 K of the limit, resume 15 K below it
    line = Timeline(core)
    line.run(0.05, _hand())
    assert line.torque == [(0.0, True)]  # on at start: a stopped pause may have left it off
    line.run_until_end(_hand())
    assert line.kinds() == [START, END]
    line.run(1.0, _hand(temperature=66.0))  # 4 K from the limit: no new episode
    assert line.kinds() == [START, END]
    assert core.activity == "thermal_pause" and line.torque[-1][1] is False
    assert "motor 5 (mf_mcp) 4 K below its limit" in core.pause["why"]
    line.run(2.0, _hand(temperature=60.0))  # 10 K below: still paused (hysteresis)
    assert line.kinds() == [START, END]
    line.run_until_end(_hand(temperature=54.0))  # 16 K below: torque on, then an episode
    assert line.torque[-1][1] is True
    assert line.kinds() == [START, END, START, END]
    pause = core.health.pauses[0]
    assert pause["cause"] == "thermal" and pause["seconds"] == pytest.approx(3.0, abs=0.06)
    assert core.health.peak_temperature_c["motor 5 (mf_mcp)"] == 66.0


def test_no_episode_starts_until_the_driver_confirms_torque(tmp_path):
    core = _core(tmp_path)
    first = core.tick(0.0, 0.0, np.zeros(16), _hand())
    assert first.torque is True and first.events == []
    for k in range(1, 5):  # no answer yet
        assert core.tick(k * DT, k * DT, np.zeros(16), _hand()).events == []
    core.torque_switched(True, ok=False)  # refused: asked again
    assert core.tick(0.3, 0.3, np.zeros(16), _hand()).torque is True
    core.torque_switched(True, ok=True)
    assert core.tick(0.35, 0.35, np.zeros(16), _hand()).events[0].kind == START


def test_a_motor_the_driver_gave_up_on_stops_the_run_naming_it(tmp_path):
    core = _core(tmp_path, thermal_pause_torque_off=False)
    line = Timeline(core)
    line.run(0.2, _hand())
    gave_up = "leap_hand: motor 5 (mf_mcp): overload keeps coming back (gave up after 3 ...)"
    line.run(0.5, _hand(errors=(gave_up,), reboots=3, gave_up=True))
    assert core.finished and core.failed
    assert "motor 5 (mf_mcp)" in core.finish_reason and "gave up" in core.finish_reason
    manifest = yaml.safe_load((tmp_path / "manifest.yaml").read_text())
    assert "motor 5 (mf_mcp)" in manifest["health"]["stopped"]
    assert manifest["health"]["reboots"]["per_motor"] == {"motor 5 (mf_mcp)": 3}


def test_an_error_that_stands_too_long_stops_the_run(tmp_path):
    core = _core(tmp_path, thermal_pause_torque_off=False, max_error_wait_s=2.0)
    line = Timeline(core)
    line.run(1.9, _hand(errors=("leap_hand: motor 3 (if_dip): hardware error: motor_encoder",)))
    assert not core.finished
    line.run(0.2, _hand(errors=("leap_hand: motor 3 (if_dip): hardware error: motor_encoder",)))
    assert core.finished and core.failed and "motor_encoder" in core.finish_reason


def test_a_restarted_collector_continues_the_report(tmp_path):
    core = _core(tmp_path, thermal_pause_torque_off=False)
    line = Timeline(core)
    line.run(1.0, _hand(reboots=1))  # episode 0 completes, episode 1 is under way ...
    line.run(0.5, _hand(errors=(OVERLOAD,), reboots=1))  # ... and aborted
    core.finish("stopped from outside (SIGINT/SIGTERM)")
    again = _core(tmp_path, thermal_pause_torque_off=False)
    assert again.next_index == 2  # after the aborted one: never repeated
    line2 = Timeline(again)
    line2.run(1.0, _hand(reboots=0))  # a new driver counts from zero ...
    line2.run(0.1, _hand(reboots=2))  # ... and its two reboots are new ones
    health = again.health.as_dict()
    assert health["sessions"] == 2 and health["stopped"] == ""
    assert health["episodes"]["completed"] == 2 and health["episodes"]["aborted"] == 1
    assert health["reboots"]["per_motor"] == {"motor 5 (mf_mcp)": 3}
    assert health["pauses"]["count"] == 1
    # the first session's time (1.5 s minus its first tick) plus the second's
    assert sum(again.health.seconds.values()) == pytest.approx(1.45 + 1.05, abs=1e-6)


def test_diagnostics_become_hand_health():
    statuses = [("OK", "leap_hand: bus", "connected", {"auto_reboots": "1"}),
                ("ERROR", "leap_hand: motor 5 (mf_mcp)", "hardware error: overload (...)",
                 {"temperature_c": "48", "temperature_limit_c": "70", "auto_reboots": "1",
                  "recovery": "auto"}),
                ("OK", "leap_hand: motor 9 (rf_mcp)", "ok",
                 {"temperature_c": "nan", "temperature_limit_c": "70", "auto_reboots": "0",
                  "recovery": "gave_up"})]
    health = hand_health(statuses)
    assert health.errors == ("leap_hand: motor 5 (mf_mcp): hardware error: overload (...)",)
    assert [m.name for m in health.motors] == ["motor 5 (mf_mcp)", "motor 9 (rf_mcp)"]
    assert health.motors[0].temperature_c == 48.0 and health.motors[0].auto_reboots == 1
    assert health.headroom_c() == {"motor 5 (mf_mcp)": 22.0}  # no reading: not judged
    assert [m.name for m in health.gave_up()] == ["motor 9 (rf_mcp)"]


def test_abort_causes_and_the_printed_report():
    assert abort_cause("joint_states stale") == "stale_states"
    assert abort_cause("diagnostics error: ... overheating ...") == "overheating"
    assert abort_cause("diagnostics error: motor 3: electrical_shock") == "hardware_error"
    assert abort_cause("shutdown") == "shutdown"
    health = RunHealth(sessions=1, completed=9, aborted={"overload": 2},
                       pauses=[{"cause": "thermal", "started": 0.0, "seconds": 90.0,
                                "why": "motor 5 (mf_mcp) 4 K below its limit"}],
                       reboots={"motor 5 (mf_mcp)": 2},
                       peak_temperature_c={"motor 5 (mf_mcp)": 66.4})
    health.spend("replay", 240.0)
    health.spend("thermal_pause", 90.0)
    health.spend("ramp", 30.0)
    text = format_health(RunHealth.from_dict(health.as_dict()).as_dict())
    assert "6.0 min over 1 session(s); duty cycle 66.7 %" in text
    assert "episodes: 9 completed, 2 aborted (overload 2)" in text
    assert "thermal_pause 1.5 min (25 %)" in text
    assert "pauses: 1, 1.5 min; thermal: 1 (1.5 min)" in text
    assert "automatic reboots: 2; motor 5 (mf_mcp) 2" in text
    assert "peak temperature: motor 5 (mf_mcp) 66 C" in text


def test_thermal_margins_are_checked():
    with pytest.raises(DexndmError, match="thermal_pause_margin_c < thermal_resume_margin_c"):
        CollectorConfig(library="lib.npz", thermal_pause_margin_c=10.0,
                        thermal_resume_margin_c=5.0)


def test_collect_status_prints_the_report_of_a_run(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "run").mkdir()
    core = _core(tmp_path / "run", thermal_pause_torque_off=False)
    line = Timeline(core)
    line.run_until_end(_hand())
    line.run(1.0, _hand(errors=(OVERLOAD,), reboots=1))
    core.save_health()
    dexndm = str(Path(sys.executable).parent / "dexndm")
    shown = subprocess.run([dexndm, "collect", "status", str(tmp_path / "run")],
                           capture_output=True, text=True, check=True).stdout
    assert "1 completed and 0 aborted episode(s) listed" in shown
    assert "(running, or killed)" in shown  # nothing said it stopped
    assert "episodes: 1 completed, 0 aborted" in shown
    assert "automatic reboots: 1; motor 5 (mf_mcp) 1" in shown
    as_json = json.loads(subprocess.run([dexndm, "collect", "status", str(tmp_path / "run"),
                                         "--json"], capture_output=True, text=True,
                                        check=True).stdout)
    assert as_json["episodes"]["completed"] == 1 and as_json["sessions"] == 1
    missing = subprocess.run([dexndm, "collect", "status", str(tmp_path / "nothing")],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "not a collection run directory" in missing.stderr


def test_dataset_build_and_stats_carry_the_runs_health(tmp_path):
    from dexndm_collect.dataset.build import build_dataset
    from dexndm_collect.dataset.stats import dataset_stats, format_stats
    from dexndm_collect.dataset.synthetic import SyntheticEpisode, write_collection_bag

    run = tmp_path / "run"
    run.mkdir()
    core = _core(run, thermal_pause_torque_off=False)
    Timeline(core).run(1.0, _hand(temperature=48.0, reboots=2))
    core.save_health()
    rng = np.random.default_rng(0)
    q = CANONICAL_POSE + np.cumsum(rng.normal(0, 0.01, (41, 16)), axis=0)
    write_collection_bag(run / "bag_000", [SyntheticEpisode(q, q[1:] + 0.01)])
    report = build_dataset([str(run)], tmp_path / "shards")
    assert report.collection_health[str(run)]["reboots"]["total"] == 2
    stats = dataset_stats(tmp_path / "shards")
    assert stats["collection_health"][str(run)]["peak_temperature_c"]["motor 5 (mf_mcp)"] == 48
    text = format_stats(stats)
    assert f"collection run {run}:" in text and "automatic reboots: 2" in text
