"""Evaluation of a base policy in simulation: objects x axes x wrists x seeds (paper section 4.1
metrics), run through the controller's own PolicyRuntime, and offscreen rendering of an episode.

Metrics per episode (dexndm_sim/rewards.py): RotR (sum of w.k), RotP (mean |w x k|), TTF (steps
held / 400), Rot (radians about the axis). Goal-oriented success (GO Succ): a random goal
orientation is drawn, the commanded axis is the axis of the relative rotation, and the episode
succeeds if the object ends within 0.1 pi of the goal. Results: mean +- std over seeds, JSON and a
printed table. ``--hold-still`` scores the same starts with no policy (every grasp's targets
held): the floor a policy's TTF is read against, as some searched grasps drop the object alone.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from dexndm_control.errors import DexndmError
from dexndm_control.hand import CONTROL_DT
from dexndm_control.policy.runtime import PolicyRuntime
from dexndm_control.rotations import quat_conjugate, quat_multiply, world_to_hand
from dexndm_control.settings import setting
from dexndm_learning.outcomes import METRICS, outcome_summary, per_axis, per_object
from dexndm_learning.runs import measured_with
from dexndm_sim.axes import axis_name, axis_set
from dexndm_sim.env import FALL_DISTANCE
from dexndm_sim.grasps import load_or_generate
from dexndm_sim.objects import generate_category
from dexndm_sim.profiles import get_profile
from dexndm_sim.rewards import angular_distance, episode_metrics
from dexndm_sim.scene import SceneConfig
from dexndm_sim.sim_hand import SimHand
from dexndm_sim.wrist import random_quaternion, wrist_quaternion


@dataclass
class EvalConfig:
    policy: str | None = setting(None, help="base_policy bundle directory (none with "
                                            "--hold-still)")
    categories: tuple[str, ...] = ("cylinders",)
    objects_per_category: int = setting(2, flag="--objects", help="objects per category")
    wrists: tuple[str, ...] = ("palm_up",)
    axes: str = setting("z", help="x, y, z, principal, general")
    seeds: tuple[int, ...] = setting((0, 1, 2), help="grasp searches (seeds) the starts come "
                                     "from; `train ppo --grasp-seeds 0 1 2` trains from the "
                                     "same searches, so other seeds score starts such a "
                                     "run never saw")
    steps: int = 400
    profile: str = setting("nominal", help="nominal or real")
    goal_oriented: bool = setting(False, help="GO success: random goals, axis = relative "
                                              "rotation axis")
    profile_params: dict = field(default_factory=dict)  # e.g. {"goal_current_ma": 550} for real
    residual: str | None = setting(None, help="residual bundle run on top of the base policy, as "
                                              "the controller runs it")
    episodes_per_axis: int = setting(2, help="episodes per object, wrist, grasp search and axis, "
                                             "each from a grasp of that search drawn at random "
                                             "(2: 24 episodes for two objects, three searches, "
                                             "+-z)")
    hold_still: bool = setting(False, help="no policy: hold each start grasp's targets, to see "
                                           "how long the grasps alone keep the object (the "
                                           "same starts a policy is scored from)")
    every_start: bool = setting(False, help="run each start once instead of drawing "
                                            "--episodes-per-axis of them: every grasp of every "
                                            "search about every axis (48 episodes for two "
                                            "objects, three searches, four grasps, +-z). A "
                                            "deterministic policy repeats its episode from a "
                                            "start drawn twice, so this is the cell's exact "
                                            "mean over its starts")
    grasps_per_search: int = setting(4, help="grasps of each search the starts are drawn from "
                                             "(the searches are deterministic: a larger count "
                                             "keeps the first ones)")

    def __post_init__(self) -> None:
        if self.hold_still and (self.policy or self.residual):
            raise DexndmError("--hold-still scores the start grasps without a policy: drop the "
                              "policy (and --residual), or drop --hold-still")
        if not self.hold_still and not self.policy:
            raise DexndmError("name the base_policy bundle to evaluate (e.g. "
                              "policies/base_policy), or pass --hold-still to score the start "
                              "grasps alone")
        if self.episodes_per_axis < 1:
            raise DexndmError(f"--episodes-per-axis must be at least 1 (got "
                              f"{self.episodes_per_axis})")
        if self.grasps_per_search < 1:
            raise DexndmError(f"--grasps-per-search must be at least 1 (got "
                              f"{self.grasps_per_search})")


@dataclass(frozen=True)
class HeldTarget:
    target: np.ndarray


class HoldStill:
    """The controller's place in an episode with no policy: every step commands the targets the
    start grasp was found with (``--hold-still``)."""

    def reset(self, q: np.ndarray, target: np.ndarray) -> None:
        self.target = np.asarray(target, dtype=float).copy()

    def step(self, q: np.ndarray, wrist_quat: np.ndarray, axis: np.ndarray) -> HeldTarget:
        return HeldTarget(self.target)


def _relative_axis(current: np.ndarray, goal: np.ndarray) -> tuple[np.ndarray, float]:
    delta = quat_multiply(goal, quat_conjugate(current))
    delta = delta * np.sign(delta[0] + 1e-12)
    angle = 2 * math.acos(min(1.0, delta[0]))
    vector = delta[1:]
    norm = np.linalg.norm(vector)
    return (vector / norm if norm > 1e-9 else np.array([0.0, 0.0, 1.0])), angle


def run_episode(hand: SimHand, runtime: PolicyRuntime | HoldStill, cache, wrist: np.ndarray,
                axis: np.ndarray | None, steps: int, rng: np.random.Generator,
                on_step=None, grasp: int | None = None) -> dict:
    """One episode from grasp ``grasp`` of ``cache`` (default: a random one); ``on_step(hand)``
    is called after every control step (e.g. rendering)."""
    pick = rng.integers(len(cache)) if grasp is None else grasp
    hand.reset(cache.q[pick], cache.object_pos[pick], cache.object_quat[pick])
    runtime.reset(hand.q, cache.target[pick])
    goal = None
    if axis is None:  # goal-oriented: rotate toward a random goal
        goal = random_quaternion(rng)
        axis, _ = _relative_axis(hand.object_pose()[1], goal)
    axis_in_hand = world_to_hand(axis, wrist)  # what the controller is commanded
    start = cache.object_pos[pick]
    along, off = [], []
    fell = False
    for _ in range(steps):
        target = runtime.step(hand.q, wrist, axis_in_hand).target
        hand.control_step(target)
        if on_step is not None:
            on_step(hand)
        _, omega = hand.object_velocity()
        along.append(float(omega @ axis))
        off.append(float(np.abs(np.cross(omega, axis)).sum()))
        fell = bool(np.linalg.norm(hand.object_pose()[0] - start) > FALL_DISTANCE)
        if fell:
            break
    final = angular_distance(hand.object_pose()[1], goal) if goal is not None else None
    return {**asdict(episode_metrics(np.array(along), np.array(off), CONTROL_DT, steps,
                                     None if final is None else float(final))),
            "fell": fell, "grasp": int(pick)}


def evaluate_policy(config: EvalConfig, out: str | Path | None = None) -> dict:
    runtime = (HoldStill() if config.hold_still
               else PolicyRuntime(config.policy, config.residual, max_step=1.0))
    profile = get_profile(config.profile, **config.profile_params)
    # every profile starts from the training sim's grasps: a direct-transfer comparison runs the
    # same start states, as a deployed policy starts from the grasp it was trained with
    grasp_profile = get_profile("nominal")
    axes = axis_set(config.axes)
    episodes: list[dict] = []  # every episode: where it started and how it went
    skipped: list[str] = []
    for category in config.categories:
        for obj in generate_category(category)[:config.objects_per_category]:
            for label in config.wrists:
                for seed in config.seeds:
                    rng = np.random.default_rng(seed)
                    wrist = wrist_quaternion(label, rng)
                    cache = load_or_generate(obj, wrist, grasp_profile,
                                             wanted=config.grasps_per_search, seed=seed)
                    if len(cache) == 0:
                        skipped.append(f"{obj.name}/{label}/seed {seed}: no grasp holds")
                        continue
                    hand = SimHand(SceneConfig(tuple(wrist), profile, "fast", obj))
                    key = f"{category}/{label}"
                    for grasp, axis in _starts(config, len(cache), axes):
                        metrics = run_episode(hand, runtime, cache, wrist, axis, config.steps,
                                              rng, grasp=grasp)
                        episodes.append({"set": key, "object": obj.name, "seed": seed,
                                         "axis": None if axis is None
                                         else list(map(float, axis)), **metrics})
    sets = {key: set_outcomes(episodes, key) for key in dict.fromkeys(e["set"] for e in episodes)}
    # mean +- std over each set's episodes, and over each object's within it
    summary = {key: {**outcome_summary(outcomes), **_goal_success(outcomes),
                     "starts": distinct_starts(episodes, key)}
               for key, outcomes in sets.items()}
    result = {"config": asdict(config), "measured_with": measured_with(),
              "results": summary,
              "per_object": {key: per_object(outcomes) for key, outcomes in sets.items()},
              "per_axis": {key: per_axis(outcomes) for key, outcomes in sets.items()
                           if "axis" in outcomes},
              "skipped": skipped, "episodes": episodes}
    if out is not None:
        Path(out).write_text(json.dumps(result, indent=2))
    return result


def _starts(config: EvalConfig, grasps: int, axes: list[np.ndarray]):
    """(grasp or None: drawn by run_episode, axis or None: goal-oriented) of one search's
    episodes, in order."""
    targets = [None] if config.goal_oriented else axes
    if config.every_start:
        return [(grasp, axis) for grasp in range(grasps) for axis in targets]
    # all axes once, then again: the first round is the same whatever the count
    return [(None, axis) for _ in range(config.episodes_per_axis) for axis in targets]


def distinct_starts(episodes: list[dict], key: str) -> int:
    """How many different starts (object, search, grasp, axis) a set's episodes ran from; a
    goal-oriented episode draws its own goal, so each is its own start. Fewer starts than
    episodes means repeats, which the bootstrap interval counts as independent."""
    starts = {(e["object"], e["seed"], e["grasp"], tuple(e["axis"])) if e["axis"] is not None
              else index for index, e in enumerate(episodes) if e["set"] == key}
    return len(starts)


def render_episode(policy: str, out: str | Path, category: str | None = None,
                   wrist: str | None = None, axis: tuple[float, float, float] = (0.0, 0.0, 1.0),
                   steps: int = 200, profile: str = "nominal", seed: int | None = None,
                   width: int = 640, height: int = 480, object_index: int | None = None,
                   grasp_index: int | None = None) -> dict:
    """Run one evaluation episode of a base policy and write its frames (PNG dir, MP4, GIF).
    What is left unset comes from the bundle's ``initial_grasp`` (the object, wrist and grasp
    it starts from on the virtual hand), else cylinders, palm up, object 0, a random grasp."""
    from dexndm_control.policy.start_grasp import read_initial_grasp, resolve_start_grasp
    from dexndm_sim.render import FrameRenderer, write_frames

    initial = read_initial_grasp(policy) or {}
    start = resolve_start_grasp(initial, category, object_index, wrist, grasp_index)
    category, object_index, wrist, grasp_index = (start.category, start.object_index,
                                                  start.wrist, start.grasp_index)
    if seed is None:
        seed = 0 if start.seed is None else start.seed
    rng = np.random.default_rng(seed)
    wrist_quat = wrist_quaternion(wrist, rng)
    hardware = get_profile(profile)
    objects = generate_category(category, seed)
    if not 0 <= object_index < len(objects):
        raise ValueError(f"--object-index must be within 0-{len(objects) - 1} for {category}")
    obj = objects[object_index]
    # the training sim's grasps (what a deployed policy starts from), as the virtual hand uses
    cache = load_or_generate(obj, wrist_quat, get_profile("nominal"),
                             wanted=initial.get("grasps", 4), seed=seed)
    if len(cache) == 0:
        raise ValueError(f"no grasp holds {obj.name} at {wrist}")
    if grasp_index is not None and not 0 <= grasp_index < len(cache):
        raise ValueError(f"{obj.name} has {len(cache)} grasps: --grasp-index must be within "
                         f"0-{len(cache) - 1}")
    hand = SimHand(SceneConfig(tuple(wrist_quat), hardware, "fast", obj))
    renderer = FrameRenderer(hand.model, width, height)
    frames: list[np.ndarray] = []
    try:
        metrics = run_episode(hand, PolicyRuntime(policy, max_step=1.0), cache, wrist_quat,
                              np.asarray(axis, dtype=float), steps, rng,
                              on_step=lambda h: frames.append(renderer.render(h.data)),
                              grasp=grasp_index)
    finally:
        renderer.close()
    return {"out": str(write_frames(frames, out)), "frames": len(frames), "object": obj.name,
            "grasp": grasp_index, "metrics": metrics}


def set_outcomes(episodes: list[dict], key: str) -> dict[str, np.ndarray]:
    """One set's episodes as the outcome arrays dexndm_learning.outcomes summarises."""
    mine = [episode for episode in episodes if episode["set"] == key]
    names = [*METRICS, "fell", "object"] + (["goal_success"] if mine[0]["goal_success"]
                                            is not None else [])
    outcomes = {name: np.array([episode[name] for episode in mine]) for name in names}
    if mine[0]["axis"] is not None:  # goal-oriented episodes draw their own axis as they go
        outcomes["axis"] = np.array([axis_name(np.array(episode["axis"])) for episode in mine])
    return outcomes


