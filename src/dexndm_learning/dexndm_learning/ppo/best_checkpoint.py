"""Keep a PPO run's best checkpoint by deterministic evaluation (`train ppo --eval-episodes`).

Training rotation (the stochastic actor's, over whichever episodes happened to end) is a noisy,
lagging guide: warm starts peaked and then drifted, and their best checkpoints were found only
afterwards by evaluating each saved one (docs/base_policy_log.md). Here every checkpoint rsl-rl
saves is evaluated at once, the way `dexndm eval transfer` does: the actor's mean action, one
episode in each of ``episodes`` environments of a fresh copy of the training environment. The
copy is built with the same seed every time, so every checkpoint meets the same grasps, physics,
axes and disturbances. Scores go to TensorBoard (Eval/...) and OUT/evaluations.jsonl; the checkpoint
with the most mean rotation is copied to OUT/best.pt, its scores to OUT/best.json (a resumed
run keeps the best it had). A generalist fine-tuning run (``generalist_layout``) is scored on the
controller's observation, and ``on_best`` exports each new best as a bundle.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from rsl_rl.runners import OnPolicyRunner

from dexndm_control.policy.observation import ObservationLayout
from dexndm_learning.outcomes import (
    outcome_summary,
    per_axis,
    per_object,
    per_start,
    per_wrist,
)
from dexndm_learning.ppo.transfer import first_episodes
from dexndm_learning.ppo.vec_env import RotationVecEnv
from dexndm_sim.env import RotationEnvConfig

BEST_CHECKPOINT = "best.pt"
BEST_SCORES = "best.json"
EVALUATIONS = "evaluations.jsonl"


class CheckpointEvaluation:
    """Evaluates a runner's actor after each save and keeps the best checkpoint in ``out``."""

    def __init__(self, environment: RotationEnvConfig, episodes: int, out: Path,
                 resumed: bool = False, progress=print,
                 generalist_layout: ObservationLayout | None = None,
                 on_best: Callable[[Path], None] | None = None) -> None:
        """``resumed``: the run continues in ``out`` and keeps its best; otherwise what an
        earlier run left there (--overwrite) is removed."""
        self.environment = environment.unweighted(num_envs=episodes)
        self.generalist_layout = generalist_layout
        self.on_best = on_best
        self.out = Path(out)
        self.progress = progress
        best_file = self.out / BEST_SCORES
        self.best = None
        self.last: dict | None = None
        if resumed and best_file.is_file():
            self.best = json.loads(best_file.read_text())
        elif not resumed:
            for name in (BEST_CHECKPOINT, BEST_SCORES, EVALUATIONS):
                (self.out / name).unlink(missing_ok=True)

    def score(self, actor, device: str = "cpu") -> dict:
        """The actor's deterministic episodes: rotation, time to fall, drops; also per object, per
        wrist, per rotation axis and per start grasp."""
        vec_env = RotationVecEnv(self.environment, generalist_layout=self.generalist_layout)
        try:
            with torch.no_grad():
                outcomes = first_episodes(vec_env, lambda env: env.step(
                    actor(env.get_observations().to(device)).cpu()))
        finally:
            vec_env.close()
        return {**outcome_summary(outcomes), "per_object": per_object(outcomes),
                "per_wrist": per_wrist(outcomes), "per_axis": per_axis(outcomes),
                "per_start": per_start(outcomes)}

    def __call__(self, runner: OnPolicyRunner, checkpoint: Path) -> dict:
        iteration = runner.current_learning_iteration
        if self.last is not None and (self.last["iteration"], self.last["checkpoint"]) == (
                iteration, checkpoint.name):
            # rsl-rl saves the last iteration again at the end of learn() when it falls on the
            # save interval; the actor has not changed since it was scored
            return self.last
        record = {"iteration": iteration, "checkpoint": checkpoint.name,
                  **self.score(runner.alg.actor, runner.device)}
        with open(self.out / EVALUATIONS, "a") as log:
            log.write(json.dumps(record) + "\n")
        writer = runner.logger.writer
        if writer is not None:
            writer.add_scalar("Eval/radians", record["radians"][0], iteration)
            writer.add_scalar("Eval/time_to_fall", record["time_to_fall"][0], iteration)
            writer.add_scalar("Eval/drops", record["drops"], iteration)
            if len(record["per_wrist"]) > 1:
                for wrist, row in record["per_wrist"].items():
                    writer.add_scalar(f"Eval/radians_{wrist}", row["radians"][0], iteration)
        if self.best is None or record["radians"][0] > self.best["radians"][0]:
            shutil.copyfile(checkpoint, self.out / BEST_CHECKPOINT)
            (self.out / BEST_SCORES).write_text(json.dumps(record, indent=2))
            self.best = record
            if self.on_best is not None:
                self.on_best(checkpoint)
        self.last = record
        parts = {**record["per_object"],
                 **(record["per_wrist"] if len(record["per_wrist"]) > 1 else {})}
        self.progress(f"evaluation of {checkpoint.name}: {record['radians'][0]:.2f} +- "
                      f"{record['radians'][1]:.2f} rad, TTF {record['time_to_fall'][0]:.2f}, "
                      f"drops {record['drops']:.0%} over {record['episodes']} episodes ("
                      + ", ".join(f"{name} {row['radians'][0]:.2f}"
                                  for name, row in parts.items())
                      + f"); best "
                      f"{self.best['checkpoint']} ({self.best['radians'][0]:.2f} rad)")
        return record


class EvaluatingRunner(OnPolicyRunner):
    """rsl-rl's runner; with ``evaluation`` set, every checkpoint it saves is evaluated."""

    evaluation: CheckpointEvaluation | None = None

    def save(self, path: str, infos: dict | None = None) -> None:
        super().save(path, infos)
        if self.evaluation is not None:
            self.evaluation(self, Path(path))
