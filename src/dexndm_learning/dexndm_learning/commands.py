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
    ppo = sub.add_parser("ppo", help="train a PPO specialist for one object category",
                         description="rsl-rl-lib PPO on the MuJoCo rotation environment; "
                                     "TensorBoard and checkpoints in --out (resume with "
                                     "--resume OUT/model_N.pt). A full run needs 30-100 M "
                                     "steps: hours on CPU, a GPU backend for paper scale.")
    ppo.add_argument("--category", required=True,
                     help="cylinders, cuboids, long_cuboids, small_cylinders, irregular")
    ppo.add_argument("--out", required=True)
    ppo.add_argument("--iterations", type=int, default=1000)
    ppo.add_argument("--num-envs", type=int, default=128)
    ppo.add_argument("--steps-per-env", type=int, default=32)
    ppo.add_argument("--wrists", nargs="+", default=["palm_up"])
    ppo.add_argument("--axes", default="z")
    ppo.add_argument("--profile", default="nominal")
    ppo.add_argument("--objects", nargs="+", default=[], metavar="NAME",
                     help="train on these objects of the category only (e.g. cylinders_004)")
    ppo.add_argument("--mass-range", type=float, nargs=2, metavar=("MIN", "MAX"),
                     help="object mass range in kg (default: the category's, paper Table 14)")
    ppo.add_argument("--friction-range", type=float, nargs=2, metavar=("MIN", "MAX"),
                     help="object friction range (default: the category's, paper Table 14)")
    ppo.add_argument("--device", default="auto",
                     help="device of the PPO update: auto (CUDA when torch sees one), cpu, cuda")
    ppo.add_argument("--grasp-wrist", default=None,
                     help="wrist the initial grasps are searched at (default: the training "
                          "wrist if there is one, else palm_down)")
    ppo.add_argument("--seed", type=int, default=0)
    ppo.add_argument("--resume", default=None, help="checkpoint model_N.pt to continue from")
    ppo.add_argument("--overwrite", action="store_true")
    bc = sub.add_parser("bc", help="behaviour-clone the generalist from simulated rollouts",
                        description="Exports a base_policy bundle for the rotation controller.")
    bc.add_argument("--data", nargs="+", required=True, metavar="ROLLOUT_SHARDS")
    bc.add_argument("--out", required=True)
    bc.add_argument("--history", type=int, default=10, help="T of the observation")
    bc.add_argument("--width", type=int, default=1024)
    bc.add_argument("--blocks", type=int, default=5)
    _common(bc, epochs=20, lr=3e-4)


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
    parser.add_argument("--resume", default=None, metavar="RUN/last",
                        help="continue an interrupted run (optimizer state, epoch, best score)")


def _train(args: argparse.Namespace) -> int:
    if args.what == "dynamics":
        from dexndm_learning.dynamics.train import DynamicsTrainConfig, train_dynamics

        result = train_dynamics(DynamicsTrainConfig(
            data=args.data, out=args.out, arch=args.arch, window=args.window,
            hidden=args.hidden, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
            eval_fraction=args.eval_fraction, seed=args.seed, device=args.device,
            init=args.init, overwrite=args.overwrite, progress=args.progress,
            resume=args.resume))
    elif args.what == "ppo":
        from dexndm_learning.ppo.train import PPOTrainConfig, train_ppo

        result = train_ppo(PPOTrainConfig(
            category=args.category, out=args.out, iterations=args.iterations,
            num_envs=args.num_envs, steps_per_env=args.steps_per_env,
            wrists=tuple(args.wrists), axes=args.axes, profile=args.profile, seed=args.seed,
            objects=tuple(args.objects),
            mass_range=tuple(args.mass_range) if args.mass_range else None,
            friction_range=tuple(args.friction_range) if args.friction_range else None,
            grasp_wrist=args.grasp_wrist, device=args.device, resume=args.resume,
            overwrite=args.overwrite))
    elif args.what == "bc":
        from dexndm_learning.bc import BCConfig, train_bc

        result = train_bc(BCConfig(
            data=args.data, out=args.out, history=args.history, width=args.width,
            blocks=args.blocks, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
            eval_fraction=args.eval_fraction, seed=args.seed, device=args.device,
            overwrite=args.overwrite, progress=args.progress, resume=args.resume))
    else:
        from dexndm_learning.residual.train import ResidualTrainConfig, train_residual

        result = train_residual(ResidualTrainConfig(
            dynamics=args.dynamics, data=args.data, out=args.out, history=args.history,
            hidden=tuple(args.hidden), scale=args.scale, epochs=args.epochs,
            batch_size=args.batch_size, lr=args.lr, eval_fraction=args.eval_fraction,
            seed=args.seed, device=args.device, overwrite=args.overwrite,
            progress=args.progress, resume=args.resume))
    summary = {k: v for k, v in result.items() if k != "history"}
    print(json.dumps(summary))
    return 0


