"""The suite's own guard for commands that hang: `Processes.run` fails the test with every
process's stack and leaves nothing running, even a grandchild in a session of its own (as
torchrun starts its ranks)."""

from __future__ import annotations

import re
import sys

import pytest

from conftest import Processes, descendants, pid_alive

# an agent that starts a rank in its own session and, once the rank says it is waiting, waits
# too: both block on events nothing sets, so each stack ends in its own function
HANGS = """
import subprocess, sys, threading
RANK = "import threading\\ndef rank_waits():\\n    print('waiting', flush=True)\\n" \\
       "    threading.Event().wait()\\nrank_waits()"
rank = subprocess.Popen([sys.executable, "-c", RANK], stdout=subprocess.PIPE, text=True,
                        start_new_session=True)
rank.stdout.readline()
print("rank pid", rank.pid, file=sys.stderr, flush=True)
def agent_waits():
    threading.Event().wait()
agent_waits()
"""


def test_a_hung_process_tree_fails_with_its_stacks_and_is_killed(processes: Processes):
    # the limit only has to cover two interpreter starts: both then wait for good
    with pytest.raises(pytest.fail.Exception) as failure:
        processes.run([sys.executable, "-c", HANGS], timeout=10)
    message = str(failure.value)
    assert "did not finish in 10 s" in message
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
