"""The XC330's current-based position law (operating mode 5) in SI units, from its registers.

The firmware computes a current from the position error and the motor's velocity and clips it at
the goal current: i = clip(P/128 * e[ticks] - D/16 * w[0.229 rpm units], +-goal current) (mA;
the I term is 0 on the LEAP hand). The MuJoCo virtual hand and the live gap meter's
torque-cap check both take the gains from here.
"""

from __future__ import annotations

import numpy as np

from dexndm_control.hand import AMPERE_PER_CURRENT_UNIT, RAD_PER_TICK, RAD_S_PER_VELOCITY_UNIT

P_GAIN_DIVISOR = 128.0  # position P gain register -> mA per tick of error
D_GAIN_DIVISOR = 16.0  # position D gain register -> mA per velocity unit


def current_gains(p_gain, d_gain) -> tuple[np.ndarray, np.ndarray]:
    """(A per rad of position error, A per rad/s of velocity) of the law at these registers."""
    per_rad = AMPERE_PER_CURRENT_UNIT * np.asarray(p_gain, dtype=float) / P_GAIN_DIVISOR \
        / RAD_PER_TICK
    per_rad_s = AMPERE_PER_CURRENT_UNIT * np.asarray(d_gain, dtype=float) / D_GAIN_DIVISOR \
        / RAD_S_PER_VELOCITY_UNIT
    return per_rad, per_rad_s

