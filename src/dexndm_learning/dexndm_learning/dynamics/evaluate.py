"""`dexndm eval dynamics`: per-joint error in and out of distribution, table + PNG plots.

The comparison of paper Fig. 6 for any set of checkpoints: in-distribution error on each model's
own held-out episodes (stored in its bundle), out-of-distribution error on other data (e.g. trained
on chaos-box bags, tested on task rollouts), and predicted-vs-actual traces.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import numpy as np
import torch

from dexndm_control.errors import DexndmError
from dexndm_control.hand import JOINT_NAMES
from dexndm_control.policy.bundle import update_bundle_info
from dexndm_control.policy.dynamics_model import load_dynamics
from dexndm_learning.data import Windows, load_episodes
from dexndm_learning.dynamics.train import evaluate

OPEN_LOOP_STEPS = 10  # 0.5 s at 20 Hz


def _select(loaded, keys: list[str]) -> list:
    wanted = set(keys)
    return [e for e, k in zip(loaded.episodes, loaded.keys, strict=True) if k in wanted]


def action_sensitivity(model, windows: Windows, samples: int = 2000) -> np.ndarray:
    """[16, W]: the mean of d q_{t+1}^j / d a^j at each step of the window (the last column is
    the current target a_t, the one before it a_{t-1}), over up to ``samples`` windows spread
    through ``windows``. How the model says a joint answers a change of its own target: a hand
    whose commands act one control step late answers a_{t-1}, not a_t."""
    index = torch.arange(0, len(windows), max(1, len(windows) // samples))
    q_hist, a_hist, _ = windows.batch(index)
    a_hist = a_hist.clone().requires_grad_(True)
    predicted = model(q_hist, a_hist)
    rows = []
    for joint in range(predicted.shape[1]):
        grad, = torch.autograd.grad(predicted[:, joint].sum(), a_hist, retain_graph=True)
        rows.append(grad[:, :, joint].mean(dim=0))
    return torch.stack(rows).detach().numpy()


@torch.no_grad()
def open_loop_error(model, episodes, control_dt: float, steps: int = 10,
                    batch_size: int = 4096) -> np.ndarray:
    """[16]: the mean absolute error (rad) of q_{t+steps} when the model rolls ``steps`` steps
    ahead on its own predictions under the recorded targets, from every window of ``episodes``
    (the error that compounds, which one-step errors hide)."""
    windows = Windows(episodes, model.window, control_dt, horizon=steps)
    W = model.window
    total, count = torch.zeros(16), 0
    for start in range(0, len(windows), batch_size):
        index = torch.arange(start, min(start + batch_size, len(windows)))
        q_hist, a_hist, _ = windows.batch(index)
        q_future, a_future = windows.future(index, steps)
        for k in range(steps):
            predicted = model(q_hist[:, -W:], a_hist[:, -W:])
            if k < steps - 1:
                q_hist = torch.cat([q_hist[:, 1:], predicted[:, None]], 1)
                a_hist = torch.cat([a_hist[:, 1:], a_future[:, k, None]], 1)
        total += (predicted - q_future[:, -1]).abs().sum(0)
        count += len(index)
    return (total / max(1, count)).numpy()


def evaluate_checkpoints(checkpoints: list[str], data: list[str] | None, ood: list[str] | None,
                         out: str | Path, trace_joints: tuple[int, ...] = (0, 2, 6, 12)) -> dict:
    if not data and not ood:
        raise DexndmError("give --data (in-distribution shards) and/or --ood shards")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    loaded_id = load_episodes(data) if data else None
    loaded_ood = load_episodes(ood) if ood else None
    results: dict[str, dict] = {}
    models = {}
    for path in checkpoints:
        model = load_dynamics(path)
        name = Path(path).resolve().parent.name if Path(path).name in ("best", "last") \
            else Path(path).name
        models[name] = model
        info = __import__("yaml").safe_load((Path(path) / "bundle.yaml").read_text())
        entry: dict[str, object] = {"arch": model.arch, "window": model.window}
        if loaded_id is not None:
            episodes = _select(loaded_id, info.get("eval_episodes", []))
            entry["id_source"] = "held-out episodes of training" if episodes else \
                "all --data episodes (the bundle's held-out episodes are not in --data)"
            episodes = episodes or loaded_id.episodes
            metrics = evaluate(model, Windows(episodes, model.window, loaded_id.control_dt),
                               "cpu")
            entry["id_mae"] = metrics["mae"].tolist()
        if loaded_ood is not None:
            windows = Windows(loaded_ood.episodes, model.window, loaded_ood.control_dt)
            metrics = evaluate(model, windows, "cpu")
            entry["ood_mae"] = metrics["mae"].tolist()
            entry["ood_open_loop_mae"] = open_loop_error(
                model, loaded_ood.episodes, loaded_ood.control_dt, OPEN_LOOP_STEPS).tolist()
            sensitivity = action_sensitivity(model, windows)
            entry["ood_sensitivity_current"] = sensitivity[:, -1].tolist()
            entry["ood_sensitivity_previous"] = sensitivity[:, -2].tolist()
        results[name] = entry
    (out / "dynamics_eval.json").write_text(json.dumps(results, indent=2))
    print(format_table(results))
    _plot_errors(results, out / "per_joint_error.png")
    if loaded_ood is not None:
        _plot_traces(models, loaded_ood, out / "traces.png", trace_joints)
    return results


def store_meter_reference(bundle: str | Path, mae_per_joint: list[float],
                          shards: list[str]) -> None:
    """Write a bundle's per-joint error on the task (supervised runs) into it, as the live gap
    meter's reference (dexndm_control.core.gap_meter)."""
    update_bundle_info(bundle, gap_meter={
        "reference_mae_per_joint": [float(v) for v in mae_per_joint],
        "reference_data": [Path(s).name for s in shards],
        "measured": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")})


def format_table(results: dict[str, dict]) -> str:
    lines = []
    for split in ("id_mae", "ood_mae"):
        names = [n for n in results if split in results[n]]
        if not names:
            continue
        title = "in-distribution" if split == "id_mae" else "out-of-distribution"
        lines.append(f"{title}: mean absolute error of q_(t+1) [mrad]")
        lines.append("joint    " + "".join(f"{n[:14]:>15}" for n in names))
        for index, joint in enumerate(JOINT_NAMES):
            lines.append(f"{joint:<9}" + "".join(f"{1e3 * results[n][split][index]:>15.3f}"
                                                 for n in names))
        lines.append("mean     " + "".join(f"{1e3 * np.mean(results[n][split]):>15.3f}"
                                           for n in names))
        lines.append("")
    names = [n for n in results if "ood_open_loop_mae" in results[n]]
    if names:
        lines.append(f"out-of-distribution: mean absolute error of q_(t+{OPEN_LOOP_STEPS}) rolled "
                     "open loop on the model's own predictions [mrad]")
        for n in names:
            lines.append(f"{n:<22} {1e3 * np.mean(results[n]['ood_open_loop_mae']):7.2f}")
        lines.append("")
    names = [n for n in results if "ood_sensitivity_current" in results[n]]
    if names:
        lines.append("out-of-distribution: mean d q_(t+1) / d a of each joint's own target, "
                     "current a_t / previous a_(t-1)")
        for n in names:
            lines.append(f"{n:<22} {np.mean(results[n]['ood_sensitivity_current']):7.3f} / "
                         f"{np.mean(results[n]['ood_sensitivity_previous']):7.3f}")
        lines.append("")
    return "\n".join(lines)


def _plot_errors(results: dict[str, dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = [s for s in ("id_mae", "ood_mae") if any(s in r for r in results.values())]
    figure, axes = plt.subplots(len(splits), 1, figsize=(12, 3.2 * len(splits)), squeeze=False)
    width = 0.8 / max(1, len(results))
    for row, split in enumerate(splits):
        axis = axes[row][0]
        for number, (name, entry) in enumerate(results.items()):
            if split in entry:
                axis.bar(np.arange(16) + number * width, 1e3 * np.array(entry[split]), width,
                         label=f"{name} ({entry['arch']})")
        axis.set_xticks(np.arange(16) + 0.4 - width / 2, JOINT_NAMES, rotation=45)
        axis.set_ylabel("MAE [mrad]")
        axis.set_title("in-distribution" if split == "id_mae" else "out-of-distribution")
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


@torch.no_grad()
def _plot_traces(models: dict, loaded, path: Path, joints: tuple[int, ...]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    episode = loaded.episodes[0]
    figure, axes = plt.subplots(len(joints), 1, figsize=(10, 2.2 * len(joints)), sharex=True)
    time = episode.t[1:] - episode.t[0]
    for axis, joint in zip(np.atleast_1d(axes), joints, strict=False):
        axis.plot(time, episode.q[1:, joint], "k", lw=1.5, label="actual")
        for name, model in models.items():
            windows = Windows([episode], model.window, loaded.control_dt)
            q_hist, a_hist, _ = windows.batch(torch.arange(len(windows)))
            predicted = model(q_hist, a_hist)[:, joint].numpy()
            steps = windows.end_a.numpy() + 1
            axis.plot(time[steps - 1], predicted, lw=1, label=f"{name} ({model.arch})")
        axis.set_ylabel(f"{JOINT_NAMES[joint]} [rad]")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    np.atleast_1d(axes)[-1].set_xlabel("time [s] (one-step predictions)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
