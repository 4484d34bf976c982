"""The suite's own guard for commands that hang: `Processes.run` fails the test with every
process's stack and leaves nothing running, even a grandchild in a session of its own (as
torchrun starts its ranks)."""

from __future__ import annotations

import re
import sys

import pytest

from conftest import Processes, descendants, pid_alive

HANGS = """
import subprocess, sys, time
rank = subprocess.Popen([sys.executable, "-c",
                         "import time\\ndef rank_waits():\\n    time.sleep(600)\\nrank_waits()"],
                        start_new_session=True)
print("rank pid", rank.pid, file=sys.stderr, flush=True)
def agent_waits():
    time.sleep(600)
agent_waits()
"""


def test_a_hung_process_tree_fails_with_its_stacks_and_is_killed(processes: Processes):
    with pytest.raises(pytest.fail.Exception) as failure:
        processes.run([sys.executable, "-c", HANGS], timeout=3)
    message = str(failure.value)
    assert "did not finish in 3 s" in message
    assert "in rank_waits" in message and "in agent_waits" in message
    started = processes.started[0]
    assert started.returncode is not None
    assert not descendants(started.pid)
    rank = int(re.search(r"rank pid (\d+)", message).group(1))
    assert not pid_alive(rank)


def test_a_finished_command_returns_its_output_and_exit_status(processes: Processes):
    result = processes.run([sys.executable, "-c", "import sys; print('out'); sys.exit(3)"],
                           timeout=30)
    assert (result.returncode, result.stdout) == (3, "out\n")
