"""dexndm-virtual-hand's arguments: --axis takes what a launch file passes (a list) as well as
X Y Z; --stop-after-held times only an object in the MuJoCo hand; --start-from starts the object
in a base bundle's initial grasp, as the launch files run it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dexndm_control.launcher import resolve_launch
from dexndm_sim.xc330.cli import parse_arguments, strip_ros_arguments

REPO = Path(__file__).resolve().parents[3]
SHIPPED_BASE = REPO / "policies" / "base_policy"
RESIDUAL_BASE = REPO / "policies" / "reference_student"


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


def launched_virtual_hand(launch_name: str, arguments: dict[str, str] | None = None):
    """The virtual hand's parsed arguments as ``launch_name`` starts it."""
    specs = {spec.name: spec for spec in resolve_launch(REPO / "launch" / launch_name, arguments)}
    argv = specs["virtual_hand"].argv
    first = next(index for index, value in enumerate(argv) if value.startswith("--port"))
    return parse_arguments(strip_ros_arguments(argv[first:]))


def start_of(args) -> tuple:
    return args.object_category, args.object_index, args.wrist, args.grasp_index


@pytest.mark.parametrize("launch_name", ["rotate.launch.xml", "teleop.launch.xml"])
def test_the_launch_files_start_the_object_in_their_base_bundles_initial_grasp(launch_name):
    """Run as is, launch/rotate.launch.xml and launch/teleop.launch.xml start the virtual hand in
    the initial grasp of the base they give the controller (the grasp whose target the
    controller ramps the hand to), for the shipped base and for another base alike; an explicit
    object or grasp overrides it."""
    shipped = yaml.safe_load((SHIPPED_BASE / "bundle.yaml").read_text())["initial_grasp"]
    assert start_of(launched_virtual_hand(launch_name)) == (
        shipped["category"], shipped["object_index"], shipped["wrist"], shipped["grasp_index"])
    # the residual's base: cylinders_004, grasp 0 (test_demo)
    assert start_of(launched_virtual_hand(launch_name, {"base_bundle": str(RESIDUAL_BASE)})) == (
        "cylinders", 4, "palm_up", 0)
    assert start_of(launched_virtual_hand(launch_name, {"base_bundle": str(RESIDUAL_BASE),
                                                        "grasp_index": "3"})) == (
        "cylinders", 4, "palm_up", 3)
    # another object of the category: the bundle's grasp is not its grasp, so grasp 0
    assert start_of(launched_virtual_hand(launch_name, {"base_bundle": str(RESIDUAL_BASE),
                                                        "object_index": "2"})) == (
        "cylinders", 2, "palm_up", 0)
    # another category: its object 0
    assert start_of(launched_virtual_hand(launch_name, {"base_bundle": str(RESIDUAL_BASE),
                                                        "object_category": "cuboids"})) == (
        "cuboids", 0, "palm_up", 0)


def test_launch_values_reach_the_virtual_hand_whole(tmp_path):
    """Each virtual-hand option travels as its own launch argument (--name=$(var x)), so a value
    with spaces (a bundle path, a launch list) arrives as one argument, as under `ros2 launch`,
    whose command-line split keeps every substitution whole; empty ones leave the defaults."""
    spaced = tmp_path / "my bundles" / "base policy"
    spaced.mkdir(parents=True)
    (spaced / "bundle.yaml").write_text((RESIDUAL_BASE / "bundle.yaml").read_text())
    report = tmp_path / "a report.json"
    args = launched_virtual_hand("rotate.launch.xml", {
        "base_bundle": str(spaced), "axis": "[0.0, 1.0, 0.0]", "report": str(report),
        "hold_seconds": "12.5"})
    assert (args.scene, args.start_from, args.report) == ("object", str(spaced), str(report))
    assert args.axis == [0.0, 1.0, 0.0]
    assert args.stop_after_held == 12.5
    assert start_of(args) == ("cylinders", 4, "palm_up", 0)
    collect = launched_virtual_hand("collect.launch.xml", {"balls": "7", "wrist": "palm_up",
                                                           "thermal_speedup": "30"})
    assert (collect.scene, collect.wrist, collect.balls, collect.thermal_speedup) == (
        "chaos_box", "palm_up", 7, 30.0)
    alone = launched_virtual_hand("leap_hand.launch.xml")
    assert (alone.scene, alone.start_from, alone.report, alone.balls, alone.axis,
            alone.stop_after_held) == ("free", None, None, None, [0.0, 0.0, 1.0], 0.0)


def test_start_from_refuses_what_is_not_a_base_bundle_with_its_grasp(tmp_path, capsys):
    """A missing bundle, a bundle of another kind and one whose grasp comes from another grasp
    search seed are refused with the fix, exit code 2; one that names no initial grasp starts
    at object 0, grasp 0 with a warning naming the fix."""
    bare = tmp_path / "bare"
    bare.mkdir()
    info = yaml.safe_load((RESIDUAL_BASE / "bundle.yaml").read_text())
    (bare / "bundle.yaml").write_text(yaml.safe_dump({**info, "initial_grasp": None}))
    seeded = tmp_path / "seeded"
    seeded.mkdir()
    (seeded / "bundle.yaml").write_text(yaml.safe_dump(
        {**info, "initial_grasp": {**info["initial_grasp"], "seed": 3}}))
    assert start_of(parse_arguments(["--scene", "object", "--start-from", str(bare)])) == (
        "cylinders", 0, "palm_up", 0)
    assert "names no initial_grasp" in capsys.readouterr().err
    for bundle, message in ((tmp_path / "none", "no bundle.yaml"),
                            (REPO / "policies" / "dexndm_residual", "expected 'base_policy'"),
                            (seeded, "--seed 3")):
        with pytest.raises(SystemExit) as exit_info:
            parse_arguments(["--scene", "object", "--start-from", str(bundle)])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err, bundle
    # its own grasp search seed, or an explicit grasp, is accepted
    assert parse_arguments(["--scene", "object", "--start-from", str(seeded), "--seed",
                            "3"]).grasp_index == 0
    assert parse_arguments(["--scene", "object", "--start-from", str(seeded), "--grasp-index",
                            "1"]).grasp_index == 1


@pytest.mark.parametrize("argv,message", [
    (["--wrist", "palm-down"], "--wrist palm-down is not a wrist orientation: use one of"),
    (["--scene", "object", "--object-category", "cylinder"],
     "--object-category cylinder is not an object category: use one of"),
])
def test_a_wrist_or_category_that_does_not_exist_is_refused_in_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_arguments(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_without_start_from_the_defaults_are_object_0_palm_up_grasp_0():
    assert start_of(parse_arguments([])) == ("cylinders", 0, "palm_up", 0)
    assert start_of(parse_arguments(["--object-index=", "--grasp-index=", "--wrist="])) == (
        "cylinders", 0, "palm_up", 0)
