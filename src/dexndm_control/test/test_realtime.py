"""Real-time scheduling of a control thread: granted where allowed, a clear refusal where not."""

from __future__ import annotations

import os
import threading

import pytest

from dexndm_control.realtime import current_policy, request_fifo


def _in_thread(work):
    """Run ``work`` in a fresh thread (the policy is per thread: the test runner's stays)."""
    result = {}
    thread = threading.Thread(target=lambda: result.update(value=work()))
    thread.start()
    thread.join()
    return result["value"]


def test_zero_leaves_the_thread_as_it_is():
    inherited = _in_thread(current_policy)
    assert _in_thread(lambda: (request_fifo(0), current_policy())) == (None, inherited)


def test_priority_out_of_range_is_refused():
    with pytest.raises(ValueError, match="outside 0-99"):
        request_fifo(100)


def test_fifo_is_granted_or_refused_with_the_fix():
    mine, inherited = current_policy(), _in_thread(current_policy)
    refused, policy = _in_thread(lambda: (request_fifo(7), current_policy()))
    if refused is None:
        assert policy == ("SCHED_FIFO", 7)
    else:  # no rtprio right here: the thread stays as it was and the message names the fix
        assert policy == inherited
        assert "rtprio" in refused and "realtime_priority to 0" in refused
    assert current_policy() == mine  # only the calling thread changed


def test_refusal_without_the_right(monkeypatch):
    def deny(*_):
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(os, "sched_setscheduler", deny)
    message = request_fifo(50)
    assert message.startswith("no right to real-time priority 50 (SCHED_FIFO)")
    assert "limits.conf" in message