def _goal_success(outcomes: dict[str, np.ndarray]) -> dict:
    if "goal_success" not in outcomes:
        return {}
    success = outcomes["goal_success"].astype(float)
    return {"goal_success": [float(success.mean()), float(success.std())]}


def format_results(result: dict) -> str:
    lines = [f"{'category/wrist':<28} {'RotR':>15} {'RotP':>13} {'TTF':>13} {'Rot [rad]':>15}"]
    for key, values in result["results"].items():
        cells = [f"{values[n][0]:.2f} +- {values[n][1]:.2f}" for n in METRICS]
        line = f"{key:<28} {cells[0]:>15} {cells[1]:>13} {cells[2]:>13} {cells[3]:>15}"
        starts = values.get("starts", values["episodes"])
        repeats = "" if starts == values["episodes"] else f", {starts} distinct starts"
        line += f"  ({values['episodes']} ep.{repeats}, {values['drops']:.0%} dropped)"
        interval = values.get("ci95", {}).get("radians")
        if interval is not None:
            line += f"  Rot 95 % CI [{interval[0]:.2f}, {interval[1]:.2f}]"
        if "goal_success" in values:
            line += f"  GO {values['goal_success'][0]:.2f}"
        lines.append(line)
        for name, row in result.get("per_object", {}).get(key, {}).items():
            lines.append(f"  {name:<26} {'':>15} {'':>13} "
                         f"{row['time_to_fall'][0]:>6.2f} +- {row['time_to_fall'][1]:.2f} "
                         f"{row['radians'][0]:>6.2f} +- {row['radians'][1]:.2f}"
                         f"  ({row['episodes']} ep., {row['drops']:.0%} dropped)")
    lines += [f"skipped {entry}" for entry in result.get("skipped", [])]
    return "\n".join(lines)
