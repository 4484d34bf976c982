"""Recorder sustained throughput: the highest JointState rate `dexndm record` keeps without loss.

A publisher in this process sends JointState(16) messages (RELIABLE, depth 1000) at paced rates
to a fresh `dexndm record` child over loopback DDS; each bag is read back and counted. Prints one
JSON line: msgs_per_s = the highest publish rate recorded with zero loss, plus every run.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import Children, bin_path, isolated_ros_env, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", type=float, nargs="+", default=[2000, 5000, 10000, 15000, 20000],
                        help="publish rates to try (messages/s), each for --seconds")
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    env = isolated_ros_env()

    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rosbags.rosbag2 import Reader
    from sensor_msgs.msg import JointState

    rows = []
    rclpy.init()
    node = rclpy.create_node("recorder_benchmark")
    message = JointState(name=[f"j{k}" for k in range(16)], position=[0.1] * 16,
                         velocity=[0.2] * 16, effort=[0.3] * 16)
    try:
        for rate in args.rates:
            topic = f"/bench/joint_states_{int(rate)}"
            publisher = node.create_publisher(
                JointState, topic, QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE))
            with tempfile.TemporaryDirectory() as tmp, Children() as children:
                bag = Path(tmp) / "bag"
                recorder = children.start([bin_path("dexndm"), "record", "-o", str(bag), topic],
                                          env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
                deadline = time.monotonic() + 30
                while publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
                    rclpy.spin_once(node, timeout_sec=0.05)
                time.sleep(0.5)
                count = int(rate * args.seconds)
                start = time.perf_counter()
                for i in range(count):
                    message.header.stamp.nanosec = i
                    publisher.publish(message)
                    target = start + (i + 1) / rate
                    while time.perf_counter() < target:
                        pass
                achieved = count / (time.perf_counter() - start)
                time.sleep(1.5)
                recorder.send_signal(signal.SIGINT)
                recorder.wait(timeout=60)
                with Reader(bag) as reader:
                    recorded = sum(1 for _ in reader.messages())
            node.destroy_publisher(publisher)
            rows.append({"target_rate": rate, "publish_rate": round(achieved, 1),
                         "published": count, "recorded": recorded, "lost": count - recorded})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    finally:
        node.destroy_node()
        rclpy.shutdown()
    lossless = [r["publish_rate"] for r in rows if r["lost"] == 0]
    report("recorder", {
        "msgs_per_s": max(lossless, default=0.0),
        "message": "sensor_msgs/JointState, 16 joints, RELIABLE, one publisher process",
        "runs": rows,
    })


if __name__ == "__main__":
    main()
