"""The object the virtual hand holds, for the view: asked over the virtual hand's control
socket (``<port>.ctl``: ``{"cmd": "object"}``), the shape once, then its pose. The real hand
has no object sensor; without a virtual hand the view draws no object."""

from __future__ import annotations

import json
import socket


class VirtualObjectSource:
    def __init__(self, port: str, timeout: float = 0.2) -> None:
        self.control_path = port + ".ctl"
        self.timeout = timeout
        self._stream = None
        self._shapes: list[dict] | None = None
        self.last_error = ""

    def _request(self, request: dict) -> dict:
        if self._stream is None:
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.settimeout(self.timeout)
            client.connect(self.control_path)
            self._stream = client.makefile("rw")
        self._stream.write(json.dumps(request) + "\n")
        self._stream.flush()
        return json.loads(self._stream.readline() or "{}")

    def poll(self) -> list[dict] | None:
        """The object's geoms (type, size, pose; palm frame), or None (no object, no socket)."""
        try:
            if self._shapes is None:
                reply = self._request({"cmd": "object", "shape": True})
                self._shapes = reply.get("geoms") or None
                return self._shapes
            poses = self._request({"cmd": "object"}).get("geoms")
        except (OSError, ValueError) as error:
            self._stream = None
            self.last_error = f"virtual hand control socket {self.control_path}: {error}"
            return None
        if not poses or len(poses) != len(self._shapes):
            return None
        return [{**shape, **pose} for shape, pose in zip(self._shapes, poses, strict=True)]

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
