"""``dexndm train`` and ``dexndm eval`` (dexndm_learning)."""

from __future__ import annotations

import argparse
import json

from dexndm_control.cli import Command
from dexndm_control.errors import DexndmError
from dexndm_control.settings import add_arguments, argument_values, from_arguments


def _train_arguments(parser: argparse.ArgumentParser) -> None:
    from dexndm_learning.bc import BCConfig
    from dexndm_learning.dagger import DaggerConfig
    from dexndm_learning.dynamics.train import DynamicsTrainConfig
    from dexndm_learning.ppo.config import PPO_ENV_DEFAULTS, PPO_ENV_OPTIONS
    from dexndm_learning.ppo.gait_states import GaitStatesConfig
    from dexndm_learning.ppo.train import PPOTrainConfig
    from dexndm_learning.residual.train import ResidualTrainConfig
    from dexndm_sim.env import RotationEnvConfig

    sub = parser.add_subparsers(dest="what", required=True, metavar="WHAT")
    dyn = sub.add_parser("dynamics", help="train a dynamics model on transition shards",
                         description="Pretrain on simulated transitions, or finetune (--init) "
                                     "on shards built from bags. Multi-GPU/process: run under "
                                     "`torchrun --nproc_per_node N -m dexndm_learning.cli train "
                                     "dynamics ...`.")
    add_arguments(dyn, DynamicsTrainConfig, metavars=_METAVARS)
    res = sub.add_parser("residual", help="train the residual policy through frozen dynamics")
    add_arguments(res, ResidualTrainConfig, defaults={"epochs": 5}, metavars=_METAVARS)
    ppo = sub.add_parser("ppo", help="train a PPO specialist for one object category",
                         description="rsl-rl-lib PPO on the MuJoCo rotation environment; "
                                     "TensorBoard and checkpoints in --out (resume with "
                                     "--resume OUT/model_N.pt). A full run needs 30-100 M "
                                     "steps: hours on CPU, a GPU backend for paper scale.")
    add_arguments(ppo, PPOTrainConfig)
    add_arguments(ppo, RotationEnvConfig, only=PPO_ENV_OPTIONS,
                  defaults={**PPO_ENV_DEFAULTS, "grasp_wrist": None, "categories": None},
                  metavars={"objects": "NAME", "mass_range": ("MIN", "MAX"),
                            "friction_range": ("MIN", "MAX")})
    bc = sub.add_parser("bc", help="behaviour-clone the generalist from simulated rollouts",
                        description="Exports a base_policy bundle for the rotation controller.")
    add_arguments(bc, BCConfig, metavars=_METAVARS)
    dagger = sub.add_parser("dagger", help="distil further with the teachers in the loop (DAgger)",
                            description="The behaviour-cloned student (--init) drives the "
                                        "simulation, the specialist teachers label the states "
                                        "it visits, each round trains on all data so far; "
                                        "OUT/best is the round with the most closed-loop "
                                        "rotation (a base_policy bundle).")
    add_arguments(dagger, DaggerConfig,
                  metavars={**_METAVARS, "teachers": "RUN/model_N.pt[@OBJECT,...]"})
    gait = sub.add_parser("gait-states", help="record a specialist's states mid-rotation (start "
                                              "states for `train ppo --gait-states`)",
                          description="Rolls the specialist out deterministically, keeps "
                                      "episodes that survive and turn --min-radians, and saves "
                                      "states drawn from them per object (grasp-cache format).")
    add_arguments(gait, GaitStatesConfig, positional=["checkpoint"])


_METAVARS = {"data": "SHARDS"}


