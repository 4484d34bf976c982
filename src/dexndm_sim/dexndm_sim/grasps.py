"""Grasp caches: initial hand poses that hold an object at a given wrist orientation.

Per (object, wrist, profile): place the object between the fingers with gravity off, close the
hand toward a random pose around the paper's canonical grasp pose (appendix C), then switch
gravity on and keep the grasp if the object stays put and still sits in the hand. A large object
(a cuboid placed where a 4 cm cylinder sits starts inside the half-open fingers and is shot out)
is searched again with its start moved out along the palm normal until it clears the fingers.
Caches are .npz files reused across runs, keyed by everything the result depends on (the compiled
scene, the profile, the search's seed, size and GRASP_SEARCH_VERSION).

The search's 1.5 s hold keeps some grasps whose object is still sliding out (from a few of
them, held still, it falls within a second of the episode's start). ``hold_steps`` measures how
long each grasp keeps the object when an episode starts from it and the hand holds its targets;
an environment can start only from grasps that hold long enough (``min_grasp_hold``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from dexndm_control.errors import DexndmError
from dexndm_control.hand import CANONICAL_POSE, clip_to_limits
from dexndm_control.rotations import quat_conjugate, quat_multiply, quat_to_matrix
from dexndm_sim.cache import cache_root
from dexndm_sim.model import PALM_POSITION
from dexndm_sim.objects import ObjectSpec
from dexndm_sim.profiles import HardwareProfile
from dexndm_sim.scene import OBJECT_IN_PALM, SceneConfig, build_scene
from dexndm_sim.sim_hand import SimHand
from dexndm_sim.wrist import random_quaternion

GRASP_SEARCH_VERSION = 2
HELD_DRIFT = 0.02  # m the object may move when gravity comes on
# m the held object's centre may sit from the palm point, plus however far its start was lifted
IN_HAND_REACH = 0.08
MAX_LIFT = 0.06  # m the start point may move along the palm normal to clear the fingers
PENETRATION_TOLERANCE = 0.001  # m


@dataclass
class GraspCache:
    q: np.ndarray  # [N, 16] joint positions when the grasp held
    target: np.ndarray  # [N, 16] targets holding it
    object_pos: np.ndarray  # [N, 3] world
    object_quat: np.ndarray  # [N, 4]
    trials: int = 0

    def __len__(self) -> int:
        return len(self.q)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, q=self.q, target=self.target, object_pos=self.object_pos,
                 object_quat=self.object_quat, trials=self.trials)
        tmp.replace(path)

    @classmethod
    def concatenate(cls, caches: list[GraspCache]) -> GraspCache:
        """All grasps of ``caches``, in order (one cache is returned as it is)."""
        if len(caches) == 1:
            return caches[0]
        return cls(*(np.concatenate([getattr(c, name) for c in caches])
                     for name in ("q", "target", "object_pos", "object_quat")),
                   trials=sum(c.trials for c in caches))

    @classmethod
    def load(cls, path: Path) -> GraspCache:
        with np.load(path) as data:
            return cls(data["q"], data["target"], data["object_pos"], data["object_quat"],
                       int(data["trials"]))


def default_cache_dir() -> Path:
    return cache_root() / "grasps"


def cache_key(obj: ObjectSpec, wrist_quat, profile: HardwareProfile, preset: str,
              wanted: int, seed: int) -> str:
    """Everything the search's result depends on: the compiled scene (hand, object, wrist,
    profile parameters, solver), the profile's control law, the search settings and version."""
    blob = json.dumps({"search": GRASP_SEARCH_VERSION, "profile": profile.to_dict(),
                       "wanted": wanted, "seed": seed}, sort_keys=True)
    digest = hashlib.sha256(_scene_bytes(obj, wrist_quat, profile, preset)
                            + blob.encode()).hexdigest()[:12]
    return f"{obj.name}-{digest}"


