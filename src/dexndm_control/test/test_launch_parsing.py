"""Launch files: arguments, substitutions, conditions, scopes, and rejection with file:line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dexndm_control.errors import LaunchFileError
from dexndm_control.launcher import resolve_launch
from dexndm_control.launcher.substitutions import Scope, split_command_line, substitute


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def _scope(**variables) -> Scope:
    return Scope(variables, {"HOME_X": "/h"}, "/a/b/f.launch.xml", 3)


def test_substitutions_nest_and_compare():
    scope = _scope(hw="virtual", n="2")
    assert substitute("$(var hw)-$(var n)", scope) == "virtual-2"
    assert substitute("$(equals $(var hw) virtual)", scope) == "true"
    assert substitute("$(not-equals $(var hw) virtual)", scope) == "false"
    assert substitute("$(equals 1.0 1)", scope) == "true"
    assert substitute("$(env HOME_X)/x $(env NOPE dflt)", scope) == "/h/x dflt"
    assert substitute("$(dirname)/../config/x.yaml", scope) == "/a/b/../config/x.yaml"
    assert substitute("$(var '$(var hw)')", _scope(hw="n", n="7")) == "7"


@pytest.mark.parametrize("text,expected", [
    # a substitution's value is one argument however many spaces it holds
    ("--axis=$(var axis) -v", ["--axis=[0.0, 0.0, 1.0]", "-v"]),
    ("--port $(var path)", ["--port", "/tmp/a b"]),
    ("$(var path)/x.yaml tail", ["/tmp/a b/x.yaml", "tail"]),
    ("a $(var path) b c", ["a", "/tmp/a b", "b", "c"]),
    ("$(var path)$(var empty) $(var empty)", ["/tmp/a b", ""]),
    ("--report=$(var empty) 'two words' \"x y\"", ["--report=", "two words", "x y"]),
    ("  -a   -b  ", ["-a", "-b"]),
    ("", []),
])
def test_command_lines_split_as_launch_splits_them(text, expected):
    scope = _scope(axis="[0.0, 0.0, 1.0]", path="/tmp/a b", empty="")
    assert split_command_line(text, scope) == expected


def test_a_quote_left_open_around_a_substitution_is_refused():
    with pytest.raises(LaunchFileError, match="a quote in the text around a substitution"):
        split_command_line("--start-from '$(var path)'", _scope(path="/p"))


@pytest.mark.parametrize("text,fragment", [
    ("$(var missing)", "$(var missing) is not defined"),
    ("$(eval 1+1)", "unsupported substitution '$(eval ...)'"),
    ("$(var hw", "unterminated"),
    ("$(env NOT_SET_ANYWHERE_42)", "not set"),
    ("$(equals a)", "takes 2 argument(s)"),
])
def test_substitution_errors_name_file_and_line(text, fragment):
    with pytest.raises(LaunchFileError) as error:
        substitute(text, _scope(hw="x"))
    assert fragment in str(error.value)
    assert str(error.value).startswith("/a/b/f.launch.xml:3:")


XML = """
<launch>
  <arg name="hardware" default="virtual" description="virtual or real"/>
  <arg name="rate" default="100"/>
  <let name="port" value="/tmp/leap_$(var hardware)"/>
  <node pkg="dexndm_control" exec="topic_echo" name="driver" namespace="leap_hand" output="screen" on_exit="shutdown">
    <param name="port" value="$(var port)"/>
    <param name="rate" value="$(var rate)"/>
    <remap from="joint_states" to="/leap_hand/joint_states"/>
    <env name="EXTRA" value="1"/>
  </node>
  <executable cmd="sleep 5" name="emulator" if="$(equals $(var hardware) virtual)"/>
  <group>
    <push_ros_namespace namespace="teleop"/>
    <node pkg="dexndm_control" exec="rotation_commander" name="axis" unless="$(equals $(var hardware) real)"/>
  </group>
  <node pkg="dexndm_control" exec="rotation_commander" name="outside"/>
