"""`dexndm view`: scene messages from joint readings (hand-computed values), the Foxglove
WebSocket stream seen by a protocol client, the built-in page in headless Chromium (a
screenshot that shows the hand), and the live node over DDS (bag playback: dexndm_collect)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import HeadlessPage, find_chromium, free_port, wait_until
from dexndm_control.errors import DexndmError
from dexndm_control.hand import JOINT_NAMES
from dexndm_control.hand_model import HandKinematics
from dexndm_control.rotations import quat_to_matrix
from dexndm_control.view.client import FoxgloveClient
from dexndm_control.view.scene import (
    GHOST_COLOR,
    HandScene,
    gap_meter_record,
    joint_levels,
    object_entity,
)
from dexndm_control.view.server import GAP_TOPIC, SCENE_TOPIC, TF_TOPIC, ViewConfig, ViewCore

BIN = Path(sys.executable).parent
# a closed-ish hand pose (rad, model order), the pose drawn in every test
POSE = np.array([0.9, 0.0, 0.8, 0.6, 0.9, 0.0, 0.8, 0.6, 0.9, 0.0, 0.8, 0.6,
                 1.2, 0.5, 0.3, 0.6])
# the virtual hand's cylinders_004 in its first grasp, as its control socket reports it
CYLINDER = [{"type": "cylinder", "size": [0.02, 0.03, 0.0], "pos": [-0.005, -0.018, -0.126],
             "quat": [0.349, -0.849, 0.375, -0.128]}]


def _record(level=1, out=("if_mcp",), offset=None):
    rolling = np.full(16, 0.001)
    rolling[0] = 0.006  # if_mcp: 6 mrad against a 5 mrad warn threshold
    return gap_meter_record(level=level, rolling_mae=rolling, warn_threshold=np.full(16, 0.005),
                            error_threshold=np.full(16, 0.010), error=np.zeros(16),
                            joints_out=list(out),
                            offset=np.zeros(16) if offset is None else offset,
                            offset_warn_threshold=np.full(16, 0.008),
                            offset_error_threshold=np.full(16, 0.016))


def _compose(transform: dict, pose: dict) -> np.ndarray:
    """A primitive's position in the palm: its pose in the link frame, then the link's."""
    def quat(q):
        return np.array([q["w"], q["x"], q["y"], q["z"]])

    def vector(v):
        return np.array([v["x"], v["y"], v["z"]])

    return vector(transform["translation"]) + quat_to_matrix(quat(transform["rotation"])) @ \
        vector(pose["position"])


def test_links_are_drawn_in_their_frames_where_the_kinematics_puts_them():
    scene = HandScene()
    geometry = scene.geometry(1_500_000_123)
    ids = [e["id"] for e in geometry["entities"]]
    assert len(ids) == 34 and "hand/palm" in ids and "targets/th_ds" in ids  # 17 links x 2
    hand = [e for e in geometry["entities"] if e["id"].startswith("hand/")]
    assert sum(len(e["cubes"]) for e in hand) == 67  # the figures' 67 boxes and 4 hulls
    assert sum(len(e["triangles"]) for e in hand) == 4
    palm = hand[0]
    assert palm["timestamp"] == {"sec": 1, "nsec": 500_000_123} and palm["frame_id"] == "palm"
    # the palm's first box: 2 x its half sizes (0.011, 0.013, 0.017) from the figures file
    assert palm["cubes"][0]["size"] == pytest.approx({"x": 0.022, "y": 0.026, "z": 0.034})
    tip = next(e for e in hand if e["triangles"])["triangles"][0]
    assert len(tip["indices"]) % 3 == 0 and max(tip["indices"]) == len(tip["points"]) - 1
    ghost = next(e for e in geometry["entities"] if e["id"] == "targets/if_bs")
    assert ghost["frame_id"] == "targets/if_bs"
    assert ghost["cubes"][0]["color"]["a"] == pytest.approx(GHOST_COLOR[3])

    transforms = scene.transforms(7, POSE, targets=np.zeros(16),
                                  wrist_quat=(0.0, 1.0, 0.0, 0.0))["transforms"]
    by_child = {t["child_frame_id"]: t for t in transforms}
    assert by_child["palm"]["parent_frame_id"] == "world"
    assert by_child["palm"]["rotation"] == {"x": 1.0, "y": 0.0, "z": 0.0, "w": 0.0}
    assert len(transforms) == 1 + 16 + 17  # wrist, the moving links, the ghost's links
    # every box, placed through its link's transform, is where the kinematics puts it
    positions, _ = HandKinematics().geom_poses(POSE)
    boxes = [g for g in HandKinematics().geoms if g.kind == "box"]
    drawn = {e["id"][5:]: e for e in hand}
    names = HandKinematics().body_names
    counts: dict[str, int] = {}
    for geom, expected in zip(boxes, positions[[g.kind == "box" for g in
                                                HandKinematics().geoms]], strict=True):
        body = names[geom.body]
        k = counts[body] = counts.get(body, -1) + 1
        pose = drawn[body]["cubes"][k]["pose"]
        frame = by_child[body] if body != "palm" else {  # the palm is the frame itself
            "translation": {"x": 0, "y": 0, "z": 0}, "rotation": {"x": 0, "y": 0, "z": 0, "w": 1}}
        np.testing.assert_allclose(_compose(frame, pose), expected, atol=2e-6)
    json.dumps(geometry), json.dumps(transforms)  # plain JSON all the way down


def test_the_palm_turns_with_the_controllers_wrist_until_the_arm_says_otherwise():
    from geometry_msgs.msg import QuaternionStamped
    from sensor_msgs.msg import JointState

    from dexndm_control.rotations import WRIST_ORIENTATIONS
    from dexndm_control.view.bag_source import CONTROL_STEP, JOINT_STATES, WRIST, feed
    from dexndm_msgs.msg import ControlStep

    def palm_rotation(core: ViewCore) -> list[float]:
        transforms = core.scene.transforms(1, POSE, None, core.wrist)["transforms"]
        rotation = next(t for t in transforms if t["child_frame_id"] == "palm")["rotation"]
        return [rotation[k] for k in "wxyz"]

    def step(name: str) -> ControlStep:
        message = ControlStep()
        message.wrist.w, message.wrist.x, message.wrist.y, message.wrist.z = \
            WRIST_ORIENTATIONS[name]
        return message

    core = ViewCore(ViewConfig())
    feed(core, JOINT_STATES, 1, JointState(name=list(JOINT_NAMES), position=POSE.tolist()))
    assert palm_rotation(core) == pytest.approx([0.0, 1.0, 0.0, 0.0])  # palm up, told nothing
    feed(core, CONTROL_STEP, 2, step("palm_down"))  # a controller started palm down
    assert palm_rotation(core) == pytest.approx([1.0, 0.0, 0.0, 0.0])
    told = QuaternionStamped()
    told.quaternion.w, told.quaternion.x, told.quaternion.y, told.quaternion.z = \
        WRIST_ORIENTATIONS["thumb_up"]
    feed(core, WRIST, 3, told)  # the arm's orientation outranks the controller's from now on
    feed(core, CONTROL_STEP, 4, step("palm_down"))
    assert palm_rotation(core) == pytest.approx([0.5 ** 0.5, 0.5 ** 0.5, 0.0, 0.0])


def test_the_object_is_drawn_from_the_virtual_hands_geoms():
    obj = object_entity(0, CYLINDER)
    assert obj["frame_id"] == "palm"
    # a cylinder of radius 0.02 m and half length 0.03 m: 0.04 x 0.04 x 0.06
    assert obj["cylinders"][0]["size"] == pytest.approx({"x": 0.04, "y": 0.04, "z": 0.06})


def test_capsules_get_caps_and_meshes_keep_their_triangles():
    geoms = [{"type": "capsule", "size": [0.01, 0.02, 0.0], "pos": [0.0, 0.0, 0.0],
              "quat": [1.0, 0.0, 0.0, 0.0]},
             {"type": "mesh", "size": [0, 0, 0], "pos": [0.0, 0.0, 0.0],
              "quat": [1.0, 0.0, 0.0, 0.0], "triangles": [[[0, 0, 0], [1, 0, 0], [0, 1, 0]]]}]
    entity = object_entity(0, geoms)
    assert [s["pose"]["position"]["z"] for s in entity["spheres"]] == [-0.02, 0.02]
    assert len(entity["triangles"][0]["points"]) == 3


def test_gap_meter_record_and_link_colours():
    record = _record()
    assert record["ratio"]["if_mcp"] == pytest.approx(1.2)
    assert record["rolling_mae_mrad"]["if_mcp"] == pytest.approx(6.0)
    assert record["level_name"] == "WARN" and record["joints_out"] == ["if_mcp"]
    levels = joint_levels(record)
    assert levels[JOINT_NAMES.index("if_mcp")] == 1 and levels.sum() == 1
    geometry = HandScene().geometry(0, ghost=False, joint_levels=levels)
    by_id = {e["id"]: e for e in geometry["entities"]}
    assert len(by_id) == 17
    # if_mcp moves the index finger's base link (if_bs): amber; its neighbour stays grey
    assert all(c["color"]["g"] == pytest.approx(0.75) for c in by_id["hand/if_bs"]["cubes"])
    assert by_id["hand/if_px"]["cubes"][0]["color"]["g"] == pytest.approx(0.64)


def test_an_offset_beyond_its_threshold_is_judged_as_the_controller_judges_it():
    """rf_mcp's motion error is small, its offset (-20 mrad) is past the 16 mrad error level:
    the record's ratio and joint level come from the offset, as in GapThresholds.level."""
    offset = np.zeros(16)
    offset[JOINT_NAMES.index("rf_mcp")] = -0.020
    offset[JOINT_NAMES.index("th_cmc")] = 0.004  # half its warn threshold: OK
    record = _record(level=2, out=("if_mcp", "rf_mcp"), offset=offset)
    assert record["ratio"]["rf_mcp"] == pytest.approx(2.5)  # 20 / 8
    assert record["ratio"]["th_cmc"] == pytest.approx(0.5)
    assert record["offset_mrad"]["rf_mcp"] == pytest.approx(-20.0)
    assert record["joint_level"]["rf_mcp"] == 2 and record["joint_level"]["if_mcp"] == 1
    assert record["joint_level"]["th_cmc"] == 0
    # thresholds a message does not carry (0) never trip
    bare = gap_meter_record(level=0, rolling_mae=np.zeros(16), warn_threshold=np.zeros(16),
                            error_threshold=np.zeros(16), error=np.zeros(16), joints_out=[],
                            offset=np.zeros(16), offset_warn_threshold=np.zeros(16),
                            offset_error_threshold=np.zeros(16))
    assert set(bare["joint_level"].values()) == {0} and set(bare["ratio"].values()) == {0.0}


