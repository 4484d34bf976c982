"""`dexndm launch` end to end: real processes, real DDS, signals, required processes."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import time
from pathlib import Path

from conftest import Output, descendants, pid_alive, wait_until

DEXNDM = str(Path(sys.executable).parent / "dexndm")


def _launch_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "test.launch.xml"
    path.write_text(textwrap.dedent(body).strip())
    return path


def test_parameters_and_arguments_take_effect(tmp_path, ros_domain, processes):
    path = _launch_file(tmp_path, """
        <launch>
          <arg name="axis" default="[1.0, 0.0, 0.0]"/>
          <node pkg="dexndm_control" exec="rotation_commander" name="commander">
            <param name="axis" value="$(var axis)"/>
            <param name="source" value="from_launch"/>
            <param name="enabled" value="false"/>
          </node>
          <node pkg="dexndm_control" exec="topic_echo" name="echo" on_exit="shutdown">
            <param name="topics" value="['/dexndm/rotation_command']"/>
            <param name="count" value="3"/>
          </node>
        </launch>""")
    launcher = processes.start([DEXNDM, "launch", str(path), "axis:=[0.0, 3.0, 4.0]"])
    out = Output(launcher)
    assert launcher.wait(timeout=60) == 0, out.text()
    text = out.text()
    assert out.count("[echo] received 3 message(s) on /dexndm/rotation_command") == 1, text
    # the launch argument reached the node (normalised 0, 3, 4 -> 0, 0.6, 0.8), as did params
    assert "[echo]   y: 0.6" in text and "[echo]   z: 0.8" in text, text
    assert "[echo] source: 'from_launch'" in text and "[echo] enabled: False" in text
    assert "required process 'echo' exited with code 0" in text


def test_sigint_stops_every_child_within_5_s(tmp_path, ros_node, processes):
    path = _launch_file(tmp_path, f"""
        <launch>
          <node pkg="dexndm_control" exec="rotation_commander" name="commander"/>
          <executable cmd="{sys.executable} -c 'import time; time.sleep(120)'" name="sleeper"/>
          <executable cmd="sh -c 'sleep 120 &amp; sleep 120'" name="shell"/>
        </launch>""")
    launcher = processes.start([DEXNDM, "launch", str(path)])
    out = Output(launcher)
    assert wait_until(lambda: out.count("[launch] started") == 3, 30), out.text()
    assert wait_until(lambda: len(descendants(launcher.pid)) >= 5, 10)
    # the rclpy node has finished starting once its publisher is discovered
    assert wait_until(lambda: ros_node.count_publishers("/dexndm/rotation_command") > 0, 30,
                      spin=ros_node.spin)
    children = descendants(launcher.pid)
    start = time.monotonic()
    launcher.send_signal(signal.SIGINT)
    code = launcher.wait(timeout=10)
    elapsed = time.monotonic() - start
    assert elapsed < 5.0, out.text()
    assert code == 130
    assert wait_until(lambda: not any(pid_alive(pid) for pid in children), 2.0), \
        [pid for pid in children if pid_alive(pid)]


def test_children_end_when_the_launcher_is_killed(tmp_path, ros_node, processes):
    """A launcher killed outright (SIGKILL: no chance to stop anything) takes the stack's
    processes with it: each asked Linux for SIGTERM on its launcher's death (lifeline.py)."""
    port = tmp_path / "hand"
    path = _launch_file(tmp_path, f"""
        <launch>
          <node pkg="dexndm_control" exec="rotation_commander" name="commander"/>
          <node pkg="dexndm_sim" exec="virtual_hand" name="hand" args="--port {port}"/>
        </launch>""")
    launcher = processes.start([DEXNDM, "launch", str(path)])
    out = Output(launcher)
    assert wait_until(lambda: out.count("[launch] started") == 2, 30), out.text()
    assert wait_until(lambda: ros_node.count_publishers("/dexndm/rotation_command") > 0, 30,
                      spin=ros_node.spin)
    assert wait_until(lambda: Path(str(port) + ".ctl").exists(), 30), out.text()
    children = descendants(launcher.pid)
    assert len(children) >= 2
    launcher.send_signal(signal.SIGKILL)
    launcher.wait(timeout=10)
    try:
        assert wait_until(lambda: not any(pid_alive(pid) for pid in children), 10.0), \
            [pid for pid in children if pid_alive(pid)]
    finally:  # what outlived it is no child of this test's any more: stop it by pid
        for pid in children:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_required_process_crash_ends_launch_non_zero(tmp_path, ros_domain, processes):
    path = _launch_file(tmp_path, f"""
        <launch>
          <executable cmd="sleep 60" name="bystander"/>
          <executable cmd="{sys.executable} -c 'import sys, time; time.sleep(1); sys.exit(3)'"
                      name="crasher" on_exit="shutdown"/>
        </launch>""")
    launcher = processes.start([DEXNDM, "launch", str(path)])
    out = Output(launcher)
    assert launcher.wait(timeout=30) == 3
    assert wait_until(lambda: "stopped:" in out.text(), 2)
    assert "required process 'crasher' exited with code 3" in out.text()
    assert "process 'bystander' exited with code" in out.text()


def test_malformed_launch_file_is_rejected_by_cli(tmp_path, processes):
    path = _launch_file(tmp_path, "<launch>\n  <node pkg='dexndm_control' exec='topic_echo'>"
                                  "\n    <timer period='1'/>\n  </node>\n</launch>")
    process = processes.start([DEXNDM, "launch", str(path)])
    assert process.wait(timeout=30) == 2
    text = process.stdout.read()
    assert f"{path}:3: unsupported construct <timer>" in text


def test_show_args_lists_declared_arguments(processes):
    repo = Path(__file__).resolve().parents[3]
    process = processes.start([DEXNDM, "launch", str(repo / "launch" / "demo.launch.xml"), "-s"])
    assert process.wait(timeout=30) == 0
    text = process.stdout.read()
    assert "'axis': rotation axis sent to the controller" in text
    assert "default: '8.0'" in text
