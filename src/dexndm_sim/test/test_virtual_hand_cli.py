"""dexndm-virtual-hand's --axis takes what a launch file passes (a list) as well as X Y Z."""

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
