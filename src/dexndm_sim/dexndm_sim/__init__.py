"""DexNDM sim: MuJoCo LEAP hand simulation and the XC330 emulator behind the virtual hand."""

import ctypes.util as _ctypes_util
import os as _os

__version__ = "0.1.0"

# MuJoCo picks its OpenGL platform once, when it is first imported. Headless (no DISPLAY) the
# default (GLFW) cannot render offscreen: prefer EGL, then OSMesa, unless the user chose.
if not _os.environ.get("MUJOCO_GL") and not _os.environ.get("DISPLAY"):
    for _backend, _library in (("egl", "EGL"), ("osmesa", "OSMesa")):
        if _ctypes_util.find_library(_library):
            _os.environ["MUJOCO_GL"] = _backend
            _os.environ.setdefault("PYOPENGL_PLATFORM", _backend)
            break
