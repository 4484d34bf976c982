"""A stop request that a signal handler may make, unlike ``threading.Event``.

Python runs a signal handler in the main thread between two bytecodes, possibly while that thread
holds a lock. ``Event.set()`` takes the event's lock, so a handler calling it deadlocks when the
signal lands while the main thread is inside ``set()`` or ``wait()`` itself, or inside a first
handler that a second signal interrupts. That second signal is common: a process following its
launcher (lifeline.py) gets the parent-death SIGTERM again for each of the launcher's threads as
a killed launcher's threads exit one by one. Storing a plain attribute takes no lock.
"""

from __future__ import annotations

import time

#: how often ``wait`` looks at the request (it cannot block on anything a handler would release)
_POLL_S = 0.005


class StopRequest:
    """Set from anywhere (signal handlers, other threads); looked at by a loop."""

    def __init__(self) -> None:
        self._requested = False

    def set(self) -> None:
        self._requested = True

    def is_set(self) -> bool:
        return self._requested

    def wait(self, timeout: float) -> bool:
        """Return once the stop is requested or after ``timeout`` seconds: whether it is."""
        deadline = time.monotonic() + timeout
        while not self._requested:
            remaining = deadline - time.monotonic()
            if remaining <= 0.0:
                break
            time.sleep(min(remaining, _POLL_S))
        return self._requested
