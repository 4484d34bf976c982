#!/usr/bin/env python3
"""How a frozen dynamics model rates known corrections under the residual's objective
(docs/sim2sim.md): the predicted mismatch to the simulator's next states, on the residual's
training data, for command = base + G (base - q) (+ a passive spring's k / kp (base - springref)),
next to no correction and, if given, a learned residual.

A model through which the objective does not fall along a correction known to win rotation back
cannot lead a residual to it, whatever the residual's training. Per joint for one step, and the
mean over --horizons steps rolled on the model's own predictions (recorded base targets).
With --from-rest, every episode is preceded by W + T steps of the hand at rest (its first
reading, its first target) and rolled from there only: after the first W steps the model's
window holds none of the simulator's history, only its own predictions.

  python scripts/residual_objective_probe.py --dynamics RUN/dynamics/joint/best \
      --data RUN/sim/shards --gains 0 0.5 1 [--spring config/profiles/nominal_glove.yaml] \
      [--residual RUN/residual/joint/seed_0/best]

With --fit-linear SHARDS instead of --dynamics, the model rated is a linear (ARX) model per joint
fitted by ridge least squares on those shards (the gap hand's data): a model that extrapolates
linearly off its data, where the networks extrapolate however they learned to.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from dexndm_control.hand import JOINT_NAMES
from dexndm_control.policy.dynamics_model import DynamicsModel, load_dynamics
from dexndm_control.policy.observation import ObservationLayout
from dexndm_learning.data import Windows, at_rest_before, load_episodes, split_by_episode
from dexndm_learning.residual.train import ResidualObjective, load_residual, residual_batch
from dexndm_sim.profiles import get_profile


class AnalyticCorrection(torch.nn.Module):
    """G (base - q) + k / kp (base - springref): the residual's signature, no parameters."""

    def __init__(self, gain: float, spring=None) -> None:
        super().__init__()
        self.gain = gain
        self.spring = None
        if spring is not None:
            self.spring = (torch.as_tensor(np.asarray(spring.stiffness) / np.asarray(spring.kp),
                                           dtype=torch.float32),
                           torch.as_tensor(spring.springref, dtype=torch.float32))

    def forward(self, obs, base, q_now):
        correction = self.gain * (base - q_now)
        if self.spring is not None:
            ratio, reference = self.spring
            correction = correction + ratio * (base - reference)
        return correction


@torch.no_grad()
def fit_linear_dynamics(paths, window: int, ridge: float, eval_fraction: float,
                        seed: int) -> tuple[DynamicsModel, float]:
    """A joint-wise model without hidden layers fitted in closed form (ridge on the standardised
    features, intercept free) on the training split of ``paths``; and its held-out one-step MAE
    [rad]."""
    loaded = load_episodes(paths)
    train_ids, eval_ids = split_by_episode(loaded.keys, eval_fraction, seed)
    train = Windows([loaded.episodes[i] for i in train_ids], window, loaded.control_dt)
    model = DynamicsModel("joint", window, hidden=())
    statistics = train.statistics()
    for name, normalizer in (("q", model.q_norm), ("a", model.a_norm), ("dq", model.dq_norm)):
        normalizer.set(*statistics[name])
    q_hist, a_hist, q_next = train.batch(torch.arange(len(train)))
    features = model.features(q_hist.float(), a_hist.float()).double()  # [B, 16, 2W]
    targets = ((q_next - q_hist[:, -1]) - model.dq_norm.mean) / model.dq_norm.std
    ones = torch.ones(len(features), 1, dtype=torch.float64)
    for joint in range(features.shape[1]):
        x = torch.cat([features[:, joint], ones], 1)
        gram = x.T @ x + ridge * len(x) * torch.eye(x.shape[1], dtype=torch.float64)
        solution = torch.linalg.solve(gram, x.T @ targets[:, joint].double())
        model.net.weights[0][joint] = solution[:-1, None].float()
        model.net.biases[0][joint] = solution[-1:].float()[None]
    held_out = Windows([loaded.episodes[i] for i in eval_ids], window, loaded.control_dt)
    q_hist, a_hist, q_next = held_out.batch(torch.arange(len(held_out)))
    error = (model.eval()(q_hist.float(), a_hist.float()) - q_next).abs().mean().item()
    return model, error


