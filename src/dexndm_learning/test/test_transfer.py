"""Direct-transfer measurement: kept share by hand, and `dexndm eval transfer` end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from dexndm_control.errors import DexndmError
from dexndm_learning.outcomes import per_axis, per_object, per_start, per_wrist
from dexndm_learning.ppo.transfer import (
    TransferConfig,
    format_transfer,
    kept_share,
    measure_transfer,
)

REFERENCE = Path(__file__).resolve().parents[3] / "policies" / "gap_reference" / "model_1949.pt"


def test_kept_share_equals_hand_computed_ratio_and_error():
    real = np.array([1.0, 3.0])  # mean 2, sample std sqrt(2), se 1
    nominal = np.array([4.0, 4.0, 6.0, 6.0])  # mean 5, sample std sqrt(4/3), se sqrt(1/3)
    ratio, error = kept_share(real, nominal)
    assert ratio == pytest.approx(0.4)
    assert error == pytest.approx(0.4 * math.sqrt((1 / 2) ** 2 + (math.sqrt(1 / 3) / 5) ** 2))
    with pytest.raises(DexndmError, match="does not rotate"):
        kept_share(real, np.array([0.0, 0.0]))
    with pytest.raises(DexndmError, match="episodes"):
        TransferConfig("model.pt", episodes=1)


def test_per_object_summary_splits_episodes_by_the_object_they_held():
    outcomes = {"radians": np.array([1.0, 3.0, 10.0, 0.0, 2.0]),
                "time_to_fall": np.array([1.0, 0.5, 1.0, 0.25, 1.0]),
                "rot_reward": np.array([20.0, 60.0, 200.0, 0.0, 40.0]),
                "rot_penalty": np.array([0.1, 0.3, 0.2, 0.2, 0.5]),
                "fell": np.array([False, True, False, True, False]),
                "object": np.array(["b", "b", "a", "a", "a"], dtype=object),
                "grasp": np.array([0, 0, 10, 2, 10]),
                "wrist": np.array(["palm_up", "palm_down", "palm_up", "palm_down", "palm_up"],
                                  dtype=object),
                "axis": np.array(["+z", "-z", "-z", "+z", "-z"], dtype=object)}
    rows = per_object(outcomes)
    assert list(rows) == ["a", "b"]
    assert rows["a"]["radians"] == pytest.approx([4.0, np.std([10.0, 0.0, 2.0])])
    assert rows["a"]["time_to_fall"][0] == pytest.approx(0.75)
    assert rows["a"]["rot_reward"][0] == pytest.approx(80.0)
    assert rows["a"]["rot_penalty"][0] == pytest.approx(0.3)
    assert rows["a"]["drops"] == pytest.approx(1 / 3) and rows["a"]["episodes"] == 3
    assert rows["b"]["radians"] == pytest.approx([2.0, 1.0])
    assert rows["b"]["drops"] == 0.5 and rows["b"]["episodes"] == 2
    table = format_transfer({"runs": {"nominal": {"radians": [2.0, 1.0], "time_to_fall": [1, 0],
                                                  "drops": 0.4, "per_object": rows}}})
    lines = table.splitlines()
    assert len(lines) == 4 and lines[2].strip().startswith("a (3)")
    assert "4.00" in lines[2] and "2.00" in lines[3]
    wrists = per_wrist(outcomes)
    assert list(wrists) == ["palm_down", "palm_up"]
    assert wrists["palm_down"]["radians"] == pytest.approx([1.5, 1.5])  # episodes 3.0 and 0.0
    assert wrists["palm_down"]["drops"] == 1.0 and wrists["palm_up"]["episodes"] == 3
    assert wrists["palm_up"]["radians"][0] == pytest.approx(13.0 / 3)
    axes = per_axis(outcomes)
    assert list(axes) == ["+z", "-z"]
    assert axes["+z"]["radians"] == pytest.approx([0.5, 0.5])  # episodes 1.0 and 0.0
    assert axes["+z"]["time_to_fall"][0] == pytest.approx(0.625) and axes["+z"]["drops"] == 0.5
    assert axes["-z"]["radians"][0] == pytest.approx(5.0)  # 3.0, 10.0 and 2.0
    assert axes["-z"]["time_to_fall"][0] == pytest.approx(2.5 / 3)
    assert axes["-z"]["drops"] == pytest.approx(1 / 3) and axes["-z"]["episodes"] == 3
    starts = per_start(outcomes)
    assert list(starts) == ["a grasp 2", "a grasp 10", "b grasp 0"]  # grasps in number order
    assert starts["a grasp 10"]["radians"] == pytest.approx([6.0, 4.0])
    assert starts["a grasp 2"]["drops"] == 1.0 and starts["b grasp 0"]["episodes"] == 2
    run = {"radians": [2.0, 1.0], "time_to_fall": [1, 0], "drops": 0.4, "per_start": starts}
    assert len(format_transfer({"runs": {"nominal": run}}).splitlines()) == 2
    lines = format_transfer({"runs": {"nominal": run}}, per_grasp=True).splitlines()
    assert lines[3].strip().startswith("a grasp 10 (2)") and "6.00" in lines[3]


def test_a_policy_that_does_not_rotate_gets_no_kept_share_but_its_rows():
    row = {"time_to_fall": [0.5, 0.1], "drops": 0.5}
    table = format_transfer({"runs": {
        "nominal": {**row, "radians": [-0.01, 0.2]},
        "real@550mA": {**row, "radians": [0.3, 0.2], "kept": None}}})
    assert "n/a (no rotation)" in table.splitlines()[2] and "0.30" in table.splitlines()[2]


def test_shipped_reference_keeps_a_paper_like_share_under_the_default_real_profile(
        tmp_path):
    """The calibration itself: the nominal-trained reference specialist keeps 30-70 % of its
    rotation under the default `real` profile (measured with 64 episodes: 51 +- 7 %)."""
    from dexndm_sim.profiles import DEFAULT_GOAL_CURRENT_MA

    out = tmp_path / "transfer.json"
    result = measure_transfer(TransferConfig(str(REFERENCE), (DEFAULT_GOAL_CURRENT_MA,),
                                             episodes=24), out, progress=lambda line: None)
    label = f"real@{DEFAULT_GOAL_CURRENT_MA:.0f}mA"
    nominal, real = result["runs"]["nominal"], result["runs"][label]
    assert nominal["radians"][0] > 5.0  # the reference rotates well in its training sim
    kept, error = real["kept"]
    assert 0.3 <= kept <= 0.7
    assert kept == pytest.approx(real["radians"][0] / nominal["radians"][0])
    assert 0.0 < error < 0.2
    assert json.loads(out.read_text())["runs"][label]["kept"] == [kept, error]
    assert label in format_transfer(result)
    # one object: its own row is the whole run's
    assert list(real["per_object"]) == ["cylinders_004"]
    assert real["per_object"]["cylinders_004"]["radians"] == real["radians"]
    assert real["per_object"]["cylinders_004"]["episodes"] == 24
    starts = real["per_start"]  # the reference's 8 grasps
    assert all(name.startswith("cylinders_004 grasp ") for name in starts)
    assert sum(entry["episodes"] for entry in starts.values()) == 24 and len(starts) <= 8
    # its episodes about +z and -z: the two rows split the run's 24
    axes = real["per_axis"]
    assert set(axes) <= {"+z", "-z"} and sum(row["episodes"] for row in axes.values()) == 24
    assert sum(row["radians"][0] * row["episodes"] for row in axes.values()) == pytest.approx(
        real["radians"][0] * 24)
