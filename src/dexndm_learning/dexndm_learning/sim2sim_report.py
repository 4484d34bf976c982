"""The sim-to-sim experiment's report: ratios to Direct, the markdown table and the figures."""

from __future__ import annotations

import numpy as np

from dexndm_control.hand import JOINT_NAMES


def summarise(rows: dict) -> dict:
    """Each row with its ratio to Direct, the share of the gap it closes ((row - Direct) /
    (No gap - Direct), rotation in rad per episode) and, where the rows keep their per-episode
    rotation, the paired difference to Direct: per start, the row's mean over its residual
    draws minus Direct's, as [mean, standard error] over the starts."""
    direct = rows["direct"]["radians"][0]
    ceiling = rows["no_gap"]["radians"][0]
    direct_per_start = rows["direct"].get("radians_per_episode")
    for row in rows.values():
        rotation = row["radians"][0]
        row["ratio_to_direct"] = rotation / direct if direct > 0 else None
        row["gap_closed"] = (rotation - direct) / (ceiling - direct) if ceiling > direct \
            else None
        if direct_per_start is not None and "radians_per_episode" in row:
            starts = len(direct_per_start)
            per_start = np.reshape(row["radians_per_episode"], (-1, starts)).mean(axis=0)
            difference = per_start - np.asarray(direct_per_start)
            row["paired_vs_direct"] = [float(difference.mean()),
                                       float(difference.std(ddof=1) / np.sqrt(starts))]
    return rows


def markdown_report(report: dict) -> str:
    lines = ["| row | profile | RotR | RotP | TTF | Rot [rad / 20 s] | Rot per residual draw | "
             "drops | × Direct | paired Δ vs Direct (± s.e.) | gap closed | at torque limit "
             "(mean, max joint) | dynamics MAE: chaos one-step / OOD one-step / OOD 10-step "
             "open loop (mrad) | dq/da_t, dq/da_t-1 |", "|" + "---|" * 15]
    dynamics = report["dynamics"]
    for name, row in report["rows"].items():
        cells = [f"{row[m][0]:.2f} ± {row[m][1]:.2f}"
                 for m in ("rot_reward", "rot_penalty", "time_to_fall", "radians")]
        draws = row.get("draw_radians", [row["radians"][0]])
        per_draw = "–" if len(draws) < 2 else ", ".join(f"{d:.2f}" for d in draws)
        ratio = "–" if row["ratio_to_direct"] is None else f"{row['ratio_to_direct']:.2f}"
        closed = "–" if row["gap_closed"] is None else f"{row['gap_closed']:.2f}"
        paired = row.get("paired_vs_direct")
        paired = "–" if paired is None else f"{paired[0]:+.2f} ± {paired[1]:.2f}"
        variant = dynamics.get(name.removeprefix("dexndm_"))
        errors = "–"
        if variant is not None:
            open_loop = variant.get("ood_open_loop_mae_rad")
            errors = (f"{1000 * variant['chaos_mae_rad']:.2f} / "
                      f"{1000 * variant['ood_mae_rad']:.2f} / "
                      + ("–" if open_loop is None else f"{1000 * open_loop:.1f}")
                      + (" (trained on it)" if variant["ood_is_training_data"] else ""))
        worst = int(np.argmax(row["saturation_per_joint"]))
        saturation = (f"{row['saturation']:.1%}, {JOINT_NAMES[worst]} "
                      f"{row['saturation_per_joint'][worst]:.0%}")
        sensitivity = "–" if variant is None or "sensitivity_current" not in variant else \
            f"{variant['sensitivity_current']:.3f}, {variant['sensitivity_previous']:.3f}"
        lines.append(f"| {name} | {row['profile']} | {' | '.join(cells)} | {per_draw} | "
                     f"{row['drops']:.0%} | {ratio} | {paired} | {closed} | {saturation} | "
                     f"{errors} | {sensitivity} |")
    rows = report["rows"]
    draws = max(len(row.get("draw_radians", [0])) for row in rows.values())
    episodes = rows["direct"]["episodes"]
    text = ("# sim2sim report\n\n" + "\n".join(lines) + f"\n\n{episodes} episodes per row "
            f"without a residual, the same starts in every row; rows `dexndm_*`: base + residual "
            f"through that dynamics model, {draws} residual draw(s) (training seeds) each "
            "evaluated on those starts and pooled (mean ± std over all their episodes).\n")
    efficiency = report.get("efficiency")
    if efficiency:
        curves = efficiency["ood_mae_rad"]
        counts = sorted({int(n) for curve in curves.values() for n in curve})
        text += ("\n## Data efficiency: OOD one-step MAE (mrad) against chaos-box episodes\n\n"
                 "| model | " + " | ".join(str(n) for n in counts) + " |\n|"
                 + "---|" * (len(counts) + 1) + "\n")
        for arch, curve in curves.items():
            text += f"| {arch} | " + " | ".join(
                f"{1000 * curve[str(n)]:.2f}" if str(n) in curve else "–" for n in counts) + " |\n"
    return text


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_rows(rows: dict, path) -> None:
    """Bar chart of each row's rotation (mean, with the standard error of the mean)."""
    plt = _pyplot()
    names = list(rows)
    means = [rows[n]["radians"][0] for n in names]
    errors = [rows[n]["radians"][1] / np.sqrt(max(rows[n]["episodes"], 1)) for n in names]
    colours = ["tab:gray" if n == "no_gap" else "tab:red" if n == "direct"
               else "tab:orange" if n.startswith("direct_") else "tab:blue" for n in names]
    figure, axis = plt.subplots(figsize=(max(6.0, 0.8 * len(names)), 3.8))
    axis.bar(np.arange(len(names)), means, yerr=errors, color=colours, capsize=3)
    axis.axhline(rows["direct"]["radians"][0], color="tab:red", lw=0.8, ls="--")
    axis.set_xticks(np.arange(len(names)), [n.removeprefix("dexndm_") for n in names],
                    rotation=40, ha="right")
    axis.set_ylabel("Rot [rad / 20 s]")
    axis.set_title("sim-to-sim: rotation per episode (± s.e.m.); dashed: Direct")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_efficiency(curves: dict[str, dict[str, float]], path) -> None:
    """OOD one-step error against the number of chaos-box episodes, one line per model."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(5.5, 3.6))
    for arch, curve in curves.items():
        counts = sorted(int(n) for n in curve)
        axis.plot(counts, [1000 * curve[str(n)] for n in counts], "o-", label=arch)
    axis.set_xscale("log", base=2)
    axis.set_xlabel("chaos-box episodes (finetuning)")
    axis.set_ylabel("OOD one-step MAE [mrad]")
    axis.set_title("data efficiency (paper Fig. 6B)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