def test_a_motor_short_of_its_cap_is_judged_as_the_controller_judges_it():
    """th_axl delivers 60 % of its current cap (WARN below 70 %), mf_dip nothing (ERROR below
    40 %), the rest are not at cap (NaN): the record's shares, ratios and joint levels."""
    delivered = np.full(16, np.nan)
    delivered[JOINT_NAMES.index("th_axl")] = 0.6
    delivered[JOINT_NAMES.index("mf_dip")] = 0.0
    fields = dict(level=2, rolling_mae=np.zeros(16), warn_threshold=np.full(16, 0.005),
                  error_threshold=np.full(16, 0.01), error=np.zeros(16),
                  joints_out=["mf_dip", "th_axl"], offset=np.zeros(16),
                  offset_warn_threshold=np.full(16, 0.008),
                  offset_error_threshold=np.full(16, 0.016), cap_delivered=delivered)
    record = gap_meter_record(**fields, cap_warn_share=0.7, cap_error_share=0.4)
    assert record["cap_delivered_pct"] == {"mf_dip": 0.0, "th_axl": pytest.approx(60.0)}
    assert record["ratio"]["th_axl"] == pytest.approx(0.7 / 0.6)
    assert record["ratio"]["mf_dip"] == 1000.0  # nothing delivered: capped for JSON
    assert record["joint_level"]["th_axl"] == 1 and record["joint_level"]["mf_dip"] == 2
    assert sum(record["joint_level"].values()) == 3
    # a message sent without the check (shares 0) judges nothing at the cap
    off = gap_meter_record(**fields)
    assert "cap_delivered_pct" not in off and set(off["joint_level"].values()) == {0}