def _scene_bytes(obj: ObjectSpec, wrist_quat, profile: HardwareProfile, preset: str) -> bytes:
    """The compiled scene, serialised: what a result simulated in it depends on."""
    model = build_scene(SceneConfig(tuple(wrist_quat), profile, preset, obj)).model
    buffer = np.zeros(mujoco.mj_sizeModel(model), dtype=np.uint8)
    mujoco.mj_saveModel(model, None, buffer)
    return buffer.tobytes()


def clear_start(hand: SimHand, point: np.ndarray, quat: np.ndarray, q: np.ndarray,
                step: float = 0.004) -> np.ndarray | None:
    """The start position nearest ``point`` along the palm normal (away from the palm) where the
    object does not penetrate the hand at joint positions ``q``; None if none within MAX_LIFT."""
    normal = hand.scene.palm_rotation @ np.array([0.0, 0.0, -1.0])
    body = hand.scene.object_body
    for lift in np.arange(0.0, MAX_LIFT + 1e-9, step):
        start = point + lift * normal
        hand.reset(q, start, quat)
        mujoco.mj_forward(hand.model, hand.data)
        contacts = hand.data.contact[:hand.data.ncon]
        bodies = hand.model.geom_bodyid
        deepest = min((c.dist for c in contacts
                       if body in (bodies[c.geom1], bodies[c.geom2])), default=0.0)
        if deepest > -PENETRATION_TOLERANCE:
            return start
    return None


def generate_grasps(obj: ObjectSpec, wrist_quat, profile: HardwareProfile,
                    preset: str = "fast", wanted: int = 16, max_trials: int = 400,
                    seed: int = 0, noise: float = 0.3) -> GraspCache:
    """Up to ``wanted`` grasps: ``max_trials`` trials starting the object at the palm point, and
    if none of them holds (a large object the closing fingers shoot out), as many again with the
    start lifted clear of the half-open fingers."""
    hand = SimHand(SceneConfig(tuple(wrist_quat), profile, preset, obj))
    found, trials = _search(hand, wanted, max_trials, seed, noise, lift=False)
    if not found:
        found, more = _search(hand, wanted, max_trials, seed, noise, lift=True)
        trials += more
    if not found:
        return GraspCache(np.zeros((0, 16)), np.zeros((0, 16)), np.zeros((0, 3)),
                          np.zeros((0, 4)), trials)
    q, target, pos, quat = map(np.array, zip(*found, strict=True))
    return GraspCache(q, target, pos, quat, trials)


def _search(hand: SimHand, wanted: int, max_trials: int, seed: int, noise: float,
            lift: bool) -> tuple[list[tuple], int]:
    rng = np.random.default_rng(seed)
    palm = hand.scene.palm_to_world(OBJECT_IN_PALM)
    open_pose = clip_to_limits(CANONICAL_POSE * 0.3)
    found: list[tuple] = []
    trials = 0
    while len(found) < wanted and trials < max_trials:
        trials += 1
        hand.set_gravity(False)
        quat = random_quaternion(rng)
        goal = clip_to_limits(CANONICAL_POSE + rng.uniform(-noise, noise, 16))
        start = clear_start(hand, palm, quat, open_pose) if lift else palm
        if start is None:
            continue
        hand.reset(open_pose, start, quat)
        for k in range(1, 21):  # close over 1 s
            hand.control_step(open_pose + (goal - open_pose) * k / 20)
        before, _ = hand.object_pose()
        hand.set_gravity(True)
        for _ in range(30):  # hold for 1.5 s
            hand.control_step(goal)
        after, held_quat = hand.object_pose()
        reach = IN_HAND_REACH + np.linalg.norm(start - palm)
        if np.linalg.norm(after - before) < HELD_DRIFT and np.linalg.norm(after - palm) < reach:
            found.append((hand.q, goal, after, held_quat))
    return found, trials


