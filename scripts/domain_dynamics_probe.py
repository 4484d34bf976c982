#!/usr/bin/env python3
"""Does a dynamics model told which hand it models see a known answer (docs/sim2sim.md)?

One joint-wise model trained on the simulator's rollouts (domain 0) and the gap hand's chaos-box
data (domain 1) together, with the domain as one more input of every joint's network. The
residual's objective then queries it as the gap hand (domain 1) on the simulator's histories,
for command = base + G (base - q) (+ a spring's answer), as scripts/residual_objective_probe.py
rates the plain models. Prints the one-step error per domain on held-out episodes and the
objective per G; with --plain the same training without the domain input (the control).

  python scripts/domain_dynamics_probe.py --sim RUN/sim/shards --gap RUN/chaos \
      --ood RUN/ood/rollout.npz --gains 0 0.5 1 --out runs/domain_probe
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from residual_objective_probe import AnalyticCorrection, rate

from dexndm_control.policy.dynamics_model import DynamicsModel, GroupedMLP
from dexndm_control.policy.observation import ObservationLayout
from dexndm_learning.data import Windows, load_episodes, split_by_episode
from dexndm_learning.residual.train import ResidualObjective
from dexndm_sim.profiles import get_profile


class DomainDynamics(DynamicsModel):
    """Joint-wise model whose every joint network also reads the domain (0 sim, 1 gap hand)."""

    def __init__(self, window: int, plain: bool) -> None:
        super().__init__("joint", window)
        self.plain = plain
        if not plain:
            self.net = GroupedMLP(16, [2 * window + 1, *self.hidden, 1])
        self.domain = 1.0

    def features(self, q_hist, a_hist):
        x = super().features(q_hist, a_hist)
        if self.plain:
            return x
        domain = x.new_full((*x.shape[:2], 1), 0.0)
        if isinstance(self.domain, torch.Tensor):
            domain[:] = self.domain[:, None, None]
        else:
            domain.fill_(self.domain)
        return torch.cat([x, domain], dim=-1)


def split(paths, seed: int):
    loaded = load_episodes(paths)
    train_ids, eval_ids = split_by_episode(loaded.keys, 0.1, seed)
    return ([loaded.episodes[i] for i in train_ids], [loaded.episodes[i] for i in eval_ids],
            loaded.control_dt)


@torch.no_grad()
def mae(model, windows: Windows, domain: float) -> float:
    model.domain = domain
    total, count = 0.0, 0
    for start in range(0, len(windows), 8192):
        index = torch.arange(start, min(start + 8192, len(windows)))
        q_hist, a_hist, q_next = windows.batch(index)
        total += (model(q_hist, a_hist) - q_next).abs().mean(1).sum().item()
        count += len(index)
    return total / max(count, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim", nargs="+", required=True)
    parser.add_argument("--gap", nargs="+", required=True)
    parser.add_argument("--ood", nargs="*", default=[])
    parser.add_argument("--gains", nargs="+", type=float, default=[0.0, 0.5, 1.0])
    parser.add_argument("--spring")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--plain", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    sim_train, sim_eval, dt = split(args.sim, args.seed)
    gap_train, gap_eval, _ = split(args.gap, args.seed)
    train = Windows(sim_train + gap_train, args.window, dt)
    domain_of = torch.cat([torch.zeros(len(Windows(sim_train, args.window, dt))),
                           torch.ones(len(Windows(gap_train, args.window, dt)))])
    assert len(domain_of) == len(train)
    model = DomainDynamics(args.window, args.plain)
    stats = train.statistics()
    model.q_norm.set(*stats["q"])
    model.a_norm.set(*stats["a"])
    model.dq_norm.set(*stats["dq"], min_std=1e-5)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    dq_std = model.dq_norm.std
    evals = {"sim": Windows(sim_eval, args.window, dt), "gap": Windows(gap_eval, args.window, dt)}
    if args.ood:
        evals["ood"] = Windows(load_episodes(args.ood).episodes, args.window, dt)
    history = []
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train))
        for begin in range(0, len(order), 1024):
            index = order[begin:begin + 1024]
            q_hist, a_hist, q_next = train.batch(index)
            model.domain = domain_of[index]
            loss = (((model(q_hist, a_hist) - q_next) / dq_std) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        row = {"epoch": epoch, "sim_mae_mrad": mae(model, evals["sim"], 0.0) * 1e3,
               "gap_mae_mrad": mae(model, evals["gap"], 1.0) * 1e3}
        if "ood" in evals:
            row["ood_mae_mrad"] = mae(model, evals["ood"], 1.0) * 1e3
            row["ood_as_sim_mae_mrad"] = mae(model, evals["ood"], 0.0) * 1e3
        history.append(row)
        print(json.dumps({k: round(v, 3) for k, v in row.items()}),
              f"{time.time() - start:.0f} s", flush=True)

    torch.set_grad_enabled(False)
    layout = ObservationLayout(history=10)
    spring = get_profile(args.spring) if args.spring else None
    results = {"history": history, "plain": args.plain, "objective": {}}
    for horizon in (1, 5):
        windows = Windows(sim_eval, model.window, dt, history=10, horizon=horizon)
        for domain in ((0.0, 1.0) if not args.plain else (1.0,)):
            model.domain = domain
            for gain in args.gains:
                objective = ResidualObjective(AnalyticCorrection(gain, spring), model,
                                              layout).eval()
                mismatch, _, size = rate(objective, windows, 10, horizon)
                key = f"domain={domain:g} G={gain:g} K={horizon}"
                results["objective"][key] = round(mismatch * 1e3, 2)
                print(f"{key}: {mismatch * 1e3:.2f} mrad (|correction| {size * 1e3:.1f})",
                      flush=True)
    (out / "probe.json").write_text(json.dumps(results, indent=1))
    torch.save(model.state_dict(), out / "model.pt")


if __name__ == "__main__":
    main()
