"""The `real` stand-in's effects outside a simulator's parameter set, each checked against what
its physics says, and hardware profiles as YAML files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import mujoco
import numpy as np
import pytest

from dexndm_control.hand import CANONICAL_POSE, LOWER, UPPER
from dexndm_sim.profiles import (
    GEAR_SPEED,
    NO_LOAD_SPEED,
    STALL_TORQUE,
    ProfileError,
    get_profile,
    load_profile,
    real,
    save_profile,
)
from dexndm_sim.scene import TIP_GEOMS, SceneConfig, build_scene
from dexndm_sim.sim_hand import SimHand


def test_torque_speed_curve_and_gear_friction_by_hand():
    profile = real(spread_seed=None)
    limit = 0.517 * 0.55
    target, q = np.full(16, 3.0), np.zeros(16)  # far: the PD law saturates at the current cap
    at_rest = profile.joint_torque(target, q, np.zeros(16))
    assert np.allclose(at_rest, limit)  # no speed: neither effect acts
    speed = 6.0  # rad/s, moving the way the motor pushes
    motoring = profile.joint_torque(target, q, np.full(16, speed))
    available = STALL_TORQUE * (1 - speed / NO_LOAD_SPEED)  # 0.272 N*m < the 0.284 N*m cap
    assert available < limit
    assert np.allclose(motoring, available * (1 - 0.1 * np.tanh(speed / GEAR_SPEED)))
    braking = profile.joint_torque(target, q, np.full(16, -speed))  # pushed backwards
    assert np.allclose(braking, limit * (1 + 0.1 * np.tanh(speed / GEAR_SPEED)))
    plain = real(spread_seed=None, effects=False)
    assert np.allclose(plain.joint_torque(target, q, np.full(16, speed)), limit)


def _step_response(profile, steps=12):
    hand = SimHand(SceneConfig((0.0, 1.0, 0.0, 0.0), profile))
    start = np.clip(CANONICAL_POSE, LOWER, UPPER)
    hand.reset(start)
    goal = np.clip(start + 0.8, LOWER, UPPER)
    peak = np.zeros(16)
    for _ in range(steps):
        hand.control_step(goal)
        peak = np.maximum(peak, np.abs(hand.qd))
    return peak, hand.q


def test_motor_effects_slow_a_free_finger_the_way_physics_says():
    """Back-EMF and gear friction only take torque away from motion: with them, the same step
    target is reached with a lower peak speed, and no joint moves faster than without them."""
    with_effects, _ = _step_response(real())
    without, _ = _step_response(real(effects=False))
    # measured: 5.13 vs 5.52 rad/s mean peak, 14 of 16 joints slower (two are pulled along by
    # their finger's neighbours)
    assert np.mean(with_effects) < 0.97 * np.mean(without)
    assert np.sum(with_effects < without) >= 12


def test_fingertip_pads_are_softer_and_carry_their_own_friction():
    rigid = build_scene(SceneConfig(profile=real(effects=False))).model
    padded = build_scene(SceneConfig(profile=real())).model
    for name in TIP_GEOMS:
        a, b = (mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, name) for m in (rigid, padded))
        assert padded.geom_priority[b] == 1 and rigid.geom_priority[a] == 0
        assert padded.geom_friction[b, 0] == 1.0
        assert padded.geom_solref[b, 0] > max(rigid.geom_solref[a, 0], 2 * rigid.opt.timestep)
        assert padded.geom_solimp[b, 0] < rigid.geom_solimp[a, 0]


def test_a_held_cylinder_sinks_into_the_pads():
    """The same grasp held for 1 s: the fingertips' contacts with the cylinder penetrate about a
    millimetre into the compliant pads (measured 1.4 mm), a fraction of that on rigid tips."""
    from dexndm_sim.grasps import load_or_generate
    from dexndm_sim.objects import generate_category
    from dexndm_sim.wrist import CANONICAL

    obj, wrist = generate_category("cylinders", 0)[0], CANONICAL["palm_up"]
    grasp = load_or_generate(obj, wrist, get_profile("nominal"), wanted=1, seed=0)
    depth = {}
    for label, profile in (("rigid", real(effects=False)), ("pad", real())):
        hand = SimHand(SceneConfig(wrist, profile, "fast", obj))
        tips = [mujoco.mj_name2id(hand.model, mujoco.mjtObj.mjOBJ_GEOM, g) for g in TIP_GEOMS]
        hand.reset(grasp.q[0], grasp.object_pos[0], grasp.object_quat[0])
        per_step = []
        for _ in range(20):
            hand.control_step(grasp.target[0])
            contacts = hand.data.contact[:hand.data.ncon]
            per_step.append(max([-c.dist for c in contacts
                                 if c.geom1 in tips or c.geom2 in tips], default=0.0))
        depth[label] = float(np.mean(per_step))
    assert depth["pad"] > 5e-4 and depth["pad"] > 3 * depth["rigid"], depth


def test_profile_yaml_round_trip_and_clear_errors(tmp_path):
    profile = replace(real(), name="identified", damping=tuple(np.linspace(0.01, 0.05, 16)))
    path = save_profile(profile, tmp_path / "p.yaml", comment="a test")
    assert path.read_text().startswith("# a test\n")
    loaded = get_profile(str(path))
    assert loaded == profile
    assert np.allclose(loaded.joint_torque(np.ones(16), np.zeros(16), np.ones(16)),
                       profile.joint_torque(np.ones(16), np.zeros(16), np.ones(16)))
    bad = {"typo.yaml": path.read_text().replace("kp:", "kpp:"),
           "short.yaml": path.read_text().replace("latency_steps: 1", "latency_steps: -1"),
           "list.yaml": "- 1\n- 2\n"}
    messages = {"typo.yaml": "missing kp", "short.yaml": "latency_steps must be >= 0",
                "list.yaml": "a mapping"}
    for name, text in bad.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ProfileError, match=messages[name]):
            load_profile(tmp_path / name)
    with pytest.raises(ProfileError, match="no profile file"):
        get_profile(str(tmp_path / "absent.yaml"))
    with pytest.raises(ProfileError, match="takes no parameters"):
        get_profile(str(path), goal_current_ma=500)
    with pytest.raises(ProfileError, match="need actuation xc330"):
        replace(get_profile("nominal"), gear_friction=0.1)


def test_a_substep_latency_delays_the_new_target_within_the_control_step():
    """With latency_substeps=3 the first 3 of 6 physics steps still hold the previous target: the
    joints move less in the first control step after a target change, and the same afterwards
    once both have settled."""
    moved = {}
    for substeps in (0, 3):
        profile = replace(get_profile("nominal"), latency_substeps=substeps)
        hand = SimHand(SceneConfig((0.0, 1.0, 0.0, 0.0), profile))
        start = np.clip(CANONICAL_POSE, LOWER, UPPER)
        hand.reset(start)
        hand.control_step(np.clip(start + 0.2, LOWER, UPPER))
        first = np.abs(hand.q - start).mean()
        for _ in range(30):
            hand.control_step(np.clip(start + 0.2, LOWER, UPPER))
        moved[substeps] = (first, hand.q.copy())
    assert moved[3][0] < 0.8 * moved[0][0]
    np.testing.assert_allclose(moved[3][1], moved[0][1], atol=2e-3)
    with pytest.raises(ProfileError, match="latency_substeps"):
        replace(get_profile("nominal"), latency_substeps=6)


def test_a_glove_spring_and_its_known_correction():
    """config/profiles/nominal_glove.yaml: a passive spring k toward 0 rad on every joint. At
    rest kp (a - q) = k q + (gravity), so a free hand settles at kp / (kp + k) of where
    `nominal` holds it, and the target a + k / kp * a brings it back (the probe's analytic
    correction, scripts/sim2sim_probe.py --oracle-spring)."""
    glove = get_profile(str(Path(__file__).resolve().parents[3] / "config" / "profiles"
                            / "nominal_glove.yaml"))
    k, kp = glove.stiffness[0], glove.kp[0]
    assert (k, kp) == (0.05, 3.0) and set(glove.stiffness) == {k} and set(glove.springref) == {0}
    model = build_scene(SceneConfig(profile=glove)).model
    assert np.allclose(model.jnt_stiffness[:16], k) and np.allclose(model.qpos_spring[:16], 0)
    target = np.clip(CANONICAL_POSE, LOWER, UPPER)

    def settled(profile, command):
        hand = SimHand(SceneConfig((0.0, 1.0, 0.0, 0.0), profile))
        hand.reset(target)
        for _ in range(60):  # 3 s
            hand.control_step(command)
        return hand.q

    free = settled(get_profile("nominal"), target)
    gloved = settled(glove, target)
    corrected = settled(glove, target + k / kp * target)
    moved = np.abs(target) > 0.2  # joints the spring pulls on noticeably
    assert np.allclose(gloved[moved], free[moved] * kp / (kp + k), atol=2e-3)
    assert np.allclose(corrected, free, atol=2e-3)
    assert np.abs(gloved - free)[moved].mean() > 5 * np.abs(corrected - free)[moved].mean()
