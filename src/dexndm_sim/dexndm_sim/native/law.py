"""The XC330 law inside MuJoCo's physics step: xc330_law.c as the user actuator bias callback.

MuJoCo evaluates an actuator with biastype ``user`` through the global ``mjcb_act_bias``; with
the law there, a hand under the ``real`` profile steps six physics substeps in one call (one
``mujoco.rollout`` call per control step for a whole batch, on threads without the GIL) instead
of returning to Python between substeps. The law's parameters are each actuator's ``biasprm``
(``law_parameters``), so every hand of a batch keeps its own gains in its own model.

The C file is compiled on first use with the system C compiler (``$CC``, else ``cc``; the set-up
step already requires one) into a cache keyed by the source and the MuJoCo version
(dexndm_sim.cache: ``$DEXNDM_CACHE/native``, by default ``~/.cache/dexndm/native``).
HardwareProfile.joint_torque is the same law in numpy, the reference the C law is tested against.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sysconfig
import tempfile
from importlib import resources
from pathlib import Path

import mujoco
import numpy as np

from dexndm_control.hand import NUM_JOINTS, RAD_PER_TICK, RAD_S_PER_VELOCITY_UNIT
from dexndm_sim.cache import cache_root
from dexndm_sim.profiles import GEAR_SPEED

# biasprm columns (xc330_law.c documents the same order)
BIAS_KP, BIAS_KD, BIAS_LIMIT, BIAS_STALL, BIAS_NO_LOAD, BIAS_GEAR_FRICTION, BIAS_BACKLASH, \
    BIAS_POSITION_QUANTUM, BIAS_VELOCITY_QUANTUM, BIAS_GEAR_SPEED = range(10)
_SYMBOL = "dexndm_xc330_bias"
_BIAS = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
_installed: ctypes._CFuncPtr | None = None  # kept alive while MuJoCo holds its address


class NativeLawError(RuntimeError):
    """The C law could not be built or installed."""


def law_parameters(profile, kp=None, kd=None, torque_limit=None) -> np.ndarray:
    """[16, mjNBIAS] actuator biasprm rows of ``profile``'s law (``kp``, ``kd``,
    ``torque_limit`` [16] replace the profile's)."""
    rows = np.zeros((NUM_JOINTS, mujoco.mjNBIAS))
    rows[:, BIAS_KP] = profile.kp if kp is None else kp
    rows[:, BIAS_KD] = profile.kd if kd is None else kd
    rows[:, BIAS_LIMIT] = profile.torque_limit if torque_limit is None else torque_limit
    rows[:, BIAS_STALL] = profile.stall_torque
    rows[:, BIAS_NO_LOAD] = profile.no_load_speed
    rows[:, BIAS_GEAR_FRICTION] = profile.gear_friction
    rows[:, BIAS_BACKLASH] = profile.backlash
    if profile.quantize:
        rows[:, BIAS_POSITION_QUANTUM] = RAD_PER_TICK
        rows[:, BIAS_VELOCITY_QUANTUM] = RAD_S_PER_VELOCITY_UNIT
    rows[:, BIAS_GEAR_SPEED] = GEAR_SPEED
    return rows


def set_law_gains(model: mujoco.MjModel, kp, kd, torque_limit) -> None:
    """Write the law's gains and torque cap ([16] each, or broadcastable) into ``model``'s
    hand actuators (the first 16), e.g. from registers or a system identification."""
    prm = model.actuator_biasprm
    prm[:NUM_JOINTS, BIAS_KP] = kp
    prm[:NUM_JOINTS, BIAS_KD] = kd
    prm[:NUM_JOINTS, BIAS_LIMIT] = torque_limit


def install() -> None:
    """Make MuJoCo evaluate user-bias actuators with the XC330 law (idempotent)."""
    global _installed
    if _installed is not None:
        return
    current = mujoco.get_mjcb_act_bias()
    if current is not None:
        raise NativeLawError("another mjcb_act_bias callback is installed; the xc330 actuation "
                             "needs MuJoCo's user actuator bias for its law "
                             "(mujoco.set_mjcb_act_bias(None) first)")
    library = ctypes.CDLL(str(_library()))  # never unloaded: ctypes does not close libraries
    # a pointer to the C function itself (_BIAS(function) would wrap it in a Python thunk)
    callback = ctypes.cast(getattr(library, _SYMBOL), _BIAS)
    mujoco.set_mjcb_act_bias(callback)
    _installed = callback


def _library() -> Path:
    source = resources.files("dexndm_sim.native").joinpath("xc330_law.c").read_bytes()
    key = hashlib.sha256(source + mujoco.__version__.encode()
                         + sysconfig.get_platform().encode()).hexdigest()[:16]
    path = cache_root() / "native" / f"xc330_law-{key}.so"
    if path.is_file():
        return path
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise NativeLawError("no C compiler for the XC330 law (xc330_law.c): install one "
                             "(sudo apt-get install gcc) or set CC")
    include = Path(mujoco.__file__).parent / "include"
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as work:
        source_path = Path(work) / "xc330_law.c"
        source_path.write_bytes(source)
        built = Path(work) / path.name
        # no fused multiply-add: the law's arithmetic stays that of the numpy reference
        command = [compiler, "-O2", "-fPIC", "-shared", "-ffp-contract=off", f"-I{include}",
                   "-o", str(built), str(source_path), "-lm"]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode:
            raise NativeLawError(f"compiling the XC330 law failed ({' '.join(command)}; set "
                                 f"CC to a working C compiler): {result.stderr.strip()}")
        os.replace(built, path)  # atomic: concurrent first uses each build, one wins
    return path
