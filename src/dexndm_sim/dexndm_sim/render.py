"""Offscreen rendering of an episode to PNG frames or a video (MP4/GIF), for debugging and docs.

Needs an OpenGL backend for MuJoCo: EGL (headless GPUs and Mesa, `libegl1`) or OSMesa
(`libosmesa6`); MUJOCO_GL picks one, and headless the package chooses EGL, then OSMesa (see
dexndm_sim/__init__.py). Without one, RenderingUnavailable says what to install.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexndm_control.errors import DexndmError
from dexndm_sim.model import PALM_POSITION


class RenderingUnavailable(DexndmError):
    pass


HEADLIGHT_AMBIENT, HEADLIGHT_DIFFUSE = 0.45, 0.75


@dataclass(frozen=True)
class CameraView:
    distance: float = 0.42
    azimuth: float = 140.0
    elevation: float = -25.0
    lookat: tuple[float, float, float] = tuple(PALM_POSITION)


class FrameRenderer:
    def __init__(self, model, width: int = 640, height: int = 480,
                 view: CameraView = CameraView()) -> None:
        import mujoco

        if mujoco.GLContext.__module__ == "mujoco.glfw" and not os.environ.get("DISPLAY"):
            # GLFW without a display: creating a context fails, and a second try aborts
            raise RenderingUnavailable(
                "mujoco was imported with its GLFW backend and there is no DISPLAY; import "
                "dexndm_sim before mujoco, or set MUJOCO_GL=egl (or osmesa)")
        # a brighter headlight than MuJoCo's default: the hand's geoms are dark grey (visual
        # settings only; the physics does not read them)
        model.vis.headlight.ambient[:] = HEADLIGHT_AMBIENT
        model.vis.headlight.diffuse[:] = HEADLIGHT_DIFFUSE
        try:
            self._renderer = mujoco.Renderer(model, height, width)
        except Exception as error:  # noqa: BLE001 - GL failures surface as many types
            raise RenderingUnavailable(
                f"no OpenGL backend for offscreen rendering ({error}); install EGL (libegl1) "
                "or OSMesa (libosmesa6) and set MUJOCO_GL=egl or osmesa") from None
        # the hand's geoms sit in group 3 (collision boxes and fingertip meshes, model.py),
        # which MuJoCo's default scene options hide: show every group the scene uses
        self.option = mujoco.MjvOption()
        self.option.geomgroup[:] = 1
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        self._camera.distance, self._camera.azimuth = view.distance, view.azimuth
        self._camera.elevation = view.elevation
        self._camera.lookat[:] = view.lookat

    def render(self, data) -> np.ndarray:
        self._renderer.update_scene(data, camera=self._camera, scene_option=self.option)
        return self._renderer.render().copy()

    def segmentation(self, data) -> np.ndarray:
        """[H, W, 2]: per pixel the object id and type MuJoCo drew there (-1: nothing)."""
        self._renderer.enable_segmentation_rendering()
        try:
            return self.render(data)
        finally:
            self._renderer.disable_segmentation_rendering()

    def close(self) -> None:
        self._renderer.close()


def write_frames(frames: list[np.ndarray], out: str | Path, fps: float = 20.0) -> Path:
    """A directory (PNG per frame), or a .mp4/.gif file."""
    import imageio.v3 as iio

    out = Path(out)
    if not frames:
        raise DexndmError("no frames to write")
    if out.suffix.lower() in (".mp4", ".gif"):
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".mp4":
            iio.imwrite(out, np.stack(frames), fps=fps, codec="libx264", macro_block_size=8)
        else:
            iio.imwrite(out, np.stack(frames), duration=1000.0 / fps, loop=0)
        return out
    out.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames):
        iio.imwrite(out / f"frame_{index:04d}.png", frame)
    return out
