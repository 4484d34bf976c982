"""Run launch processes as children: prefixed output, required nodes, respawn, orderly shutdown."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from dexndm_control.launcher.description import ProcessSpec
from dexndm_control.lifeline import LAUNCHER_PID_VAR
from dexndm_control.ros_env import apply_default_ros_env
from dexndm_control.stop_request import StopRequest

#: on shutdown, how long each process may take to exit before the one started before it is told
_EACH_EXIT_S = 2.0


@dataclass
class _Child:
    spec: ProcessSpec
    process: subprocess.Popen | None = None
    reader: threading.Thread | None = None
    restart_at: float | None = None
    log_file: TextIO | None = None
    exit_codes: list[int] = field(default_factory=list)


@dataclass
class LaunchResult:
    exit_code: int
    reason: str


class Supervisor:
    """Starts every spec, forwards output as ``[name] line``, and stops them all together.

    Shutdown order: SIGINT to each child's process group, SIGTERM after ``sigint_timeout``,
    SIGKILL after ``sigterm_timeout`` more. Children run in their own sessions so that a terminal
    Ctrl-C reaches them once, through the supervisor, and grandchildren are stopped with them.
    """

    def __init__(self, specs: Sequence[ProcessSpec], *, sigint_timeout: float = 3.0,
                 sigterm_timeout: float = 2.0, log_dir: str | Path | None = None,
                 out: TextIO | None = None):
        self._children = [_Child(spec) for spec in specs]
        self._sigint_timeout = sigint_timeout
        self._sigterm_timeout = sigterm_timeout
        self._log_dir = Path(log_dir) if log_dir else None
        self._out = out or sys.stdout
        self._print_lock = threading.Lock()
        self._stop = StopRequest()  # set by signal handlers, where threading.Event may deadlock
        self._stop_reason = ""
        self._stop_code = 0

    # -- public ----------------------------------------------------------------------------

    def request_stop(self, reason: str, exit_code: int = 0) -> None:
        if not self._stop.is_set():
            self._stop_reason, self._stop_code = reason, exit_code
            self._stop.set()

    def pids(self) -> list[int]:
        return [c.process.pid for c in self._children if c.process is not None]

    def run(self, duration: float | None = None, install_signal_handlers: bool = True
            ) -> LaunchResult:
        if install_signal_handlers:
            previous = {sig: signal.signal(sig, self._on_signal)
                        for sig in (signal.SIGINT, signal.SIGTERM)}
        deadline = time.monotonic() + duration if duration else None
        try:
            for child in self._children:
                self._start(child)
            while not self._stop.wait(0.05):
                if deadline is not None and time.monotonic() >= deadline:
                    self.request_stop(f"duration of {duration:g} s reached")
                    break
                self._poll_children()
            self._shutdown()
        finally:
            if install_signal_handlers:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
            for child in self._children:
                if child.log_file:
                    child.log_file.close()
        self._say("launch", f"stopped: {self._stop_reason}")
        return LaunchResult(self._stop_code, self._stop_reason)

    # -- internals -------------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame) -> None:
        name = signal.Signals(signum).name
        self.request_stop(f"{name} received", 130 if signum == signal.SIGINT else 143)

    def _say(self, name: str, line: str) -> None:
        with self._print_lock:
            self._out.write(f"[{name}] {line}\n")
            self._out.flush()

    def _start(self, child: _Child) -> None:
        spec = child.spec
        env = apply_default_ros_env(dict(os.environ))
        env.update(spec.env)
        env[LAUNCHER_PID_VAR] = str(os.getpid())  # the child ends with this process (lifeline.py)
        try:
            child.process = subprocess.Popen(
                spec.argv, env=env, cwd=spec.cwd, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                text=True, errors="replace", bufsize=1)
        except OSError as error:
            self._say("launch", f"cannot start '{spec.name}' ({spec.origin}): {error}")
            self.request_stop(f"process '{spec.name}' could not be started: {error}", 1)
            return
        if spec.output in ("log", "both") and child.log_file is None:
            log_dir = self._log_dir or Path.home() / ".ros" / "log" / "dexndm"
            log_dir.mkdir(parents=True, exist_ok=True)
            # open for the child's lifetime (closed in run()), so not a with-block
            path = log_dir / f"{spec.name.replace('/', '_')}.log"
            child.log_file = open(path, "a")  # noqa: SIM115 - see above
        self._say("launch", f"started '{spec.name}' (pid {child.process.pid})")
        child.reader = threading.Thread(target=self._forward, args=(child, child.process),
                                        daemon=True, name=f"out-{spec.name}")
        child.reader.start()

    def _forward(self, child: _Child, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            if child.spec.output in ("screen", "both"):
                self._say(child.spec.name, line)
            if child.log_file:
                child.log_file.write(line + "\n")
                child.log_file.flush()

    def _poll_children(self) -> None:
        now = time.monotonic()
        alive = 0
        for child in self._children:
            if child.process is None:
                if child.restart_at is not None and now >= child.restart_at:
                    child.restart_at = None
                    self._start(child)
                    alive += 1
                continue
            code = child.process.poll()
            if code is None:
                alive += 1
                continue
            if child.reader:
                child.reader.join(timeout=1.0)
            child.exit_codes.append(code)
            child.process = None
            spec = child.spec
            self._say("launch", f"process '{spec.name}' exited with code {code}")
            if spec.required:
                self.request_stop(
                    f"required process '{spec.name}' exited with code {code} ({spec.origin})",
                    code if code > 0 else (1 if code < 0 else 0))
                return
            if spec.respawn:
                child.restart_at = now + spec.respawn_delay
                alive += 1
        if alive == 0:
            failed = [c.spec.name for c in self._children if c.exit_codes and c.exit_codes[-1]]
            self.request_stop("all processes exited" + (
                f"; failed: {', '.join(failed)}" if failed else ""), 1 if failed else 0)

    def _signal_group(self, child: _Child, sig: signal.Signals) -> None:
        if child.process is None or child.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.process.pid, sig)  # the child leads its own session/group

    def _wait_all(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for child in self._children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                return False
        return True

    def _interrupt_in_reverse(self, timeout: float) -> None:
        """SIGINT in the reverse of start order, each given a moment to exit before the next
        (what a process uses stops after it: the driver before the virtual hand it talks to)."""
        deadline = time.monotonic() + timeout
        for child in reversed(self._children):
            self._signal_group(child, signal.SIGINT)
            if child.process is None:
                continue
            # one that takes longer gets the rest of the common timeout below
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=max(0.0, min(_EACH_EXIT_S,
                                                        deadline - time.monotonic())))

    def _shutdown(self) -> None:
        running = [c for c in self._children if c.process and c.process.poll() is None]
        if running:
            self._say("launch", f"stopping {len(running)} process(es): {self._stop_reason}")
        for sig, timeout in ((signal.SIGINT, self._sigint_timeout),
                             (signal.SIGTERM, self._sigterm_timeout), (signal.SIGKILL, 5.0)):
            if sig == signal.SIGINT:
                self._interrupt_in_reverse(timeout)
            else:
                for child in self._children:
                    self._signal_group(child, sig)
            if self._wait_all(timeout):
                break
            self._say("launch", f"processes still running after {sig.name}: "
                                + ", ".join(c.spec.name for c in self._children
                                            if c.process and c.process.poll() is None))
        for child in self._children:
            if child.process is not None:
                # Grandchildren that ignored SIGINT/SIGTERM share the child's process group.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                if child.reader:
                    child.reader.join(timeout=1.0)
                code = child.process.returncode
                self._say("launch", f"process '{child.spec.name}' exited with code {code}")
                child.process = None
