"""Batched in-hand rotation environment on MuJoCo (CPU), N hands stepped together (hand_batch.py).

Control at 20 Hz: target_t = clip(target_{t-1} + action * ACTION_SCALE (1/24), limits), then 6
physics steps (1/120 s) under the hardware profile. Observations come as named groups
(``observation_groups``), so policies pick what they see (oracle: privileged object/fingertip/
contact state; generalist: proprioception history, wrist quaternion, axis) and nobody slices a
vector by hand.
Simulation sits behind this interface: another backend (MuJoCo Warp on a GPU) provides the same
``reset``/``step``/observation groups.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from dexndm_control.errors import DexndmError
from dexndm_control.hand import ACTION_SCALE, CONTROL_DT, LOWER, NUM_JOINTS, UPPER
from dexndm_control.rotations import quat_to_matrix, world_to_hand
from dexndm_control.settings import setting
from dexndm_sim import PHYSICS_THREADS_HELP
from dexndm_sim.axes import axis_name, axis_set
from dexndm_sim.grasps import (
    GraspCache,
    hold_steps,
    load_gait_states,
    load_or_generate,
    move_with_palm,
)
from dexndm_sim.hand_batch import HandBatch, physics_threads
from dexndm_sim.objects import (
    CATEGORIES,
    ObjectSpec,
    generate_category,
    object_names,
    randomize_physics,
)
from dexndm_sim.profiles import get_profile
from dexndm_sim.rewards import (
    RewardConfig,
    angular_distance,
    compute_reward,
    goal_ahead,
    metrics_from_sums,
    rotation_penalty_weight,
)
from dexndm_sim.scene import SceneConfig
from dexndm_sim.sim_hand import SimHand
from dexndm_sim.wrist import CANONICAL, LABELS, wrist_quaternion

FALL_DISTANCE = 0.08  # m from the grasp point: the object has fallen
# ``grasp_wrist`` value: every episode starts from grasps searched at its own wrist
EACH_WRIST = "each"


# RotationEnvConfig fields that describe the machine, not the environment: run directories
# (env.yaml) leave them out and readers of env.yaml ignore them, so a run moves between machines
MACHINE_SETTINGS = ("threads",)


@dataclass
class RotationEnvConfig:
    num_envs: int = 16
    categories: tuple[str, ...] = setting(("cylinders",), help="object categories (paper Table "
                                                          "14) whose objects episodes hold "
                                                          "(train ppo: --category's alone "
                                                          "unless given)")
    # in one network the easier category takes the gradient (two-category fine-tune: the small
    # cylinders rose, the cylinders did not; docs/base_policy_log.md); shares give a category more
    # of the batch. Evaluations still score every object equally
    category_shares: tuple[float, ...] = setting((), help="share of the environments for each "
                                                          "of --categories, in their order "
                                                          "(e.g. 3 1); default: every object "
                                                          "alike")
    object_seed: int = 0
    objects: tuple[str, ...] = setting((), help="only these objects of the categories (e.g. "
                                                "cylinders_004); default: all of them")
    # within a category the objects differ too: one network fine-tuned on cylinders_000 and
    # _001 kept the easy one and left the high-friction one at a third of its rotation
    # (docs/base_policy_log.md)
    object_shares: tuple[float, ...] = setting((), help="share of the environments for each "
                                                        "of --objects, in their order (e.g. "
                                                        "1 3); default: every object alike")
    wrists: tuple[str, ...] = setting(("palm_up",), help="canonical wrists (palm_up, palm_down, "
                                                         "...) or random, resampled per reset")
    # a network fine-tuned at two wrists under one fall term traded the palm-up hold for
    # palm-down rotation as the term rose (docs/base_policy_log.md): each wrist its own
    wrist_fall_penalties: tuple[float, ...] = setting((), help="the training reward's fall term "
                                                               "at each of --wrists, in their "
                                                               "order (e.g. 20 60); default: "
                                                               "the reward's at every wrist")
    axes: str = setting("z", help="axis set: x, y, z, principal, general")
    profile: str = setting("nominal", help="hardware profile: nominal, real, or "
                                           "NAME:key=value,...")
    # constructor arguments of the profile (real: goal_current_ma, latency_steps, spread_seed)
    profile_params: dict = field(default_factory=dict)
    # profile the initial grasps are searched under (None: ``profile``). Direct-transfer
    # measurements start the "real" hand from the training sim's grasps, as a deployed policy does
    grasp_profile: str | None = None
    preset: str = "fast"
    episode_length: int = 400
    history: int = 10
    action_scale: float = ACTION_SCALE
    disturbance_scale: float = 2.0  # force magnitude = scale * object mass (N)
    disturbance_probability: float = 0.25
    joint_noise: float = 0.005  # U(0, noise) added to observed joint positions
    # off: every object keeps its own mass and friction (one Table 14 draw per object, what
    # `dexndm sim eval` runs), so a specialist can be taught exactly the objects it is scored on
    randomize_physics: bool = setting(True, help="draw object mass and friction every episode "
                                      "(--no-randomize-physics: each object's own, as sim eval "
                                      "runs it)")
    # None: the category's Table 14 range; narrower ranges make a small-budget curriculum stage
    mass_range: tuple[float, float] | None = setting(None, help="object mass range in kg "
                                                     "(default: the category's, paper Table 14)")
    friction_range: tuple[float, float] | None = setting(
        None, help="object friction range (default: the category's, paper Table 14)")
    # the object's physical parameters as privileged information (paper A.1; Hora and RotateIt
    # give the oracle mass and friction): an oracle trained over Table 14's friction range can
    # tell a slippery object from a grippy one. Off in runs made before it existed (env.yaml)
    observe_physics: bool = setting(False, help="the oracle also sees the object's mass, "
                                    "friction and size (privileged information)")
    fall_distance: float = FALL_DISTANCE
    grasps_per_object: int = setting(8, help="initial grasps searched per object (episodes "
                                                "start from one of them)")
    # grasps are searched at this wrist and reused (palm-relative) for every wrist: palm down is
    # the hardest, so its grasps hold everywhere; a single-wrist run is easier from its own, and
    # with "each" every wrist starts from its own (a network fine-tuned at two wrists starts each
    # from the grasps its teachers were measured from)
    grasp_wrist: str = setting("palm_down", help="wrist the initial grasps are searched at; "
                                                 "each: every wrist of --wrists from grasps "
                                                 "searched at it (canonical wrists only)")
    # each search seed finds grasps of its own kind (a specialist trained from one seed's rotated
    # 0.6-1.0 rad from another's, 9.9 from its own: docs/base_policy_log.md); several widen the
    # starts
    grasp_seeds: tuple[int, ...] = setting((), help="grasp searches (seeds) whose grasps "
                                                    "episodes start from, grasps-per-object "
                                                    "each (default: the environment's seed)")
    # some searched grasps drop the object on their own within seconds (docs/base_policy_log.md);
    # episodes from them teach holding, not rotating. 0 keeps every grasp (and the random stream)
    min_grasp_hold: float = setting(0.0, help="seconds a start grasp must keep the object with "
                                              "the hand held still (measured once per grasp at "
                                              "the search wrist); 0: every searched grasp")
    # states recorded mid-rotation by a specialist (`dexndm train gait-states`): episodes that
    # start inside the gait practise it from many of its phases, not only from the grasps it
    # begins at. Training only: evaluations and rollouts start from searched grasps
    gait_states: str | None = setting(None, help="directory of states recorded mid-rotation "
                                                 "(`dexndm train gait-states`, OBJECT.npz) that "
                                                 "training episodes also start from")
    gait_state_share: float = setting(0.5, help="share of episodes that start from a recorded "
                                                "gait state, for objects that have some")
    # a property of the machine, not of the environment: a batch steps bit for bit the same on
    # any number of threads (HandBatch), so run directories do not keep it (MACHINE_SETTINGS)
    threads: int = setting(0, help=PHYSICS_THREADS_HELP)
    seed: int = 0
    reward: RewardConfig = field(default_factory=RewardConfig)

    def __post_init__(self) -> None:
        physics_threads(self.threads)  # refused here, before any grasp search
        unknown = set(self.categories) - set(CATEGORIES)
        if unknown:
            raise DexndmError(f"unknown object categories {', '.join(sorted(unknown))}: "
                              f"choose from {', '.join(CATEGORIES)}")
        known = [name for category in self.categories for name in object_names(category)]
        unknown = sorted(set(self.objects) - set(known))
        if unknown:
            raise DexndmError(f"objects {', '.join(unknown)} are not in categories "
                              f"{' '.join(self.categories)}: name theirs (e.g. {known[0]})")
        for wrist in self.wrists:
            if wrist != "random" and wrist not in CANONICAL:
                raise DexndmError(f"unknown wrist '{wrist}': choose from "
                                  f"{', '.join(LABELS)}")
        if len(set(self.grasp_seeds)) != len(self.grasp_seeds) or min(self.grasp_seeds,
                                                                       default=0) < 0:
            raise DexndmError("--grasp-seeds must be distinct seeds >= 0")
        if self.grasp_wrist not in (*CANONICAL, EACH_WRIST):
            raise DexndmError(f"unknown --grasp-wrist '{self.grasp_wrist}': choose from "
                              f"{', '.join(CANONICAL)} or {EACH_WRIST}")
        if self.grasp_wrist == EACH_WRIST and "random" in self.wrists:
            raise DexndmError(f"--grasp-wrist {EACH_WRIST} searches grasps at each of --wrists: "
                              "name canonical wrists (palm_up, palm_down, ...), not random")
        if self.grasp_wrist == EACH_WRIST and self.gait_states:
            raise DexndmError(f"--gait-states are recorded at one search wrist: give that wrist "
                              f"as --grasp-wrist, not {EACH_WRIST}")
        if not self.randomize_physics and (self.mass_range or self.friction_range):
            raise DexndmError("--mass-range and --friction-range are drawn from every episode: "
                             "leave them out with --no-randomize-physics (each object keeps its "
                             "own)")
        if not 0.0 <= self.min_grasp_hold <= self.episode_length * CONTROL_DT:
            raise DexndmError(f"--min-grasp-hold is in seconds of an episode: give 0-"
                              f"{self.episode_length * CONTROL_DT:g}")
        if self.category_shares and (len(self.category_shares) != len(self.categories)
                                     or min(self.category_shares) <= 0):
            raise DexndmError(f"--category-shares takes one positive share per --categories "
                              f"entry ({len(self.categories)}: {' '.join(self.categories)}); "
                              f"got {list(self.category_shares)}")
        if self.object_shares and (len(self.object_shares) != len(self.objects)
                                   or min(self.object_shares) <= 0):
            raise DexndmError(f"--object-shares takes one positive share per --objects entry "
                              f"({len(self.objects)}: {' '.join(self.objects) or 'none given'}); "
                              f"got {list(self.object_shares)}")
        if self.object_shares and self.category_shares:
            raise DexndmError("--category-shares and --object-shares both split the "
                              "environments: give one of them (object shares can weight "
                              "categories too)")
        if self.wrist_fall_penalties and (
                len(self.wrist_fall_penalties) != len(self.wrists)
                or not all(math.isfinite(p) and p >= 0 for p in self.wrist_fall_penalties)):
            raise DexndmError(f"--wrist-fall-penalties takes one fall term >= 0 per --wrists "
                              f"entry ({len(self.wrists)}: {' '.join(self.wrists)}); got "
                              f"{list(self.wrist_fall_penalties)}")
        wrist_terms = (list(zip(self.wrists, self.wrist_fall_penalties, strict=True))
                       if self.wrist_fall_penalties else [])
        if any(dict(wrist_terms)[wrist] != term for wrist, term in wrist_terms):
            raise DexndmError("--wrist-fall-penalties gives a wrist listed twice in --wrists two "
                              "fall terms: give it one")
        if not 0.0 <= self.gait_state_share <= 1.0:
            raise DexndmError("--gait-state-share is a share of episodes: give 0-1")
        axis_set(self.axes)

    def search_wrist(self, wrist: str) -> str:
        """The wrist whose grasps an episode at ``wrist`` (a --wrists entry) starts from,
        carried to its own."""
        return wrist if self.grasp_wrist == EACH_WRIST else self.grasp_wrist

    @property
    def search_wrists(self) -> tuple[str, ...]:
        """Every wrist grasps are searched at, in --wrists order."""
        return tuple(dict.fromkeys(self.search_wrist(wrist) for wrist in self.wrists))

    def fall_penalty(self, wrist: str) -> float:
        """The training reward's fall term for an episode at ``wrist`` (a --wrists entry)."""
        if not self.wrist_fall_penalties:
            return self.reward.fall
        return self.wrist_fall_penalties[self.wrists.index(wrist)]

    def unweighted(self, **changes) -> RotationEnvConfig:
        """This environment with every object alike (no category or object shares) and one
        fall term, as evaluations score it whatever share of the training batch an object had
        (and at whatever wrists they are given)."""
        return replace(self, category_shares=(), object_shares=(), wrist_fall_penalties=(),
                       **changes)


