"""Offscreen rendering: an episode of the shipped policy to PNG frames and MP4 (skips cleanly
where no OpenGL backend exists)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dexndm_sim.render import RenderingUnavailable

POLICY = Path(__file__).resolve().parents[3] / "policies" / "test_base_policy"


def test_episode_renders_to_png_frames_and_mp4(tmp_path):
    import imageio.v3 as iio

    from dexndm_learning.evaluation import render_episode

    try:
        result = render_episode(str(POLICY), tmp_path / "frames", category="small_cylinders",
                                steps=4, width=160, height=120)
    except RenderingUnavailable as error:
        pytest.skip(f"no OpenGL backend here: {error}")
    frames = sorted(Path(result["out"]).glob("frame_*.png"))
    assert result["frames"] == 4 and len(frames) == 4
    first = iio.imread(frames[0])
    assert first.shape == (120, 160, 3)
    assert first.std() > 5.0  # a scene, not a blank image
    video = render_episode(str(POLICY), tmp_path / "episode.mp4", category="small_cylinders",
                           steps=6, width=160, height=120)
    decoded = iio.imread(video["out"])
    assert decoded.shape[0] == 6 and decoded.shape[1:3] == (120, 160)
    assert np.abs(decoded[0].astype(float) - first.astype(float)).mean() < 20  # same scene


def test_frames_show_the_hand_not_only_the_object():
    """The hand's geoms (group 3, hidden by MuJoCo's default scene options) are drawn: a
    segmentation render of the hand holding an object contains hand geoms and object geoms."""
    import mujoco

    from dexndm_control.hand import CANONICAL_POSE
    from dexndm_sim.objects import generate_category
    from dexndm_sim.profiles import nominal
    from dexndm_sim.render import FrameRenderer
    from dexndm_sim.scene import SceneConfig
    from dexndm_sim.sim_hand import SimHand
    from dexndm_sim.wrist import CANONICAL

    hand = SimHand(SceneConfig(CANONICAL["palm_up"], nominal(), "fast",
                               generate_category("small_cylinders")[0]))
    hand.reset(CANONICAL_POSE, hand.scene.palm_to_world(np.array([0.0, 0.0, -0.05])),
               np.array([1.0, 0.0, 0.0, 0.0]))
    try:
        renderer = FrameRenderer(hand.model, 160, 120)
    except RenderingUnavailable as error:
        pytest.skip(f"no OpenGL backend here: {error}")
    try:
        segments = renderer.segmentation(hand.data)
    finally:
        renderer.close()
    geoms = segments[..., 0][segments[..., 1] == mujoco.mjtObj.mjOBJ_GEOM]
    bodies = set(hand.model.geom_bodyid[np.unique(geoms)])
    hand_pixels = np.isin(hand.model.geom_bodyid[geoms], hand.scene.hand_bodies).sum()
    assert hand.scene.object_body in bodies
    assert hand_pixels > 0.05 * segments[..., 0].size  # the hand fills part of the frame


def test_render_starts_from_the_bundles_initial_grasp(tmp_path):
    """Without --category/--object-index/--grasp-index the episode starts where the bundle's
    initial_grasp says (the virtual hand's start); a grasp index out of range is refused."""
    import shutil

    import yaml

    from dexndm_learning.evaluation import render_episode

    bundle = tmp_path / "policy"
    shutil.copytree(POLICY, bundle)
    info = yaml.safe_load((bundle / "bundle.yaml").read_text())
    info["initial_grasp"] = {"object": "small_cylinders_001", "category": "small_cylinders",
                             "object_index": 1, "wrist": "palm_up", "grasp_index": 1,
                             "profile": "nominal", "grasps": 2, "seed": 0}
    (bundle / "bundle.yaml").write_text(yaml.safe_dump(info, sort_keys=False))
    try:
        result = render_episode(str(bundle), tmp_path / "frames", steps=2, width=64, height=48)
    except RenderingUnavailable as error:
        pytest.skip(f"no OpenGL backend here: {error}")
    assert (result["object"], result["grasp"], result["frames"]) == ("small_cylinders_001", 1, 2)
    with pytest.raises(ValueError, match="grasp-index must be within 0-1"):
        render_episode(str(bundle), tmp_path / "frames2", steps=2, width=64, height=48,
                       grasp_index=5)
