"""WebXR source: a page the Quest browser opens streams controller poses and buttons as JSON
over a WebSocket to this server.

Security: the server binds 127.0.0.1 unless told otherwise (the headset reaches it through
``adb reverse tcp:PORT tcp:PORT``, which also makes the page a secure context for WebXR without
certificates); a WebSocket client must present the token printed at start-up
(``/ws?token=...``). Malformed or oversized messages are dropped and counted.

Message (one per XR frame):
  {"t": <client ms>, "right": {"position": [x, y, z], "orientation": [x, y, z, w],
   "buttons": ["A", ...], "trigger": v, "grip": v, "stick": [x, y]}, "left": {...}}
A hand that is not tracked is left out.
"""

from __future__ import annotations

import http
import json
import math
import secrets
import threading
import time
from collections.abc import Callable
from importlib import resources
from urllib.parse import parse_qs, urlparse

from dexndm_control.errors import DexndmError
from dexndm_control.teleop.controller_state import (
    BUTTONS,
    ControllerState,
    MalformedInput,
    pose_from_position_quaternion,
)

MAX_MESSAGE_BYTES = 4096
_HAND_BUTTONS = {"right": {"A", "B", "RThU", "RJ", "RG", "RTr"},
                 "left": {"X", "Y", "LThU", "LJ", "LG", "LTr"}}
_HAND_VALUES = {"right": ("rightTrig", "rightGrip", "rightJS_x", "rightJS_y"),
                "left": ("leftTrig", "leftGrip", "leftJS_x", "leftJS_y")}


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MalformedInput(f"{what} is not a finite number")
    return min(1.0, max(-1.0, float(value)))


def parse_webxr_message(text: str | bytes, stamp: float) -> ControllerState:
    if len(text) > MAX_MESSAGE_BYTES:
        raise MalformedInput(f"message of {len(text)} bytes (limit {MAX_MESSAGE_BYTES})")
    try:
        message = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise MalformedInput("not JSON") from None
    if not isinstance(message, dict):
        raise MalformedInput("not a JSON object")
    poses, buttons, values = {}, set(), {}
    for hand in ("right", "left"):
        entry = message.get(hand)
        if entry is None:
            continue
        if not isinstance(entry, dict):
            raise MalformedInput(f"{hand} is not an object")
        position, orientation = entry.get("position"), entry.get("orientation")
        if not isinstance(position, list) or not isinstance(orientation, list):
            raise MalformedInput(f"{hand}: position and orientation must be lists")
        for item in (*position, *orientation):
            _number(item, f"{hand} pose") if abs(item if isinstance(item, (int, float))
                                                  else 0) <= 1 else None
        try:
            poses[hand] = pose_from_position_quaternion(position, orientation, hand)
        except (TypeError, ValueError):
            raise MalformedInput(f"{hand}: pose has a non-number") from None
        pressed = entry.get("buttons", [])
        if not isinstance(pressed, list) or not all(isinstance(b, str) for b in pressed):
            raise MalformedInput(f"{hand}: buttons must be a list of names")
        unknown = set(pressed) - _HAND_BUTTONS[hand]
        if unknown:
            raise MalformedInput(f"{hand}: unknown buttons {sorted(unknown)}")
        buttons.update(pressed)
        trigger, grip, stick_x, stick_y = _HAND_VALUES[hand]
        values[trigger] = _number(entry.get("trigger", 0.0), f"{hand} trigger")
        values[grip] = _number(entry.get("grip", 0.0), f"{hand} grip")
        stick = entry.get("stick", [0.0, 0.0])
        if not isinstance(stick, list) or len(stick) != 2:
            raise MalformedInput(f"{hand}: stick must be [x, y]")
        values[stick_x], values[stick_y] = (_number(v, f"{hand} stick") for v in stick)
    return ControllerState(stamp, poses.get("right"), poses.get("left"), frozenset(buttons),
                           values, "webxr")


def page_html() -> str:
    return resources.files("dexndm_control.teleop").joinpath("webxr_page.html").read_text()


class WebXRSource:
    """WebSocket server (websockets, threaded) serving the page at / and the stream at /ws."""

    def __init__(self, on_state: Callable[[ControllerState], None], host: str = "127.0.0.1",
                 port: int = 8765, token: str = "") -> None:
        self.on_state = on_state
        self.host, self.port = host, port
        self.token = token or secrets.token_urlsafe(12)
        self.received = 0
        self.dropped_malformed = 0
        self.refused_clients = 0
        self.clients = 0
        self.last_error = ""
        self._server = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}/?token={self.token}"

    def start(self) -> None:
        from websockets.sync.server import serve

        try:
            # the hard limit only guards memory; MAX_MESSAGE_BYTES drops without disconnecting
            self._server = serve(self._handle, self.host, self.port,
                                 process_request=self._process_request,
                                 max_size=16 * MAX_MESSAGE_BYTES, compression=None)
        except OSError as error:
            raise DexndmError(f"cannot serve WebXR on {self.host}:{self.port}: {error}; choose "
                              "another webxr_port") from None
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="webxr")
        self._thread.start()

    def _process_request(self, connection, request):
        url = urlparse(request.path)
        if url.path in ("/", "/index.html"):
            response = connection.respond(http.HTTPStatus.OK, page_html())
            response.headers["Content-Type"] = "text/html; charset=utf-8"
            return response
        if url.path != "/ws":
            return connection.respond(http.HTTPStatus.NOT_FOUND, "not found\n")
        token = parse_qs(url.query).get("token", [""])[0]
        if not secrets.compare_digest(token.encode(), self.token.encode()):
            with self._lock:
                self.refused_clients += 1
            return connection.respond(http.HTTPStatus.FORBIDDEN,
                                      "wrong or missing token: open the URL the bridge printed\n")
        return None

    def _handle(self, connection) -> None:
        from websockets.exceptions import ConnectionClosed

        with self._lock:
            self.clients += 1
        try:
            for message in connection:
                self.feed(message, time.monotonic())
        except ConnectionClosed as error:
            if error.rcvd is not None and error.rcvd.code == 1009:
                with self._lock:
                    self.dropped_malformed += 1
        finally:
            with self._lock:
                self.clients -= 1

    def feed(self, message: str | bytes, stamp: float) -> None:
        try:
            state = parse_webxr_message(message, stamp)
        except MalformedInput as error:
            with self._lock:
                self.dropped_malformed += 1
            self.last_error = str(error)
            return
        with self._lock:
            self.received += 1
        self.on_state(state)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(3.0)


assert set(BUTTONS) == _HAND_BUTTONS["right"] | _HAND_BUTTONS["left"]