def load_or_generate(obj: ObjectSpec, wrist_quat, profile: HardwareProfile,
                     preset: str = "fast", cache_dir: Path | None = None, wanted: int = 16,
                     seed: int = 0) -> GraspCache:
    key = cache_key(obj, wrist_quat, profile, preset, wanted, seed)
    path = (cache_dir or default_cache_dir()) / f"{key}.npz"
    if path.is_file():
        return GraspCache.load(path)
    cache = generate_grasps(obj, wrist_quat, profile, preset, wanted=wanted, seed=seed)
    cache.save(path)
    return cache


def hold_steps(obj: ObjectSpec, wrist_quat, cache: GraspCache, profile: HardwareProfile,
               preset: str, steps: int, fall_distance: float,
               cache_dir: Path | None = None) -> np.ndarray:
    """Per grasp of ``cache`` (searched at ``wrist_quat``): how many control steps, at most
    ``steps``, an episode from the grasp (reset, one settling step) lasts when the hand holds
    its targets, the step the object falls on (farther than ``fall_distance`` from where the
    settled grasp held it) included, as TTF counts.
    Measured once per grasp set, physics and criterion and kept beside the grasp caches."""
    criterion = json.dumps({"steps": steps, "fall_distance": fall_distance,
                            "profile": profile.to_dict()}, sort_keys=True)
    grasps = b"".join(np.ascontiguousarray(getattr(cache, name), dtype=float).tobytes()
                      for name in ("q", "target", "object_pos", "object_quat"))
    digest = hashlib.sha256(_scene_bytes(obj, wrist_quat, profile, preset) + criterion.encode()
                            + grasps).hexdigest()[:12]
    path = (cache_dir or default_cache_dir()) / "holds" / f"{obj.name}-{digest}.npy"
    if path.is_file():
        return np.load(path)
    hand = SimHand(SceneConfig(tuple(wrist_quat), profile, preset, obj))
    held = np.zeros(len(cache), dtype=int)
    for i in range(len(cache)):
        hand.reset(cache.q[i], cache.object_pos[i], cache.object_quat[i])
        hand.control_step(cache.target[i])  # the settling step every episode starts with
        point = hand.object_pose()[0]
        while held[i] < steps:
            hand.control_step(cache.target[i])
            held[i] += 1
            if np.linalg.norm(hand.object_pose()[0] - point) > fall_distance:
                break
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npy")
    np.save(tmp, held)
    tmp.replace(path)
    return held


def move_with_palm(object_pos: np.ndarray, object_quat: np.ndarray, from_wrist: np.ndarray,
                   to_wrist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A world object pose held with the palm at ``from_wrist``, as the same pose relative to
    the palm with the palm at ``to_wrist`` (grasp caches are stored at their search wrist and
    reused, palm-relative, at every wrist)."""
    palm = np.asarray(PALM_POSITION)
    in_palm = quat_to_matrix(from_wrist).T @ (np.asarray(object_pos) - palm)
    quat_in_palm = quat_multiply(quat_conjugate(from_wrist), object_quat)
    return palm + quat_to_matrix(to_wrist) @ in_palm, quat_multiply(to_wrist, quat_in_palm)


def load_gait_states(directory: str | Path | None, objects: list[str]) -> dict[str, GraspCache]:
    """States recorded mid-rotation (``directory``/OBJECT.npz, grasp-cache format at the search
    wrist) for those of ``objects`` that have some; {} without a directory."""
    if directory is None:
        return {}
    directory = Path(directory)
    if not directory.is_dir():
        raise DexndmError(f"no gait states at {directory}: record them with `dexndm train "
                          f"gait-states CHECKPOINT --out {directory}`")
    found = {name: GraspCache.load(directory / f"{name}.npz") for name in objects
             if (directory / f"{name}.npz").is_file()}
    if not found:
        raise DexndmError(f"{directory} holds gait states of none of {', '.join(objects)}: "
                          "record them with a specialist of these objects")
    return found
