"""Shared test fixtures: isolated ROS domains, child processes cleaned up by pid, rclpy helpers."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent
_domains = itertools.count((os.getpid() * 7) % 90)


def pytest_configure(config):
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    # before any test module imports mujoco, which fixes its OpenGL platform on first import
    from dexndm_sim import choose_gl_backend

    choose_gl_backend()


@pytest.fixture(scope="session", autouse=True)
def shared_cache(tmp_path_factory):
    """One DEXNDM_CACHE for the whole run (grasps, the compiled XC330 law): out of the user's
    ~/.cache, and each grasp set searched once per run instead of once per test. Entries are
    keyed by everything they depend on (dexndm_sim.grasps), so sharing them changes no result."""
    path = tmp_path_factory.mktemp("dexndm_cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEXNDM_CACHE", str(path))
        yield path


@pytest.fixture
def ros_domain(monkeypatch: pytest.MonkeyPatch) -> int:
    """A ROS_DOMAIN_ID of this test's own (1..90), with discovery kept on loopback."""
    domain = next(_domains) % 90 + 1
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return domain


class Processes:
    """Start child processes in their own sessions; stop every one by pid at teardown."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, argv: list[str], **kwargs) -> subprocess.Popen:
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.STDOUT)
        kwargs.setdefault("text", True)
        process = subprocess.Popen(argv, start_new_session=True, env=kwargs.pop("env", None)
                                   or dict(os.environ), **kwargs)
        self.started.append(process)
        return process

    def python(self, *args: str, **kwargs) -> subprocess.Popen:
        return self.start([sys.executable, *args], **kwargs)

    def run(self, argv: list[str], timeout: float, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess:
        """``subprocess.run`` for a command that starts its own process tree (torchrun's ranks
        live in sessions of their own). If it outlives ``timeout`` the test fails, showing where
        each process waited: the process and every descendant get SIGABRT, which Python's
        faulthandler turns into a stack dump on the shared stderr, and what is left is then
        killed by pid."""
        env = {**(env or os.environ), "PYTHONFAULTHANDLER": "1"}
        process = self.start(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for pid in [*descendants(process.pid), process.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGABRT)
                # one at a time, so the dumps do not interleave
                wait_until(lambda pid=pid: not pid_alive(pid), 5)
            self.cleanup()
            stdout, stderr = process.communicate(timeout=30)
            pytest.fail(f"{' '.join(argv)} did not finish in {timeout:.0f} s; its processes' "
                        f"stacks when stopped:\n{stderr[-6000:]}")
        return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)

    def cleanup(self) -> None:
        for process in self.started:
            if process.poll() is None:
                # a launcher's children live in their own process groups: find them first, so
                # a test that fails before stopping its launcher still leaves nothing behind
                children = descendants(process.pid)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                for pid in children:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture
def processes():
    tracker = Processes()
    yield tracker
    tracker.cleanup()


def wait_until(predicate: Callable[[], bool], timeout: float, spin: Callable[[], None] | None
               = None, period: float = 0.02) -> bool:
    """Poll ``predicate`` (spinning ``spin`` between polls) until true or ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if spin is not None:
            spin()
        else:
            time.sleep(period)
    return predicate()


@pytest.fixture
def ros_node(ros_domain: int):
    """An rclpy node in its own context on this test's domain, and a spin function."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain)
    node = rclpy.create_node("test_probe", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)

    def spin(timeout: float = 0.02) -> None:
        executor.spin_once(timeout_sec=timeout)

    node.spin = spin
    yield node
    executor.shutdown()
    node.destroy_node()
    rclpy.shutdown(context=context)


def free_port() -> int:
    """A TCP port nobody listens on now (for a server a test starts in another process)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def descendants(pid: int) -> list[int]:
    """All live descendant pids of ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().split(")")[-1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


@pytest.fixture
def virtual_hand(tmp_path, processes):
    """Start the XC330 emulator in its own process; returns (port path, control function)."""
    from dexndm_sim.xc330.server import control_request

    def start(*args: str, port: str | None = None) -> tuple[str, Callable[[dict], dict]]:
        port = port or str(tmp_path / f"leap{len(processes.started)}")
        processes.start([str(Path(sys.executable).parent / "dexndm-virtual-hand"),
                         "--port", port, *(args or ("--model", "firmware"))])
        assert wait_until(lambda: Path(port + ".ctl").exists() and Path(port).exists(), 20), \
            "the virtual hand did not start"
        return port, lambda request: control_request(port, request)

    return start


class Output:
    """Collect a child's output lines in a thread (so its pipe never fills)."""

    def __init__(self, process) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process) -> None:
        for line in process.stdout:
            self.lines.append(line.rstrip("\n"))

    def text(self) -> str:
        return "\n".join(self.lines)

    def count(self, fragment: str) -> int:
        return sum(fragment in line for line in self.lines)

    def find(self, pattern: str):
        """The first regular-expression match in the lines so far, or None."""
        for line in self.lines:
            match = re.search(pattern, line)
            if match:
                return match
        return None