def _train(args: argparse.Namespace) -> int:
    if args.what == "dynamics":
        from dexndm_learning.dynamics.train import DynamicsTrainConfig, train_dynamics

        result = train_dynamics(from_arguments(DynamicsTrainConfig, args))
    elif args.what == "ppo":
        from dexndm_learning.ppo.config import PPO_ENV_OPTIONS, ppo_env
        from dexndm_learning.ppo.train import PPOTrainConfig, train_ppo
        from dexndm_sim.env import RotationEnvConfig

        options = argument_values(RotationEnvConfig, args, only=PPO_ENV_OPTIONS)
        env = ppo_env(args.category, seed=args.seed,
                      **{k: v for k, v in options.items() if v is not None})
        result = train_ppo(from_arguments(PPOTrainConfig, args, env=env))
    elif args.what == "bc":
        from dexndm_learning.bc import BCConfig, train_bc

        result = train_bc(from_arguments(BCConfig, args))
    elif args.what == "dagger":
        from dexndm_learning.dagger import DaggerConfig, train_dagger

        result = train_dagger(from_arguments(DaggerConfig, args))
    elif args.what == "gait-states":
        from dexndm_learning.ppo.gait_states import GaitStatesConfig, record_gait_states

        result = record_gait_states(from_arguments(GaitStatesConfig, args))
    else:
        from dexndm_learning.residual.train import ResidualTrainConfig, train_residual

        result = train_residual(from_arguments(ResidualTrainConfig, args))
    summary = {k: v for k, v in result.items() if k != "history"}
    print(json.dumps(summary))
    return 0


def train_command() -> Command:
    return Command(name="train",
                   help="train models (dynamics, residual, ppo, bc, dagger, gait-states)",
                   add_arguments=_train_arguments, run=_train)


def _eval_arguments(parser: argparse.ArgumentParser) -> None:
    from dexndm_learning.ppo.critic_check import CriticCheckConfig
    from dexndm_learning.ppo.transfer import TransferConfig

    sub = parser.add_subparsers(dest="what", required=True, metavar="WHAT")
    dyn = sub.add_parser("dynamics", help="per-joint error of dynamics checkpoints (ID and OOD)")
    dyn.add_argument("checkpoints", nargs="+", help="dynamics bundles to compare")
    dyn.add_argument("--data", nargs="*", default=None,
                     help="the training shards (each model is scored on its held-out episodes)")
    dyn.add_argument("--ood", nargs="*", default=None, help="out-of-distribution shards")
    dyn.add_argument("--out", required=True, help="where the table, JSON and PNGs go")
    dyn.add_argument("--meter-reference", action="store_true",
                     help="store each bundle's per-joint --ood error in it as the live gap "
                          "meter's reference (give shards of supervised runs of the task)")
    transfer = sub.add_parser(
        "transfer", help="rotation a PPO specialist keeps under the real profile",
        description="Runs the specialist deterministically in its training environment, then "
                    "under the real profile at each goal current (same grasps and seed), and "
                    "prints the share of rotation kept (direct sim-to-real transfer).")
    add_arguments(transfer, TransferConfig, positional=["checkpoint"],
                  metavars={"goal_currents_ma": "MA"})
    transfer.add_argument("--out", default=None, help="JSON file for the results")
    critic = sub.add_parser(
        "critic", help="a PPO checkpoint's critic against the returns its actor earns",
        description="Runs the checkpoint's stochastic actor in its training environment and "
                    "scores the critic's values against the discounted returns that followed "
                    "(mean value, mean return, RMS error, explained variance).")
    add_arguments(critic, CriticCheckConfig, positional=["checkpoint"])
    critic.add_argument("--out", default=None, help="JSON file for the results")


