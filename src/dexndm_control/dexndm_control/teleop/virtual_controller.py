"""Keyboard and gamepad sources for users without a headset.

Both drive a virtual right controller (integrated from key presses or stick rates) and virtual
buttons, and emit ControllerState in the VR frame at a fixed rate, so the mapping downstream
(clutch, axis buttons, dead-man, staleness) is exactly the one the Quest goes through.

Keyboard: w/s forward/back, a/d left/right, r/f up/down, q/e yaw, g toggles the clutch (right
grip), space toggles the dead-man (left trigger), 1/2/3 press X/Y/LG (axis buttons), x quits.
Gamepad (Linux joystick API, /dev/input/js*): left stick x/y, right stick up/down and yaw,
RB held = clutch, LB held = dead-man, A/B/X buttons = X/Y/LG.
"""

from __future__ import annotations

import os
import select
import struct
import sys
import threading
import time
from collections.abc import Callable

import numpy as np

from dexndm_control.errors import DexndmError
from dexndm_control.teleop.controller_state import ControllerState
from dexndm_control.teleop.mapping import VR_TO_ROBOT, axis_angle_matrix

KEY_STEP = 0.01  # m per key press
KEY_YAW = np.radians(3.0)


class VirtualController:
    """A right controller pose (robot frame) and button state, turned into ControllerState."""

    def __init__(self) -> None:
        self.position = np.zeros(3)
        self.rotation = np.eye(3)
        self.held: set[str] = set()  # buttons held down
        self.toggled: set[str] = set()  # buttons latched on by a toggle key
        self.momentary: set[str] = set()  # pressed for one emitted state
        self.values: dict[str, float] = {}
        self.lock = threading.Lock()

    def move(self, translation: np.ndarray, yaw: float = 0.0) -> None:
        with self.lock:
            self.position = self.position + translation
            self.rotation = axis_angle_matrix(np.array([0.0, 0.0, yaw])) @ self.rotation

    def toggle(self, button: str) -> None:
        with self.lock:
            self.toggled ^= {button}

    def state(self, source: str) -> ControllerState:
        with self.lock:
            pose = np.eye(4)
            pose[:3, :3] = VR_TO_ROBOT.T @ self.rotation @ VR_TO_ROBOT
            pose[:3, 3] = VR_TO_ROBOT.T @ self.position
            buttons = frozenset(self.held | self.toggled | self.momentary)
            self.momentary = set()
            values = dict(self.values)
        values["rightGrip"] = 1.0 if "RG" in buttons else 0.0
        values["leftTrig"] = 1.0 if "LTr" in buttons else 0.0
        return ControllerState(time.monotonic(), pose, np.eye(4), buttons, values, source)


_KEY_MOVES = {"w": (1, 0, 0), "s": (-1, 0, 0), "a": (0, 1, 0), "d": (0, -1, 0),
              "r": (0, 0, 1), "f": (0, 0, -1)}


def apply_key(controller: VirtualController, key: str) -> bool:
    """Apply one key; False when the key asks to quit."""
    if key in _KEY_MOVES:
        controller.move(np.array(_KEY_MOVES[key], dtype=float) * KEY_STEP)
    elif key in ("q", "e"):
        controller.move(np.zeros(3), KEY_YAW if key == "q" else -KEY_YAW)
    elif key == "g":
        controller.toggle("RG")
    elif key == " ":
        controller.toggle("LTr")
    elif key in ("1", "2", "3"):
        with controller.lock:
            controller.momentary.add(("X", "Y", "LG")[int(key) - 1])
    elif key == "x":
        return False
    return True


class _RateSource:
    """Emit the virtual controller's state at ``rate_hz`` from a thread."""

    def __init__(self, on_state: Callable[[ControllerState], None], rate_hz: float,
                 source: str) -> None:
        self.on_state = on_state
        self.controller = VirtualController()
        self.period = 1.0 / rate_hz
        self.source = source
        self.received = 0
        self.dropped_malformed = 0
        self.last_error = ""
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, daemon=True, name=name)
        thread.start()
        self._threads.append(thread)

    def _emit_loop(self) -> None:
        while not self._stop.wait(self.period):
            self.received += 1
            self.on_state(self.controller.state(self.source))

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(2.0)


class KeyboardSource(_RateSource):
    def __init__(self, on_state: Callable[[ControllerState], None], rate_hz: float = 50.0,
                 stream=None) -> None:
        super().__init__(on_state, rate_hz, "keyboard")
        self.stream = stream if stream is not None else sys.stdin

    def start(self) -> None:
        if not self.stream.isatty():
            raise DexndmError("the keyboard source needs a terminal: run the bridge in its own "
                              "terminal (ros2 run dexndm_control quest_bridge --ros-args -p "
                              "source:=keyboard)")
        self._spawn(self._emit_loop, "keyboard-emit")
        self._spawn(self._read_keys, "keyboard-read")

    def _read_keys(self) -> None:
        import termios
        import tty

        fd = self.stream.fileno()
        saved = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd)
            while not self._stop.is_set():
                ready, _, _ = select.select([fd], [], [], 0.1)
                if ready and not apply_key(self.controller, os.read(fd, 1).decode(errors="ignore")):
                    self._stop.set()
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


_JS_EVENT = struct.Struct("IhBB")  # time (ms), value, type, number
_JS_BUTTON, _JS_AXIS, _JS_INIT = 0x01, 0x02, 0x80
GAMEPAD_BUTTONS = {0: "X", 1: "Y", 2: "LG", 4: "LTr", 5: "RG"}  # A, B, X, LB, RB (xpad layout)
GAMEPAD_SPEED = 0.15  # m/s at full stick
GAMEPAD_YAW_RATE = 1.0  # rad/s at full stick


def apply_joystick_event(controller: VirtualController, sticks: dict[int, float],
                         data: bytes) -> None:
    _, value, kind, number = _JS_EVENT.unpack(data)
    kind &= ~_JS_INIT
    if kind == _JS_BUTTON and number in GAMEPAD_BUTTONS:
        name = GAMEPAD_BUTTONS[number]
        with controller.lock:
            if value:
                controller.held.add(name)
            else:
                controller.held.discard(name)
    elif kind == _JS_AXIS:
        sticks[number] = value / 32767.0


class GamepadSource(_RateSource):
    def __init__(self, on_state: Callable[[ControllerState], None], device: str = "/dev/input/js0",
                 rate_hz: float = 50.0) -> None:
        super().__init__(on_state, rate_hz, "gamepad")
        self.device = device
        self.sticks: dict[int, float] = {}

    def start(self) -> None:
        try:
            self._fd = os.open(self.device, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as error:
            raise DexndmError(f"cannot open gamepad {self.device}: {error}; plug it in or set "
                              "gamepad_device") from None
        self._spawn(self._read_events, "gamepad-read")
        self._spawn(self._emit_loop, "gamepad-emit")

    def _read_events(self) -> None:
        last = time.monotonic()
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], self.period)
            if ready:
                try:
                    data = os.read(self._fd, _JS_EVENT.size)
                except BlockingIOError:
                    data = b""
                if len(data) == _JS_EVENT.size:
                    apply_joystick_event(self.controller, self.sticks, data)
            now = time.monotonic()
            dt, last = now - last, now
            s = self.sticks
            # left stick: x forward (up = negative), y left; right stick: z up, yaw
            velocity = np.array([-s.get(1, 0.0), -s.get(0, 0.0), -s.get(4, 0.0)]) * GAMEPAD_SPEED
            self.controller.move(velocity * dt, -s.get(3, 0.0) * GAMEPAD_YAW_RATE * dt)
        os.close(self._fd)
