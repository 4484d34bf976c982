"""Train pi_res so that the (frozen) learned dynamics, fed the base targets plus the residual,
reproduce the simulator's states:

    min  sum_t sum_{k=1..K} || q^sim_{t+k} - q^_{t+k} ||,
    q^_{j+1} = f_psi({q^_i, a_i + pi_res(o^_i, a_i)}_{i=j-W+1..j})

Gradients flow through f_psi into pi_res only. o_j is the generalist's observation at step j
(ObservationLayout: T-step histories of q and previous targets, wrist quaternion, axis). With
horizon K = 1 this is the paper's one-step objective, every q in the windows the simulator's.
With K > 1 the model rolls K steps ahead on its own predictions, and the residual acts on the
states the model predicts: what the hand will show it when the plant lags (a step of command
latency makes q_{t+1} answer a_{t-1}, so a correction has to anticipate, and it sees a hand
behind the simulated one). The base targets of those steps are the recorded ones (teacher
forcing), or, with ``base``, the frozen base policy's own target chain on the predicted states,
as deployment runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from dexndm_control.errors import DexndmError
from dexndm_control.hand import LOWER, UPPER
from dexndm_control.policy.bundle import load_network
from dexndm_control.policy.dynamics_model import DynamicsModel, load_dynamics
from dexndm_control.policy.networks import ResidualPolicyNet
from dexndm_control.policy.observation import ObservationLayout
from dexndm_control.settings import setting
from dexndm_learning.data import (
    Windows,
    at_rest_before,
    fingerprint,
    load_episodes,
    split_by_episode,
)
from dexndm_learning.trainer import Evaluation, RunConfig, Task, start_run
from dexndm_learning.trainer import train as train_loop

BUNDLE_KIND = "residual"


@dataclass(kw_only=True)
class ResidualTrainConfig(RunConfig):
    dynamics: str = setting(help="dynamics bundle (e.g. RUN/best)")
    history: int = setting(10, help="T of the generalist observation")
    hidden: tuple[int, ...] = (256, 256)
    scale: float = setting(0.05, help="largest correction (rad)")
    penalty: float = setting(0.0, help="weight of the mean squared correction (rad^2) added to "
                                       "the loss: where the dynamics model shows no effect on q "
                                       "(a finger blocked by the object), the correction stays 0")
    horizon: int = setting(1, help="K: steps the model rolls ahead on its own predictions "
                                   "(1: the paper's one-step objective)")
    base: str | None = setting(None, help="base_policy bundle run in the loop for the steps after "
                                          "the first (default: the recorded targets)")
    from_rest: bool = setting(False, help="roll each episode from a rest before its start "
                                          "(--horizon steps), instead of every window of the "
                                          "simulator's history: past the first W steps the "
                                          "model sees only its own predictions")
    epochs: int = 5
    lr: float = 3e-4

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.penalty < 0:
            raise DexndmError("--penalty must be >= 0")
        if not 0 < self.scale <= 0.5:
            raise DexndmError("--scale (largest residual, rad) must be within (0, 0.5]")
        if self.history < 1:
            raise DexndmError("--history must be >= 1")
        if self.horizon < 1:
            raise DexndmError("--horizon must be >= 1 (1: one-step objective)")
        if self.from_rest and self.horizon < 2:
            raise DexndmError("--from-rest rolls from a rest before each episode: give --horizon "
                              "> 1 (more than the model's window W to leave the rest behind)")


class BaseChain(torch.nn.Module):
    """The frozen base policy's target chain a_j = clip(a_{j-1} + net(o_j) * scale), as the
    controller's PolicyRuntime steps it, differentiable with respect to the observation."""

    def __init__(self, bundle: str | Path) -> None:
        super().__init__()
        self.network, loaded = load_network(bundle, "base_policy")
        self.layout = ObservationLayout.from_dict(loaded.info["layout"])
        self.action_scale = float(loaded.info["action_scale"])
        self.register_buffer("lower", torch.as_tensor(LOWER, dtype=torch.float32))
        self.register_buffer("upper", torch.as_tensor(UPPER, dtype=torch.float32))
        for parameter in self.network.parameters():
            parameter.requires_grad_(False)

    def forward(self, obs: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        step = previous + self.network(obs) * self.action_scale
        return torch.minimum(torch.maximum(step, self.lower), self.upper)


class ResidualObjective(torch.nn.Module):
    """Residual network + frozen dynamics (+ optional frozen base): the loss of one batch."""

    def __init__(self, residual: ResidualPolicyNet, dynamics: DynamicsModel,
                 layout: ObservationLayout, penalty: float = 0.0,
                 base: BaseChain | None = None) -> None:
        super().__init__()
        self.residual, self.dynamics, self.layout = residual, dynamics, layout
        self.penalty = float(penalty)
        self.base = base
        # commands are clipped to the joint limits as the controller clips them (its max_step
        # clip, 0.25 rad per tick by default, is far from what the data's steps need)
        self.register_buffer("lower", torch.as_tensor(LOWER, dtype=torch.float32))
        self.register_buffer("upper", torch.as_tensor(UPPER, dtype=torch.float32))
        if base is not None and base.layout != layout:
            raise DexndmError("the base policy's observation layout differs from the "
                              "residual's: train the residual with the base's --history")
        for parameter in self.dynamics.parameters():
            parameter.requires_grad_(False)

    def corrected_targets(self, q_span: torch.Tensor, a_span: torch.Tensor, wrist: torch.Tensor,
                          axis: torch.Tensor) -> torch.Tensor:
        """a_j + pi_res(o_j, a_j) for the last W steps of spans of length W + T."""
        T, W = self.layout.history, self.dynamics.window
        batch = q_span.shape[0]
        # o_j needs q_{j-T+1..j} and a_{j-T..j-1}: unfold both spans into W windows of T
        q_windows = q_span[:, 1:].unfold(1, T, 1)  # [B, W, 16, T]
        a_windows = a_span[:, :-1].unfold(1, T, 1)
        q_hist = q_windows.permute(0, 1, 3, 2).reshape(batch * W, T, -1)
        a_prev = a_windows.permute(0, 1, 3, 2).reshape(batch * W, T, -1)
        obs = self.layout.build(q_hist, a_prev, wrist.repeat_interleave(W, 0),
                                axis.repeat_interleave(W, 0))
        base = a_span[:, -W:].reshape(batch * W, -1)
        q_now = q_span[:, -W:].reshape(batch * W, -1)
        return self._command(base, self.residual(obs, base, q_now)).reshape(batch, W, -1)

    def _command(self, base: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return torch.minimum(torch.maximum(base + residual, self.lower), self.upper)

    def rollout(self, q_span, a_span, wrist, axis, a_future, steps: int,
                use_residual: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Predicted q_{t+1..t+steps} [B, steps, 16], the commands and the base targets of
        steps t-W+1..t+steps-1 [B, W + steps - 1, 16] (t: the spans' last step)."""
        T, W = self.layout.history, self.dynamics.window
        commands = self.corrected_targets(q_span, a_span, wrist, axis) if use_residual \
            else a_span[:, -W:]
        q_seq, a_seq = q_span, a_span
        predictions = []
        for k in range(steps):
            predicted = self.dynamics(q_seq[:, -W:], commands[:, -W:])
            predictions.append(predicted)
            if k == steps - 1:
                break
            q_seq = torch.cat([q_seq, predicted[:, None]], 1)
            obs = self.layout.build(q_seq[:, -T:], a_seq[:, -T:], wrist, axis)
            target = a_future[:, k] if self.base is None else self.base(obs, a_seq[:, -1])
            command = self._command(target, self.residual(obs, target, predicted)) \
                if use_residual else target
            a_seq = torch.cat([a_seq, target[:, None]], 1)
            commands = torch.cat([commands, command[:, None]], 1)
        bases = torch.cat([a_span[:, -W:], a_seq[:, W + T:]], 1)
        return torch.stack(predictions, 1), commands, bases

    def forward(self, q_span, a_span, wrist, axis, q_future, a_future,
                with_penalty: bool = True, use_residual: bool = True):
        predicted, commands, bases = self.rollout(q_span, a_span, wrist, axis, a_future,
                                                  q_future.shape[1], use_residual)
        mismatch = (predicted - q_future).norm(dim=-1).mean()
        if not (with_penalty and self.penalty and use_residual):
            return mismatch
        return mismatch + self.penalty * (commands - bases).pow(2).mean()


def residual_batch(windows: Windows, index: torch.Tensor, T: int, device: str):
    W = windows.window
    q_span, a_span = windows.span(index, W + T)
    q_future, a_future = windows.future(index, windows.horizon)
    episode = windows.episode[index]
    return (q_span.to(device), a_span.to(device), windows.wrist[episode].to(device),
            windows.axis[episode].to(device), q_future.to(device), a_future.to(device))


def train_residual(config: ResidualTrainConfig) -> dict:
    device, distributed, out = start_run(config)
    dynamics = load_dynamics(config.dynamics).to(device)
    layout = ObservationLayout(history=config.history)
    base = BaseChain(config.base).to(device) if config.base else None
    loaded = load_episodes(config.data)
    train_ids, eval_ids = split_by_episode(loaded.keys, config.eval_fraction, config.seed)
    kwargs = {"window": dynamics.window, "control_dt": loaded.control_dt,
              "history": config.history, "horizon": config.horizon}
    every_window = Windows([loaded.episodes[i] for i in train_ids], **kwargs)
    if config.from_rest:
        def windows(ids):
            rest = dynamics.window + config.history
            return Windows([at_rest_before(loaded.episodes[i], rest, loaded.control_dt)
                            for i in ids], **kwargs).first_of_each_episode()
        train, evaluation = windows(train_ids), windows(eval_ids)
    else:
        train, evaluation = every_window, Windows([loaded.episodes[i] for i in eval_ids],
                                                  **kwargs)
    if len(train) == 0:
        raise DexndmError("no training window long enough for W + T + horizon steps in the "
                          "data: lower --horizon or --history")
    residual = ResidualPolicyNet(layout.size, hidden=tuple(config.hidden), scale=config.scale)
    # the observation statistics of the policy's own motion (not of the rests)
    _set_normalisers(residual, every_window, layout)
    objective = ResidualObjective(residual, dynamics, layout, config.penalty,
                                  base).to(device)
    held_out = evaluation if len(evaluation) else train
    baseline = _evaluate(objective, held_out, layout, device, use_residual=False)

    def loss(module: torch.nn.Module, index: torch.Tensor) -> torch.Tensor:
        return module(*residual_batch(train, index, config.history, device))

    def assess() -> Evaluation:
        mismatch = _evaluate(objective, held_out, layout, device)
        return Evaluation(mismatch, {"eval_mismatch_rad": mismatch,
                                     "eval_mismatch_without_residual_rad": baseline},
                          line=f"predicted mismatch over {config.horizon} step(s) "
                               f"{mismatch:.5f} rad (without residual {baseline:.5f})")

    recorder = train_loop(Task(
        "residual", BUNDLE_KIND, residual, objective, len(train), loss, assess,
        {"layout": layout.to_dict(), "data_fingerprint": fingerprint(loaded.files),
         "dynamics": {"path": str(config.dynamics), **dynamics.config()},
         "horizon": config.horizon, "base_in_loop": config.base,
         "from_rest": config.from_rest,
         "eval_episodes": [loaded.keys[i] for i in eval_ids]},
        lambda: torch.optim.Adam(residual.parameters(), lr=config.lr)),
        config, device, distributed, out)
    return {"best_mismatch_rad": recorder.best, "baseline_mismatch_rad": baseline,
            "history": recorder.history, "out": str(out)}


def _set_normalisers(residual: ResidualPolicyNet, windows: Windows,
                     layout: ObservationLayout) -> None:
    sample = torch.arange(0, len(windows), max(1, len(windows) // 20000))
    q_span, a_span = windows.span(sample, layout.history + 1)
    episode = windows.episode[sample]
    obs = layout.build(q_span[:, 1:], a_span[:, :-1], windows.wrist[episode],
                       windows.axis[episode])
    step = a_span[:, -1] - q_span[:, -1]
    residual.obs_norm.set(obs.mean(0), obs.std(0))
    residual.obs_norm.unit_scale_constant()  # a wrist or axis the data lacks stays in range
    residual.action_norm.set(step.mean(0), step.std(0))


@torch.no_grad()
def _evaluate(objective: ResidualObjective, windows: Windows, layout: ObservationLayout,
              device: str, use_residual: bool = True, batch_size: int = 4096) -> float:
    """Mean predicted mismatch over the horizon (rad), without the penalty."""
    objective.eval()
    total, count = 0.0, 0
    for start in range(0, len(windows), batch_size):
        index = torch.arange(start, min(start + batch_size, len(windows)))
        loss = objective(*residual_batch(windows, index, layout.history, device),
                         with_penalty=False, use_residual=use_residual)
        total += loss.item() * len(index)
        count += len(index)
    objective.train()
    return total / max(1, count)


def load_residual(path: str | Path) -> tuple[ResidualPolicyNet, ObservationLayout, dict]:
    network, bundle = load_network(path, BUNDLE_KIND)
    return network, ObservationLayout.from_dict(bundle.info["layout"]), bundle.info
