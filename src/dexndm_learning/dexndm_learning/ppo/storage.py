"""A PPO checkpoint as it is kept under policies/: actor and critic, no optimizer state.

A teacher stored to continue from (`train ppo --init`), to label (`train dagger --teachers`)
or to lend its critic (`train ppo --generalist ... --teacher`) needs its two networks, not
rsl-rl's optimizer moments (two thirds of a model_N.pt). ``fp16`` halves that again; the
networks still run in float32 (load_state_dict casts), and the report gives the largest
difference of the actor's mean action to the stored fp32 one on random observations.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from dexndm_control.errors import DexndmError

NETWORKS = ("actor_state_dict", "critic_state_dict")
RUN_FILES = ("env.yaml", "run.yaml")  # what rebuilds the checkpoint's environment
# kept with them where present: the sources of an averaged teacher (checkpoint_average.py)
PROVENANCE_FILES = ("averaged_from.yaml",)


def _actor_output(state: dict[str, torch.Tensor], observations: torch.Tensor) -> torch.Tensor:
    """The MLP actor's mean action (rsl-rl MLPModel: Linear/ELU layers under ``mlp.``)."""
    layers = sorted({int(name.split(".")[1]) for name in state if name.startswith("mlp.")})
    x = observations
    for position, index in enumerate(layers):
        x = x @ state[f"mlp.{index}.weight"].float().T + state[f"mlp.{index}.bias"].float()
        if position < len(layers) - 1:
            x = torch.nn.functional.elu(x)
    return x


def store_checkpoint(checkpoint: str | Path, out: str | Path, precision: str = "fp32",
                     samples: int = 4096) -> dict:
    """Write ``checkpoint``'s networks (at ``precision``: fp32 or fp16) and its run files to
    ``out``/<same name>; returns the sizes and the actor's largest output difference."""
    checkpoint, out = Path(checkpoint), Path(out)
    if precision not in ("fp32", "fp16"):
        raise DexndmError(f"precision {precision!r}: choose fp32 or fp16")
    loaded = torch.load(checkpoint, weights_only=False, map_location="cpu")
    missing = [key for key in NETWORKS if key not in loaded]
    if missing:
        raise DexndmError(f"{checkpoint} has no {', '.join(missing)}: give a `dexndm train ppo` "
                          "checkpoint (RUN/model_N.pt)")
    if "mlp.0.weight" not in loaded["actor_state_dict"]:
        raise DexndmError(f"{checkpoint}: its actor is not a specialist's MLP (a `train ppo "
                          "--generalist` fine-tune?); export that run's bundle instead")
    run_files = [checkpoint.parent / name for name in RUN_FILES]
    if not all(path.is_file() for path in run_files):
        raise DexndmError(f"{checkpoint.parent} lacks env.yaml or run.yaml: store a checkpoint "
                          "from its own run directory")
    dtype = torch.float16 if precision == "fp16" else torch.float32
    stored = {key: value for key, value in loaded.items() if key != "optimizer_state_dict"}
    for key in NETWORKS:
        stored[key] = {name: tensor.to(dtype) if tensor.is_floating_point() else tensor
                       for name, tensor in loaded[key].items()}
    out.mkdir(parents=True, exist_ok=True)
    target = out / checkpoint.name
    torch.save(stored, target)
    for path in run_files:
        shutil.copyfile(path, out / path.name)
    for name in PROVENANCE_FILES:  # a record left by an earlier teacher there would mislabel this
        (out / name).unlink(missing_ok=True)
        if (checkpoint.parent / name).is_file():
            shutil.copyfile(checkpoint.parent / name, out / name)
    actor = loaded["actor_state_dict"]
    width = actor["mlp.0.weight"].shape[1]
    observations = torch.randn(samples, width, generator=torch.Generator().manual_seed(0))
    action = _actor_output(actor, observations)
    difference = (action - _actor_output(stored["actor_state_dict"], observations)).abs()
    return {"out": str(target), "precision": precision, "bytes": target.stat().st_size,
            "source_bytes": checkpoint.stat().st_size,
            "max_abs_action_difference": float(difference.max()),
            "mean_abs_action": float(action.abs().mean())}
