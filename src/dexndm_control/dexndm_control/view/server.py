"""The view's server side (no rclpy): the latest hand state in, Foxglove messages out.

``ViewCore`` keeps the latest joint reading, commanded targets, gap meter record and object
geoms, and publishes a scene at most ``rate_hz`` times a second through the Foxglove SDK's
WebSocket server (the Foxglove app connects to it: ``ws://HOST:PORT``). Beside it a small HTTP
server serves ``view_page.html``, a self-contained browser view of the same stream for
machines without the Foxglove app. Both the ROS node and bag playback feed a ``ViewCore``.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from dataclasses import dataclass
from importlib import resources

import numpy as np

from dexndm_control.errors import DexndmError
from dexndm_control.hand import JOINT_NAMES
from dexndm_control.rotations import PALM_UP_QUAT
from dexndm_control.settings import setting
from dexndm_control.view.scene import HandScene, gap_meter_record, joint_levels, object_entity

SCENE_TOPIC = "/dexndm/view/scene"
JOINTS_TOPIC = "/dexndm/view/joints"
GAP_TOPIC = "/dexndm/view/gap_meter"
TF_TOPIC = "/dexndm/view/tf"


@dataclass(frozen=True)
class ViewConfig:
    host: str = setting("127.0.0.1", help="address the view serves on (0.0.0.0: the whole "
                                          "network; the stream has no authentication)")
    port: int = setting(8765, help="Foxglove WebSocket port (the Foxglove app: Open "
                                   "connection -> Foxglove WebSocket -> ws://HOST:PORT); 0 picks "
                                   "a free one")
    page_port: int = setting(8766, help="port of the built-in browser view "
                                        "(http://HOST:PAGE_PORT/); 0 picks a free one, -1: none")
    rate_hz: float = setting(30.0, help="largest scene rate (a new joint reading is needed for "
                                        "each scene)")
    ghost: bool = setting(True, help="draw the commanded targets as a translucent ghost hand")
    geometry_period_s: float = setting(1.0, help="how often the link geometry is sent again "
                                                 "(for clients that joined since); the link "
                                                 "frames move every scene")

    def __post_init__(self) -> None:
        if self.rate_hz <= 0 or self.geometry_period_s <= 0:
            raise DexndmError("rate_hz and geometry_period_s must be > 0")


def _schema(name: str, properties: dict | None = None):
    from foxglove import Schema

    body = {"title": name, "type": "object", "properties": properties or {}}
    return Schema(name=name, encoding="jsonschema", data=json.dumps(body).encode())


def page_html(ws_port: int) -> str:
    text = resources.files("dexndm_control.view").joinpath("view_page.html").read_text()
    return text.replace("{{WS_PORT}}", str(ws_port))


class ViewCore:
    """State in (``joint_state``, ``targets``, ``gap_meter``, ``object``), scenes out."""

    def __init__(self, config: ViewConfig, scene: HandScene | None = None) -> None:
        self.config = config
        self.scene = scene or HandScene()
        self.q: np.ndarray | None = None
        self.q_stamp_ns = 0
        self.targets: np.ndarray | None = None
        self.gap: dict | None = None
        self.object_geoms: list[dict] | None = None
        self.wrist = np.asarray(PALM_UP_QUAT, dtype=float)
        self._wrist_told = False  # by /dexndm/wrist_orientation, which outranks the controller
        self.scenes_sent = 0
        self._published_stamp = -1
        self._last_publish = 0.0
        self._geometry_sent: tuple[float, tuple] | None = None  # (when, the colours it had)
        self._server = None
        self._page = None
        self._channels: dict = {}

    # -- serving -------------------------------------------------------------------------------

    def start(self) -> None:
        import foxglove

        try:
            self._server = foxglove.start_server(name="dexndm view", host=self.config.host,
                                                 port=self.config.port)
        except RuntimeError as error:  # the SDK raises FoxgloveError (a RuntimeError)
            raise DexndmError(f"cannot serve the view on {self.config.host}:"
                              f"{self.config.port}: {error}; pass another --port") from None
        self._channels = {
            SCENE_TOPIC: foxglove.Channel(SCENE_TOPIC, schema=_schema("foxglove.SceneUpdate"),
                                          message_encoding="json"),
            JOINTS_TOPIC: foxglove.Channel(JOINTS_TOPIC, schema=_schema(
                "dexndm.JointView", {"position": {"type": "object"},
                                     "target": {"type": "object"}}), message_encoding="json"),
            TF_TOPIC: foxglove.Channel(TF_TOPIC, schema=_schema("foxglove.FrameTransforms"),
                                       message_encoding="json"),
            GAP_TOPIC: foxglove.Channel(GAP_TOPIC, schema=_schema(
                "dexndm.GapMeterView", {"level": {"type": "integer"},
                                        "ratio": {"type": "object"},
                                        "cap_delivered_pct": {"type": "object"}}),
                message_encoding="json"),
        }
        if self.config.page_port >= 0:
            try:
                self._page = _PageServer(self.config.host, self.config.page_port, self.port)
            except DexndmError:
                self.stop()  # no half-started view: the WebSocket port is free again
                raise

    @property
    def serving(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        return self._server.port if self._server is not None else self.config.port

    @property
    def page_url(self) -> str | None:
        if self._page is None:
            return None
        return f"http://{_display_host(self.config.host)}:{self._page.port}/"

    @property
    def ws_url(self) -> str:
        return f"ws://{_display_host(self.config.host)}:{self.port}"

    def subscribed(self, topic: str) -> bool:
        """Whether a client (the Foxglove app, a page) is subscribed to ``topic``."""
        channel = self._channels.get(topic)
        return channel is not None and channel.has_sinks()

    def stop(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels = {}
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._page is not None:
            self._page.stop()
            self._page = None

    # -- state in ------------------------------------------------------------------------------

    def joint_state(self, stamp_ns: int, position) -> None:
        q = np.asarray(position, dtype=float)
        if q.shape != (len(JOINT_NAMES),) or not np.all(np.isfinite(q)):
            return  # a reading that is not the hand's 16 joints: nothing to draw
        self.q, self.q_stamp_ns = q, int(stamp_ns)

    def command(self, position) -> None:
        targets = np.asarray(position, dtype=float)
        if targets.shape == (len(JOINT_NAMES),) and np.all(np.isfinite(targets)):
            self.targets = targets

    def gap_meter(self, stamp_ns: int, **fields) -> None:
        self.gap = gap_meter_record(**fields)
        self._log(GAP_TOPIC, self.gap, stamp_ns)

    def set_object(self, geoms: list[dict] | None) -> None:
        self.object_geoms = geoms

    def set_wrist(self, quat_wxyz, from_controller: bool = False) -> None:
        """The palm's orientation in the world: as the arm is told it (/dexndm/wrist_orientation),
        or, until that has come, the wrist the controller gives its policy (its start wrist)."""
        if from_controller and self._wrist_told:
            return
        quat = np.asarray(quat_wxyz, dtype=float)
        norm = np.linalg.norm(quat)
        if quat.shape == (4,) and np.isfinite(norm) and abs(norm - 1.0) < 1e-2:
            self.wrist = quat / norm
            self._wrist_told = self._wrist_told or not from_controller

    # -- out -----------------------------------------------------------------------------------

    def publish(self, now: float | None = None) -> bool:
        """Publish the frames of the newest joint reading (and the link geometry when due),
        unless it was published already or the rate says not yet. True when a scene went out."""
        now = time.monotonic() if now is None else now
        if self.q is None or self.q_stamp_ns == self._published_stamp:
            return False
        if now - self._last_publish < 1.0 / self.config.rate_hz * 0.95:
            return False
        stamp = self.q_stamp_ns
        targets = self.targets if self.config.ghost else None
        levels = tuple(joint_levels(self.gap)) if self.gap is not None else None
        if self._geometry_sent is None or self._geometry_sent[1] != levels or \
                now - self._geometry_sent[0] >= self.config.geometry_period_s:
            self._log(SCENE_TOPIC, self.scene.geometry(stamp, self.config.ghost, levels), stamp)
            self._geometry_sent = (now, levels)
        self._log(TF_TOPIC, self.scene.transforms(stamp, self.q, targets, self.wrist), stamp)
        if self.object_geoms:
            self._log(SCENE_TOPIC, {"deletions": [],
                                    "entities": [object_entity(stamp, self.object_geoms)]}, stamp)
        joints = {"position": dict(zip(JOINT_NAMES, self.q.tolist(), strict=True))}
        if self.targets is not None:
            joints["target"] = dict(zip(JOINT_NAMES, self.targets.tolist(), strict=True))
        self._log(JOINTS_TOPIC, joints, stamp)
        self._published_stamp, self._last_publish = stamp, now
        self.scenes_sent += 1
        return True

    def _log(self, topic: str, message: dict, stamp_ns: int) -> None:
        channel = self._channels.get(topic)
        if channel is not None:
            channel.log(message, log_time=int(stamp_ns))


def _display_host(host: str) -> str:
    return "localhost" if host in ("127.0.0.1", "0.0.0.0", "") else host


class _PageServer:
    """The built-in browser view, over plain HTTP on its own thread."""

    def __init__(self, host: str, port: int, ws_port: int) -> None:
        body = page_html(ws_port).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] not in ("/", "/index.html"):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass  # no access log on stderr

        try:
            self._httpd = http.server.ThreadingHTTPServer((host, port), Handler)
        except OSError as error:
            raise DexndmError(f"cannot serve the browser view on {host}:{port}: {error}; pass "
                              "another --page-port (or -1 for none)") from None
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        name="view-page")
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
