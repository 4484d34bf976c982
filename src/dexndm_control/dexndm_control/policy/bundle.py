"""Policy / model bundles: a directory with weights and everything needed to use them.

  bundle.yaml   kind, format version, joint order, architecture config, observation layout,
                normalisers live in the weights (buffers), action scale, training config,
                data fingerprint, git commit, metrics; base policies also ``precision``
                (fp32 when absent, fp16_weights or int8_dynamic: policy/precision.py)
  weights.pt    the state dict
Loading refuses a bundle of another kind, format version or joint order, naming what differs.
"""

from __future__ import annotations

import datetime as _dt
import subprocess
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from dexndm_control.hand import JOINT_NAMES
from dexndm_control.policy.bundle_info import FORMAT, VERSION, BundleError, load_bundle_info


@dataclass
class Bundle:
    path: Path
    info: dict
    state_dict: dict

    @property
    def kind(self) -> str:
        return self.info["kind"]

    @property
    def config(self) -> dict:
        return self.info["config"]

    @property
    def start_pose(self) -> dict:
        """Where the controller starts a base policy: ``initial_pose`` and, when the pose is one
        of a training grasp's targets, ``initial_grasp`` naming that grasp (the virtual hand and
        `sim eval` start the object in it). A bundle trained from this one keeps both together."""
        return {key: self.info[key] for key in ("initial_pose", "initial_grasp")
                if key in self.info}


def git_commit(repo: Path | None = None) -> str:
    """HEAD of the checkout the code runs from, with '-dirty' if it has changes."""
    cwd = repo or Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                              text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=cwd, capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def save_bundle(path: str | Path, kind: str, config: dict, state_dict: dict,
                extra: dict | None = None) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    info = {"format": FORMAT, "version": VERSION, "kind": kind,
            "joint_names": list(JOINT_NAMES), "config": config,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "git_commit": git_commit(), **(extra or {})}
    # quantised modules also hold packed (weight, bias) tuples and dtypes, saved as they are;
    # the state dict's per-module versions (_metadata) tell their loaders which layout it is
    weights = OrderedDict((k, v.detach().cpu() if isinstance(v, torch.Tensor) else v)
                          for k, v in state_dict.items())
    weights._metadata = getattr(state_dict, "_metadata", None)
    torch.save(weights, path / "weights.pt.tmp")
    (path / "weights.pt.tmp").replace(path / "weights.pt")
    (path / "bundle.yaml").write_text(yaml.safe_dump(info, sort_keys=False))
    return path


def update_bundle_info(path: str | Path, **fields) -> None:
    """Add or replace top-level entries of a bundle's information (bundle.yaml); the weights
    are not touched."""
    info_file = Path(path) / "bundle.yaml"
    if not info_file.is_file():
        raise BundleError(f"{path} is not a bundle (no bundle.yaml)")
    info = yaml.safe_load(info_file.read_text())
    info.update(fields)
    info_file.with_suffix(".yaml.tmp").write_text(yaml.safe_dump(info, sort_keys=False))
    info_file.with_suffix(".yaml.tmp").replace(info_file)


def load_bundle(path: str | Path, kind: str) -> Bundle:
    path = Path(path)
    info = load_bundle_info(path, kind)
    with warnings.catch_warnings():
        if info.get("precision", "fp32") != "fp32":  # torch's notes on quantised tensors
            warnings.simplefilter("ignore", UserWarning)
        state = torch.load(path / "weights.pt", map_location="cpu", weights_only=True)
    return Bundle(path, info, state)


def _policy_network(kind: str, config: dict) -> torch.nn.Module:
    from dexndm_control.policy.networks import GeneralistPolicyNet, ResidualPolicyNet

    if kind == "base_policy":
        return GeneralistPolicyNet(config["obs_size"], config["joints"], config["width"],
                                   config["blocks"])
    if kind == "residual":
        return ResidualPolicyNet(config["obs_size"], config["joints"], tuple(config["hidden"]),
                                 config["scale"])
    raise BundleError(f"no network is known for '{kind}' bundles; pass the builder")


def load_network(path: str | Path, kind: str,
                 build: Callable[[dict], torch.nn.Module] | None = None
                 ) -> tuple[torch.nn.Module, Bundle]:
    """The network a bundle holds, in eval mode at the bundle's precision, and the bundle.

    ``build`` makes the fp32 network from the bundle's architecture config; policies
    (base_policy, residual) are known here, other kinds (dynamics) pass their own."""
    from dexndm_control.policy.precision import with_precision

    bundle = load_bundle(path, kind)
    network = (build or (lambda config: _policy_network(kind, config)))(bundle.config)
    network = with_precision(network.eval(), bundle.info.get("precision", "fp32"))
    network.load_state_dict(bundle.state_dict)
    network.eval()
    return network, bundle
