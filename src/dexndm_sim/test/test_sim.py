"""MuJoCo LEAP hand: model vs figures, objects and grasps, rewards, profiles, chaos box,
batching."""

from __future__ import annotations

import math
from dataclasses import replace

import mujoco
import numpy as np
import pytest

from dexndm_control.errors import DexndmError
from dexndm_control.hand import JOINT_NAMES, LOWER, UPPER
from dexndm_control.rotations import quat_to_matrix
from dexndm_sim.axes import axis_name, axis_set, thirty_two_axes
from dexndm_sim.env import BatchedRotationEnv, RotationEnvConfig
from dexndm_sim.grasps import cache_key, generate_grasps, hold_steps
from dexndm_sim.model import figures
from dexndm_sim.objects import CATEGORIES, TRAINING_CATEGORIES, generate_category
from dexndm_sim.profiles import TABLE17_MASSES, nominal, real
from dexndm_sim.rewards import (
    RewardConfig,
    angular_distance,
    axis_angle_quat,
    compute_reward,
    episode_metrics,
    rotation_penalty_weight,
)
from dexndm_sim.scene import ChaosBox, SceneConfig, build_scene
from dexndm_sim.sim_hand import SimHand
from dexndm_sim.wrist import CANONICAL


def test_model_matches_the_figures_file():
    scene = build_scene(SceneConfig())
    model = scene.model
    assert [model.joint(i).name for i in range(model.njnt)] == list(JOINT_NAMES)
    assert np.allclose(model.jnt_range[:16, 0], LOWER)
    assert np.allclose(model.jnt_range[:16, 1], UPPER)
    for body in figures()["bodies"]:
        assert model.body(body["name"]).mass[0] == pytest.approx(body["inertial"]["mass"])
    assert model.nu == 16 and model.actuator_gainprm[0, 0] == 3.0  # nominal PD
    assert model.actuator_forcerange[0].tolist() == [-0.5, 0.5]


def test_real_profile_uses_identified_masses_and_firmware_law():
    scene = build_scene(SceneConfig(profile=real()))
    assert scene.model.body("th_ds").mass[0] == pytest.approx(TABLE17_MASSES["th_ds"])
    profile = real(spread_seed=None)
    torque = profile.joint_torque(np.full(16, 0.5), np.zeros(16), np.zeros(16))
    assert np.allclose(torque, 0.517 * 0.55)  # saturated at 550 mA x 0.517 N*m/A
    small = profile.joint_torque(np.full(16, 0.01), np.zeros(16), np.zeros(16))
    expected = np.asarray(profile.kp) * (np.round(0.01 / (2 * math.pi / 4096)) * 2 * math.pi
                                         / 4096 - np.deg2rad(0.125))
    assert np.allclose(small, expected)


def test_wrist_orientations():
    down, up = quat_to_matrix(np.array(CANONICAL["palm_down"])), \
        quat_to_matrix(np.array(CANONICAL["palm_up"]))
    assert np.allclose(down @ [0, 0, -1], [0, 0, -1]) and np.allclose(up @ [0, 0, -1], [0, 0, 1])
    assert np.allclose(quat_to_matrix(np.array(CANONICAL["thumb_up"])) @ [0, 1, 0], [0, 0, 1])
    assert np.allclose(quat_to_matrix(np.array(CANONICAL["base_up"])) @ [1, 0, 0], [0, 0, -1])


def test_object_categories_follow_table_14():
    for name, category in CATEGORIES.items():
        objects = generate_category(name)
        assert len(objects) == category.count
        assert all(0.01 <= o.mass <= 0.05 and 0.3 <= o.friction <= 3.0 for o in objects)
    long = generate_category("long_cuboids")
    assert min(o.aspect_ratio for o in long) == pytest.approx(2.5)
    assert max(o.aspect_ratio for o in long) == pytest.approx(6.67)
    assert generate_category("cylinders", 3)[0] == generate_category("cylinders", 3)[0]


@pytest.mark.parametrize("category", TRAINING_CATEGORIES)
def test_every_category_holds_in_a_cached_grasp(category):
    obj = generate_category(category)[1]
    cache = generate_grasps(obj, CANONICAL["palm_up"], nominal(), wanted=1, max_trials=120)
    assert len(cache) == 1, f"no grasp of {obj.name} held"
    hand = SimHand(SceneConfig(CANONICAL["palm_up"], nominal(), "fast", obj))
    hand.reset(cache.q[0], cache.object_pos[0], cache.object_quat[0])
    for _ in range(40):  # 2 s holding the cached targets
        hand.control_step(cache.target[0])
    position, _ = hand.object_pose()
    assert np.linalg.norm(position - cache.object_pos[0]) < 0.03