def train_command() -> Command:
    return Command(name="train", help="train models (dynamics, residual, ppo, bc)",
                   add_arguments=_train_arguments, run=_train)


def _eval_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", required=True, metavar="WHAT")
    dyn = sub.add_parser("dynamics", help="per-joint error of dynamics checkpoints (ID and OOD)")
    dyn.add_argument("checkpoints", nargs="+", help="dynamics bundles to compare")
    dyn.add_argument("--data", nargs="*", default=None,
                     help="the training shards (each model is scored on its held-out episodes)")
    dyn.add_argument("--ood", nargs="*", default=None, help="out-of-distribution shards")
    dyn.add_argument("--out", required=True, help="where the table, JSON and PNGs go")
    transfer = sub.add_parser(
        "transfer", help="rotation a PPO specialist keeps under the real profile",
        description="Runs the specialist deterministically in its training environment, then "
                    "under the real profile at each goal current (same grasps and seed), and "
                    "prints the share of rotation kept (direct sim-to-real transfer).")
    transfer.add_argument("checkpoint", help="RUN/model_N.pt of `dexndm train ppo`")
    transfer.add_argument("--goal-currents", type=float, nargs="+",
                          default=[550.0, 650.0, 750.0], metavar="MA",
                          help="real-profile goal currents to measure (mA)")
    transfer.add_argument("--episodes", type=int, default=64, help="episodes per profile")
    transfer.add_argument("--latency-steps", type=int, default=None,
                          help="real-profile command latency (default: the profile's)")
    transfer.add_argument("--seed", type=int, default=0)
    transfer.add_argument("--out", default=None, help="JSON file for the results")


def _eval(args: argparse.Namespace) -> int:
    if args.what == "transfer":
        from dexndm_learning.ppo.transfer import TransferConfig, format_transfer, measure_transfer

        result = measure_transfer(TransferConfig(
            args.checkpoint, tuple(args.goal_currents), args.episodes, args.latency_steps,
            args.seed), args.out)
        print(format_transfer(result))
        return 0
    from dexndm_learning.dynamics.evaluate import evaluate_checkpoints

    evaluate_checkpoints(args.checkpoints, args.data, args.ood, args.out)
    print(f"plots and JSON written to {args.out}")
    return 0


def eval_command() -> Command:
    return Command(name="eval", help="evaluate models (dynamics, sim-to-real transfer)",
                   add_arguments=_eval_arguments, run=_eval)


def _rollout_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", default="open-loop",
                        help="open-loop (smooth random relative actions around a cached grasp), "
                             "a base_policy bundle directory, or a PPO specialist checkpoint "
                             "(RUN/model_N.pt: only episodes that survive --steps are kept)")
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--category", default="cylinders",
                        help="object category (paper Table 14)")
    parser.add_argument("--wrist", nargs="+", default=None,
                        help="wrist orientations, cycled over episodes (default: palm_down; a "
                             "specialist's own training wrists)")
    parser.add_argument("--axes", default=None,
                        help="axis set: x, y, z, principal, general (default: z; a "
                             "specialist's own)")
    parser.add_argument("--profile", default=None,
                        help="hardware profile: nominal or real (default: nominal; a "
                             "specialist's own)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep-steps", type=int, default=None,
                        help="specialists: keep the first N steps of every episode lasting N "
                             "(default: only episodes that survive --steps, the paper's rule)")
    parser.add_argument("--library", default=None, help="trajectory library to write (.npz)")
    parser.add_argument("--shards", default=None, help="directory for transition shards")


def _rollout(args: argparse.Namespace) -> int:
    from dexndm_learning.rollout import RolloutConfig, rollout

    result = rollout(RolloutConfig(
        episodes=args.episodes, steps=args.steps, category=args.category,
        wrists=tuple(args.wrist or ()), axes=args.axes, profile=args.profile,
        policy=args.policy,
        seed=args.seed, library=args.library, shards=args.shards, keep_steps=args.keep_steps))
    print(json.dumps(result))
    return 0


def rollout_command() -> Command:
    return Command(name="rollout", help="roll out a policy in simulation (libraries, shards)",
                   add_arguments=_rollout_arguments, run=_rollout)
