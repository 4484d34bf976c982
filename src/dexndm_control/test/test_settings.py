"""One declaration per setting: flags, ROS parameters and file checks derive from a dataclass."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import pytest

from dexndm_control.settings import (
    SettingsError,
    add_arguments,
    from_arguments,
    from_mapping,
    parameter_settings,
    setting,
)


@dataclass(frozen=True)
class Inner:
    weight: float = 1.0


@dataclass(frozen=True)
class Example:
    path: str = setting(help="where")
    rate_hz: float = setting(20.0, help="how often")
    count: int = setting(0, aliases=("-n",))
    names: tuple[str, ...] = ("a", "b")
    pair: tuple[float, float] | None = None
    hidden: list[int] = field(default_factory=list)
    verbose: bool = False
    mode: str = setting("x", param="example_mode", flag="--example-mode")
    secret: int = setting(3, cli=False)
    inner: Inner = field(default_factory=Inner)


def _parse(argv: list[str], **kwargs) -> Example:
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser, Example, **kwargs)
    return from_arguments(Example, parser.parse_args(argv))


def test_flags_follow_the_field_types_and_defaults():
    parsed = _parse(["--path", "p", "-n", "4", "--names", "c", "--pair", "0.5", "2",
                     "--hidden", "8", "16", "--verbose", "--example-mode", "y", "--rate-hz", "5"])
    assert parsed == Example(path="p", rate_hz=5.0, count=4, names=("c",), pair=(0.5, 2.0),
                             hidden=[8, 16], verbose=True, mode="y")
    assert isinstance(parsed.names, tuple) and isinstance(parsed.hidden, list)
    assert _parse(["--path", "p"]) == Example(path="p")
    assert _parse(["--path", "p"], defaults={"rate_hz": 50.0}).rate_hz == 50.0
    assert _parse(["p"], positional=["path"]).path == "p"


def test_required_and_hidden_settings():
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser, Example)
    with pytest.raises(SystemExit):  # --path is required (no default)
        parser.parse_args([])
    flags = {o for action in parser._actions for o in action.option_strings}
    assert "--secret" not in flags and "--inner" not in flags  # cli=False, nested table
    assert {"--no-verbose", "-n", "--count", "--example-mode"} <= flags
    only = argparse.ArgumentParser()
    add_arguments(only, Example, only=["count"])
    assert {o for a in only._actions for o in a.option_strings} == {"-h", "--help", "-n",
                                                                     "--count"}


def test_ros_parameters_use_the_param_name_and_need_defaults():
    @dataclass
    class Node:
        rate_hz: float = 20.0
        mode: str = setting("x", param="example_mode")
        internal: int = setting(1, ros=False)

    names = list(parameter_settings(Node))
    assert names == ["rate_hz", "example_mode"]
    with pytest.raises(TypeError, match="needs a default"):
        parameter_settings(Example)  # path has none
    with pytest.raises(TypeError, match="declared by"):
        parameter_settings(Node, Node)


def test_from_mapping_builds_nested_tables_and_rejects_unknown_keys():
    built = from_mapping(Example, {"path": "p", "names": ["c", "d"], "inner": {"weight": 2.0}})
    assert built.names == ("c", "d") and built.inner == Inner(2.0)
    with pytest.raises(SettingsError, match="unknown key"):
        from_mapping(Example, {"path": "p", "colour": 1})


def test_declared_ros_parameters_take_overrides_from_the_command_line():
    import rclpy
    from rclpy.context import Context
    from rclpy.node import Node

    from dexndm_control.core.controller import ControllerConfig
    from dexndm_control.ros_node import declare_settings

    context = Context()
    rclpy.init(context=context, args=["x", "--ros-args", "-p", "ramp_s:=0.5", "-p",
                                      "wrist:=palm_down"])
    try:
        node = Node("settings_probe", context=context)
        config = declare_settings(node, ControllerConfig)
        assert config.ramp_s == 0.5 and config.wrist == "palm_down"
        assert config.rate_hz == ControllerConfig().rate_hz
        assert node.describe_parameter("max_step_rad").description.startswith("largest change")
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
