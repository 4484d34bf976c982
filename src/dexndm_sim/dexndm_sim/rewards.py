"""Reward of paper appendix A.1 and the evaluation metrics, as pure vectorised functions.

r = a_rot * r_rot + a_goal * r_goal + a_penalty * r_penalty
r_rot = clip(w . k, -c, c)                                            (c = 0.5)
r_penalty = -a_rotp |w x k|_1 - a_lin |v|^2 - a_pose |q - q_init|^2 - a_work tau.qd
            - a_torque |tau|^2
r_goal = clip(g / (ang_diff(p, p_goal) + eps), 0, c_goal) + g_bonus [ang_diff < threshold]
a_rotp ramps 0 -> 0.1 between 10 and 100 resets. The paper does not give g, eps, c_goal, g_bonus
and the threshold: the defaults below are ours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dexndm_control.rotations import axis_angle_quat, quat_multiply


@dataclass(frozen=True)
class RewardConfig:
    rotation: float = 1.0
    rotation_clip: float = 0.5
    goal: float = 1.0
    penalty: float = 1.0
    rotation_penalty_max: float = 0.1
    rotation_penalty_start: int = 10  # resets
    rotation_penalty_full: int = 100
    linear_velocity: float = 0.3
    pose: float = 0.3
    work: float = 2.0
    torque: float = 0.1
    goal_gain: float = 0.05
    goal_epsilon: float = 0.1
    goal_clip: float = 0.5
    goal_bonus: float = 1.0
    goal_threshold: float = math.radians(15.0)  # waypoint reached: bonus and next waypoint
    goal_step: float = math.radians(90.0)  # waypoints this far ahead along the axis
    fall: float = 0.0  # extra penalty on the step the object falls (0 in the paper)


def rotation_penalty_weight(config: RewardConfig, resets: int) -> float:
    if resets <= config.rotation_penalty_start:
        return 0.0
    span = config.rotation_penalty_full - config.rotation_penalty_start
    return config.rotation_penalty_max * min(1.0, (resets - config.rotation_penalty_start) / span)


def angular_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation angle between unit quaternions (rad, in [0, pi])."""
    dot = np.abs(np.sum(a * b, axis=-1))
    return 2 * np.arccos(np.clip(dot, -1.0, 1.0))


def goal_ahead(object_quat: np.ndarray, axis: np.ndarray, step: float) -> np.ndarray:
    """The object's orientation rotated by ``step`` about the world ``axis``."""
    return quat_multiply(axis_angle_quat(axis, step), object_quat)


@dataclass
class RewardTerms:
    rotation: np.ndarray
    goal: np.ndarray
    penalty: np.ndarray
    off_axis: np.ndarray
    total: np.ndarray


def compute_reward(config: RewardConfig, omega: np.ndarray, axis: np.ndarray,
                   linear_velocity: np.ndarray, q: np.ndarray, q_init: np.ndarray,
                   torque: np.ndarray, qd: np.ndarray, goal_distance: np.ndarray,
                   rotation_penalty: float, fell: np.ndarray,
                   fall_penalty: np.ndarray | None = None) -> RewardTerms:
    """The training reward's terms; ``fall_penalty``: each env's fall term (default: the
    config's ``fall`` at every env)."""
    fall = config.fall if fall_penalty is None else fall_penalty
    along = np.sum(omega * axis, axis=-1)
    rotation = np.clip(along, -config.rotation_clip, config.rotation_clip)
    off_axis = np.abs(np.cross(omega, axis)).sum(-1)
    penalty = -(rotation_penalty * off_axis
                + config.linear_velocity * np.sum(linear_velocity ** 2, -1)
                + config.pose * np.sum((q - q_init) ** 2, -1)
                + config.work * np.sum(torque * qd, -1)
                + config.torque * np.sum(torque ** 2, -1))
    goal = np.clip(config.goal_gain / (goal_distance + config.goal_epsilon), 0.0,
                   config.goal_clip) + config.goal_bonus * (goal_distance < config.goal_threshold)
    total = (config.rotation * rotation + config.goal * goal + config.penalty * penalty
             - fall * fell)
    return RewardTerms(rotation, goal, penalty, off_axis, total)


@dataclass
class EpisodeMetrics:
    """RotR (sum of w.k over steps), RotP (mean |w x k|), TTF (steps survived / horizon),
    Rot (radians about the axis), GO success (within 0.1 pi of a goal)."""

    rot_reward: float
    rot_penalty: float
    time_to_fall: float
    radians: float
    goal_success: bool | None = None


def episode_metrics(along: np.ndarray, off_axis: np.ndarray, dt: float, horizon: int,
                    final_goal_distance: float | None = None) -> EpisodeMetrics:
    """From per-step omega . k (``along``) and |omega x k| (``off_axis``) of one episode."""
    return metrics_from_sums(float(np.sum(along)), float(np.sum(off_axis)), len(along), dt,
                             horizon, final_goal_distance)


def metrics_from_sums(along_sum: float, off_axis_sum: float, steps: int, dt: float,
                      horizon: int, final_goal_distance: float | None = None) -> EpisodeMetrics:
    """The same metrics from running sums (what a batched environment keeps per env)."""
    return EpisodeMetrics(along_sum, off_axis_sum / steps if steps else 0.0, steps / horizon,
                          along_sum * dt, None if final_goal_distance is None
                          else bool(final_goal_distance < 0.1 * math.pi))
