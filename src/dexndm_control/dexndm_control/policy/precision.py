"""Numeric precision of a policy bundle's weights, and the network that runs them.

``fp32``: the training weights as they are. ``int8_dynamic``: every nn.Linear quantised to int8
weights with per-batch int8 activations (PyTorch dynamic quantisation, fbgemm/VNNI kernels on
x86). At batch 1 the paper-size generalist (16 M parameters) is bound by reading its weights:
int8 reads a quarter of the bytes (benchmarks/controller_loop.py measured 4.1 -> 0.8 ms p50 on
one thread), and the bundle is a quarter of the size. bf16 and fp16 were measured too and are
not offered: bf16 was slower than fp32 on the CPU here, fp16 depends on the CPU having native
half-precision arithmetic.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
from torch import nn

from dexndm_control.errors import DexndmError

PRECISIONS = ("fp32", "int8_dynamic")


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise DexndmError(f"unknown bundle precision '{precision}'; this stack runs "
                          f"{', '.join(PRECISIONS)} (re-export the bundle)")
    return precision


def with_precision(net: nn.Module, precision: str) -> nn.Module:
    """``net`` (fp32, eval mode) converted to ``precision``: its state dict is then the one a
    bundle of that precision stores, and it runs at that precision."""
    if check_precision(precision) == "fp32":
        return net
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        # torch marks its quantised-tensor constructors as deprecated in favour of torchao,
        # which targets GPUs; the CPU dynamic-quantisation kernels are the ones wanted here
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return quantize_dynamic(net.eval(), {nn.Linear}, dtype=torch.qint8)


def convert_base_bundle(source: str | Path, out: str | Path, precision: str,
                        samples: int = 4096, seed: int = 0) -> dict:
    """Write ``source`` (an fp32 base_policy bundle) at ``precision`` to ``out``; returns (and
    records in the bundle) the largest difference of the policy output delta_a over ``samples``
    observations drawn from the bundle's own observation normaliser (mean +- 2 std)."""
    from dexndm_control.policy.bundle import BundleError, load_network, save_bundle

    reference, bundle = load_network(source, "base_policy")
    if bundle.info.get("precision", "fp32") != "fp32":
        raise BundleError(f"{source} holds {bundle.info['precision']} weights; convert from the "
                          "fp32 bundle training exported")
    config = bundle.config
    converted = with_precision(copy.deepcopy(reference), precision)
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(samples, config["obs_size"], generator=generator) * 4.0 - 2.0
    obs = reference.obs_norm.mean + noise * reference.obs_norm.std
    with torch.inference_mode():
        difference = float((reference(obs) - converted(obs)).abs().max())
    info = {key: value for key, value in bundle.info.items()
            if key not in ("format", "version", "kind", "joint_names", "config", "created",
                           "git_commit")}
    check = {"max_abs_delta_difference": difference, "samples": samples,
             "max_target_difference_rad": difference * float(info.get("action_scale", 1.0))}
    save_bundle(out, "base_policy", config, converted.state_dict(),
                {**info, "precision": precision, "converted_from": str(source),
                 "precision_check": check})
    return check