@pytest.fixture
def view():
    core = ViewCore(ViewConfig(port=0, page_port=0))
    core.start()
    yield core
    core.stop()


def test_a_protocol_client_receives_the_scene_and_the_gap_meter(view):
    client = FoxgloveClient(view.port, [SCENE_TOPIC, GAP_TOPIC, TF_TOPIC])
    assert wait_until(lambda: all(view.subscribed(t) for t in (SCENE_TOPIC, GAP_TOPIC,
                                                                TF_TOPIC)), 10)
    view.command(np.zeros(16))
    view.gap_meter(7, level=1, rolling_mae=np.full(16, 0.006), warn_threshold=np.full(16, 0.005),
                   error_threshold=np.full(16, 0.01), error=np.zeros(16), joints_out=["if_mcp"],
                   offset=np.zeros(16), offset_warn_threshold=np.full(16, 0.005),
                   offset_error_threshold=np.full(16, 0.01))
    stamp, record = client.receive(GAP_TOPIC)
    assert stamp == 7 and record["level_name"] == "WARN"
    view.joint_state(42_000, POSE)
    assert view.publish(now=100.0)
    assert not view.publish(now=100.001)  # the same reading is not sent twice
    stamp, update = client.receive(SCENE_TOPIC)
    assert stamp == 42_000 and len(update["entities"]) == 34
    stamp, transforms = client.receive(TF_TOPIC)
    assert stamp == 42_000
    expected = HandKinematics().body_poses(POSE)[0][1]  # if_bs in the palm
    if_bs = next(t for t in transforms["transforms"] if t["child_frame_id"] == "if_bs")
    assert [if_bs["translation"][k] for k in "xyz"] == pytest.approx(expected, abs=1e-6)
    # the next reading moves only the frames: no geometry until it is due again
    view.joint_state(43_000, POSE)
    assert view.publish(now=100.1)
    stamp, _ = client.receive(TF_TOPIC)
    assert stamp == 43_000
    with pytest.raises(TimeoutError):
        client.receive(SCENE_TOPIC, timeout=0.3)
    client.close()