def test_a_large_cuboid_is_grasped_from_a_start_clear_of_the_fingers():
    """cuboids_000 starts inside the half-open fingers at the palm point and is shot out in all
    60 trials; lifted clear along the palm normal, one of the next 60 holds (the 56th)."""
    obj = generate_category("cuboids")[0]
    cache = generate_grasps(obj, CANONICAL["palm_up"], nominal(), wanted=1, max_trials=60)
    assert len(cache) == 1 and cache.trials == 60 + 56
    hand = SimHand(SceneConfig(CANONICAL["palm_up"], nominal(), "fast", obj))
    hand.reset(cache.q[0], cache.object_pos[0], cache.object_quat[0])
    for _ in range(40):
        hand.control_step(cache.target[0])
    assert np.linalg.norm(hand.object_pose()[0] - cache.object_pos[0]) < 0.03


def test_grasp_cache_key_holds_everything_the_search_depends_on():
    obj = generate_category("cylinders")[0]
    wrist = CANONICAL["palm_up"]
    key = cache_key(obj, wrist, nominal(), "fast", wanted=8, seed=0)
    assert key == cache_key(obj, wrist, nominal(), "fast", wanted=8, seed=0)
    assert key.startswith("cylinders_000-")
    others = {cache_key(obj, wrist, nominal(), "fast", wanted=8, seed=1),
              cache_key(obj, wrist, nominal(), "fast", wanted=4, seed=0),
              cache_key(obj, CANONICAL["palm_down"], nominal(), "fast", wanted=8, seed=0),
              cache_key(obj.with_physics(0.04, 1.0), wrist, nominal(), "fast", wanted=8, seed=0),
              cache_key(obj, wrist, real(), "fast", wanted=8, seed=0),
              # a parameter the scene compiles (joint damping) and one it does not (latency)
              cache_key(obj, wrist, replace(nominal(), damping=(0.05,)), "fast", 8, 0),
              cache_key(obj, wrist, replace(nominal(), latency_steps=1), "fast", 8, 0)}
    assert key not in others and len(others) == 7


def test_an_object_no_grasp_holds_is_left_out_of_the_environment(tmp_path, monkeypatch):
    import dexndm_sim.env as env_module
    from dexndm_sim.grasps import GraspCache, load_or_generate

    def search(obj, *args, **kwargs):
        if obj.name in unheld:
            return GraspCache(np.zeros((0, 16)), np.zeros((0, 16)), np.zeros((0, 3)),
                              np.zeros((0, 4)), 400)
        return load_or_generate(obj, *args, **kwargs)

    monkeypatch.setattr(env_module, "load_or_generate", search)
    config = RotationEnvConfig(num_envs=4, categories=("long_cuboids",), wrists=("palm_up",),
                               threads=1, grasps_per_object=1)
    unheld = {"long_cuboids_001"}
    with pytest.warns(UserWarning, match="no grasp holds long_cuboids_001 at palm_down"):
        env = BatchedRotationEnv(config, tmp_path)
    try:
        assert env.unheld_objects == ["long_cuboids_001"]
        assert [o.name for o in env.objects] == ["long_cuboids_000", "long_cuboids_002",
                                                 "long_cuboids_003", "long_cuboids_000"]
    finally:
        env.close()
    unheld = {f"long_cuboids_00{i}" for i in range(4)}
    with pytest.raises(RuntimeError, match="no grasp holds any of"):
        BatchedRotationEnv(config, tmp_path)


