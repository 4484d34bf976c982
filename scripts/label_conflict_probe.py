"""Why does adding object categories to the generalist cost the ones it has: conflict or capacity?

Fits the generalist's network to rollout shards of several categories (the teacher's executed
delta_a on the generalist's observation, as `train bc` does) and reports the action error per
category, on the training windows and on held-out episodes. Three comparisons answer the
question:

- interference: a category's error when trained alone with its neighbours vs with new ones;
- label conflict: the same fit with the object's category appended to the observation as a
  one-hot (`--identity`). Deployment cannot see it; if it lowers the error, the same
  proprioceptive history asks for different actions in different categories;
- capacity: the same fit wider (`--width`). If that lowers the training error, the network
  was too small for all the categories at once.

Example (one JSON line per run on stdout and in OUT/probe.json):

    python scripts/label_conflict_probe.py --data RUNS/data/cyl RUNS/data/irr --out RUNS/probe \
        --width 512 --blocks 3 --epochs 10 [--identity] [--categories cylinders cuboids]
        [--init policies/base_policy [--widen 768 [--freeze-init]]]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from dexndm_control.hand import ACTION_SCALE
from dexndm_control.policy.networks import GeneralistPolicyNet
from dexndm_control.policy.observation import ObservationLayout
from dexndm_learning.bc import BUNDLE_KIND, bc_batch, load_base_policy, policy_windows
from dexndm_learning.data import load_episodes, split_by_episode
from dexndm_learning.trainer import Evaluation, RunConfig, Task, start_run
from dexndm_learning.trainer import train as train_loop
from dexndm_learning.widen import freeze_original, widened

TRAIN_ERROR_SAMPLE = 50_000  # training windows the training error is measured on


def category_of(episode) -> str:
    return episode.meta["object"].rsplit("_", 1)[0]


def samples(episodes, names, layout, control_dt, identity: bool):
    """(observations, delta_a, category index) of every window of ``episodes``."""
    windows = policy_windows(episodes, layout.history, control_dt)
    obs, delta = bc_batch(windows, torch.arange(len(windows)), layout, ACTION_SCALE)
    per_episode = torch.tensor([names.index(category_of(e)) for e in episodes])
    category = per_episode[windows.episode]
    if identity:
        obs = torch.cat([obs, torch.nn.functional.one_hot(category, len(names)).float()], 1)
    return obs, delta, category


@torch.no_grad()
def errors(network, obs, delta, category, names) -> dict:
    network.eval()
    error = torch.cat([(network(obs[i:i + 8192]) - delta[i:i + 8192]).abs().mean(1)
                       for i in range(0, len(obs), 8192)])
    network.train()
    return {name: float(error[category == k].mean()) for k, name in enumerate(names)
            if (category == k).any()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="+", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--categories", nargs="*", default=None,
                        help="train on these categories only (every category is evaluated)")
    parser.add_argument("--identity", action="store_true",
                        help="append the category as a one-hot to the observation")
    parser.add_argument("--init", default=None, help="start from this base_policy bundle")
    parser.add_argument("--widen", type=int, default=None,
                        help="with --init: grow it to this width first (acting as before)")
    parser.add_argument("--freeze-init", action="store_true",
                        help="with --widen: train only the added units")
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--eval-fraction", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.init and args.identity:
        parser.error("--identity changes the input size: it needs a network from scratch")
    if args.widen and not args.init:
        parser.error("--widen grows a trained network: pass it with --init BUNDLE")
    if args.freeze_init and not args.widen:
        parser.error("--freeze-init keeps the original fixed while added units learn: "
                     "pass --widen WIDTH")

    config = RunConfig(data=args.data, out=args.out, epochs=args.epochs, lr=args.lr,
                       eval_fraction=args.eval_fraction, seed=args.seed, progress=False)
    device, distributed, out = start_run(config)
    layout = ObservationLayout()
    loaded = load_episodes(args.data)
    names = sorted({category_of(e) for e in loaded.episodes})
    train_ids, eval_ids = split_by_episode(loaded.keys, args.eval_fraction, args.seed)
    trained_on = set(args.categories or names)
    if trained_on - set(names):
        parser.error(f"--categories {' '.join(sorted(trained_on - set(names)))}: not in the "
                     f"data, which holds {' '.join(names)}")
    train_episodes = [loaded.episodes[i] for i in train_ids
                      if category_of(loaded.episodes[i]) in trained_on]
    train = samples(train_episodes, names, layout, loaded.control_dt, args.identity)
    held_out = samples([loaded.episodes[i] for i in eval_ids], names, layout,
                       loaded.control_dt, args.identity)
    sample = torch.randperm(len(train[0]), generator=torch.Generator().manual_seed(0))
    train_sample = tuple(t[sample[:TRAIN_ERROR_SAMPLE]] for t in train)

    if args.init:
        network, _ = load_base_policy(args.init)
        network = network.float()
        if args.widen:
            original = network
            network = widened(original, args.widen)
            if args.freeze_init:
                freeze_original(network, original.width)
    else:
        network = GeneralistPolicyNet(train[0].shape[1], width=args.width, blocks=args.blocks)
        network.obs_norm.set(train[0].mean(0), train[0].std(0))
    network.to(device)

    def loss(module: torch.nn.Module, index: torch.Tensor) -> torch.Tensor:
        return ((module(train[0][index].to(device)) - train[1][index].to(device)) ** 2).mean()

    def assess() -> Evaluation:
        held = errors(network, *held_out, names)
        score = sum(held.values()) / len(held)
        return Evaluation(score, {f"held_out_mae/{k}": v for k, v in held.items()},
                          line=f"held-out MAE {held}")

    before = {"train": errors(network, *train_sample, names),
              "held_out": errors(network, *held_out, names)} if args.init else None
    train_loop(Task("probe", BUNDLE_KIND, network, network, len(train[0]), loss, assess,
                    {"layout": layout.to_dict(), "action_scale": ACTION_SCALE},
                    lambda: torch.optim.Adam(network.parameters(), lr=args.lr)),
               config, device, distributed, out)
    result = {"out": args.out, "width": network.width, "blocks": network.blocks,
              "identity": args.identity, "init": args.init, "widen": args.widen,
              "freeze_init": args.freeze_init, "trained_on": sorted(trained_on),
              "epochs": args.epochs, "lr": args.lr, "train_windows": len(train[0]),
              "before": before,
              "train_mae": errors(network, *train_sample, names),
              "held_out_mae": errors(network, *held_out, names)}
    line = json.dumps(result)
    (Path(args.out) / "probe.json").write_text(line + "\n")
    print(line, flush=True)


if __name__ == "__main__":
    main()
