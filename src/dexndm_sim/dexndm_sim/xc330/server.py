"""Serve a VirtualBus on a pty, behind a stable symlink, with a control socket for faults.

The driver opens the symlink (e.g. /tmp/leap_hand) exactly like /dev/ttyUSB0. Everything runs in
one thread: wait for bytes (or 1 ms), advance the motor model to the wall clock, answer packets.
The control socket (<port>.ctl, JSON lines) lets tests and tools inspect the control tables and
inject faults: silence motors, corrupt replies, answer late, overload a motor, load a joint (its
motor then draws current and heats), warm the room for a while, make the port vanish.
"""

from __future__ import annotations

import json
import os
import select
import socket
import termios
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dexndm_control.stop_request import StopRequest
from dexndm_sim.xc330.protocol import Parser
from dexndm_sim.xc330.virtual_bus import VirtualBus


@dataclass
class _Tick:
    period: float  # seconds between calls
    callback: Callable[[], object]
    due: float  # next call, time.monotonic()


class PtyServer:
    def __init__(self, bus: VirtualBus, port: str | Path) -> None:
        self.bus = bus
        self.port = Path(port)
        self.control_path = Path(f"{self.port}.ctl")
        self._lock = threading.Lock()
        self._stop = StopRequest()  # stop() runs in signal handlers: no threading.Event
        self._master: int | None = None
        self._slave: int | None = None
        self._vanished_until = 0.0
        self._parser = Parser()
        self._control: socket.socket | None = None
        self._start_time = time.monotonic()
        self._ticks: list[_Tick] = []
        self._late_replies = 0  # the next N replies are sent late (a slow or busy adapter)
        self._late_by = 0.0

    def on_tick(self, period: float, callback) -> None:
        """Call ``callback`` every ``period`` seconds from the serving thread (each callback
        registered keeps its own period)."""
        self._ticks.append(_Tick(period, callback, time.monotonic() + period))

    # -- pty -----------------------------------------------------------------------------------

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave, termios.TCSANOW)
        tty.setraw(master, termios.TCSANOW)
        self._master, self._slave = master, slave
        target = os.ttyname(slave)
        temporary = self.port.with_name(self.port.name + ".tmp")
        if temporary.is_symlink() or temporary.exists():
            temporary.unlink()
        temporary.symlink_to(target)
        temporary.replace(self.port)  # atomic: clients never see a missing link while it moves
        self._parser = Parser()

    def _close_pty(self) -> None:
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        if self.port.is_symlink():
            self.port.unlink()

    def vanish(self, seconds: float) -> None:
        """Unplug: close the pty and remove the link; plug back in after ``seconds``."""
        with self._lock:
            self._close_pty()
            self._vanished_until = time.monotonic() + seconds

    # -- control socket ------------------------------------------------------------------------

    def _open_control(self) -> None:
        if self.control_path.exists():
            self.control_path.unlink()
        self._control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._control.bind(str(self.control_path))
        self._control.listen(4)
        threading.Thread(target=self._serve_control, daemon=True, name="control").start()

    def _serve_control(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._control.accept()
            except OSError:
                return
            # one thread per client: a long-lived client (the wrist stream) must not block others
            threading.Thread(target=self._serve_client, args=(connection,), daemon=True,
                             name="control-client").start()

    def _serve_client(self, connection: socket.socket) -> None:
        try:
            with connection, connection.makefile("rw") as stream:
                for line in stream:
                    try:
                        reply = self.control(json.loads(line))
                    except (ValueError, KeyError, TypeError) as error:
                        reply = {"ok": False, "error": str(error)}
                    stream.write(json.dumps(reply) + "\n")
                    stream.flush()
        except OSError:
            return  # the client went away mid-reply

    def control(self, request: dict) -> dict:
        command = request["cmd"]
        with self._lock if command != "vanish" else _NoLock():
            if command == "state":
                wrist = getattr(self.bus.model, "wrist", None)
                hand_over = getattr(self.bus.model, "hand_over", None)
                return {"ok": True, "registers": self.bus.snapshot(), "time": self.bus.time,
                        "sim_time": self.bus.simulated_time,
                        "stats": self.bus.stats,
                        "temperature_c": [round(float(v), 2)
                                          for v in self.bus.thermals.temperature],
                        "peak_temperature_c": [round(float(v), 2)
                                               for v in self.bus.thermals.peak],
                        "wrist": None if wrist is None else [float(v) for v in wrist],
                        "hand_over": hand_over}
            if command == "object":
                geoms = getattr(self.bus.model, "object_geoms", None)
                return {"ok": True, "geoms": None if geoms is None
                        else geoms(bool(request.get("shape", False)))}
            if command == "silence":
                self.bus.faults.silent_ids = set(request.get("ids", []))
            elif command == "corrupt":
                self.bus.faults.corrupt_rate = float(request["rate"])
            elif command == "overload":
                self.bus.overload(int(request["id"]))
            elif command == "ambient":
                self.bus.set_ambient(float(request["celsius"]), float(request["seconds"]))
            elif command == "load":
                self.bus.load(int(request["id"]), float(request["torque"]),
                              float(request.get("seconds", 1.0)))
            elif command == "vanish":
                self.vanish(float(request.get("seconds", 1.0)))
            elif command == "late":
                self._late_replies = int(request.get("replies", 1))
                self._late_by = float(request["seconds"])
            elif command == "wrist":
                set_wrist = getattr(self.bus.model, "set_wrist", None)
                if set_wrist is None:
                    return {"ok": False, "error": "this motor model has no wrist: start the "
                                                  "virtual hand with --model mujoco"}
                set_wrist([float(v) for v in request["quat"]])
            elif command == "set":
                self.bus.set(int(request["id"]), request["name"], int(request["value"]))
            else:
                return {"ok": False, "error": f"unknown command {command!r}"}
        return {"ok": True}

    # -- main loop -----------------------------------------------------------------------------

    def serve(self, duration: float | None = None) -> None:
        self._open_pty()
        self._open_control()
        deadline = time.monotonic() + duration if duration else None
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                with self._lock:
                    if self._master is None:
                        if now >= self._vanished_until:
                            self._open_pty()
                        master = None
                    else:
                        master = self._master
                if master is None:
                    time.sleep(0.005)
                    self.bus.advance(now - self._start_time)
                    continue
                for tick in self._ticks:
                    if now >= tick.due:
                        tick.due = now + tick.period
                        tick.callback()
                try:
                    ready, _, _ = select.select([master], [], [], 0.001)
                except OSError:  # unplugged (vanish, another thread) since it was taken
                    ready = []
                with self._lock:
                    self.bus.advance(time.monotonic() - self._start_time)
                    if ready and self._master == master:
                        self._answer(master)
        finally:
            self._shutdown()

    def _answer(self, master: int) -> None:
        try:
            data = os.read(master, 4096)
        except OSError:  # no client attached yet, or it closed its end
            time.sleep(0.001)
            return
        for packet in self._parser.feed(data):
            for reply in self.bus.handle(packet):
                if self._late_replies > 0:
                    self._late_replies -= 1
                    time.sleep(self._late_by)
                os.write(master, reply)

    def stop(self) -> None:
        """Ask ``serve`` to return (safe from signal handlers and other threads)."""
        self._stop.set()

    def _shutdown(self) -> None:
        self._stop.set()
        if self._control is not None:
            self._control.close()
            self._control = None
            if self.control_path.exists():
                self.control_path.unlink()
        with self._lock:
            self._close_pty()


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def control_request(port: str | Path, request: dict, timeout: float = 5.0) -> dict:
    """Send one request to a running emulator's control socket and return its reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout)
        client.connect(f"{port}.ctl")
        with client.makefile("rw") as stream:
            stream.write(json.dumps(request) + "\n")
            stream.flush()
            return json.loads(stream.readline())