def _eval(args: argparse.Namespace) -> int:
    if args.what == "critic":
        from dexndm_learning.ppo.critic_check import (
            CriticCheckConfig,
            check_critic,
            format_critic_check,
        )

        print(format_critic_check(check_critic(from_arguments(CriticCheckConfig, args),
                                               args.out)))
        return 0
    if args.what == "transfer":
        from dexndm_learning.ppo.transfer import TransferConfig, format_transfer, measure_transfer

        config = from_arguments(TransferConfig, args)
        print(format_transfer(measure_transfer(config, args.out), config.per_grasp))
        return 0
    from dexndm_learning.dynamics.evaluate import evaluate_checkpoints, store_meter_reference

    if args.meter_reference and not args.ood:
        raise DexndmError("--meter-reference needs --ood SHARDS: supervised runs of the task, "
                          "whose per-joint error becomes the meter's reference")
    results = evaluate_checkpoints(args.checkpoints, args.data, args.ood, args.out)
    print(f"plots and JSON written to {args.out}")
    if args.meter_reference:
        if len(results) != len(args.checkpoints):
            raise DexndmError("--meter-reference: give bundles whose directories have distinct "
                              "names (the results are keyed by them)")
        for checkpoint, entry in zip(args.checkpoints, results.values(), strict=True):
            store_meter_reference(checkpoint, entry["ood_mae"], args.ood)
            print(f"{checkpoint}: gap meter reference = its per-joint error on {args.ood}")
    return 0


def eval_command() -> Command:
    return Command(name="eval",
                   help="evaluate models (dynamics, sim-to-real transfer, PPO critics)",
                   add_arguments=_eval_arguments, run=_eval)


def _rollout_arguments(parser: argparse.ArgumentParser) -> None:
    from dexndm_learning.rollout import RolloutConfig

    add_arguments(parser, RolloutConfig)


def _rollout(args: argparse.Namespace) -> int:
    from dexndm_learning.rollout import RolloutConfig, rollout

    print(json.dumps(rollout(from_arguments(RolloutConfig, args))))
    return 0


def rollout_command() -> Command:
    return Command(name="rollout", help="roll out a policy in simulation (libraries, shards)",
                   add_arguments=_rollout_arguments, run=_rollout)


def _average_arguments(parser: argparse.ArgumentParser) -> None:
    from dexndm_learning.weight_average import AverageConfig

    add_arguments(parser, AverageConfig, positional=["bundles"],
                  metavars={"bundles": "BUNDLE", "weights": "W"})


def _average(args: argparse.Namespace) -> int:
    from dexndm_learning.weight_average import AverageConfig, average_bundles

    print(json.dumps(average_bundles(from_arguments(AverageConfig, args))))
    return 0


def average_command() -> Command:
    return Command(name="average", help="average base policies' or a teacher's weights (a "
                                        "weight-space ensemble of networks from one start)",
                   description="Writes sum_i w_i * weights_i of fp32 base_policy bundles of one "
                               "architecture, observation layout and normaliser; bundle.yaml "
                               "records the sources and weights. Checkpoints of an oracle "
                               "teacher's `train ppo` run are averaged into OUT/model_N.pt "
                               "(a teacher; averaged_from.yaml records the sources).",
                   add_arguments=_average_arguments, run=_average)


QUICK_CONFIG = "config/experiments/sim2sim_quick.yaml"


def _experiment_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", required=True, metavar="WHAT")
    sim2sim = sub.add_parser(
        "sim2sim", help="training profile -> gap profile: data, dynamics, residuals and the "
                        "table, as resumable stages (docs/sim2sim.md)")
    sim2sim.add_argument("--config", default="config/experiments/sim2sim.yaml",
                         help="experiment settings (YAML of Sim2SimConfig's fields)")
    sim2sim.add_argument("--quick", action="store_true",
                         help=f"the tiny-budget configuration ({QUICK_CONFIG}) instead")
    sim2sim.add_argument("--out", required=True, help="experiment directory (stages, report)")
    sim2sim.add_argument("--from", dest="start", default=None, metavar="STAGE",
                         help="rerun this stage and every later one (default: only stages "
                              "whose inputs changed)")


def _experiment(args: argparse.Namespace) -> int:
    from dexndm_learning.sim2sim import Sim2Sim, load_config
    from dexndm_learning.sim2sim_report import markdown_report

    config = load_config(QUICK_CONFIG if args.quick else args.config)
    report = Sim2Sim(config, args.out).run(args.start)
    print(markdown_report(report))
    return 0


def experiment_command() -> Command:
    return Command(name="experiment", help="run an experiment end to end (sim2sim)",
                   add_arguments=_experiment_arguments, run=_experiment)