def test_reward_terms_equal_hand_computed_values():
    config = RewardConfig()
    omega = np.array([[0.2, 0.0, 0.8]])
    axis = np.array([[0.0, 0.0, 1.0]])
    terms = compute_reward(config, omega, axis, np.array([[0.1, 0.0, 0.0]]), np.ones((1, 16)),
                           np.zeros((1, 16)), np.full((1, 16), 0.1), np.full((1, 16), 0.5),
                           np.array([0.05]), rotation_penalty=0.1, fell=np.array([False]))
    assert terms.rotation[0] == pytest.approx(0.5)  # 0.8 clipped at 0.5
    assert terms.off_axis[0] == pytest.approx(0.2)  # |w x k|_1 = |(0, -0.2, 0)|
    penalty = -(0.1 * 0.2 + 0.3 * 0.01 + 0.3 * 16 + 2.0 * 16 * 0.05 + 0.1 * 16 * 0.01)
    assert terms.penalty[0] == pytest.approx(penalty)
    goal = min(0.05 / (0.05 + 0.1), 0.5) + 1.0  # within 15 deg: bonus
    assert terms.goal[0] == pytest.approx(goal)
    assert terms.total[0] == pytest.approx(0.5 + goal + penalty)
    assert [rotation_penalty_weight(config, r) for r in (0, 10, 55, 100, 500)] == \
        pytest.approx([0.0, 0.0, 0.05, 0.1, 0.1])


def test_metrics_and_quaternion_helpers():
    metrics = episode_metrics(np.full(200, 0.5), np.full(200, 0.1), 0.05, 400,
                              final_goal_distance=0.2)
    assert metrics.rot_reward == pytest.approx(100.0)
    assert metrics.radians == pytest.approx(5.0) and metrics.time_to_fall == 0.5
    assert metrics.rot_penalty == pytest.approx(0.1) and metrics.goal_success is True
    q = axis_angle_quat(np.array([0.0, 0.0, 1.0]), math.pi / 2)
    assert angular_distance(q, np.array([1.0, 0, 0, 0])) == pytest.approx(math.pi / 2)


def test_axis_sets():
    assert len(axis_set("general")) == 26 and len(thirty_two_axes()) == 32
    assert np.allclose(np.linalg.norm(axis_set("all"), axis=1), 1.0)
    nearest = np.sort(np.linalg.norm(axis_set("all")[:, None] - axis_set("all")[None], axis=-1),
                      axis=1)[:, 1]
    assert nearest.min() > 0.5  # evenly spread: no two axes closer than ~30 degrees
    # results name each principal axis as --axes takes it, any length; others by unit vector
    for name in ("+x", "-x", "+y", "-y", "+z", "-z"):
        assert axis_name(axis_set(name)[0]) == name
    assert axis_name(np.array([0.0, 0.0, 2.5])) == "+z"
    assert axis_name(np.array([1.0, 1.0, 0.0])) == "(0.707, 0.707, 0.000)"
    assert axis_name(np.array([0.0, -3.0, 4.0])) == "(0.000, -0.600, 0.800)"


def _open_loop(profile, seed: int) -> np.ndarray:
    obj = generate_category("cylinders")[2]
    cache = generate_grasps(obj, CANONICAL["palm_up"], nominal(), wanted=1, seed=seed)
    hand = SimHand(SceneConfig(CANONICAL["palm_up"], profile, "fast", obj))
    hand.reset(cache.q[0], cache.object_pos[0], cache.object_quat[0])
    rng = np.random.default_rng(seed)
    target, trace = cache.target[0].copy(), []
    for _ in range(60):
        target = np.clip(target + rng.uniform(-1, 1, 16) / 24, LOWER, UPPER)
        hand.control_step(target)
        trace.append(hand.q)
    return np.array(trace)


def test_real_vs_nominal_gap_is_real_and_reproducible():
    nominal_trace = _open_loop(nominal(), 1)
    real_trace = _open_loop(real(spread_seed=0), 1)
    gap = np.sqrt(np.mean((nominal_trace - real_trace) ** 2))
    assert gap > 0.01  # the same actions give different joint trajectories
    assert np.array_equal(real_trace, _open_loop(real(spread_seed=0), 1))  # seeded


def test_chaos_box_episode_is_stable():
    box = ChaosBox(balls=50, seed=2)
    hand = SimHand(SceneConfig(CANONICAL["palm_down"], real(), "fast", chaos_box=box))
    hand.reset(np.zeros(16))
    rng = np.random.default_rng(0)
    target = np.zeros(16)
    touched = 0
    for _ in range(400):
        target = np.clip(target + rng.uniform(-1, 1, 16) / 24, LOWER, UPPER)
        hand.control_step(target)
        touched += _hand_ball_contacts(hand)
    assert np.all(np.isfinite(hand.data.qpos)) and np.all(np.isfinite(hand.data.qvel))
    center, half = box.bounds(CANONICAL["palm_down"])
    balls = hand.data.xpos[hand.scene.ball_bodies]
    inside = np.all(np.abs(balls - center) <= half - box.radius + 0.005, axis=1)
    assert inside.all(), f"{(~inside).sum()} balls escaped"
    assert touched > 100  # the balls load the fingers (palm down, they hang into the pile)
    assert hand.data.warning[mujoco.mjtWarning.mjWARN_BADQACC].number == 0


