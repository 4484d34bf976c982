"""Bus rate: write + read cycles/s through the XC330 emulator, against the 4 Mbaud wire limit.

1. DynamixelBus (real dynamixel-sdk) on the emulator's pty: sync write of 16 goal positions, then
   a (fast) sync read of current/velocity/position, as fast as possible for a few seconds.
2. The same exchange's time on a real 4 Mbaud bus with return delay 0: bytes x 2.5 us.
3. leap_driver at state_rate_hz 1000 over DDS: the /leap_hand/joint_states rate a subscriber sees.
4. leap_driver at its default 200 Hz, all motors answering and then one motor (ID 7) silent: the
   rate the other 15 keep (`dead_motor_rate_ratio`, target >= 0.8).
Prints one JSON line (keys cycles_per_s, wire_limit_hz, ratio, joint_states_hz, ...).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import Children, bin_path, isolated_ros_env, report, wait_for_path
from dexndm_sim.xc330.server import control_request

BYTE_TIME_S = 10 / 4_000_000  # 8N1 at 4 Mbaud
MOTORS, STATE_BYTES = 16, 10


def wire_time(fast: bool) -> float:
    sync_write = 14 + MOTORS * (1 + 4)
    read_request = 14 + MOTORS
    reply = 10 + MOTORS * (4 + STATE_BYTES) - 2 + 2 if fast else MOTORS * (11 + STATE_BYTES)
    return (sync_write + read_request + reply) * BYTE_TIME_S


def bus_cycles(port: str, fast: bool, seconds: float) -> tuple[float, int]:
    """(complete write+read cycles per second, cycles that missed a motor's reply)."""
    from dexndm_control.dynamixel.dynamixel_bus import BusConfig, DynamixelBus

    bus = DynamixelBus(BusConfig(port=port, fast_sync_read=fast))
    bus.open()
    goal = np.full(16, 2048)
    cycles, incomplete, start = 0, 0, time.perf_counter()
    try:
        while time.perf_counter() - start < seconds:
            bus.write_goal_positions(goal)
            if bus.read_state().ok.all():
                cycles += 1
            else:  # a reply later than the short packet timeout (a loaded machine)
                incomplete += 1
    finally:
        bus.close()
    return cycles / (time.perf_counter() - start), incomplete


def joint_states_rates(port: str, seconds: float, env: dict, rate_hz: float,
                       silence_between: bool = False) -> list[float]:
    """/leap_hand/joint_states rates over ``seconds``; with ``silence_between`` a second window
    follows after motor 7 stopped answering (the driver keeps running)."""
    import rclpy
    from sensor_msgs.msg import JointState

    def measure(node, stamps: list[float]) -> float:
        stamps.clear()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.05)
        return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0

    with Children() as children:
        children.start([bin_path("leap_driver"), "--ros-args", "-p", f"port:={port}",
                        "-p", f"state_rate_hz:={rate_hz}"], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        rclpy.init()
        node = rclpy.create_node("bus_rate_probe")
        stamps: list[float] = []
        node.create_subscription(JointState, "/leap_hand/joint_states",
                                 lambda _m: stamps.append(time.monotonic()), 1000)
        deadline = time.monotonic() + 30
        while not stamps and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
        rates = [measure(node, stamps)]
        if silence_between:
            control_request(port, {"cmd": "silence", "ids": [7]})
            measure(node, stamps)  # the driver notices and leaves motor 7 out
            rates.append(measure(node, stamps))
            control_request(port, {"cmd": "silence", "ids": []})
        node.destroy_node()
        rclpy.shutdown()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    env = isolated_ros_env()
    with tempfile.TemporaryDirectory() as tmp, Children() as children:
        port = str(Path(tmp) / "leap")
        # the firmware motor model: this measures the bus and protocol path, not physics
        children.start([bin_path("dexndm-virtual-hand"), "--port", port, "--model", "firmware"],
                       stdout=subprocess.DEVNULL, env=env)
        wait_for_path(port)
        fast, fast_incomplete = bus_cycles(port, True, args.seconds)
        plain, plain_incomplete = bus_cycles(port, False, args.seconds)
        (states_hz,) = joint_states_rates(port, args.seconds, env, 1000.0)
        default_hz, dead_motor_hz = joint_states_rates(port, args.seconds, env, 200.0, True)
    limit_fast, limit_plain = 1 / wire_time(True), 1 / wire_time(False)
    report("bus_rate", {
        "cycles_per_s": round(fast, 1),
        "wire_limit_hz": round(limit_fast, 1),
        "ratio": round(fast / limit_fast, 3),
        "joint_states_hz": round(states_hz, 1),
        "sync_read_cycles_per_s": round(plain, 1),
        "sync_read_wire_limit_hz": round(limit_plain, 1),
        "sync_read_ratio": round(plain / limit_plain, 3),
        "joint_states_hz_200": round(default_hz, 1),
        "joint_states_hz_200_dead_motor": round(dead_motor_hz, 1),
        "dead_motor_rate_ratio": round(dead_motor_hz / default_hz, 3),
        "incomplete_cycles": {"fast_sync_read": fast_incomplete, "sync_read": plain_incomplete},
        "note": "cycles = sync write of 16 goals + fast sync read of 16 x 10 bytes via "
                "dynamixel-sdk on the emulator's pty; wire limit = same bytes at 4 Mbaud, "
                "return delay 0; joint_states_hz from leap_driver at state_rate_hz 1000",
    })


if __name__ == "__main__":
    main()
