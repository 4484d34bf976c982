"""StopRequest: what a signal handler may set while the thread it interrupts is using it."""

from __future__ import annotations

import os
import select
import signal
import textwrap
import time

from dexndm_control.stop_request import StopRequest

# The main thread sets the request in a tight loop (so a signal lands inside set() most of the
# time) and its SIGUSR1 handler sets it too, as a stop handler does, then acknowledges with one
# byte (os.write: print would take the stdout buffer's lock); it exits after 300 signals.
_SIGNALS = 300
_INTERRUPTED_SETTER = textwrap.dedent(f"""
    import os, signal, sys, threading
    from dexndm_control.stop_request import StopRequest
    request = StopRequest() if sys.argv[1] == "StopRequest" else threading.Event()
    handled = 0
    def on_signal(*_):
        global handled
        handled += 1
        request.set()
        os.write(1, b"+")
    signal.signal(signal.SIGUSR1, on_signal)
    print("ready", flush=True)
    while handled < {_SIGNALS}:
        request.set()
""")


def _ends_normally(kind: str, processes, limit_s: float) -> bool:
    """Signal the interrupted setter, each signal once the previous one's handler has finished,
    until it has handled all of them; whether that happened and it exited 0 within ``limit_s``."""
    process = processes.python("-c", _INTERRUPTED_SETTER, kind)
    assert process.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + limit_s
    for _ in range(_SIGNALS):
        os.kill(process.pid, signal.SIGUSR1)
        ready, _, _ = select.select([process.stdout], [], [],
                                    max(0.0, deadline - time.monotonic()))
        if not ready or os.read(process.stdout.fileno(), 1) != b"+":
            return False  # the handler never finished: the process hangs
    return process.wait(timeout=max(0.1, deadline - time.monotonic())) == 0


def test_a_handler_may_set_it_while_the_interrupted_thread_is_setting_it(processes):
    assert _ends_normally("StopRequest", processes, limit_s=30.0)


def test_threading_event_deadlocks_there_which_is_why_it_exists(processes):
    """The failure StopRequest avoids, reproduced: Event.set() in the handler waits forever for
    the lock the interrupted Event.set() holds (what kept a virtual hand alive after its
    launcher was killed)."""
    assert not _ends_normally("Event", processes, limit_s=3.0)


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