def share_counts(shares: tuple[float, ...], total: int) -> np.ndarray:
    """``total`` split in proportion to ``shares``, whole numbers summing to ``total``: the
    remainders rounding leaves go to the largest fractions."""
    exact = np.array(shares) / sum(shares) * total
    counts = np.floor(exact).astype(int)
    counts[np.argsort(counts - exact, kind="stable")[:total - counts.sum()]] += 1
    return counts


# what ``start_grasp`` holds for an episode that began from a recorded gait state
GAIT_STATE_START = -1


class BatchedRotationEnv:
    def __init__(self, config: RotationEnvConfig, grasp_cache_dir=None) -> None:
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        self.profile = get_profile(config.profile, **config.profile_params)
        grasp_profile = (self.profile if config.grasp_profile in (None, config.profile)
                         else get_profile(config.grasp_profile))
        objects: list[ObjectSpec] = [o for c in config.categories
                                     for o in generate_category(c, config.object_seed)
                                     if not config.objects or o.name in config.objects]
        # grasps are searched at a wrist and reused for every wrist, palm-relative; an object no
        # searched grasp holds (at every search wrist) is left out of this environment (listed in
        # `unheld_objects`). Keyed by (search wrist, object): its grasps / those episodes start from
        caches, starts = {}, {}
        for label in config.search_wrists:
            searched = np.array(CANONICAL[label])
            for obj in objects:
                cache = GraspCache.concatenate([
                    load_or_generate(obj, searched, grasp_profile, config.preset,
                                     grasp_cache_dir, wanted=config.grasps_per_object, seed=seed)
                    for seed in config.grasp_seeds or (config.seed,)])
                caches[label, obj.name] = cache
                starts[label, obj.name] = self._start_choices(obj, cache, searched,
                                                              grasp_profile, grasp_cache_dir)
        self.unheld_objects = [obj.name for obj in objects if any(
            len(starts[label, obj.name]) == 0 for label in config.search_wrists)]
        held = [obj for obj in objects if obj.name not in self.unheld_objects]
        holds = (f" for {config.min_grasp_hold:g} s (--min-grasp-hold)"
                 if config.min_grasp_hold > 0 else "")
        at = " and ".join(config.search_wrists)
        if not held:
            raise RuntimeError(f"no grasp holds any of {[o.name for o in objects]} at "
                               f"{at}{holds}; try another grasp_wrist, object_seed or more "
                               "grasp seeds")
        if self.unheld_objects:
            warnings.warn(f"no grasp holds {', '.join(self.unheld_objects)} at {at}{holds}: "
                          "left out of the environment", stacklevel=2)
        self.objects = self._assign_objects(held)
        first = config.search_wrists[0]
        self.hands = [SimHand(SceneConfig(tuple(CANONICAL[first]), self.profile, config.preset,
                                          obj, state_sensors=True)) for obj in self.objects]
        self._grasps_at = {label: [caches[label, obj.name] for obj in self.objects]
                           for label in config.search_wrists}
        self._starts_at = {label: [starts[label, obj.name] for obj in self.objects]
                           for label in config.search_wrists}
        # each env's grasps and start choices: its episode's search wrist's (set at every reset)
        self.grasps: list[GraspCache] = list(self._grasps_at[first])
        self.start_choices: list[np.ndarray] = list(self._starts_at[first])
        gait = load_gait_states(config.gait_states, [obj.name for obj in held])
        self.gait_states: list[GraspCache | None] = [gait.get(obj.name) for obj in self.objects]
        self.axes = axis_set(config.axes)
        n, h = config.num_envs, config.history
        self.q_history = np.zeros((n, h, NUM_JOINTS))
        self.target_history = np.zeros((n, h, NUM_JOINTS))
        self.target = np.zeros((n, NUM_JOINTS))
        self.q_init = np.zeros((n, NUM_JOINTS))
        self.axis_world = np.zeros((n, 3))
        self.wrist = np.zeros((n, 4))
        # the --wrists entry each env's episode drew (episode records and per-wrist scores)
        self.wrist_label = np.full(n, config.wrists[0], dtype=object)
        self.fall_penalty = np.zeros(n)  # the reward's fall term at each env's wrist
        self.goal = np.zeros((n, 4))
        self.grasp_point = np.zeros((n, 3))
        self.steps = np.zeros(n, dtype=int)
        # index into the env's grasp cache this episode (GAIT_STATE_START: a recorded gait state)
        self.start_grasp = np.zeros(n, dtype=int)
        self.object_mass = np.zeros(n)  # kg, this episode's (disturbances scale with it)
        self.object_friction = np.zeros(n)  # sliding friction of the object's geoms, this episode's
        self.object_extents = np.array([obj.extents for obj in self.objects], dtype=float)
        self.resets = 0
        self._along_sum = np.zeros(n)  # this episode's sums of omega . k and |omega x k|
        self._off_sum = np.zeros(n)
        self.batch = HandBatch(self.hands, config.threads)
        # every env's state after the last step or reset, batched (read by recorders too)
        self.snapshot = {key: np.zeros((n, *shape)) for key, shape in (
            ("q", (16,)), ("qd", (16,)), ("torque", (16,)), ("object_pos", (3,)),
            ("object_quat", (4,)), ("object_linvel", (3,)), ("omega", (3,)), ("tips", (4, 13)),
            ("contacts", (4, 4)))}
        self.reset_all()

    def _start_choices(self, obj: ObjectSpec, cache: GraspCache, grasp_wrist: np.ndarray,
                       grasp_profile, cache_dir) -> np.ndarray:
        """Indices of ``cache``'s grasps episodes start from: all of them, or with
        ``min_grasp_hold`` those that keep the object that long held still under the profile
        they were searched in (a direct-transfer measurement keeps its starts)."""
        if self.config.min_grasp_hold <= 0 or len(cache) == 0:
            return np.arange(len(cache))
        held = hold_steps(obj, grasp_wrist, cache, grasp_profile, self.config.preset,
                          self.config.episode_length, self.config.fall_distance, cache_dir)
        needed = round(self.config.min_grasp_hold / CONTROL_DT)
        return np.flatnonzero(held >= needed)

    def _assign_objects(self, held: list[ObjectSpec]) -> list[ObjectSpec]:
        """Each environment's object: round-robin over ``held``, or, with shares, each
        category's (object's) share of the environments, round-robin over its own objects."""
        config = self.config
        if config.object_shares:
            groups, shares, flag = config.objects, config.object_shares, "--object-shares"
            members = {name: [obj for obj in held if obj.name == name] for name in groups}
            unheld = "it"
        elif config.category_shares:
            groups, shares, flag = config.categories, config.category_shares, "--category-shares"
            members = {name: [obj for obj in held if obj.category == name] for name in groups}
            unheld = "any of its objects"
        else:
            return [held[i % len(held)] for i in range(config.num_envs)]
        counts = share_counts(shares, config.num_envs)
        if counts.min() == 0:
            raise DexndmError(f"{config.num_envs} environments leave an entry of {flag} "
                              f"{list(shares)} without one: raise --num-envs or its share")
        assigned: list[ObjectSpec] = []
        for name, count in zip(groups, counts, strict=True):
            mine = members[name]
            if not mine:
                raise DexndmError(f"{flag} gives {name} environments, but no grasp holds "
                                  f"{unheld}: leave it out")
            assigned += [mine[i % len(mine)] for i in range(count)]
        return assigned

    # -- reset -----------------------------------------------------------------------------------

    def reset_all(self) -> dict[str, np.ndarray]:
        for env in range(self.config.num_envs):
            self._reset(env)
        return self.observation_groups()

    def _reset(self, env: int) -> None:
        config, hand = self.config, self.hands[env]
        label = config.wrists[self.rng.integers(len(config.wrists))]
        wrist = wrist_quaternion(label, self.rng)
        hand.model.body_quat[hand.scene.palm_body] = wrist
        search = config.search_wrist(label)
        self.grasps[env] = self._grasps_at[search][env]
        self.start_choices[env] = self._starts_at[search][env]
        if config.randomize_physics:
            obj = randomize_physics(self.objects[env], self.rng, config.mass_range,
                                    config.friction_range)
            hand.set_object_physics(obj.mass, obj.friction)
        self.object_mass[env] = hand.model.body_mass[hand.scene.object_body]
        self.object_friction[env] = hand.object_friction
        cache = self.grasps[env]
        # the share's draw only where gait states exist: other runs keep their random streams
        gait = self.gait_states[env]
        from_gait = gait is not None and self.rng.random() < config.gait_state_share
        if from_gait:
            cache = gait
            pick = self.rng.integers(len(cache))
        else:  # the same draw as from all grasps when every grasp may start an episode
            choices = self.start_choices[env]
            pick = choices[self.rng.integers(len(choices))]
        self.start_grasp[env] = GAIT_STATE_START if from_gait else pick
        # the cached pose is in the world frame of the search wrist: carried with the palm
        object_pos, object_quat = move_with_palm(cache.object_pos[pick], cache.object_quat[pick],
                                                 np.array(CANONICAL[search]), wrist)
        hand.reset(cache.q[pick], object_pos, object_quat)
        hand.control_step(cache.target[pick])  # settle the grasp in the new orientation
        # falls are measured from where this grasp holds the object once settled
        self.grasp_point[env] = hand.object_pose()[0]
        self.target[env] = cache.target[pick]
        self.q_init[env] = cache.target[pick]
        axis = self.axes[self.rng.integers(len(self.axes))]
        self.axis_world[env] = axis / np.linalg.norm(axis)
        self.wrist[env] = wrist
        self.wrist_label[env] = label
        self.fall_penalty[env] = config.fall_penalty(label)
        self.goal[env] = goal_ahead(hand.object_pose()[1], self.axis_world[env],
                                    config.reward.goal_step)
        q = self._observed_q(hand)
        self.q_history[env] = q
        self.target_history[env] = self.target[env]
        self.steps[env] = 0
        self._along_sum[env] = self._off_sum[env] = 0.0
        self.resets += 1
        self.batch.sync(env)
        self._gather()

    def _observed_q(self, hand: SimHand) -> np.ndarray:
        return hand.q + self.rng.uniform(0.0, self.config.joint_noise, NUM_JOINTS)

    # -- step ------------------------------------------------------------------------------------

    def step(self, actions: np.ndarray):
        """actions [N, 16] in [-1, 1] -> (observations, rewards [N], dones [N], infos): each
        target moves by at most ``action_scale`` per step (the policies' action chain)."""
        actions = np.clip(np.asarray(actions, dtype=float), -1.0, 1.0)
        return self.step_to(self.target + actions * self.config.action_scale)

    def step_to(self, targets: np.ndarray):
        """One control step to absolute joint targets [N, 16] (clipped to the joint limits), for
        a controller whose command is not the policy's own chain (base + residual)."""
        config = self.config
        previous_target = self.target.copy()
        self.target = np.clip(np.asarray(targets, dtype=float), LOWER, UPPER)
        # a new push on the object, held until the next one or the episode's end
        pushed = np.flatnonzero(self.rng.random(config.num_envs) < config.disturbance_probability)
        direction = self.rng.normal(size=(len(pushed), 3))
        self.batch.external_force[pushed] = (
            config.disturbance_scale * self.object_mass[pushed, None] * direction
            / np.linalg.norm(direction, axis=1, keepdims=True))
        self.batch.step(self.target)
        self._gather()
        state = self._state()
        self.steps += 1
        fell = (np.linalg.norm(state["object_pos"] - self.grasp_point, axis=1)
                > config.fall_distance)
        timeout = self.steps >= config.episode_length
        goal_distance = angular_distance(state["object_quat"], self.goal)
        terms = compute_reward(config.reward, state["omega"], self.axis_world,
                               state["object_linvel"], state["q"], self.q_init,
                               state["torque"], state["qd"], goal_distance,
                               rotation_penalty_weight(config.reward, self.resets), fell,
                               self.fall_penalty)
        reached = goal_distance < config.reward.goal_threshold
        for env in np.flatnonzero(reached):
            self.goal[env] = goal_ahead(state["object_quat"][env], self.axis_world[env],
                                        config.reward.goal_step)
        # histories: newest last
        self.q_history = np.roll(self.q_history, -1, axis=1)
        self.q_history[:, -1] = state["q_observed"]
        self.target_history = np.roll(self.target_history, -1, axis=1)
        self.target_history[:, -1] = previous_target
        along = np.sum(state["omega"] * self.axis_world, axis=1)
        dones = fell | timeout
        # the state each env reached this step, before any reset (rollout recorders need it)
        infos: dict = {"time_outs": timeout & ~fell, "episodes": [], "reward_terms": terms,
                       "q": state["q"], "object_pos": state["object_pos"],
                       "object_quat": state["object_quat"], "target": self.target.copy()}
        self._along_sum += along
        self._off_sum += terms.off_axis
        for env in np.flatnonzero(dones):
            metrics = metrics_from_sums(float(self._along_sum[env]), float(self._off_sum[env]),
                                        int(self.steps[env]), CONTROL_DT, config.episode_length)
            infos["episodes"].append({"env": int(env), "object": self.objects[env].name,
                                      "category": self.objects[env].category,
                                      "grasp": int(self.start_grasp[env]),
                                      "wrist": self.wrist_label[env],
                                      "axis": axis_name(self.axis_world[env]),
                                      "fell": bool(fell[env]), "metrics": metrics})
            self._reset(env)
        return self.observation_groups(), terms.total, dones, infos

    def _gather(self) -> None:
        """The batch's arrays -> the snapshot every reader uses (one set of [N, ...] copies)."""
        snap, batch = self.snapshot, self.batch
        snap["q"][:], snap["qd"][:], snap["torque"][:] = batch.q, batch.qd, batch.torque
        pose, velocity = batch.object_pose, batch.object_velocity
        snap["object_pos"][:], snap["object_quat"][:] = pose[:, :3], pose[:, 3:]
        snap["object_linvel"][:] = velocity[:, :3]
        # free-joint angular velocity is in the body frame: rotate into the world frame with the
        # orientation the physics step used (data.xmat after mj_step)
        snap["omega"][:] = np.einsum("nij,nj->ni",
                                     quat_to_matrix(batch.object_orientation_at_forward),
                                     velocity[:, 3:])
        snap["tips"][:] = batch.fingertips
        snap["contacts"][:] = batch.tip_contacts

    def _state(self) -> dict[str, np.ndarray]:
        state = {key: value.copy() for key, value in self.snapshot.items()}
        noise = self.rng.uniform(0.0, self.config.joint_noise, state["q"].shape)
        state["q_observed"] = state["q"] + noise
        return state

    # -- observations ------------------------------------------------------------------------------

    def observation_groups(self) -> dict[str, np.ndarray]:
        """Named groups, each [N, ...]. Frames: the axis and goal are also given in the palm
        frame (what the policy sees); object and fingertip states are in the world frame."""
        n, snap = self.config.num_envs, self.snapshot
        object_state = np.concatenate([snap["object_pos"] - self.grasp_point, snap["object_quat"],
                                       snap["object_linvel"], snap["omega"]], axis=1)
        return {
            "joint_pos_history": self.q_history.copy(),
            "target_history": self.target_history.copy(),
            "wrist_quat": self.wrist.copy(),
            "rotation_axis": world_to_hand(self.axis_world, self.wrist),
            "rotation_axis_world": self.axis_world.copy(),
            "joint_vel": snap["qd"].copy(),
            "object_state": object_state,
            "fingertips": snap["tips"].reshape(n, -1).copy(),
            "tip_contacts": snap["contacts"].reshape(n, -1).copy(),
            "goal_quat": self.goal.copy(),
            # mass (kg), sliding friction, extents along the object's axes (m)
            "object_physics": np.concatenate([self.object_mass[:, None],
                                              self.object_friction[:, None],
                                              self.object_extents], axis=1),
        }

    def close(self) -> None:
        self.batch.close()