def test_bad_readings_are_not_drawn_and_a_taken_port_is_named(view):
    view.joint_state(1, np.full(16, np.nan))
    view.joint_state(2, np.zeros(3))
    assert view.q is None and not view.publish()
    with pytest.raises(DexndmError, match="another --port"):
        ViewCore(ViewConfig(port=view.port, page_port=-1)).start()
    page_port = int(view.page_url.rsplit(":", 1)[1].strip("/"))
    taken = ViewCore(ViewConfig(port=0, page_port=page_port))
    with pytest.raises(DexndmError, match="another --page-port"):
        taken.start()
    assert not taken.serving  # the half-started WebSocket server was stopped


@pytest.mark.skipif(find_chromium() is None and not os.environ.get("CI"),
                    reason="no Chromium (bash scripts/bootstrap.sh installs Debian's chromium)")
def test_the_page_shows_the_hand_in_headless_chromium(view, processes, tmp_path):
    from PIL import Image

    assert find_chromium() is not None, "CI needs Chromium: scripts/bootstrap.sh installs it"
    with HeadlessPage(processes, view.page_url, tmp_path / "profile", size=(960, 720)) as page:
        assert page.wait_for("document.body.dataset.state === 'connected'", 30)
        view.set_object(CYLINDER)
        view.command(POSE + 0.1)
        stamp = 1
        drawn_ids: list[str] = []
        # publish until the page has the links', the object's and the targets' geometry and the
        # frames: its subscription may start between two scene messages of one publish, and
        # the links, the object and the targets each come in their own
        def drawn() -> bool:
            nonlocal stamp
            stamp += 1
            view.joint_state(stamp, POSE)
            view.publish(now=float(stamp))
            if not page.evaluate("Number(document.body.dataset.frames) > 30"):
                return False
            drawn_ids[:] = (page.evaluate("document.body.dataset.entities") or "").split(",")
            return {"hand/palm", "object", "targets/palm"} <= set(drawn_ids)
        assert wait_until(drawn, 30, period=0.1), drawn_ids
        assert len(drawn_ids) == 35, drawn_ids
        shot = page.screenshot(tmp_path / "view.png")
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    background = np.array([0x15, 0x18, 0x1C])
    grey = (np.abs(pixels - pixels.mean(axis=-1, keepdims=True)).max(axis=-1) < 12) & \
        (np.abs(pixels - background).sum(axis=-1) > 40)
    orange = (pixels[..., 0] > 120) & (pixels[..., 0] > 1.8 * pixels[..., 2]) & \
        (pixels[..., 1] < pixels[..., 0])
    # the hand's grey links and the orange object cover a real part of the view
    assert grey.sum() > 5000, grey.sum()
    assert orange.sum() > 500, orange.sum()


