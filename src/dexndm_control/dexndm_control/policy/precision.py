"""Numeric precision of a policy bundle's weights, and the network that runs them.

``fp32``: the training weights as they are. ``fp16_weights``: the parameters stored as float16
(half the file; the normalisers stay float32) and run in float32 -- loading upcasts them, so no
half-precision arithmetic is needed and the outputs differ from fp32 only by the rounding of the
stored weights (the conversion measures and records by how much). ``int8_dynamic``: every
nn.Linear quantised to int8 weights with per-batch int8 activations (PyTorch dynamic
quantisation, fbgemm/VNNI kernels on x86). At batch 1 the paper-size generalist (16 M
parameters) is bound by reading its weights: int8 reads a quarter of the bytes
(benchmarks/controller_loop.py measured 4.1 -> 0.8 ms p50 on one thread), and the bundle is a
quarter of the size. bf16 and fp16 arithmetic were measured too and are not offered: bf16 was
slower than fp32 on the CPU here, fp16 depends on the CPU having native half-precision
arithmetic.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
from torch import nn

from dexndm_control.errors import DexndmError

PRECISIONS = ("fp32", "fp16_weights", "int8_dynamic")
# precisions whose network is the float32 one (fp16_weights are upcast when loaded): its
# weights can be trained further and averaged as they run
FLOAT32_NETWORK = ("fp32", "fp16_weights")


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise DexndmError(f"unknown bundle precision '{precision}'; this stack runs "
                          f"{', '.join(PRECISIONS)} (re-export the bundle)")
    return precision


def with_precision(net: nn.Module, precision: str) -> nn.Module:
    """``net`` (fp32, eval mode) as it runs at ``precision``; ``stored_state`` gives what a
    bundle of that precision stores."""
    if check_precision(precision) in FLOAT32_NETWORK:
        return net
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        # torch marks its quantised-tensor constructors as deprecated in favour of torchao,
        # which targets GPUs; the CPU dynamic-quantisation kernels are the ones wanted here
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return quantize_dynamic(net.eval(), {nn.Linear}, dtype=torch.qint8)


def stored_state(net: nn.Module, precision: str) -> dict:
    """The state dict a bundle of ``precision`` stores for ``net`` (as ``with_precision`` made
    it): fp16_weights halves the floating-point parameters and keeps the buffers (normalisers)
    in float32, where their rounding would shift every observation."""
    state = net.state_dict()
    if check_precision(precision) != "fp16_weights":
        return state
    parameters = {name for name, _ in net.named_parameters()}
    for name, value in state.items():
        if name in parameters and value.is_floating_point():
            state[name] = value.half()
    return state


def convert_base_bundle(source: str | Path, out: str | Path, precision: str,
                        samples: int = 4096, seed: int = 0) -> dict:
    """Write ``source`` (an fp32 base_policy bundle) at ``precision`` to ``out``; returns (and
    records in the bundle) the largest difference of the policy output delta_a over ``samples``
    observations drawn from the bundle's own observation normaliser (mean +- 2 std), measured
    on the network loaded back from ``out`` as the controller loads it."""
    from dexndm_control.policy.bundle import (
        BundleError,
        load_network,
        save_bundle,
        update_bundle_info,
    )

    reference, bundle = load_network(source, "base_policy")
    if bundle.info.get("precision", "fp32") != "fp32":
        raise BundleError(f"{source} holds {bundle.info['precision']} weights; convert from the "
                          "fp32 bundle training exported")
    config = bundle.config
    converted = with_precision(copy.deepcopy(reference), precision)
    info = {key: value for key, value in bundle.info.items()
            if key not in ("format", "version", "kind", "joint_names", "config", "created",
                           "git_commit")}
    save_bundle(out, "base_policy", config, stored_state(converted, precision),
                {**info, "precision": precision, "converted_from": str(source)})
    loaded, _ = load_network(out, "base_policy")
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(samples, config["obs_size"], generator=generator) * 4.0 - 2.0
    obs = reference.obs_norm.mean + noise * reference.obs_norm.std
    with torch.inference_mode():
        difference = float((reference(obs) - loaded(obs)).abs().max())
    check = {"max_abs_delta_difference": difference, "samples": samples,
             "max_target_difference_rad": difference * float(info.get("action_scale", 1.0))}
    update_bundle_info(out, precision_check=check)
    return check
