"""Real-time scheduling for a control loop's thread, as ros2_control's controller manager asks
for it: SCHED_FIFO at a fixed priority, so that a tick due is run as soon as its timer fires
instead of waiting for a core behind the simulator, the driver or a training run. Linux only;
elsewhere, or without the right to it, the loop runs at normal priority and says how to allow it.
"""

from __future__ import annotations

import os

MAX_PRIORITY = 99


def request_fifo(priority: int) -> str | None:
    """Put the calling thread under SCHED_FIFO at ``priority`` (1-99; 0 leaves it as it is).
    Returns None when granted (or not asked for), else one line saying why not and the fix."""
    if not 0 <= priority <= MAX_PRIORITY:
        raise ValueError(f"real-time priority {priority} is outside 0-{MAX_PRIORITY}")
    if priority == 0:
        return None
    if not hasattr(os, "sched_setscheduler"):
        return "real-time scheduling is not available on this platform; running at normal priority"
    try:
        # pid 0 is the calling thread: threads the process already started keep their policy
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except PermissionError:
        return (f"no right to real-time priority {priority} (SCHED_FIFO), running at normal "
                "priority: allow it with an rtprio limit for this user (/etc/security/limits.conf: "
                f"'<user> - rtprio {priority}', then log in again) or set realtime_priority to 0")
    except OSError as error:
        return f"real-time priority {priority} refused ({error}); running at normal priority"
    return None


def current_policy() -> tuple[str, int]:
    """The calling thread's scheduling policy and priority, e.g. ("SCHED_FIFO", 50)."""
    policy = os.sched_getscheduler(0)
    names = {os.SCHED_OTHER: "SCHED_OTHER", os.SCHED_FIFO: "SCHED_FIFO", os.SCHED_RR: "SCHED_RR"}
    return names.get(policy, str(policy)), os.sched_getparam(0).sched_priority