def _hand_ball_contacts(hand: SimHand) -> int:
    data, scene = hand.data, hand.scene
    bodies = hand.model.geom_bodyid
    balls, fingers = set(scene.ball_bodies.tolist()), set(scene.hand_bodies.tolist())
    return sum(1 for c in data.contact[:data.ncon]
               if {bodies[c.geom1], bodies[c.geom2]} & balls
               and {bodies[c.geom1], bodies[c.geom2]} & fingers)


def test_the_chaos_box_leaves_the_hand_its_whole_reach():
    """No joint configuration puts a hand geom into a wall (an earlier box centred on the palm
    origin had the fingertips inside its floor at grasp poses, palm down)."""
    rng = np.random.default_rng(1)
    for wrist in ("palm_down", "palm_up", "base_down", "thumb_up"):
        hand = SimHand(SceneConfig(CANONICAL[wrist], real(), "fast",
                                   chaos_box=ChaosBox(balls=0)))
        walls = {hand.model.geom(f"box_{name}").id for name in
                 ("bottom", "wall_px", "wall_nx", "wall_py", "wall_ny", "lid")}
        for q in np.concatenate([[LOWER, UPPER], rng.uniform(LOWER, UPPER, (200, 16))]):
            hand.reset(q)
            hits = [c for c in hand.data.contact[:hand.data.ncon]
                    if {c.geom1, c.geom2} & walls]
            assert not hits, f"{wrist}: the hand touches a wall at {np.round(q, 2)}"


def test_batched_results_equal_serial_results(tmp_path):
    def run(threads: int) -> tuple[np.ndarray, np.ndarray]:
        env = BatchedRotationEnv(RotationEnvConfig(num_envs=4, categories=("small_cylinders",),
                                                   wrists=("palm_up",), grasps_per_object=2,
                                                   threads=threads, seed=5), tmp_path)
        rng = np.random.default_rng(0)
        rewards, q = [], None
        for _ in range(15):
            observations, reward, _, _ = env.step(rng.uniform(-1, 1, (4, 16)))
            rewards.append(reward)
            q = observations["joint_pos_history"][:, -1]
        env.close()
        return np.array(rewards), q

    serial, batched = run(1), run(2)
    assert np.array_equal(serial[0], batched[0]) and np.array_equal(serial[1], batched[1])


def test_physics_drawn_every_episode_or_each_objects_own(tmp_path):
    """--no-randomize-physics trains on the mass and friction `sim eval` scores each object
    with (its one Table 14 draw); otherwise every episode draws from the given ranges."""
    own = {"cylinders_000": (0.011638940957447788, 0.34462461592702853),  # Table 14 draws, seed 0
           "cylinders_001": (0.034265431030687195, 2.269640714656796)}
    base = dict(num_envs=2, categories=("cylinders",), objects=tuple(own), wrists=("palm_up",),
                grasp_wrist="palm_up", grasps_per_object=2)

    def physics(config: RotationEnvConfig) -> dict[str, tuple[float, float]]:
        env = BatchedRotationEnv(config, tmp_path)
        try:
            env.reset_all()
            found = {}
            for obj, hand in zip(env.objects, env.hands, strict=True):
                body = hand.scene.object_body
                geom = np.flatnonzero(hand.model.geom_bodyid == body)[0]
                found[obj.name] = (float(hand.model.body_mass[body]),
                                   float(hand.model.geom_friction[geom, 0]))
            return found
        finally:
            env.close()

    kept = physics(RotationEnvConfig(randomize_physics=False, **base))
    assert kept.keys() == own.keys()
    assert np.allclose([kept[name] for name in own], [own[name] for name in own], rtol=1e-9)
    drawn = physics(RotationEnvConfig(mass_range=(0.03, 0.03), friction_range=(1.0, 1.0), **base))
    assert np.allclose([drawn[name] for name in own], [(0.03, 1.0)] * len(own), rtol=1e-9)
    with pytest.raises(DexndmError, match="leave them out with --no-randomize-physics"):
        RotationEnvConfig(randomize_physics=False, friction_range=(1.0, 1.0), **base)


