"""DexNDM sim: MuJoCo LEAP hand simulation and the XC330 emulator behind the virtual hand."""

import ctypes.util as _ctypes_util
import os as _os

__version__ = "0.1.0"

# what every setting of physics threads means (HandBatch resolves 0); here, so that configs
# declare it without importing MuJoCo
PHYSICS_THREADS_HELP = ("physics threads (mujoco.rollout); 0: one per core this process may "
                        "use; results do not depend on it")


def choose_gl_backend() -> None:
    """MuJoCo picks its OpenGL platform once, when it is first imported. Headless (no DISPLAY)
    the default (GLFW) cannot render offscreen: prefer EGL, then OSMesa, unless the user chose.
    Called on import of this package; a process that imports mujoco first calls it before."""
    if _os.environ.get("MUJOCO_GL") or _os.environ.get("DISPLAY"):
        return
    for backend, library in (("egl", "EGL"), ("osmesa", "OSMesa")):
        if _ctypes_util.find_library(library):
            _os.environ["MUJOCO_GL"] = backend
            _os.environ.setdefault("PYOPENGL_PLATFORM", backend)
            return


choose_gl_backend()
