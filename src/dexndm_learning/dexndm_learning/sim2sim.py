"""`dexndm experiment sim2sim`: the sim-to-sim experiment (paper Table 6, `nominal` -> a gap
profile) as resumable stages (stages.py), from a base policy to the table.

Stages, each in its own directory of the experiment:

- ``sim``: the base policy's first episodes under ``train_profile`` (``nominal``; an identified
  profile for the paper's pipeline of system identification first) in the evaluation environment
  (the specialist checkpoint ``environment`` was trained in: its objects, wrist, axes and
  grasps), recorded as transition shards (dynamics pretraining, residual training) and as a
  trajectory library (what the chaos box replays);
- ``chaos``: that library replayed under the gap profile in boxes of soft balls with the
  collector's noise law (dexndm_sim.chaos_replay, the collector's own episode plans), at every
  wrist of ``chaos_wrists``; ``free``: the same replay with no balls (the "w/o load" ablation);
  ``sigma``: the chaos replay again at each noise sigma of ``sigma_ablation`` (paper Table 11);
  ``waves``: the collector's wave episodes on the free hand (the UAN-like baseline's data);
- ``ood``: the base policy's own episodes under the gap profile (the held-out task data on which
  every dynamics model's error is measured; never trained on);
- ``dynamics``: per architecture, pretrained on ``sim`` and finetuned on ``chaos`` (DexNDM and
  the finger-wise, whole-hand and shared-weight baselines), plus joint-wise without pretraining,
  joint-wise finetuned on ``free``, per sigma, UAN-like (shared weights on ``waves`` only) and
  the ceiling (chaos + ``ood``); one-step and 10-step open-loop errors on ``ood``;
- ``efficiency``: joint-wise and whole-hand models finetuned on growing subsets of the chaos
  episodes, their out-of-distribution error against the count (paper Fig. 6B);
- ``residual``: a residual through each frozen dynamics model, on ``sim``, one per seed of
  ``residual_seeds`` (a row pools their evaluations: residual training is a draw too);
- ``evaluate``: every row under the gap profile (and the base in its training profile, the
  ceiling; ``other_bases`` as direct rows) on the same objects, grasps, axes and seeds: RotR,
  RotP, TTF, Rot, drops; the ratio to Direct, the paired difference to it per start and the
  share of the gap closed. ``report.json`` and ``report.md`` at the top.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import yaml

from dexndm_control.errors import DexndmError
from dexndm_control.hand import CONTROL_DT
from dexndm_control.rotations import world_to_hand
from dexndm_control.settings import from_mapping, setting
from dexndm_control.trajectory_library import TrajectoryLibrary
from dexndm_control.transitions import Episode, write_shard
from dexndm_learning.sim2sim_report import (
    markdown_report,
    plot_efficiency,
    plot_rows,
    summarise,
)
from dexndm_learning.stages import Stage, run_stages
from dexndm_sim import PHYSICS_THREADS_HELP

ARCHITECTURES = ("joint", "finger", "whole", "shared")
# dynamics variants beyond "<arch>" (pretrained on sim, finetuned on the chaos box)
ABLATIONS = {"joint_no_pretrain": ("joint", None, "chaos"),
             "joint_free_hand": ("joint", "sim", "free"),
             # the ceiling of the closability analysis: finetuned on the chaos box AND on the
             # base policy's own episodes under the gap (the evaluation's task data itself)
             "joint_task_ceiling": ("joint", "sim", "chaos+ood"),
             # UAN-like: one network shared by every actuator, trained on free-hand wave data
             # only (no simulated pretraining), then used like the others
             "uan_like": ("shared", None, "waves")}
# a joint is "at its limit" when its torque is within 1 % of the actuator's cap
SATURATED = 0.99


@dataclass(frozen=True)
class Sim2SimConfig:
    base: str = setting("policies/reference_student",
                        help="the base policy bundle (default: the generalist distilled from "
                             "the environment's specialist)")
    other_bases: tuple[str, ...] = setting((), help="more base policy bundles run under the gap "
                                                    "on the same starts, rows direct_<dir name> "
                                                    "(the autotune experiment's untuned base)")
    environment: str = setting("policies/gap_reference/model_1949.pt",
                               help="specialist checkpoint whose training environment every row "
                                    "is measured in (objects, wrist, axes, grasps)")
    gap: str = setting("real", help="the target profile (name, NAME:key=value or a file)")
    train_profile: str = setting("nominal", help="the simulator the base policy was trained in "
                                                 "(name, NAME:key=value or a file; an "
                                                 "identified profile for the autotune rows): "
                                                 "its episodes are the residual's targets and "
                                                 "the chaos box's trajectories, and the No-gap "
                                                 "row runs in it")
    sim_episodes: int = setting(128, help="base-policy episodes in the training profile (shards, "
                                          "library)")
    chaos_episodes: int = setting(256, help="chaos-box episodes, split over the wrists")
    chaos_wrists: tuple[str, ...] = ("palm_down", "palm_up")
    chaos_steps: int = setting(0, help="steps replayed per episode (0: the library's)")
    free_episodes: int = setting(64, help="free-hand replay episodes (no balls)")
    wave_episodes: int = setting(64, help="free-hand wave episodes (uan_like's data)")
    sigma_ablation: tuple[float, ...] = setting((), help="chaos-box noise sigmas replayed again "
                                                         "for the joint-wise sigma rows")
    efficiency_episodes: tuple[int, ...] = setting((), help="chaos-episode counts of the "
                                                            "data-efficiency curve")
    ood_episodes: int = setting(64, help="base-policy episodes under the gap profile (held-out "
                                         "task data for the dynamics errors)")
    noise_probability: float = 0.5
    noise_sigma: float = 0.01
    noise_hold_steps: int = setting(1, help="chaos-box noise draws held this many steps (1: "
                                            "the paper's white noise)")
    architectures: tuple[str, ...] = ARCHITECTURES
    ablations: tuple[str, ...] = tuple(ABLATIONS)
    window: int = 10
    pretrain_epochs: int = 20
    finetune_epochs: int = 30
    residual_epochs: int = 10
    residual_seeds: tuple[int, ...] = setting((0,), help="a residual per seed per model; rows "
                                                         "pool their evaluations")
    residual_scale: float = 0.05
    residual_penalty: float = 1.0
    residual_horizon: int = setting(1, help="steps the residual's training rolls the model "
                                            "ahead (1: the paper's one-step objective)")
    residual_base_in_loop: bool = setting(False, help="run the base policy on the model's "
                                                      "predicted states in those steps")
    residual_from_rest: bool = setting(False, help="roll each episode from a rest before its "
                                                   "start instead of from every window of the "
                                                   "simulator's history (needs a horizon > 1)")
    eval_episodes: int = setting(64, help="episodes per row (the same starts in every row)")
    seed: int = 0
    threads: int = setting(0, help=PHYSICS_THREADS_HELP)

    def __post_init__(self) -> None:
        unknown = [a for a in self.architectures if a not in ARCHITECTURES] + \
            [a for a in self.ablations if a not in ABLATIONS]
        if unknown:
            raise DexndmError(f"unknown architectures/ablations {unknown}: choose from "
                              f"{', '.join(ARCHITECTURES + tuple(ABLATIONS))}")
        if "joint" not in self.architectures:
            raise DexndmError("the joint-wise model is DexNDM's row: keep 'joint' in "
                              "architectures")
        if min(self.sim_episodes, self.chaos_episodes, self.free_episodes, self.ood_episodes,
               self.eval_episodes, self.wave_episodes) < 2:
            raise DexndmError("every episode count must be >= 2")
        if not self.residual_seeds or len(set(self.residual_seeds)) != len(self.residual_seeds):
            raise DexndmError("residual_seeds: give one or more distinct seeds")
        if self.residual_from_rest and self.residual_horizon < 2:
            raise DexndmError("residual_from_rest needs residual_horizon > 1 (more than the "
                              "model's window)")
        if any(not sigma > 0 for sigma in self.sigma_ablation):
            raise DexndmError("sigma_ablation: every sigma must be > 0 (rad)")
        if any(not 2 <= n < self.chaos_episodes for n in self.efficiency_episodes):
            raise DexndmError("efficiency_episodes: counts between 2 and chaos_episodes - 1 (the "
                              "whole set is the curve's last point)")


def load_config(path: str | Path, **overrides) -> Sim2SimConfig:
    path = Path(path)
    if not path.is_file():
        raise DexndmError(f"no experiment configuration at {path} (the repository ships "
                          "config/experiments/sim2sim.yaml and sim2sim_quick.yaml)")
    values = yaml.safe_load(path.read_text()) or {}
    return from_mapping(Sim2SimConfig, {**values, **overrides})


# -- recording ------------------------------------------------------------------------------------

def record_episodes(vec_env, advance) -> tuple[list[Episode], np.ndarray, np.ndarray]:
    """Every environment's first episode, stepped by ``advance(vec_env)``: q [T+1] and targets
    [T] until it falls or ends (with the wrist and the axis in the hand frame); every
    environment's targets as [N, episode_length, 16], held after a fall; and which environments
    held their object for the whole episode [N]."""
    env = vec_env.env
    n, steps = env.config.num_envs, env.config.episode_length
    q = [[env.snapshot["q"][i].copy()] for i in range(n)]
    targets: list[list[np.ndarray]] = [[] for _ in range(n)]
    context = [{"wrist_quat": env.wrist[i].tolist(),
                "axis": world_to_hand(env.axis_world[i], env.wrist[i]).tolist(), "env": i}
               for i in range(n)]
    start = env.q_init.copy()
    alive = np.ones(n, dtype=bool)
    for step in range(steps):
        advance(vec_env)
        infos = vec_env.last_infos
        ended = {record["env"] for record in infos["episodes"]}
        for i in np.flatnonzero(alive):
            if i in ended and step + 1 < steps:  # fell: what follows is a new episode
                alive[i] = False
                continue
            q[i].append(infos["q"][i].copy())
            targets[i].append(infos["target"][i].copy())
        if not alive.any():
            break
    episodes = [Episode(np.array(q[i]), np.array(targets[i]), np.arange(len(q[i])) * CONTROL_DT,
                        context[i]) for i in range(n) if len(targets[i]) >= 20]
    rows = np.zeros((n, steps, 16))
    for i in range(n):
        sent = np.array(targets[i]) if targets[i] else start[i][None]
        rows[i] = np.concatenate([sent, np.repeat(sent[-1:], steps - len(sent), axis=0)])
    survived = np.array([len(t) == steps for t in targets])
    return episodes, rows, survived


# -- the experiment ------------------------------------------------------------------------------

class Sim2Sim:
    def __init__(self, config: Sim2SimConfig, out: str | Path) -> None:
        self.config = config
        self.out = Path(out)
        bundles = [(Path(b) / "bundle.yaml", "base policy bundle")
                   for b in (config.base, *config.other_bases)]
        if len({Path(b).name for b in config.other_bases}) < len(config.other_bases):
            raise DexndmError("other_bases: the rows are named after the bundles' directories; "
                              "give bundles in directories of different names")
        for path, what in (*bundles, (Path(config.environment), "environment checkpoint")):
            if not path.is_file():
                raise DexndmError(f"{what} {path.parent if what.startswith('base') else path} "
                                  "not found")
        from dexndm_sim.profiles import get_profile

        for spec in (config.train_profile, config.gap):  # a wrong name fails now, not in a stage
            get_profile(spec)

    # environments ---------------------------------------------------------------------------

    def vec_env(self, profile: str, episodes: int, seed_offset: int = 0):
        """The evaluation environment under ``profile``: the specialist checkpoint's objects,
        wrist, axes and grasps (found under its training profile), disturbances off; the
        same starts for the same ``episodes`` and ``seed_offset``."""
        from dexndm_learning.ppo.specialist import specialist_env_config
        from dexndm_learning.ppo.vec_env import RotationVecEnv

        trained = specialist_env_config(self.config.environment)
        return RotationVecEnv(specialist_env_config(
            self.config.environment, num_envs=episodes, profile=profile,
            grasp_profile=trained.profile, disturbance_probability=0.0,
            seed=trained.seed + seed_offset, threads=self.config.threads))

    def policy(self, residual: str | None = None, base: str | None = None):
        """The base policy (or another ``base``) + a residual bundle, as the controller runs
        them."""
        from dexndm_learning.comparison import GeneralistOnEnv

        return GeneralistOnEnv(base or self.config.base, residual)

    # stages -----------------------------------------------------------------------------------

    def stages(self) -> list[Stage]:
        c = self.config
        variants = self.variants()
        replay = {"gap": c.gap, "wrists": c.chaos_wrists, "steps": c.chaos_steps,
                  "p": c.noise_probability, "seed": c.seed,
                  # in the digest only when used: earlier experiments' stages stay valid
                  **({"hold": c.noise_hold_steps} if c.noise_hold_steps != 1 else {})}
        # in the digests only when not `nominal`: earlier experiments' stages stay valid
        training_sim = {"train_profile": c.train_profile} if c.train_profile != "nominal" \
            else {}
        others = {"other_bases": c.other_bases} if c.other_bases else {}
        data_stages = ["sim", "chaos", "free"]
        stages = [
            Stage("sim", {"base": c.base, "environment": c.environment,
                          "episodes": c.sim_episodes, **training_sim}, self._sim),
            Stage("chaos", {**replay, "episodes": c.chaos_episodes, "sigma": c.noise_sigma},
                  lambda d, _: self._replay(d, c.chaos_episodes, None), after=("sim",)),
            Stage("free", {**replay, "episodes": c.free_episodes, "sigma": c.noise_sigma},
                  lambda d, _: self._replay(d, c.free_episodes, 0), after=("sim",)),
        ]
        if c.sigma_ablation:
            stages.append(Stage("sigma", {**replay, "episodes": c.chaos_episodes,
                                          "sigmas": c.sigma_ablation},
                                self._sigma, after=("sim",)))
            data_stages.append("sigma")
        if any(fine == "waves" for _, _, fine in variants.values()):
            stages.append(Stage("waves", {"gap": c.gap, "wrists": c.chaos_wrists,
                                          "steps": c.chaos_steps, "seed": c.seed,
                                          "episodes": c.wave_episodes}, self._waves))
            data_stages.append("waves")
        stages += [
            Stage("ood", {"gap": c.gap, "episodes": c.ood_episodes}, self._ood),
            Stage("dynamics", {"variants": variants, "window": c.window,
                               "pretrain_epochs": c.pretrain_epochs,
                               "finetune_epochs": c.finetune_epochs, "seed": c.seed},
                  self._dynamics, after=(*data_stages, "ood")),
        ]
        if c.efficiency_episodes:
            stages.append(Stage("efficiency", {"episodes": c.efficiency_episodes},
                                self._efficiency, after=("dynamics",)))
        stages += [
            Stage("residual", {"epochs": c.residual_epochs, "scale": c.residual_scale,
                               "penalty": c.residual_penalty, "seeds": c.residual_seeds,
                               **self._residual_rollout()},
                  self._residual, after=("sim", "dynamics")),
            Stage("evaluate", {"episodes": c.eval_episodes, "gap": c.gap, **training_sim,
                               **others},
                  self._evaluate, after=("residual",)),
        ]
        return stages

    def _residual_rollout(self) -> dict:
        """The residual stage's multi-step settings, in its digest only when used (stages of
        earlier experiments stay valid)."""
        c = self.config
        if c.residual_horizon == 1 and not c.residual_base_in_loop:
            return {}
        rollout = {"horizon": c.residual_horizon, "base_in_loop": c.residual_base_in_loop}
        return {**rollout, "from_rest": True} if c.residual_from_rest else rollout

    def variants(self) -> dict[str, tuple[str, str | None, str]]:
        """name -> (architecture, pretraining data or None, finetuning data)."""
        found = {arch: (arch, "sim", "chaos") for arch in self.config.architectures}
        found.update({name: ABLATIONS[name] for name in self.config.ablations})
        found.update({f"joint_sigma_{sigma:g}": ("joint", "sim", f"sigma_{sigma:g}")
                      for sigma in self.config.sigma_ablation})
        return found

    def _sim(self, directory: Path, _upstream: dict) -> dict:
        trained_in = self.config.train_profile
        vec_env = self.vec_env(trained_in, self.config.sim_episodes)
        base = self.policy()
        try:
            episodes, rows, survived = record_episodes(vec_env, base.advance)
            if not survived.any():
                raise DexndmError(f"{self.config.base} dropped the object in every one of "
                                  f"{len(rows)} episodes under {trained_in}: no trajectory to "
                                  "replay")
            env = vec_env.env
            wrists = [str(w) for w in env.config.wrists]
            keep = np.flatnonzero(survived)  # the paper replays the trajectories that succeed
            library = TrajectoryLibrary(
                rows[keep], env.q_init[keep], env.wrist[keep],
                np.stack([world_to_hand(env.axis_world[i], env.wrist[i]) for i in keep]),
                {"source": "sim2sim", "policy": self.config.base,
                 "wrist_labels": [wrists[0] if len(wrists) == 1 else "unknown"] * len(keep)})
        finally:
            vec_env.close()
        library.save(directory / "library.npz")
        write_shard(directory / "shards" / "rollout.npz", episodes, f"sim:{trained_in}")
        return {"episodes": len(episodes), "transitions": int(sum(len(e.a) for e in episodes)),
                "survived": int(survived.sum()),
                "library": str(directory / "library.npz"), "shards": str(directory / "shards")}

    def _replay(self, directory: Path, episodes: int, balls: int | None,
                sigma: float | None = None, mode: str = "replay") -> dict:
        """The collector's episodes under the gap profile, split over the chaos wrists."""
        from dexndm_sim.chaos_replay import ChaosReplayConfig, chaos_replay
        from dexndm_sim.scene import ChaosBox

        c = self.config
        wrists = c.chaos_wrists
        reports = []
        for k, wrist in enumerate(wrists):
            share = episodes // len(wrists) + (k < episodes % len(wrists))
            if share == 0:
                continue
            reports.append(chaos_replay(ChaosReplayConfig(
                library=str(self.out / "sim" / "library.npz") if mode == "replay" else "",
                mode=mode, steps=c.chaos_steps, noise_probability=c.noise_probability,
                noise_sigma=c.noise_sigma if sigma is None else sigma,
                noise_hold_steps=c.noise_hold_steps, order="random", seed=c.seed + 1000 * k,
                out=str(directory / wrist),
                episodes=share, profile=c.gap, wrist=wrist,
                balls=ChaosBox.balls if balls is None else balls, threads=c.threads)))
        return {"episodes": sum(r["episodes"] for r in reports),
                "transitions": sum(r["transitions"] for r in reports),
                "seconds": round(sum(r["seconds"] for r in reports), 1),
                "shards": str(directory)}

    def _sigma(self, directory: Path, _upstream: dict) -> dict:
        return {f"{sigma:g}": self._replay(directory / f"sigma_{sigma:g}",
                                           self.config.chaos_episodes, None, sigma)
                for sigma in self.config.sigma_ablation}

    def _waves(self, directory: Path, _upstream: dict) -> dict:
        return self._replay(directory, self.config.wave_episodes, 0, mode="waves")

    def _ood(self, directory: Path, _upstream: dict) -> dict:
        vec_env = self.vec_env(self.config.gap, self.config.ood_episodes, seed_offset=1)
        try:
            episodes, _, _ = record_episodes(vec_env, self.policy().advance)
        finally:
            vec_env.close()
        write_shard(directory / "rollout.npz", episodes, f"sim:{self.config.gap}")
        return {"episodes": len(episodes), "transitions": int(sum(len(e.a) for e in episodes)),
                "shards": str(directory)}

    def _dynamics(self, directory: Path, _upstream: dict) -> dict:
        from dexndm_learning.dynamics.evaluate import evaluate_checkpoints
        from dexndm_learning.dynamics.train import DynamicsTrainConfig, train_dynamics

        c = self.config
        data = {"sim": [str(self.out / "sim" / "shards")], "chaos": [str(self.out / "chaos")],
                "free": [str(self.out / "free")], "waves": [str(self.out / "waves")],
                "chaos+ood": [str(self.out / "chaos"), str(self.out / "ood")],
                **{f"sigma_{sigma:g}": [str(self.out / "sigma" / f"sigma_{sigma:g}")]
                   for sigma in c.sigma_ablation}}
        common = {"window": c.window, "seed": c.seed, "progress": False, "device": "cpu"}
        pretrained: dict[str, str] = {}
        results = {}
        for name, (arch, pre, fine) in self.variants().items():
            init = None
            if pre is not None:
                if arch not in pretrained:
                    run = directory / f"pretrained_{arch}"
                    train_dynamics(DynamicsTrainConfig(arch=arch, data=data[pre], out=str(run),
                                                       epochs=c.pretrain_epochs, **common))
                    pretrained[arch] = str(run / "best")
                init = pretrained[arch]
            epochs = c.finetune_epochs if init else c.pretrain_epochs + c.finetune_epochs
            result = train_dynamics(DynamicsTrainConfig(arch=arch, data=data[fine],
                                                        out=str(directory / name), init=init,
                                                        epochs=epochs, **common))
            results[name] = {"arch": arch, "pretrained_on": pre, "finetuned_on": fine,
                             "held_out_mae_rad": result["best_eval_mae_rad"],
                             "bundle": str(directory / name / "best")}
        errors = evaluate_checkpoints([r["bundle"] for r in results.values()],
                                      data["chaos"], [str(self.out / "ood")], directory / "eval")
        for name, entry in results.items():
            entry["chaos_mae_rad"] = float(np.mean(errors[name]["id_mae"]))
            entry["ood_mae_rad"] = float(np.mean(errors[name]["ood_mae"]))
            entry["ood_mae_per_joint"] = errors[name]["ood_mae"]
            entry["ood_open_loop_mae_rad"] = float(np.mean(errors[name]["ood_open_loop_mae"]))
            entry["ood_is_training_data"] = "ood" in entry["finetuned_on"]
            # how the model says a joint answers its own target now and one step ago
            entry["sensitivity_current"] = float(np.mean(errors[name]["ood_sensitivity_current"]))
            entry["sensitivity_previous"] = float(
                np.mean(errors[name]["ood_sensitivity_previous"]))
        return results

    def _efficiency(self, directory: Path, upstream: dict) -> dict:
        """OOD one-step error against the number of chaos episodes a pretrained model is
        finetuned on (nested random subsets; the whole set is the dynamics stage's model)."""
        from dexndm_control.policy.dynamics_model import load_dynamics
        from dexndm_learning.data import Windows, load_episodes
        from dexndm_learning.dynamics.train import DynamicsTrainConfig, evaluate, train_dynamics

        c = self.config
        chaos = load_episodes([str(self.out / "chaos")])
        ood = load_episodes([str(self.out / "ood")])
        order = np.random.default_rng(c.seed).permutation(len(chaos.episodes))
        curves: dict[str, dict[str, float]] = {}
        for arch in [a for a in ("joint", "whole") if a in c.architectures]:
            curve = {}
            for count in sorted(c.efficiency_episodes):
                subset = directory / f"chaos_{count}"
                write_shard(subset / "chaos.npz", [chaos.episodes[i] for i in order[:count]],
                            f"sim:{c.gap}")
                run = directory / f"{arch}_{count}"
                train_dynamics(DynamicsTrainConfig(
                    arch=arch, data=[str(subset)], out=str(run), epochs=c.finetune_epochs,
                    init=str(self.out / "dynamics" / f"pretrained_{arch}" / "best"),
                    window=c.window, seed=c.seed, progress=False, device="cpu"))
                model = load_dynamics(run / "best")
                curve[str(count)] = float(evaluate(model, Windows(
                    ood.episodes, model.window, ood.control_dt), "cpu")["mae"].mean())
            curve[str(len(chaos.episodes))] = upstream["dynamics"][arch]["ood_mae_rad"]
            curves[arch] = curve
        plot_efficiency(curves, directory / "efficiency.png")
        return {"ood_mae_rad": curves, "figure": str(directory / "efficiency.png")}

    def _residual(self, directory: Path, upstream: dict) -> dict:
        from dexndm_learning.residual.train import ResidualTrainConfig, train_residual

        c = self.config
        results = {}
        for name, entry in upstream["dynamics"].items():
            bundles, draws = [], []
            for seed in c.residual_seeds:
                out = directory / name / f"seed_{seed}"
                result = train_residual(ResidualTrainConfig(
                    dynamics=entry["bundle"], data=[str(self.out / "sim" / "shards")],
                    out=str(out), epochs=c.residual_epochs, scale=c.residual_scale,
                    penalty=c.residual_penalty, horizon=c.residual_horizon,
                    base=c.base if c.residual_base_in_loop else None,
                    from_rest=c.residual_from_rest, seed=seed,
                    progress=False, device="cpu"))
                bundles.append(str(out / "best"))
                draws.append({"seed": seed, **{k: v for k, v in result.items()
                                               if k not in ("history", "out")}})
            results[name] = {"bundles": bundles, "draws": draws}
        return results

    def _evaluate(self, directory: Path, upstream: dict) -> dict:
        from dexndm_learning.outcomes import outcome_summary
        from dexndm_learning.ppo.transfer import first_episodes

        c = self.config
        rows = {"no_gap": (c.train_profile, [None], c.base), "direct": (c.gap, [None], c.base)}
        rows.update({f"direct_{Path(other).name}": (c.gap, [None], other)
                     for other in c.other_bases})
        rows.update({f"dexndm_{name}": (c.gap, entry["bundles"], c.base)
                     for name, entry in upstream["residual"].items()})
        results = {}
        for name, (profile, residuals, base_bundle) in rows.items():
            draws, meters = [], []
            for residual in residuals:  # the same starts for every draw and every row
                vec_env = self.vec_env(profile, c.eval_episodes)
                meter = SaturationMeter(vec_env.env)
                base = self.policy(residual, base_bundle)
                try:
                    draws.append(first_episodes(
                        vec_env, lambda v, meter=meter, base=base: meter.after(v, base.advance)))
                finally:
                    vec_env.close()
                meters.append(meter)
            pooled = {key: np.concatenate([d[key] for d in draws]) for key in draws[0]}
            results[name] = outcome_summary(pooled)
            results[name].update(profile=profile, residuals=residuals, base=base_bundle,
                                 draw_radians=[float(d["radians"].mean()) for d in draws],
                                 # per start (draws in order): paired comparisons between rows
                                 radians_per_episode=pooled["radians"].tolist(),
                                 **SaturationMeter.pooled(meters))
        return summarise(results)

    def run(self, start: str | None = None, progress=print) -> dict:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.yaml").write_text(yaml.safe_dump(
            json.loads(json.dumps(asdict(self.config))), sort_keys=False))
        outputs = run_stages(self.stages(), self.out, start, progress)
        report = {"config": asdict(self.config), "rows": outputs["evaluate"],
                  "dynamics": outputs["dynamics"], "efficiency": outputs.get("efficiency"),
                  "data": {name: outputs[name] for name in ("sim", "chaos", "free", "sigma",
                                                             "waves", "ood") if name in outputs}}
        (self.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        (self.out / "report.md").write_text(markdown_report(report))
        plot_rows(report["rows"], self.out / "rotation.png")
        return report


class SaturationMeter:
    """Per joint, the share of control steps at which its torque is at the actuator's cap
    (within 1 %), over each environment's first episode: how much of a gap is force the
    motors do not have, which no target can buy."""

    def __init__(self, env) -> None:
        self.env = env
        self.limit = np.stack([hand.torque_limit for hand in env.hands])
        self.at_limit = np.zeros(16)
        self.steps = 0
        self.done = np.zeros(env.config.num_envs, dtype=bool)

    def after(self, vec_env, advance) -> None:
        advance(vec_env)
        alive = ~self.done
        torque = np.abs(self.env.batch.torque)
        self.at_limit += (torque[alive] >= SATURATED * self.limit[alive]).sum(axis=0)
        self.steps += int(alive.sum())
        for record in vec_env.last_infos["episodes"]:
            self.done[record["env"]] = True

    def summary(self) -> dict:
        return SaturationMeter.pooled([self])

    @staticmethod
    def pooled(meters: list[SaturationMeter]) -> dict:
        share = sum(m.at_limit for m in meters) / max(sum(m.steps for m in meters), 1)
        return {"saturation_per_joint": share.tolist(), "saturation": float(share.mean())}
