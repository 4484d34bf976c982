"""Input-to-publish latency of quest_bridge for both Quest sources, over real DDS.

webxr: a WebSocket client streams controller poses at 90 Hz (the Quest 3 frame rate);
oculus_reader: logcat lines are written into a FIFO that the bridge reads as its `adb logcat`.
Each input carries a distinct controller position; the latency of an input is the header stamp
of the /teleop/arm_target it produced (stamped at publish) minus the wall time it was sent.
One in ten inputs is malformed: `dropped_malformed` is what the bridge reported dropping
(`sent_malformed` what was sent). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import tempfile
import threading
import time

import numpy as np

from _common import Children, bin_path, isolated_ros_env, report, spin_until

HZ = 90.0


def _bridge(children: Children, *params: str):
    import subprocess

    argv = [bin_path("quest_bridge"), "--ros-args"]
    for param in (*params, "max_linear_speed:=1000.0", "workspace_min:=[-100.0, -100.0, -100.0]",
                  "workspace_max:=[100.0, 100.0, 100.0]", "home_position:=[0.0, 0.0, 0.0]"):
        argv += ["-p", param]
    process = children.start(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True).start()
    return process, lines


def _measure(send, node, spin, count: int) -> list[float]:
    """send(k, malformed) -> None. Returns latencies (ms) of the well-formed inputs."""
    from geometry_msgs.msg import PoseStamped

    arrivals: dict[int, float] = {}
    node.create_subscription(PoseStamped, "/teleop/arm_target", lambda m: arrivals.setdefault(
        round(m.pose.position.x * 1e4), m.header.stamp.sec + m.header.stamp.nanosec * 1e-9), 1000)
    # discovery: input k=0 (engage) until targets arrive
    assert spin_until(lambda: (send(0, False), bool(arrivals))[1], 30, spin), \
        "no arm target arrived"
    sent: dict[int, float] = {}
    period, next_time = 1.0 / HZ, time.monotonic()
    for k in range(1, count + 1):
        malformed = k % 10 == 0
        wall = time.time()
        send(k, malformed)
        if not malformed:
            sent[k] = wall
        next_time += period
        while time.monotonic() < next_time:
            spin()
    spin_until(lambda: all(k in arrivals for k in sent), 3.0, spin)
    return [(arrivals[k] - sent[k]) * 1000.0 for k in sent if k in arrivals]


def _dropped(lines: list[str]) -> int:
    return sum(int(m.group(1)) for line in lines
               for m in [re.search(r"dropped (\d+) malformed", line)] if m)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=900, help="inputs per source (at 90 Hz)")
    args = parser.parse_args()
    isolated_ros_env()
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from websockets.sync.client import connect

    rclpy.init()
    results, dropped, sent_malformed = {}, 0, 0
    try:
        with Children() as children, tempfile.TemporaryDirectory() as tmp:
            # -- webxr ------------------------------------------------------------------------
            node = rclpy.create_node("latency_probe_webxr")
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            spin = functools.partial(executor.spin_once, timeout_sec=0.0005)
            process, lines = _bridge(children, "source:=webxr", "webxr_port:=0",
                                     "webxr_token:=bench")
            assert spin_until(lambda: any("localhost:" in line for line in lines), 30, spin)
            port = int(re.search(r"localhost:(\d+)/", "".join(lines)).group(1))
            with connect(f"ws://127.0.0.1:{port}/ws?token=bench") as client:

                def send_webxr(k: int, malformed: bool) -> None:
                    if malformed:
                        client.send('{"right": {"position": [1, 2], "orientation": []}}')
                        return
                    # -z in VR is +x for the robot: x = k * 1e-4 m
                    client.send(json.dumps({"right": {"position": [0.0, 0.0, -k * 1e-4],
                                                      "orientation": [0, 0, 0, 1],
                                                      "buttons": ["RG"], "grip": 1.0}}))

                results["webxr"] = _measure(send_webxr, node, spin, args.inputs)
                time.sleep(5.5)  # the bridge reports drops every 5 s
            dropped += _dropped(lines)
            sent_malformed += args.inputs // 10
            executor.remove_node(node)
            node.destroy_node()

            # -- oculus_reader through a FIFO ---------------------------------------------------
            fifo = os.path.join(tmp, "logcat")
            os.mkfifo(fifo)
            node = rclpy.create_node("latency_probe_oculus")
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            spin = functools.partial(executor.spin_once, timeout_sec=0.0005)
            process, lines = _bridge(children, "source:=oculus_reader",
                                     f"logcat_command:=cat {fifo}")
            writer = open(fifo, "w")  # noqa: SIM115 - kept open for the whole run

            def send_logcat(k: int, malformed: bool) -> None:
                pose = f"1 0 0 0 0 1 0 0 0 0 1 {-k * 1e-4:.6f} 0 0 0 1"
                body = "r:1 2 3&R" if malformed else f"r:{pose}&R,RG,rightGrip 1.0"
                writer.write(f"11-22 06:00:00.000 1 1 I wE9ryARX: {body}\n")
                writer.flush()

            results["oculus_reader"] = _measure(send_logcat, node, spin, args.inputs)
            time.sleep(5.5)
            dropped += _dropped(lines)
            sent_malformed += args.inputs // 10
            writer.close()
            executor.remove_node(node)
            node.destroy_node()
    finally:
        rclpy.shutdown()
    everything = np.array(results["webxr"] + results["oculus_reader"])
    per_source = {name: {"latency_ms_p50": round(float(np.percentile(v, 50)), 3),
                         "latency_ms_p99": round(float(np.percentile(v, 99)), 3),
                         "received": len(v)} for name, v in results.items()}
    report("teleop_latency", {
        "latency_ms_p50": round(float(np.percentile(everything, 50)), 3),
        "latency_ms_p99": round(float(np.percentile(everything, 99)), 3),
        "dropped_malformed": dropped, "sent_malformed": sent_malformed,
        "inputs_per_source": args.inputs, "rate_hz": HZ, "sources": per_source})


if __name__ == "__main__":
    main()
