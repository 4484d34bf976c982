"""config/*.yaml and the launch files' parameters match the dataclasses that declare them: an
unknown key, a missing key or a value of the wrong type fails here, not on a robot."""

from __future__ import annotations

import importlib
import xml.etree.ElementTree as ElementTree
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from dexndm_control.settings import SettingsError, check_parameter_file, parameter_settings

ROOT = Path(__file__).resolve().parents[3]
CONFIG_FILES = sorted((ROOT / "config").glob("*.yaml"))
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.xml"))


def _node_settings() -> dict[str, tuple[type, ...]]:
    """Executable / node name -> the dataclasses that declare its parameters."""
    result = {}
    for entry in entry_points(group="console_scripts"):
        module_name = entry.value.split(":")[0]
        if not module_name.startswith(("dexndm_control.nodes.", "dexndm_collect.nodes.")):
            continue
        module = importlib.import_module(module_name)
        result[entry.name] = module.SETTINGS
    return result


NODES = _node_settings()


def test_every_node_executable_declares_its_settings():
    assert {"leap_driver", "rotation_controller", "quest_bridge", "rotation_commander",
            "topic_echo", "virtual_wrist_link", "chaos_box_collector", "recorder",
            "hand_view"} <= set(NODES)
    for name, classes in NODES.items():
        assert parameter_settings(*classes), name


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: p.name)
def test_config_file_matches_its_schema(path):
    assert len(CONFIG_FILES) >= 5
    check_parameter_file(str(path), NODES)


def test_a_config_file_with_a_typo_a_missing_key_or_a_wrong_type_fails(tmp_path):
    good = (ROOT / "config" / "controller.yaml").read_text()
    cases = {
        "typo": (good.replace("ramp_s:", "ramp_sec:"), "unknown parameter(s) ramp_sec"),
        "missing": ("\n".join(line for line in good.splitlines()
                              if "stale_periods" not in line), "missing parameter(s) "
                                                               "stale_periods"),
        "type": (good.replace("rate_hz: 20.0", "rate_hz: 20"), "rotation_controller.rate_hz"),
        "node": (good.replace("rotation_controller:", "rotation_contoller:"),
                 "unknown node 'rotation_contoller'"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
            check_parameter_file(str(path), NODES)


def _launch_nodes(path: Path):
    for node in ElementTree.parse(path).getroot().iter("node"):
        yield node.get("exec"), node.findall("param")


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_parameters_are_declared(path):
    """Every <param name=...> a launch file sets exists on its node (in every branch, since
    conditions are not evaluated here), and every parameter file it loads matches the schema."""
    checked = 0
    for executable, params in _launch_nodes(path):
        if not params:
            continue
        assert executable in NODES, f"{path.name}: {executable} sets parameters but declares none"
        schema = parameter_settings(*NODES[executable])
        for param in params:
            if param.get("from"):
                config = param.get("from").replace("$(dirname)", str(path.parent))
                check_parameter_file(config, NODES)
            else:
                assert param.get("name") in schema, f"{path.name}: {executable} has no " \
                                                    f"parameter {param.get('name')!r}"
            checked += 1
    assert checked > 0
