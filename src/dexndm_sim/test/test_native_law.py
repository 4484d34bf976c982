"""The XC330 law MuJoCo evaluates (native/xc330_law.c) against its numpy reference."""

import mujoco
import numpy as np
import pytest

from dexndm_control.hand import RAD_PER_TICK
from dexndm_sim.native import law
from dexndm_sim.profiles import real
from dexndm_sim.scene import SceneConfig
from dexndm_sim.sim_hand import SimHand
from dexndm_sim.wrist import CANONICAL


def _forces(hand: SimHand, target, q, qd) -> np.ndarray:
    hand.data.qpos[hand.scene.qpos_index] = q
    hand.data.qvel[hand.scene.dof_index] = qd
    hand.data.ctrl[:] = target
    mujoco.mj_forward(hand.model, hand.data)
    return hand.data.actuator_force.copy()


def test_the_law_inside_mujoco_equals_the_numpy_reference():
    """Every effect on (quantised readings, backlash, torque-speed curve, gear friction, the
    seeded per-joint spread), at speeds from creeping (the gear friction's smooth sign) to past
    no-load; the states are exactly representable, so both read the same numbers."""
    profile = real()
    assert profile.quantize and profile.backlash and profile.stall_torque and profile.gear_friction
    hand = SimHand(SceneConfig(CANONICAL["palm_up"], profile))
    rng = np.random.default_rng(3)
    worst, saturated = 0.0, 0
    for trial in range(600):
        q = rng.uniform(-0.3, 1.5, 16)
        speed = (0.02, 2.0, 12.0)[trial % 3]
        qd = rng.normal(0.0, speed, 16)
        target = q + rng.normal(0.0, 0.2, 16)
        forces = _forces(hand, target, q, qd)
        reference = profile.joint_torque(target, q, qd)
        worst = max(worst, float(np.abs(forces - reference).max()))
        pd = np.asarray(profile.kp) * (target - q) - np.asarray(profile.kd) * qd
        saturated += int((np.abs(pd) > np.asarray(profile.torque_limit)).sum())
    assert worst < 1e-15  # N*m: the same operations, at most an ulp apart (tanh, division)
    assert saturated > 100  # the torque cap was exercised, not only the linear range


def test_a_motor_with_a_zero_cap_outputs_exactly_nothing():
    """The emulator switches a motor's torque off by capping its law at 0 N*m."""
    hand = SimHand(SceneConfig(CANONICAL["palm_up"], real()))
    gains = hand.model.actuator_biasprm[:16]
    law.set_law_gains(hand.model, gains[:, law.BIAS_KP], gains[:, law.BIAS_KD], 0.0)
    forces = _forces(hand, np.full(16, 0.8), np.zeros(16), np.full(16, 3.0))
    assert np.array_equal(forces, np.zeros(16))


def test_per_hand_gains_live_in_each_model():
    first, second = (SimHand(SceneConfig(CANONICAL["palm_up"], real())) for _ in range(2))
    law.set_law_gains(second.model, 2.0, 0.0, 10.0)
    state = (np.full(16, 0.1), np.zeros(16), np.zeros(16))
    assert not np.allclose(_forces(first, *state), _forces(second, *state))
    # 2 N*m/rad on a 0.1 rad error, read in whole ticks and past the 0.125 deg deadband
    profile = real()
    ticks = np.round(0.1 / RAD_PER_TICK) * RAD_PER_TICK
    expected = 2.0 * (ticks - profile.backlash)
    assert np.allclose(_forces(second, *state), expected, atol=1e-12)


def test_building_without_a_compiler_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", "/bin/false")
    with pytest.raises(law.NativeLawError, match="compiling the XC330 law failed"):
        law._library()
    monkeypatch.delenv("CC")
    built = law._library()  # the system compiler, into the empty cache
    assert built.parent == tmp_path / "native" and built.suffix == ".so"
    assert law._library() == built  # cached: not rebuilt
