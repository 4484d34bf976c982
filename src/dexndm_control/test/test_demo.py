"""`dexndm demo`'s side-by-side summary, its refusal of a missing residual bundle, and the base
and grasp both of its arms start from."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dexndm_control.demo import (
    LAUNCH_FILE,
    RESIDUAL_BASE,
    DemoRun,
    arm_lines,
    initial_grasp,
    summary_lines,
)
from dexndm_control.errors import DexndmError
from dexndm_control.launcher import resolve_launch

DEXNDM = str(Path(sys.executable).parent / "dexndm")


def test_summary_puts_both_runs_side_by_side():
    loop = {"rate_hz": 19.98, "compute_ms": {"p99": 4.1}, "period_deviation_ms": {"p99": 0.9},
            "gap_meter": {"ticks": 400, "mae_mrad": 2.5, "mae_over_reference": 1.93,
                          "worst_joint": "rf_mcp",
                          "level_share": {"OK": 0.9, "WARN": 0.075, "ERROR": 0.025}}}
    lines = summary_lines([
        DemoRun("base policy (direct transfer)", 0,
                {"radians": 5.391, "seconds": 21.6, "time_to_first_fall": None}, loop),
        DemoRun("base + DexNDM residual", 0,
                {"radians": 2.0, "seconds": 22.0, "time_to_first_fall": 7.25}, loop),
        DemoRun("broken", 1, None, None),
        DemoRun("no controller", 0, {"radians": 0.0, "seconds": 0.0, "time_to_first_fall": None},
                None)])
    assert len(lines) == 5 and "rotated" in lines[0]
    assert "5.39 rad" in lines[1] and "21.6 s" in lines[1] and "never" in lines[1]
    assert "19.98 Hz" in lines[1] and "4.1 ms" in lines[1] and "0.9 ms" in lines[1]
    assert "2.50 mrad, 1.9x its reference (worst rf_mcp); OK 90% / WARN 8% / ERROR 2% of 400" \
        in lines[1]
    assert "2.00 rad" in lines[2] and "7.2 s" in lines[2]
    assert "no report" in lines[3] and "the controller did not run" in lines[4]


def test_demo_refuses_a_missing_residual_bundle_before_starting_anything(tmp_path):
    result = subprocess.run([DEXNDM, "demo", "--residual", str(tmp_path / "nothing")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "no bundle at" in result.stderr and "--residual none" in result.stderr


def test_arm_lines_average_rotation_per_20_s_over_each_arms_runs():
    loop = {"rate_hz": 20.0}
    runs = [DemoRun("base", 0, {"radians": 5.0, "seconds": 25.0, "time_to_first_fall": None},
                    loop),  # 4.0 rad per 20 s
            DemoRun("residual", 0, {"radians": 3.0, "seconds": 20.0, "time_to_first_fall": 9.0},
                    loop),
            DemoRun("base", 0, {"radians": 6.0, "seconds": 20.0, "time_to_first_fall": None},
                    loop),  # 6.0
            DemoRun("residual", 1, None, None)]  # failed: not averaged
    assert arm_lines(runs) == [
        f"{'base':<28} 5.00 ± 1.00 rad per 20 s over 2 run(s); dropped the object in 0",
        f"{'residual':<28} 3.00 ± 0.00 rad per 20 s over 1 run(s); dropped the object in 1"]
    assert arm_lines([DemoRun("broken", 1, None, None)]) == [f"{'broken':<28} no run finished"]


def test_both_arms_run_the_residuals_base_from_its_initial_grasp(tmp_path):
    """The shipped residual corrects policies/reference_student, whose initial grasp is
    cylinders_004's grasp 0 palm up (set by scripts/set_initial_grasp.py, docs/base_policy.md);
    the demo's launch gives that base to the controller and to the virtual hand, which starts
    the object in the base's initial grasp (--start-from; dexndm_sim's test_virtual_hand_cli
    resolves it) with nothing overriding it."""
    grasp = initial_grasp(RESIDUAL_BASE)
    assert (grasp["object"], grasp["object_index"], grasp["grasp_index"], grasp["wrist"]) == \
        ("cylinders_004", 4, 0, "palm_up")
    specs = {spec.name: spec for spec in resolve_launch(LAUNCH_FILE,
                                                        {"base_bundle": str(RESIDUAL_BASE)})}
    hand = specs["virtual_hand"].argv
    assert f"--start-from={RESIDUAL_BASE}" in hand
    for flag in ("--wrist", "--object-category", "--object-index", "--grasp-index"):
        assert f"{flag}=" in hand, flag  # empty: the bundle's
    assert any(str(RESIDUAL_BASE) in arg for arg in specs["rotation_controller"].argv)
    (tmp_path / "bundle.yaml").write_text((RESIDUAL_BASE / "bundle.yaml").read_text()
                                          .split("initial_grasp:")[0])
    with pytest.raises(DexndmError, match="set_initial_grasp.py"):
        initial_grasp(tmp_path)