@torch.no_grad()
def rate(objective: ResidualObjective, windows: Windows, history: int, horizon: int,
         skip: int = 0, batch_size: int = 4096) -> tuple[float, np.ndarray, float]:
    """(mean mismatch over the horizon's steps after the first ``skip`` [rad], per-joint mean
    |error| of the first step [rad], mean |correction| [rad])."""
    total, per_joint, size, count = 0.0, np.zeros(len(JOINT_NAMES)), 0.0, 0
    for start in range(0, len(windows), batch_size):
        index = torch.arange(start, min(start + batch_size, len(windows)))
        batch = residual_batch(windows, index, history, "cpu")
        q_span, a_span, wrist, axis, q_future, a_future = batch
        predicted, commands, bases = objective.rollout(q_span, a_span, wrist, axis, a_future,
                                                       q_future.shape[1])
        total += (predicted - q_future)[:, skip:].norm(dim=-1).mean().item() * len(index)
        per_joint += (predicted[:, 0] - q_future[:, 0]).abs().sum(0).numpy()
        size += (commands - bases)[:, -1].abs().mean().item() * len(index)
        count += len(index)
    return total / count, per_joint / count, size / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--dynamics", help="dynamics bundle (RUN/best)")
    model.add_argument("--fit-linear", nargs="+", metavar="SHARDS",
                       help="rate a linear joint-wise model fitted on these shards instead")
    parser.add_argument("--window", type=int, default=10, help="W of --fit-linear")
    parser.add_argument("--ridge", type=float, default=1e-3, help="ridge of --fit-linear")
    parser.add_argument("--data", nargs="+", required=True, help="the residual's training shards")
    parser.add_argument("--gains", nargs="+", type=float, default=[0.0, 0.5, 1.0])
    parser.add_argument("--spring", help="profile whose passive spring's answer is added")
    parser.add_argument("--residual", help="a learned residual bundle to rate alongside")
    parser.add_argument("--horizons", nargs="+", type=int, default=[1, 5])
    parser.add_argument("--history", type=int, default=10)
    parser.add_argument("--eval-fraction", type=float, default=0.1,
                        help="rate on the held-out episodes of the residual's own split")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", type=int, default=0,
                        help="leave the first N rolled steps out of the mean (a burn-in: the "
                             "model's window holds its own predictions only after W steps)")
    parser.add_argument("--from-rest", action="store_true",
                        help="roll each episode from a rest before its start, not from every "
                             "window of the simulator's history")
    args = parser.parse_args()

    torch.set_grad_enabled(False)
    if args.dynamics:
        dynamics = load_dynamics(args.dynamics)
    else:
        dynamics, error = fit_linear_dynamics(args.fit_linear, args.window, args.ridge,
                                              args.eval_fraction, args.seed)
        print(f"linear model: held-out one-step MAE {error * 1e3:.2f} mrad", flush=True)
    layout = ObservationLayout(history=args.history)
    loaded = load_episodes(args.data)
    _, eval_ids = split_by_episode(loaded.keys, args.eval_fraction, args.seed)
    spring = get_profile(args.spring) if args.spring else None
    candidates = {f"G={g:g}" + (" + spring" if spring else ""): AnalyticCorrection(g, spring)
                  for g in args.gains}
    if args.residual:
        candidates["learned"] = load_residual(args.residual)[0]
    episodes = [loaded.episodes[i] for i in eval_ids]
    if args.from_rest:
        episodes = [at_rest_before(e, dynamics.window + args.history, loaded.control_dt)
                    for e in episodes]
    results = {}
    for horizon in args.horizons:
        windows = Windows(episodes, window=dynamics.window, control_dt=loaded.control_dt,
                          history=args.history, horizon=horizon)
        if args.from_rest:  # each episode's first window: the one that ends at its start
            windows.first_of_each_episode()
        for name, module in candidates.items():
            objective = ResidualObjective(module, dynamics, layout).eval()
            mismatch, per_joint, size = rate(objective, windows, args.history, horizon,
                                             min(args.skip, horizon - 1))
            results.setdefault(name, {})[f"mismatch_mrad_k{horizon}"] = round(mismatch * 1e3, 2)
            if horizon == args.horizons[0]:
                results[name]["mean_abs_correction_mrad"] = round(size * 1e3, 2)
                results[name]["first_step_mae_mrad"] = {
                    joint: round(float(v) * 1e3, 2)
                    for joint, v in zip(JOINT_NAMES, per_joint, strict=True)}
            print(f"K={horizon} {name}: {mismatch * 1e3:.2f} mrad (|correction| "
                  f"{size * 1e3:.1f} mrad)", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
