"""Helpers shared by the benchmark scripts: environment, child processes, result files."""

from __future__ import annotations

import json
import os
import platform
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def isolated_ros_env() -> dict[str, str]:
    """Loopback discovery and a random domain, so a benchmark never meets other ROS processes."""
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ["ROS_DOMAIN_ID"] = str(random.randint(101 - 30, 100))
    return dict(os.environ)


class Children:
    """Processes started by a benchmark, stopped by pid when it ends."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen] = []

    def start(self, argv: list[str], **kwargs) -> subprocess.Popen:
        process = subprocess.Popen(argv, start_new_session=True, **kwargs)
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def report(name: str, result: dict) -> None:
    """Print one JSON line and write it to benchmarks/results/<name>.json with machine facts."""
    result = {**result, "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                    "platform": platform.platform()}}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result), flush=True)


def wait_for_path(path: str | Path, timeout: float = 120.0) -> None:
    """Wait until ``path`` exists (e.g. the virtual hand's pty link or control socket)."""
    import time

    deadline = time.monotonic() + timeout
    while not Path(path).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {timeout:.0f} s")
        time.sleep(0.1)


def bin_path(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def spin_until(predicate, timeout: float, spin) -> bool:
    """Call ``spin`` (e.g. one executor turn) until ``predicate()`` holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        spin()
    return False