DRIFT = 0.001  # rad: drift_dynamics_bundle's model predicts q_(t+1) = q_t + 1 mrad


def drift_dynamics_bundle(path: Path, reference, window: int = 3) -> Path:
    """A joint-wise dynamics bundle whose prediction is known exactly: its networks output 0
    (normalised dq), so it predicts q_t + DRIFT whatever the targets. ``reference``: the
    held-out error per joint it carries (None: none)."""
    import torch

    from dexndm_control.policy.bundle import save_bundle
    from dexndm_control.policy.dynamics_model import DynamicsModel

    model = DynamicsModel("joint", window)
    with torch.no_grad():
        for weight, bias in zip(model.net.weights, model.net.biases, strict=True):
            weight.zero_()
            bias.zero_()
    model.dq_norm.set(torch.full((16,), DRIFT), torch.ones(16))
    info = {"metrics": {"eval_mae_per_joint": [float(r) for r in reference]}} \
        if reference is not None else {}
    return save_bundle(path, "dynamics", model.config(), model.state_dict(), info)


# A headless Chromium a test can ask questions of (Chrome DevTools Protocol over a WebSocket).
# ``--dump-dom`` with a virtual-time budget answers once, after *virtual* time ran out, and
# virtual time runs ahead of a slow WebSocket handshake on a loaded machine; HeadlessPage polls
# the live page instead, until a condition holds or a real-time deadline passes.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "headless_shell")


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class HeadlessPage:
    """One page of a headless Chromium started through ``processes`` (stopped by pid)."""

    def __init__(self, processes, url: str, profile: Path, size: tuple[int, int] = (1280, 800),
                 timeout: float = 30.0) -> None:
        from websockets.sync.client import connect

        profile.mkdir(parents=True, exist_ok=True)
        # only loopback traffic: no background networking, updates, sync or first-run fetches
        self.process = processes.start(
            [find_chromium(), "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-default-apps",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             f"--window-size={size[0]},{size[1]}", f"--user-data-dir={profile}", url])
        port_file = profile / "DevToolsActivePort"
        started = wait_until(lambda: self.process.poll() is not None or (
            port_file.exists() and bool(port_file.read_text().strip())), timeout)
        if not started or self.process.poll() is not None:
            raise RuntimeError(f"Chromium did not start its DevTools endpoint "
                               f"(exit {self.process.poll()})")
        port = int(port_file.read_text().split()[0])
        pages: list[dict] = []

        def page_opened() -> bool:
            pages[:] = self._pages(port)
            return bool(pages)

        if not wait_until(page_opened, timeout):
            raise RuntimeError("Chromium opened no page")
        self._stack = contextlib.ExitStack()
        self._socket = self._stack.enter_context(connect(pages[0]["webSocketDebuggerUrl"],
                                                         max_size=None, open_timeout=timeout))
        self._ids = itertools.count(1)

    @staticmethod
    def _pages(port: int) -> list[dict]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as reply:
            return [t for t in json.load(reply) if t.get("type") == "page"]

    def command(self, method: str, **params) -> dict:
        """Send one DevTools command and return its result (events in between are skipped)."""
        ident = next(self._ids)
        self._socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            reply = json.loads(self._socket.recv(timeout=30))
            if reply.get("id") == ident:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (None when it throws)."""
        result = self.command("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            return None
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0) -> bool:
        """Whether ``expression`` became truthy in the page within ``timeout`` seconds."""
        return wait_until(lambda: bool(self.evaluate(expression)), timeout, period=0.1)

    def screenshot(self, path: Path) -> Path:
        data = self.command("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> HeadlessPage:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
