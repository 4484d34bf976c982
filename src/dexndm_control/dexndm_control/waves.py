"""Wave trajectories for baselines and system identification (paper appendix C, "base waves"):
one joint at a time moves, the others sit at mid-range.

sine: f(t) = s * sin(2 w t), s ~ U(0.5, 1.0), w ~ U(0.2, 0.5)
square: g(t) = A * sign(sin(2 w t)), A ~ U(0.5, 1.0)
square+noise: g(t) + N(0, 0.01)
Offsets are relative to the joint's mid-range, clipped to its limits.
"""

from __future__ import annotations

import numpy as np

from dexndm_control.hand import JOINT_INDEX, LOWER, UPPER

WAVES = ("sine", "square", "square_noise")
# The paper skips "the joint between the mcp link and the pip link" because moving it alone with
# the others at mid-range self-collides. On the LEAP hand that link pair is joined by the
# abduction ("rot") joint; the list is a parameter of the collector.
DEFAULT_SKIP = ("if_rot", "mf_rot", "rf_rot")


def wave_targets(kind: str, joint: int, steps: int, dt: float, rng: np.random.Generator
                 ) -> np.ndarray:
    if kind not in WAVES:
        raise ValueError(f"unknown wave '{kind}': {', '.join(WAVES)}")
    middle = (LOWER + UPPER) / 2
    targets = np.tile(middle, (steps, 1))
    t = np.arange(steps) * dt
    amplitude, omega = rng.uniform(0.5, 1.0), rng.uniform(0.2, 0.5)
    if kind == "sine":
        signal = amplitude * np.sin(2 * omega * t)
    else:
        signal = amplitude * np.sign(np.sin(2 * omega * t))
        if kind == "square_noise":
            signal = signal + rng.normal(0, 0.01, steps)
    targets[:, joint] = np.clip(middle[joint] + signal, LOWER[joint], UPPER[joint])
    return targets


def wave_joints(skip: tuple[str, ...] = DEFAULT_SKIP) -> list[int]:
    skipped = {JOINT_INDEX[name] for name in skip}
    return [j for j in range(len(LOWER)) if j not in skipped]
