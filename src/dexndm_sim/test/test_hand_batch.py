"""HandBatch steps N hands exactly as each SimHand steps alone; its sensor views are the
quantities MuJoCo's own functions give."""

from __future__ import annotations

import os
from dataclasses import replace

import mujoco
import numpy as np
import pytest

from dexndm_control.errors import DexndmError
from dexndm_control.hand import CANONICAL_POSE
from dexndm_sim.hand_batch import HandBatch
from dexndm_sim.objects import generate_category
from dexndm_sim.profiles import get_profile
from dexndm_sim.scene import OBJECT_IN_PALM, SceneConfig
from dexndm_sim.sim_hand import SimHand
from dexndm_sim.wrist import CANONICAL

N = 3


def _profile(spec: str):
    """A profile by name; "+substeps": new targets act from the 4th physics substep on."""
    name, _, variant = spec.partition("+")
    profile = get_profile(name)
    return replace(profile, latency_substeps=3) if variant == "substeps" else profile


def _hands(profile: str) -> list[SimHand]:
    objects = generate_category("small_cylinders")[:N]
    hands = []
    for obj in objects:
        scene = SceneConfig(CANONICAL["palm_up"], _profile(profile), "fast", obj,
                            state_sensors=True)
        hand = SimHand(scene)
        start = hand.scene.palm_to_world(OBJECT_IN_PALM)
        hand.reset(CANONICAL_POSE, start, np.array([1.0, 0.0, 0.0, 0.0]))
        hands.append(hand)
    return hands


def _tip_reference(hand: SimHand) -> tuple[np.ndarray, np.ndarray]:
    """Fingertip state and contact forces from MuJoCo's functions, as the env computed them
    before it read sensors: xpos/xquat, mj_objectVelocity at the centre of mass, and the
    contact forces on each fingertip summed with mj_contactForce."""
    model, data = hand.model, hand.data
    tips = np.zeros((4, 13))
    contacts = np.zeros((4, 4))
    velocity = np.zeros(6)
    for index, body in enumerate(hand.scene.tip_bodies):
        tips[index, :3], tips[index, 3:7] = data.xpos[body], data.xquat[body]
        mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_BODY, body, velocity, 0)
        tips[index, 7:10], tips[index, 10:13] = velocity[3:], velocity[:3]
    force = np.zeros(6)
    for k in range(data.ncon):
        for side, geom in enumerate(data.contact.geom[k]):
            body = model.geom_bodyid[geom]
            if body in hand.scene.tip_bodies:
                finger = list(hand.scene.tip_bodies).index(body)
                mujoco.mj_contactForce(model, data, k, force)
                world = data.contact.frame[k].reshape(3, 3).T @ force[:3]
                contacts[finger, :3] += world if side == 1 else -world  # geom1 acts on geom2
                contacts[finger, 3] = 1.0
    return tips, contacts


@pytest.mark.parametrize("profile", ["nominal", "real", "nominal+substeps", "real+substeps"])
def test_batch_equals_each_hand_stepped_alone(profile):
    batched, alone = _hands(profile), _hands(profile)
    for hand in alone:  # the batch's rollout starts each physics call's solve cold
        hand.cold_start = True
    batch = HandBatch(batched, threads=2)
    rng = np.random.default_rng(0)
    touched = 0
    for step in range(12):
        targets = CANONICAL_POSE + rng.normal(0, 0.1, (N, 16))
        forces = rng.normal(0, 0.05, (N, 3)) if step % 3 == 0 else np.zeros((N, 3))
        batch.external_force[:] = forces
        for row in range(N):
            alone[row].external_force = forces[row].copy()
            alone[row].control_step(targets[row])
        batch.step(targets)
        for row, hand in enumerate(alone):  # bit for bit: same arithmetic, same warm starts
            assert np.array_equal(batch.qpos[row], hand.data.qpos)
            assert np.array_equal(batch.qvel[row], hand.data.qvel)
            assert np.array_equal(batch.torque[row], hand.data.actuator_force)
            assert np.array_equal(batch.applied[row], hand.applied_target)
            tips, contacts = _tip_reference(hand)
            np.testing.assert_allclose(batch.fingertips[row], tips, atol=1e-12)
            np.testing.assert_allclose(batch.tip_contacts[row], contacts, atol=1e-9)
            touched += int(contacts[:, 3].sum())
            np.testing.assert_allclose(batch.object_orientation_at_forward[row],
                                       hand.data.xquat[hand.scene.object_body], atol=1e-15)
    assert touched > 0  # the object rested on fingertips: contacts were compared, not zeros
    batch.close()


def test_zero_threads_is_one_per_core_this_process_may_use():
    assert HandBatch(_hands("nominal")[:1], threads=0).threads == len(os.sched_getaffinity(0))
    assert HandBatch(_hands("nominal")[:1], threads=3).threads == 3
    with pytest.raises(DexndmError, match="threads must be >= 0"):
        HandBatch(_hands("nominal")[:1], threads=-1)


def test_a_batch_refuses_hands_it_cannot_step_together():
    hand = SimHand(SceneConfig(CANONICAL["palm_up"], get_profile("nominal")))
    with pytest.raises(ValueError, match="state_sensors=True"):
        HandBatch([hand])
    nominal = _hands("nominal")[:1]
    real = _hands("real")[:1]
    with pytest.raises(ValueError, match="same model sizes, sensors, actuation and latency"):
        HandBatch(nominal + real)


def test_chaos_box_hands_batch_the_same_way():
    from dexndm_sim.scene import ChaosBox

    def hands() -> list[SimHand]:
        made = [SimHand(SceneConfig(CANONICAL["palm_down"], get_profile("real"), "fast",
                                    chaos_box=ChaosBox(20, seed=seed), state_sensors=True))
                for seed in range(2)]
        for hand in made:
            hand.reset(CANONICAL_POSE)
        return made

    batched, alone = hands(), hands()
    for hand in alone:
        hand.cold_start = True
    batch = HandBatch(batched)
    rng = np.random.default_rng(3)
    for _ in range(4):
        targets = CANONICAL_POSE + rng.normal(0, 0.05, (2, 16))
        batch.step(targets)
        for row, hand in enumerate(alone):
            hand.control_step(targets[row])
            assert np.array_equal(batch.qpos[row], hand.data.qpos)  # balls included
            assert np.array_equal(batch.q[row], hand.q)
    batch.close()


def test_restore_hands_a_row_back_to_its_hand():
    """After batched steps, ``restore`` writes a row back into its SimHand: the hand shows the
    batch's state, and stepped alone it lands where the batch's next step does."""
    batched = _hands("nominal")
    batch = HandBatch(batched)
    rng = np.random.default_rng(5)
    for _ in range(3):
        batch.step(CANONICAL_POSE + rng.normal(0, 0.1, (N, 16)))
    hand = batch.restore(1)
    assert np.array_equal(hand.data.qpos, batch.qpos[1])
    assert np.array_equal(hand.data.qvel, batch.qvel[1])
    assert np.array_equal(hand.target, batch.targets[1])
    target = CANONICAL_POSE + rng.normal(0, 0.1, (N, 16))
    hand.cold_start = True
    hand.control_step(target[1])
    batch.step(target)
    assert np.array_equal(hand.data.qpos, batch.qpos[1])
    batch.close()