def test_profile_parameters_and_grasps_from_another_profile(tmp_path):
    from dexndm_sim.env import BatchedRotationEnv, RotationEnvConfig
    from dexndm_sim.grasps import load_or_generate
    from dexndm_sim.profiles import get_profile

    assert np.allclose(get_profile("real", goal_current_ma=550, spread_seed=None).torque_limit,
                       0.517 * 0.55)
    with pytest.raises(ValueError, match="does not take"):
        get_profile("nominal", goal_current_ma=550)
    config = dict(num_envs=2, categories=("cylinders",), objects=("cylinders_004",),
                  grasps_per_object=2, randomize_physics=False)
    env = BatchedRotationEnv(RotationEnvConfig(profile="real", grasp_profile="nominal",
                                               profile_params={"goal_current_ma": 500}, **config),
                             tmp_path)
    try:
        assert {o.name for o in env.objects} == {"cylinders_004"}
        assert env.profile.name == "real"
        nominal_cache = load_or_generate(env.objects[0], CANONICAL["palm_down"], nominal(),
                                         cache_dir=tmp_path, wanted=2)
        assert np.array_equal(env.grasps[0].q, nominal_cache.q)  # the training sim's grasps
    finally:
        env.close()
    with pytest.raises(DexndmError, match="cuboids_000 are not in categories cylinders: "
                                          r"name theirs \(e.g. cylinders_000\)"):
        RotationEnvConfig(objects=("cuboids_000",), num_envs=1)


def test_each_wrist_starts_from_grasps_searched_at_it_and_falls_at_its_own_cost(tmp_path):
    """--grasp-wrist each: an episode at palm up starts from a palm-up grasp, one at palm down
    from a palm-down grasp (the starts its teachers are measured from), not one wrist's grasps
    carried to the other; with --wrist-fall-penalties a fall costs its wrist's term."""
    from dexndm_sim.grasps import load_or_generate

    config = RotationEnvConfig(num_envs=6, categories=("cylinders",), objects=("cylinders_004",),
                               wrists=("palm_up", "palm_down"), grasp_wrist="each",
                               grasps_per_object=2, randomize_physics=False, threads=1,
                               wrist_fall_penalties=(20.0, 60.0))
    assert config.fall_penalty("palm_down") == 60.0 and config.reward.fall == 0.0
    assert config.unweighted(wrists=("palm_down",)).fall_penalty("palm_down") == 0.0
    assert config.search_wrists == ("palm_up", "palm_down")
    assert replace(config, grasp_wrist="palm_up").search_wrists == ("palm_up",)
    env = BatchedRotationEnv(config, tmp_path)
    try:
        obj = env.objects[0]
        searched = {label: load_or_generate(obj, CANONICAL[label], nominal(), cache_dir=tmp_path,
                                            wanted=2) for label in config.search_wrists}
        assert not np.allclose(searched["palm_up"].target[0], searched["palm_down"].target[0])
        seen = set()
        for _ in range(4):
            env.reset_all()
            for i in range(config.num_envs):
                label = next(k for k, v in CANONICAL.items() if np.allclose(env.wrist[i], v))
                seen.add(label)
                assert env.wrist_label[i] == label
                assert np.array_equal(env.grasps[i].q, searched[label].q)
                assert np.allclose(env.target[i], searched[label].target[env.start_grasp[i]])
        assert seen == {"palm_up", "palm_down"}
        # every object counted fallen: the reward is its other terms less the wrist's fall term
        env.grasp_point[:] = 10.0
        fall = np.where(env.wrist_label == "palm_up", 20.0, 60.0)  # before the resets
        _, rewards, dones, infos = env.step(np.zeros((config.num_envs, 16)))
        terms = infos["reward_terms"]
        assert dones.all() and set(fall) == {20.0, 60.0}
        assert np.allclose(rewards, terms.rotation + terms.goal + terms.penalty - fall)
    finally:
        env.close()


