"""Offscreen rendering: an episode of the shipped policy to PNG frames and MP4 (skips cleanly
where no OpenGL backend exists)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dexndm_sim.render import RenderingUnavailable

POLICY = Path(__file__).resolve().parents[3] / "policies" / "test_base_policy"


def test_episode_renders_to_png_frames_and_mp4(tmp_path, monkeypatch):
    import imageio.v3 as iio

    from dexndm_learning.evaluation import render_episode

    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path / "cache"))
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
