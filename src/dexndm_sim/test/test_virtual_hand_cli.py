"""dexndm-virtual-hand's arguments: --axis takes what a launch file passes (a list) as well as
X Y Z; --stop-after-held times only an object in the MuJoCo hand."""

from __future__ import annotations

import pytest

from dexndm_sim.xc330.cli import parse_arguments


def test_axis_from_a_launch_list_or_three_numbers():
    assert parse_arguments(["--axis", "[0.0, 0.0, -1.0]"]).axis == [0.0, 0.0, -1.0]
    assert parse_arguments(["--axis", "0", "1", "-1"]).axis == [0.0, 1.0, -1.0]
    assert parse_arguments([]).axis == [0.0, 0.0, 1.0]
    for bad in (["1", "2"], ["[1, x, 2]"]):
        with pytest.raises(SystemExit):
            parse_arguments(["--axis", *bad])


def test_stop_after_held_needs_an_object_in_the_mujoco_hand(capsys):
    assert parse_arguments(["--scene", "object"]).stop_after_held == 0.0  # off
    assert parse_arguments(["--scene", "object", "--stop-after-held", "30"]).stop_after_held == 30
    for bad in (["--stop-after-held", "30"],  # scene free: nothing to time
                ["--scene", "object", "--model", "firmware", "--stop-after-held", "30"],
                ["--scene", "object", "--stop-after-held", "-1"]):
        with pytest.raises(SystemExit) as exit_info:
            parse_arguments(bad)
        assert exit_info.value.code == 2
        assert "--stop-after-held" in capsys.readouterr().err
