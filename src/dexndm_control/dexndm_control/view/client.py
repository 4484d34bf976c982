"""A minimal Foxglove WebSocket protocol client (``foxglove.sdk.v1``) for JSON channels: what the
Foxglove app receives from ``dexndm view``, for scripts, tests and benchmarks."""

from __future__ import annotations

import contextlib
import json
import time


class FoxgloveClient:
    """Subscribes to topics of a Foxglove WebSocket server and decodes their JSON messages
    (the tests' and benchmarks' view of what the Foxglove app receives)."""

    def __init__(self, port: int, topics: list[str], host: str = "127.0.0.1") -> None:
        from websockets.sync.client import connect

        self._stack = contextlib.ExitStack()
        self.socket = self._stack.enter_context(
            connect(f"ws://{host}:{port}", subprotocols=["foxglove.sdk.v1"]))
        self.topics = {}
        deadline = time.monotonic() + 10
        while len(self.topics) < len(topics) and time.monotonic() < deadline:
            message = json.loads(self.socket.recv(timeout=10))
            if message["op"] == "advertise":
                wanted = [c for c in message["channels"] if c["topic"] in topics]
                subscriptions = [{"id": len(self.topics) + i + 1, "channelId": c["id"]}
                                 for i, c in enumerate(wanted)]
                for s, c in zip(subscriptions, wanted, strict=True):
                    self.topics[s["id"]] = c["topic"]
                self.socket.send(json.dumps({"op": "subscribe",
                                             "subscriptions": subscriptions}))
        if sorted(self.topics.values()) != sorted(topics):
            self.close()
            raise TimeoutError(f"the server advertised {sorted(self.topics.values())} of "
                               f"{sorted(topics)} within 10 s")

    def receive(self, topic: str, timeout: float = 10.0) -> tuple[int, dict]:
        """(log time ns, message) of the next message on ``topic``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self.socket.recv(timeout=deadline - time.monotonic())
            if isinstance(data, bytes) and data[0] == 1 and \
                    self.topics[int.from_bytes(data[1:5], "little")] == topic:
                return int.from_bytes(data[5:13], "little"), json.loads(data[13:])
        raise TimeoutError(topic)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> FoxgloveClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
