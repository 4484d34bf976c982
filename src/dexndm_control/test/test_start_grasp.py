"""Where a base policy starts: the bundle's initial grasp under what is given explicitly (one
rule for the virtual hand, `sim render` and the launch files)."""

from __future__ import annotations

import pytest
import yaml

from dexndm_control.errors import DexndmError
from dexndm_control.policy.start_grasp import (
    StartGrasp,
    read_initial_grasp,
    resolve_start_grasp,
)

GRASP = {"object": "cylinders_001", "category": "cylinders", "object_index": 1,
         "wrist": "palm_up", "grasp_index": 5, "profile": "nominal", "grasps": 8, "seed": 0}


def test_unset_fields_come_from_the_bundles_grasp():
    assert resolve_start_grasp(GRASP) == StartGrasp("cylinders", 1, "palm_up", 5, 0)
    assert resolve_start_grasp(GRASP, grasp_index=2) == StartGrasp("cylinders", 1, "palm_up", 2, 0)
    assert resolve_start_grasp(GRASP, category="cylinders", object_index=1) == \
        StartGrasp("cylinders", 1, "palm_up", 5, 0)


def test_the_bundles_grasp_stands_only_for_its_own_object_and_wrist():
    # another object of the category: no grasp named (grasp 5 of cylinders_003 is another pose)
    assert resolve_start_grasp(GRASP, object_index=3) == StartGrasp("cylinders", 3, "palm_up",
                                                                     None, None)
    # another category: its object 0
    assert resolve_start_grasp(GRASP, category="cuboids") == StartGrasp("cuboids", 0, "palm_up",
                                                                        None, None)
    # the same object at another wrist
    assert resolve_start_grasp(GRASP, wrist="palm_down") == StartGrasp("cylinders", 1,
                                                                       "palm_down", None, None)


def test_a_bundle_without_a_grasp_starts_at_object_0_palm_up():
    assert resolve_start_grasp(None) == StartGrasp("cylinders", 0, "palm_up", None, None)
    assert resolve_start_grasp({}, "small_cylinders", 2, "palm_down", 1) == \
        StartGrasp("small_cylinders", 2, "palm_down", 1, None)


def test_read_initial_grasp_reads_bundle_yaml_checked_as_loading_checks_it(tmp_path):
    from dexndm_control.hand import JOINT_NAMES
    from dexndm_control.policy.bundle_info import FORMAT, VERSION

    info = {"format": FORMAT, "version": VERSION, "kind": "base_policy",
            "joint_names": list(JOINT_NAMES)}
    (tmp_path / "bundle.yaml").write_text(yaml.safe_dump({**info, "initial_grasp": GRASP}))
    assert read_initial_grasp(tmp_path) == GRASP  # no weights.pt needed
    (tmp_path / "bundle.yaml").write_text(yaml.safe_dump(info))
    assert read_initial_grasp(tmp_path) is None
    for wrong, message in (({"kind": "dynamics"}, "expected 'base_policy'"),
                           ({"version": VERSION + 1}, "this stack reads"),
                           ({"joint_names": list(JOINT_NAMES)[::-1]}, "joint order")):
        (tmp_path / "bundle.yaml").write_text(yaml.safe_dump({**info, **wrong}))
        with pytest.raises(DexndmError, match=message):
            read_initial_grasp(tmp_path)
    with pytest.raises(DexndmError, match="no bundle.yaml"):
        read_initial_grasp(tmp_path / "missing")
