"""``dexndm train`` and ``dexndm eval`` (dexndm_learning)."""

from __future__ import annotations

import argparse
import json

from dexndm_control.cli import Command


def _train_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", required=True, metavar="WHAT")
    dyn = sub.add_parser("dynamics", help="train a dynamics model on transition shards",
                         description="Pretrain on simulated transitions, or finetune (--init) "
                                     "on shards built from bags. Multi-GPU/process: run under "
                                     "`torchrun --nproc_per_node N -m dexndm_learning.cli train "
                                     "dynamics ...`.")
    dyn.add_argument("--arch", choices=["joint", "finger", "whole", "shared"], default="joint")
    dyn.add_argument("--data", nargs="+", required=True, metavar="SHARDS",
                     help="shard files or directories of shards")
    dyn.add_argument("--out", required=True, help="run directory (best/ and last/ bundles)")
    dyn.add_argument("--init", default=None, help="dynamics bundle to finetune from")
    dyn.add_argument("--window", type=int, default=10)
    dyn.add_argument("--hidden", type=int, nargs="*", default=[],
                     help="hidden sizes per net (default depends on --arch)")
    _common(dyn, epochs=20, lr=1e-3)
    res = sub.add_parser("residual", help="train the residual policy through frozen dynamics")
    res.add_argument("--dynamics", required=True, help="dynamics bundle (e.g. RUN/best)")
    res.add_argument("--data", nargs="+", required=True, metavar="SIM_SHARDS",
                     help="simulated rollout shards of the base policy")
    res.add_argument("--out", required=True)
    res.add_argument("--history", type=int, default=10, help="T of the policy observation")
    res.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    res.add_argument("--scale", type=float, default=0.05, help="largest correction (rad)")
    _common(res, epochs=5, lr=3e-4)


def _common(parser: argparse.ArgumentParser, epochs: int, lr: float) -> None:
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--eval-fraction", type=float, default=0.1,
                        help="share of episodes held out (split by episode)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--no-progress", dest="progress", action="store_false")


def _train(args: argparse.Namespace) -> int:
    if args.what == "dynamics":
        from dexndm_learning.dynamics.train import DynamicsTrainConfig, train_dynamics

        result = train_dynamics(DynamicsTrainConfig(
            data=args.data, out=args.out, arch=args.arch, window=args.window,
            hidden=args.hidden, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
            eval_fraction=args.eval_fraction, seed=args.seed, device=args.device,
            init=args.init, overwrite=args.overwrite, progress=args.progress))
    else:
        from dexndm_learning.residual.train import ResidualTrainConfig, train_residual

        result = train_residual(ResidualTrainConfig(
            dynamics=args.dynamics, data=args.data, out=args.out, history=args.history,
            hidden=tuple(args.hidden), scale=args.scale, epochs=args.epochs,
            batch_size=args.batch_size, lr=args.lr, eval_fraction=args.eval_fraction,
            seed=args.seed, device=args.device, overwrite=args.overwrite,
            progress=args.progress))
    summary = {k: v for k, v in result.items() if k != "history"}
    print(json.dumps(summary))
    return 0


def train_command() -> Command:
    return Command(name="train", help="train models (dynamics, residual)",
                   add_arguments=_train_arguments, run=_train)


def _eval_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", required=True, metavar="WHAT")
    dyn = sub.add_parser("dynamics", help="per-joint error of dynamics checkpoints (ID and OOD)")
    dyn.add_argument("checkpoints", nargs="+", help="dynamics bundles to compare")
    dyn.add_argument("--data", nargs="*", default=None,
                     help="the training shards (each model is scored on its held-out episodes)")
    dyn.add_argument("--ood", nargs="*", default=None, help="out-of-distribution shards")
    dyn.add_argument("--out", required=True, help="where the table, JSON and PNGs go")


def _eval(args: argparse.Namespace) -> int:
    from dexndm_learning.dynamics.evaluate import evaluate_checkpoints

    evaluate_checkpoints(args.checkpoints, args.data, args.ood, args.out)
    print(f"plots and JSON written to {args.out}")
    return 0


def eval_command() -> Command:
    return Command(name="eval", help="evaluate models (dynamics)", add_arguments=_eval_arguments,
                   run=_eval)
