"""The oculus_reader APK's stream: `adb logcat` lines tagged wE9ryARX.

Payload after the tag: ``r:<16 numbers>|l:<16 numbers>&<buttons>``; each pose is a row-major 4x4
(numbers separated by spaces, as the APK writes them; commas are accepted too); the buttons part
is comma-separated: names of pressed buttons, the markers R and L for each hand present, and
values such as ``rightJS 0.1 -0.2``, ``rightGrip 0.8``, ``leftTrig 1.0``.
"""

from __future__ import annotations

import shlex
import subprocess
import threading
import time
from collections.abc import Callable

from dexndm_control.errors import DexndmError
from dexndm_control.teleop.controller_state import (
    BUTTONS,
    ControllerState,
    MalformedInput,
    checked_pose,
)

TAG = "wE9ryARX"
MAX_LINE = 4096
_VALUE_KEYS = {"rightJS": ("rightJS_x", "rightJS_y"), "leftJS": ("leftJS_x", "leftJS_y"),
               "rightGrip": ("rightGrip",), "leftGrip": ("leftGrip",),
               "rightTrig": ("rightTrig",), "leftTrig": ("leftTrig",)}


def parse_logcat_line(line: str, stamp: float) -> ControllerState | None:
    """The controller state in one logcat line; None for lines of other tags (not an error);
    MalformedInput for a tagged line that cannot be read."""
    marker = line.find(TAG + ":")
    if marker < 0:
        return None
    if len(line) > MAX_LINE:
        raise MalformedInput(f"line of {len(line)} characters (limit {MAX_LINE})")
    payload = line[marker + len(TAG) + 1:].strip()
    if payload.count("&") != 1:
        raise MalformedInput("expected '<poses>&<buttons>'")
    poses_text, buttons_text = payload.split("&")
    poses = {}
    for part in filter(None, (p.strip() for p in poses_text.split("|"))):
        hand, _, numbers = part.partition(":")
        if hand not in ("r", "l") or hand in poses:
            raise MalformedInput(f"unknown or repeated pose label {hand!r}")
        try:
            values = [float(v) for v in numbers.replace(",", " ").split()]
        except ValueError:
            raise MalformedInput(f"{hand}: pose has a non-number") from None
        poses[hand] = checked_pose(values, f"{hand} pose")
    buttons, values, markers = set(), {}, set()
    for item in filter(None, (i.strip() for i in buttons_text.split(","))):
        name, *numbers = item.split()
        if not numbers:
            if name in ("R", "L"):
                markers.add(name)
            elif name in BUTTONS:
                buttons.add(name)
            else:
                raise MalformedInput(f"unknown button {name!r}")
            continue
        keys = _VALUE_KEYS.get(name)
        if keys is None or len(numbers) != len(keys):
            raise MalformedInput(f"unknown value {item!r}")
        try:
            for key, number in zip(keys, numbers, strict=False):
                values[key] = min(1.0, max(-1.0, float(number)))
        except ValueError:
            raise MalformedInput(f"{name}: not a number") from None
    return ControllerState(stamp, poses.get("r") if "R" in markers or not markers else None,
                           poses.get("l") if "L" in markers or not markers else None,
                           frozenset(buttons), values, "oculus_reader")


class OculusReaderSource:
    """Runs ``adb logcat`` (USB, or Wi-Fi with ``device``=ip:port) and feeds parsed states to
    ``on_state``. Counts malformed lines; restarts adb with a back-off if it exits."""

    def __init__(self, on_state: Callable[[ControllerState], None], device: str = "",
                 adb: str = "adb", command: str = "") -> None:
        self.on_state = on_state
        self.received = 0
        self.dropped_malformed = 0
        self.last_error = ""
        if command:  # tests and replays: any program printing logcat lines
            self._argv = shlex.split(command)
        else:
            serial = ["-s", device] if device else []
            self._argv = [adb, *serial, "logcat", "-T", "1", "-s", TAG]
        self._device = device
        self._adb = adb
        self._stop = threading.Event()
        self._process: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="oculus_reader")
        self._thread.start()

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            if self._device and ":" in self._device:
                subprocess.run([self._adb, "connect", self._device], capture_output=True,
                               timeout=10, check=False)
            try:
                self._process = subprocess.Popen(self._argv, stdout=subprocess.PIPE,
                                                 stderr=subprocess.DEVNULL, text=True,
                                                 errors="replace", start_new_session=True)
            except OSError as error:
                self.last_error = (f"cannot start {self._argv[0]}: {error}; install the Android "
                                   "platform tools (adb) or set the adb parameter")
                self._stop.wait(backoff)
                backoff = min(5.0, backoff * 2)
                continue
            for line in self._process.stdout:
                self.feed(line, time.monotonic())
                if self._stop.is_set():
                    break
            self._process.wait()
            if not self._stop.is_set():
                self.last_error = (f"{self._argv[0]} exited ({self._process.returncode}); is the "
                                   "headset connected and the oculus_reader app running?")
                self._stop.wait(backoff)
                backoff = min(5.0, backoff * 2)

    def feed(self, line: str, stamp: float) -> None:
        try:
            state = parse_logcat_line(line, stamp)
        except MalformedInput as error:
            self.dropped_malformed += 1
            self.last_error = str(error)
            return
        if state is not None:
            self.received += 1
            self.on_state(state)

    def stop(self) -> None:
        self._stop.set()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(2.0)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._thread is not None:
            self._thread.join(3.0)


def require_adb(adb: str) -> None:
    import shutil
    if shutil.which(adb) is None:
        raise DexndmError(f"'{adb}' not found: install the Android platform tools "
                          "(apt install adb) or choose source:=webxr / keyboard")
