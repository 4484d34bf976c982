"""StopRequest: what a signal handler may set while the thread it interrupts is using it."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time

from dexndm_control.stop_request import StopRequest

# The main thread sets the request in a tight loop (so a signal lands inside set() most of the
# time) and its SIGUSR1 handler sets it too, as a stop handler does; it exits after 300 signals.
_INTERRUPTED_SETTER = textwrap.dedent("""
    import signal, sys, threading
    from dexndm_control.stop_request import StopRequest
    request = StopRequest() if sys.argv[1] == "StopRequest" else threading.Event()
    handled = 0
    def on_signal(*_):
        global handled
        handled += 1
        request.set()
    signal.signal(signal.SIGUSR1, on_signal)
    print("ready", flush=True)
    while handled < 300:
        request.set()
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # the parent's signals still on their way
    print("handled", handled, flush=True)
""")


def _ends_normally(kind: str, processes, limit_s: float) -> bool:
    """Signal the interrupted setter until it exits; whether it handled its 300 signals and
    exited 0 within ``limit_s``."""
    process = processes.python("-c", _INTERRUPTED_SETTER, kind)
    assert process.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + limit_s
    while process.poll() is None and time.monotonic() < deadline:
        try:
            os.kill(process.pid, signal.SIGUSR1)
        except ProcessLookupError:
            break
        time.sleep(0.002)
    try:
        out, _ = process.communicate(timeout=1.0)
    except subprocess.TimeoutExpired:
        return False
    return process.returncode == 0 and out.strip() == "handled 300"


def test_a_handler_may_set_it_while_the_interrupted_thread_is_setting_it(processes):
    assert _ends_normally("StopRequest", processes, limit_s=30.0)


def test_threading_event_deadlocks_there_which_is_why_it_exists(processes):
    """The failure StopRequest avoids, reproduced: Event.set() in the handler waits for the lock
    the interrupted Event.set() holds, forever (what kept a virtual hand alive after its launcher
    was killed); while signals keep coming, each interrupts that wait and nests another handler
    until the recursion limit ends the process instead."""
    assert not _ends_normally("Event", processes, limit_s=5.0)


def test_wait_returns_when_a_signal_handler_sets_it():
    request = StopRequest()
    previous = signal.signal(signal.SIGALRM, lambda *_: request.set())
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        start = time.monotonic()
        assert request.wait(5.0) is True
        assert time.monotonic() - start < 1.0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, previous)


def test_wait_times_out_unset():
    request = StopRequest()
    start = time.monotonic()
    assert request.wait(0.05) is False
    assert 0.05 <= time.monotonic() - start < 0.5
    request.set()
    assert request.is_set() and request.wait(0.0)