</launch>
"""


def test_xml_resolves_processes(tmp_path):
    path = _write(tmp_path, "a.launch.xml", XML)
    specs = {s.name: s for s in resolve_launch(path, {"rate": "250"})}
    assert set(specs) == {"leap_hand/driver", "emulator", "teleop/axis", "outside"}
    driver = specs["leap_hand/driver"]
    assert driver.required and driver.env == {"EXTRA": "1"}
    ros_args = driver.argv[driver.argv.index("--ros-args") + 1:]
    assert ros_args == ["-r", "__node:=driver", "-r", "__ns:=/leap_hand",
                        "-p", "port:=/tmp/leap_virtual", "-p", "rate:=250",
                        "-r", "joint_states:=/leap_hand/joint_states"]
    assert specs["emulator"].argv == ["sleep", "5"]
    axis = specs["teleop/axis"].argv
    assert axis[axis.index("--ros-args") + 1:] == ["-r", "__node:=axis", "-r", "__ns:=/teleop"]
    # the group's namespace does not leak out of its scope
    assert "__ns:=/teleop" not in " ".join(specs["outside"].argv)


def test_conditions_drop_processes(tmp_path):
    path = _write(tmp_path, "a.launch.xml", XML)
    names = {s.name for s in resolve_launch(path, {"hardware": "real"})}
    assert names == {"leap_hand/driver", "outside"}


def test_yaml_frontend_matches_xml(tmp_path):
    path = _write(tmp_path, "a.launch.yaml", """
        launch:
        - arg: {name: axis, default: "[0.0, 0.0, 1.0]"}
        - node:
            pkg: dexndm_control
            exec: rotation_commander
            name: cmd
            on_exit: shutdown
            param:
            - {name: axis, value: $(var axis)}
            - {name: gains, value: [1, 2, 3]}
            remap:
            - {from: a, to: b}
        - group:
            children:
            - push_ros_namespace: {namespace: ns1}
            - executable: {cmd: "sleep 1", name: sleeper}
        """)
    specs = resolve_launch(path, {"axis": "[1.0, 0.0, 0.0]"})
    assert [s.name for s in specs] == ["cmd", "sleeper"]
    argv = specs[0].argv
    assert argv[argv.index("--ros-args") + 1:] == [
        "-r", "__node:=cmd", "-p", "axis:=[1.0, 0.0, 0.0]", "-p", "gains:=[1, 2, 3]",
        "-r", "a:=b"]
    assert specs[0].required


def test_include_passes_arguments(tmp_path):
    _write(tmp_path, "inner.launch.xml", """
        <launch>
          <arg name="who" default="nobody"/>
          <executable cmd="echo $(var who)" name="inner_$(var who)"/>
        </launch>""")
    outer = _write(tmp_path, "outer.launch.xml", """
        <launch>
          <include file="$(dirname)/inner.launch.xml"><arg name="who" value="alice"/></include>
          <include file="inner.launch.xml"/>
        </launch>""")
    specs = resolve_launch(outer)
    assert [(s.name, s.argv) for s in specs] == [("inner_alice", ["echo", "alice"]),
                                                 ("inner_nobody", ["echo", "nobody"])]


@pytest.mark.parametrize("body,line,fragment", [
    ('<launch>\n  <node pkg="dexndm_control" exec="topic_echo">\n    <bogus/>\n  </node>\n</launch>',
     3, "unsupported construct <bogus>"),
    ('<launch>\n\n  <node pkg="x" exec="y" launch-prefix="gdb"/>\n</launch>', 3,
     "unsupported attribute(s) launch-prefix on <node>"),
    ('<launch>\n  <arg name="a"/>\n</launch>', 2, "launch argument 'a' has no default"),
    ('<launch>\n  <node pkg="dexndm_control" exec="no_such_exec"/>\n</launch>', 2,
     "has no executable 'no_such_exec'"),
    ('<launch>\n  <executable cmd="x" on_exit="restart"/>\n</launch>', 2,
     'on_exit="restart" is not supported'),
    ('<launch>\n  <node pkg="dexndm_control" exec="topic_echo">\n    <param name="x"/>\n  </node>\n</launch>', 3,
     "needs the attribute 'value'"),
    ('<launch>\n  <executable cmd="x">\n</launch>', 3, "malformed XML"),
    ('<notlaunch/>', 1, "root element must be <launch>"),
    ('<launch>\n  <executable cmd="x" if="maybe"/>\n</launch>', 2, "expected true/false"),
])
def test_rejections_name_file_line_and_construct(tmp_path, body, line, fragment):
    path = _write(tmp_path, "bad.launch.xml", body)
    with pytest.raises(LaunchFileError) as error:
        resolve_launch(path)
    assert str(error.value).startswith(f"{path}:{line}:"), str(error.value)
    assert fragment in str(error.value)


def test_yaml_rejection_has_line(tmp_path):
    path = _write(tmp_path, "bad.launch.yaml", """
        launch:
        - arg: {name: a, default: "1"}
        - timer: {period: 1}
        """)
    with pytest.raises(LaunchFileError) as error:
        resolve_launch(path)
    assert str(error.value).startswith(f"{path}:3:")
    assert "unsupported construct <timer>" in str(error.value)


def test_unknown_argument_and_python_launch_rejected(tmp_path):
    path = _write(tmp_path, "a.launch.xml", '<launch><arg name="a" default="1"/></launch>')
    with pytest.raises(LaunchFileError, match="unknown launch argument"):
        resolve_launch(path, {"b": "2"})
    py = _write(tmp_path, "a.launch.py", "")
    with pytest.raises(LaunchFileError, match="Python launch files need a ROS 2 install"):
        resolve_launch(py)


def test_project_launch_files_resolve():
    repo = Path(__file__).resolve().parents[3]
    for path in sorted((repo / "launch").glob("*.launch.*")):
        assert resolve_launch(path), path