@pytest.mark.parametrize(("changes", "message"), [
    ({"wrists": ("palm_sideways",)}, "unknown wrist 'palm_sideways': choose from palm_down, "
                                     "palm_up, base_up"),
    ({"grasp_wrist": "random"}, "unknown --grasp-wrist 'random': choose from palm_down"),
    ({"categories": ("spheres",)}, "unknown object categories spheres: choose from "),
    ({"grasp_seeds": (1, 1)}, "--grasp-seeds must be distinct"),
    ({"grasp_wrist": "each", "wrists": ("palm_up", "random")},
     "--grasp-wrist each searches grasps at each of --wrists: name canonical wrists"),
    ({"grasp_wrist": "each", "gait_states": "states"},
     "--gait-states are recorded at one search wrist"),
    ({"wrists": ("palm_up", "palm_down"), "wrist_fall_penalties": (20.0,)},
     r"--wrist-fall-penalties takes one fall term >= 0 per --wrists entry \(2: palm_up "
     r"palm_down\); got \[20.0\]"),
    ({"wrist_fall_penalties": (-1.0,)}, "--wrist-fall-penalties takes one fall term >= 0"),
    ({"wrists": ("palm_up", "palm_down", "palm_down"), "wrist_fall_penalties": (20.0, 60.0, 30.0)},
     "gives a wrist listed twice in --wrists two fall terms"),
])
def test_a_bad_environment_setting_is_a_typed_error_naming_the_choices(changes, message):
    """`train ppo` prints these as one line (a DexndmError), not a traceback."""
    with pytest.raises(DexndmError, match=message):
        RotationEnvConfig(num_envs=1, **changes)


def test_virtual_hand_launch_writes_the_calibrated_goal_current():
    """The virtual hand's torque cap is the register the driver writes: the launch default must
    be the `real` profile's calibrated current, or the virtual hand shows another gap."""
    import xml.etree.ElementTree as ElementTree
    from pathlib import Path

    from dexndm_sim.profiles import DEFAULT_GOAL_CURRENT_MA

    launch = Path(__file__).resolve().parents[3] / "launch" / "leap_hand.launch.xml"
    args = {a.get("name"): a.get("default") for a in ElementTree.parse(launch).iter("arg")}
    assert float(args["virtual_goal_current_ma"]) == DEFAULT_GOAL_CURRENT_MA


def test_episodes_start_only_from_grasps_that_keep_the_object_held_still(tmp_path):
    """small_cylinders_000's third search (seed 2, 8 wanted, 7 found at palm up) keeps grasps
    whose object is still sliding out when the search's 1.5 s hold ends (measured): held still,
    an episode from grasp 4 drops it within 0.2 s, one from grasp 5 keeps it all 20 s."""
    obj = generate_category("small_cylinders")[0]
    config = RotationEnvConfig(num_envs=7, categories=("small_cylinders",), objects=(obj.name,),
                               grasp_wrist="palm_up", grasp_seeds=(2,), grasps_per_object=8,
                               randomize_physics=False, disturbance_probability=0.0,
                               fall_distance=0.06, threads=1)
    env = BatchedRotationEnv(config, tmp_path)
    try:
        held = hold_steps(obj, CANONICAL["palm_up"], env.grasps[0], env.profile, "fast", 400,
                          0.06, tmp_path)
        assert len(held) == 7 and held[4] < 4 and held[5] == 400
        # the measurement is the environment's own episode with zero actions: the same grasps
        # drop the object, a few steps apart at most (the batched hands step in native code,
        # and a sliding object grows floating-point differences)
        outcomes: dict[int, tuple[int, float]] = {}
        zero = np.zeros((config.num_envs, 16))
        while len(outcomes) < config.num_envs:
            for record in env.step(zero)[3]["episodes"]:
                outcomes.setdefault(record["env"], (record["grasp"],
                                                    record["metrics"].time_to_fall))
        for grasp, time_to_fall in outcomes.values():
            assert (time_to_fall == 1.0) == (held[grasp] == 400)
            assert abs(time_to_fall * 400 - held[grasp]) <= 3
    finally:
        env.close()
    picky = BatchedRotationEnv(replace(config, min_grasp_hold=5.0), tmp_path)
    try:
        np.testing.assert_array_equal(picky.start_choices[0], np.flatnonzero(held >= 100))
        assert 4 not in picky.start_choices[0] and 5 in picky.start_choices[0]
        for _ in range(3):
            picky.reset_all()
            assert set(picky.start_grasp) <= set(np.flatnonzero(held >= 100))
    finally:
        picky.close()
    # a direct-transfer measurement keeps its starts: held still where they were searched
    real_hand = BatchedRotationEnv(replace(config, min_grasp_hold=5.0, profile="real",
                                           grasp_profile="nominal"), tmp_path)
    try:
        np.testing.assert_array_equal(real_hand.start_choices[0], np.flatnonzero(held >= 100))
    finally:
        real_hand.close()
    with pytest.raises(DexndmError, match="--min-grasp-hold is in seconds of an episode"):
        replace(config, min_grasp_hold=25.0)