def _client_when_up(port: int, topics: list[str], process) -> FoxgloveClient:
    clients: list[FoxgloveClient] = []

    def up() -> bool:
        assert process.poll() is None, "hand_view exited"
        try:
            clients.append(FoxgloveClient(port, topics))
        except OSError:
            return False
        return True

    assert wait_until(up, 30, period=0.2), "the view's WebSocket server did not come up"
    return clients[0]


def test_the_node_draws_what_arrives_over_dds(processes, ros_node):
    from sensor_msgs.msg import JointState

    port = free_port()
    process = processes.start([str(BIN / "hand_view"), "--ros-args", "-p", f"port:={port}",
                               "-p", "page_port:=-1"])
    client = _client_when_up(port, [TF_TOPIC], process)
    publisher = ros_node.create_publisher(JointState, "/leap_hand/joint_states", 10)
    message = JointState(name=list(JOINT_NAMES), position=POSE.tolist())
    message.header.stamp.sec, message.header.stamp.nanosec = 12, 345
    # publish until the node has discovered us and drawn the reading
    received = []

    def drawn() -> bool:
        publisher.publish(message)
        ros_node.spin(0.05)
        try:
            received.append(client.receive(TF_TOPIC, timeout=0.2))
        except TimeoutError:
            return False
        return True

    assert wait_until(drawn, 30)
    stamp, message = received[0]
    assert stamp == 12_000_000_345
    expected = HandKinematics().body_poses(POSE)[0]
    by_child = {t["child_frame_id"]: t["translation"] for t in message["transforms"]}
    assert [by_child["th_ds"][k] for k in "xyz"] == pytest.approx(expected[-1], abs=1e-6)
    client.close()


def test_the_shipped_layout_is_the_generated_one_and_names_the_views_topics():
    from dexndm_control.view.layout import layout_json

    shipped = (Path(__file__).resolve().parents[3] / "config" / "foxglove_layout.json")
    assert shipped.read_text() == layout_json(), \
        "config/foxglove_layout.json is stale: regenerate it (docs/view.md)"
    text = shipped.read_text()
    for topic in (SCENE_TOPIC, GAP_TOPIC, "/dexndm/view/joints"):
        assert topic in text
    assert f"{GAP_TOPIC}.ratio.th_ipl" in text  # every joint has its series
