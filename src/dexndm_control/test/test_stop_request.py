"""StopRequest: what a signal handler may set while the thread it interrupts is using it."""

from __future__ import annotations

import signal
import subprocess
import textwrap
import time

import pytest

from dexndm_control.stop_request import StopRequest

# A line trace on the request's method raises SIGUSR1 before each line of it runs;
# signal.raise_signal runs the Python handler before it returns, so the handler sets the request
# at every point of the method, lock held or not, every run (a signal sent from outside lands
# where the scheduler puts it, which made an earlier version of this test pass by chance).
_INTERRUPTED_CALLER = textwrap.dedent("""
    import signal, sys, threading
    from dexndm_control.stop_request import StopRequest
    kind, method = sys.argv[1], sys.argv[2]
    request = StopRequest() if kind == "StopRequest" else threading.Event()
    interrupted_code = getattr(type(request), method).__code__
    handled = 0
    def on_signal(*_):
        global handled
        handled += 1
        request.set()
    signal.signal(signal.SIGUSR1, on_signal)
    def raise_on_each_line(frame, event, arg):
        if event == "line":
            signal.raise_signal(signal.SIGUSR1)
        return raise_on_each_line
    def trace_calls(frame, event, arg):
        return raise_on_each_line if frame.f_code is interrupted_code else None
    sys.settrace(trace_calls)
    request.set() if method == "set" else request.wait(0.01)
    sys.settrace(None)
    print(handled, request.is_set(), flush=True)
""")


def _handled_signals(kind: str, method: str, processes, limit_s: float) -> int | None:
    """How many signals the handler handled while ``kind.method`` ran, or None when the process
    hung (still running after ``limit_s``)."""
    process = processes.python("-c", _INTERRUPTED_CALLER, kind, method)
    try:
        output, _ = process.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        return None
    assert process.returncode == 0, output
    handled, is_set = output.split()
    assert is_set == "True"
    return int(handled)


@pytest.mark.parametrize("method", ["set", "wait"])
def test_a_handler_may_set_it_on_every_line_of_set_and_wait(processes, method):
    handled = _handled_signals("StopRequest", method, processes, limit_s=30.0)
    # set() is one line; wait() runs three: the deadline, the loop test (the first signal has
    # set the request, so the loop ends) and the return
    assert handled == {"set": 1, "wait": 3}[method]


@pytest.mark.parametrize("method", ["set", "wait"])
def test_threading_event_deadlocks_there_which_is_why_it_exists(processes, method):
    """The failure StopRequest avoids, reproduced: Event.set() in the handler waits forever for
    the lock the interrupted Event method holds (what kept a virtual hand alive after its
    launcher was killed)."""
    assert _handled_signals("Event", method, processes, limit_s=3.0) is None


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
