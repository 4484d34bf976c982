"""Dynamics and residual training cost: joint-wise vs whole-hand, and out-of-distribution error.

Same synthetic transitions for every model (LinearJointPlant episodes of 400 steps, see
dexndm_learning/synthetic.py), default architecture sizes, CPU unless --device says otherwise.
Paper B.5: joint-wise dynamics train 4-6x slower than whole-hand, residual training 6.2x slower;
targets here are <= 1.5x and <= 2x. Also: joint-wise vs whole-hand error out of distribution
when trained on little data (chaos-box-like noisy replay -> clean task-like rollouts).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from _common import report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    from dexndm_control.policy.dynamics_model import load_dynamics
    from dexndm_control.transitions import write_shard
    from dexndm_learning.data import Windows, load_episodes
    from dexndm_learning.dynamics.train import DynamicsTrainConfig, evaluate, train_dynamics
    from dexndm_learning.residual.train import ResidualTrainConfig, train_residual
    from dexndm_learning.synthetic import make_episodes, real_plant, sim_plant

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_shard(tmp / "sim" / "s.npz", make_episodes(sim_plant(), args.episodes, seed=1),
                    "sim")
        epoch_seconds, residual_seconds, rates = {}, {}, {}
        for arch in ("joint", "whole", "joint_128"):
            hidden = [128, 128] if arch == "joint_128" else []
            result = train_dynamics(DynamicsTrainConfig(
                data=[str(tmp / "sim")], out=str(tmp / f"dyn_{arch}"), arch=arch.split("_")[0],
                hidden=hidden, epochs=args.epochs, device=args.device, progress=False))
            epoch_seconds[arch] = float(np.median([r["epoch_seconds"]
                                                   for r in result["history"]]))
            rates[arch] = float(np.median([r["transitions_per_s"] for r in result["history"]]))
            residual = train_residual(ResidualTrainConfig(
                dynamics=str(tmp / f"dyn_{arch}" / "best"), data=[str(tmp / "sim")],
                out=str(tmp / f"res_{arch}"), epochs=1, device=args.device, progress=False))
            residual_seconds[arch] = residual["history"][0]["epoch_seconds"]

        # out of distribution with little data: train on 10 noisy "chaos box" episodes of the
        # real plant, test on clean rollouts of it
        real = real_plant()
        write_shard(tmp / "chaos" / "c.npz", make_episodes(real, 10, seed=2, noise=0.03), "real")
        write_shard(tmp / "task" / "t.npz", make_episodes(real, 20, seed=3), "real")
        task = load_episodes([str(tmp / "task")])
        ood = {}
        for arch in ("joint", "whole"):
            train_dynamics(DynamicsTrainConfig(data=[str(tmp / "chaos")],
                                               out=str(tmp / f"ood_{arch}"), arch=arch,
                                               epochs=30, batch_size=256, device=args.device,
                                               progress=False))
            model = load_dynamics(tmp / f"ood_{arch}" / "best")
            windows = Windows(task.episodes, model.window, task.control_dt)
            ood[arch] = float(evaluate(model, windows, "cpu")["mae"].mean())

    report("dynamics_training", {
        "joint_over_whole_epoch_ratio": round(epoch_seconds["joint"] / epoch_seconds["whole"], 3),
        "joint_128_over_whole_epoch_ratio": round(epoch_seconds["joint_128"]
                                                  / epoch_seconds["whole"], 3),
        "residual_joint_over_whole_ratio": round(residual_seconds["joint"]
                                                 / residual_seconds["whole"], 3),
        "architectures": "joint: 16 x (20-96-96-1); joint_128: 16 x (20-128-128-1); "
                         "whole: 320-512-512-16; W = 10",
        "transitions_per_s": round(rates["joint"], 1),
        "transitions_per_s_whole": round(rates["whole"], 1),
        "epoch_seconds": {k: round(v, 2) for k, v in epoch_seconds.items()},
        "residual_epoch_seconds": {k: round(v, 2) for k, v in residual_seconds.items()},
        "ood_mae_rad_little_data": {k: round(v, 5) for k, v in ood.items()},
        "transitions": args.episodes * 400,
        "device": args.device,
    })


if __name__ == "__main__":
    main()
