"""A process started by `dexndm launch` ends when the launcher does, however the launcher ends.

The launcher starts each process in a session of its own (so a terminal's Ctrl-C reaches the
launcher alone, which then stops its processes in order). If the launcher itself is killed
(SIGKILL, a crash, a test runner's timeout) nobody stops them: a driver would keep the port and
the motors' torque. So the launcher names itself in the children's environment, and each entry
point asks Linux to send it SIGTERM when that parent dies, the signal it already ends cleanly on
(torque off, bags closed). Linux sends it again each time a dying launcher's thread hands its
children on to another, so a killed launcher with reader threads delivers it several times in a
row: the handlers must tolerate that (stop_request.py).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

LAUNCHER_PID_VAR = "DEXNDM_LAUNCHER_PID"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def follow_launcher() -> bool:
    """If a launcher started this process, end (SIGTERM) when it dies. Returns whether this
    process follows one. The variable is removed, so this process's own children do not."""
    value = os.environ.pop(LAUNCHER_PID_VAR, None)
    if value is None or not sys.platform.startswith("linux"):
        return False
    try:
        launcher = int(value)
    except ValueError:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
        return False
    if os.getppid() != launcher:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
    return True
