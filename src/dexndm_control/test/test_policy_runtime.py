"""Policy runtime and controller decisions: golden outputs, history order, holds, residual."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from dexndm_control.core.controller import ControllerConfig, ControllerCore
from dexndm_control.errors import DexndmError
from dexndm_control.hand import CANONICAL_POSE, LOWER, UPPER
from dexndm_control.policy.bundle import BundleError, save_bundle
from dexndm_control.policy.networks import ResidualPolicyNet
from dexndm_control.policy.observation import ObservationLayout
from dexndm_control.policy.runtime import PolicyRuntime

REPO = Path(__file__).resolve().parents[3]
BASE = REPO / "policies" / "test_base_policy"
GOLDEN = Path(__file__).parent / "data" / "golden_test_base_policy.npz"
WRIST, AXIS = np.array([0.0, 1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0])


def _residual_bundle(path: Path, scale: float = 0.05, history: int = 10) -> Path:
    layout = ObservationLayout(history=history)
    torch.manual_seed(0)
    net = ResidualPolicyNet(layout.size, scale=scale)
    torch.nn.init.normal_(net.net[-1].weight, std=0.5)  # a residual that does something
    return save_bundle(path, "residual", net.config(), net.state_dict(),
                       {"layout": layout.to_dict()})


def test_golden_observations_and_targets_of_the_shipped_bundle():
    golden = np.load(GOLDEN)
    runtime = PolicyRuntime(BASE)
    runtime.reset(golden["q"][0], runtime.initial_pose)
    for k, q in enumerate(golden["q"]):
        result = runtime.step(q, WRIST, AXIS)
        assert np.allclose(result.observation, golden["observations"][k], atol=1e-6)
        assert np.allclose(result.target, golden["targets"][k], atol=1e-5)


def test_history_holds_the_last_t_values_oldest_first():
    runtime = PolicyRuntime(BASE)
    layout = runtime.layout
    runtime.reset(np.zeros(16), np.zeros(16))
    bases = []
    for k in range(1, 13):
        result = runtime.step(np.full(16, 0.01 * k), WRIST, AXIS)
        bases.append(result.base_target)
    slices = layout.slices()
    obs = result.observation
    q_hist = obs[slices["joint_positions"]].reshape(layout.history, 16)
    assert np.allclose(q_hist[:, 0], 0.01 * np.arange(3, 13))  # q_3 .. q_12, newest last
    previous = obs[slices["previous_targets"]].reshape(layout.history, 16)
    assert np.allclose(previous, np.array(bases[1:11]))  # a_2 .. a_11 for step 12
    assert np.allclose(obs[slices["wrist_quat"]], WRIST)
    assert np.allclose(obs[slices["rotation_axis"]], AXIS)
    assert np.all((result.target >= LOWER) & (result.target <= UPPER))


def test_residual_toggle_changes_the_target_by_exactly_the_residual(tmp_path):
    residual = _residual_bundle(tmp_path / "res")
    on, off = PolicyRuntime(BASE, residual, max_step=1.0), PolicyRuntime(BASE, residual,
                                                                          max_step=1.0)
    off.use_residual = False
    q = CANONICAL_POSE * 0.8
    for runtime in (on, off):
        runtime.reset(q, runtime.initial_pose)
    with_residual, without = on.step(q, WRIST, AXIS), off.step(q, WRIST, AXIS)
    assert np.abs(with_residual.residual).max() > 1e-3 and not without.residual.any()
    assert np.allclose(with_residual.base_target, without.base_target)
    assert np.allclose(with_residual.target - without.target, with_residual.residual, atol=1e-6)
    assert np.abs(with_residual.residual).max() <= 0.05 + 1e-6


def test_mismatched_bundles_are_refused_with_the_reason(tmp_path):
    with pytest.raises(DexndmError, match="trained on observation layout"):
        PolicyRuntime(BASE, _residual_bundle(tmp_path / "res3", history=3))
    broken = tmp_path / "base"
    broken.mkdir()
    info = yaml.safe_load((BASE / "bundle.yaml").read_text())
    info["joint_names"] = info["joint_names"][::-1]
    (broken / "bundle.yaml").write_text(yaml.safe_dump(info))
    (broken / "weights.pt").write_bytes((BASE / "weights.pt").read_bytes())
    with pytest.raises(BundleError, match="joint order"):
        PolicyRuntime(broken)
    info["joint_names"] = info["joint_names"][::-1]
    info["version"] = 99
    (broken / "bundle.yaml").write_text(yaml.safe_dump(info))
    with pytest.raises(BundleError, match="v99"):
        PolicyRuntime(broken)


def test_controller_ramps_runs_and_holds():
    core = ControllerCore(PolicyRuntime(BASE), ControllerConfig(ramp_s=0.1))
    q = np.zeros(16)
    assert core.tick(0.0, None, None, None, None, False, WRIST).target is None
    ramp = [core.tick(0.05 * k, 0.05 * k, q, 0.0, AXIS, True, WRIST) for k in (1, 2)]
    assert [d.phase for d in ramp] == ["ramp", "ramp"]
    assert np.allclose(ramp[-1].target, core.runtime.initial_pose)
    running = core.tick(0.15, 0.15, q, 0.15, AXIS, True, WRIST)
    assert running.phase == "run" and not running.holding and running.step is not None
    # joint states older than 3 periods (150 ms): hold the last target
    stale = core.tick(0.32, 0.15, q, 0.32, AXIS, True, WRIST)
    assert stale.holding and "stale" in stale.reason
    assert np.array_equal(stale.target, running.target)
    fresh = core.tick(0.35, 0.349, q, 0.35, AXIS, True, WRIST)
    assert not fresh.holding
    disabled = core.tick(0.40, 0.40, q, 0.40, AXIS, False, WRIST)
    assert disabled.holding and disabled.reason == "rotation disabled"
    bad = core.tick(0.45, 0.45, np.full(16, np.nan), 0.45, AXIS, True, WRIST)
    assert bad.holding and "non-finite" in bad.reason
    lost = core.tick(2.0, 2.0, q, 0.45, AXIS, True, WRIST)
    assert lost.holding and "keepalive" in lost.reason


def _fp32_base_bundle(path: Path) -> Path:
    from dexndm_control.policy.networks import GeneralistPolicyNet

    layout = ObservationLayout()
    torch.manual_seed(1)
    net = GeneralistPolicyNet(layout.size, width=256, blocks=2)
    net.obs_norm.set(torch.full((layout.size,), 0.3), torch.full((layout.size,), 0.5))
    return save_bundle(path, "base_policy", net.config(), net.state_dict(),
                       {"layout": layout.to_dict(), "action_scale": 1 / 24,
                        "initial_pose": CANONICAL_POSE.tolist()})


def _quantize(*args: str):
    import subprocess
    import sys

    dexndm = str(Path(sys.executable).parent / "dexndm")
    return subprocess.run([dexndm, "quantize", *args], capture_output=True, text=True,
                          timeout=120)


def _worst_delta_on_the_same_observations(exact: PolicyRuntime, other: PolicyRuntime):
    """Both runtimes stepped 50 times on the same readings: the largest difference of
    ``other``'s delta_a on ``exact``'s observations, and the last targets of both chains."""
    rng = np.random.default_rng(0)
    for runtime in (exact, other):
        runtime.reset(CANONICAL_POSE, CANONICAL_POSE)
    worst = 0.0
    for _ in range(50):
        q = CANONICAL_POSE + rng.normal(0, 0.05, 16)
        a, b = exact.step(q, WRIST, AXIS), other.step(q, WRIST, AXIS)
        with torch.inference_mode():
            same = other.base(torch.as_tensor(a.observation, dtype=torch.float32)[None])[0]
        worst = max(worst, float(np.abs(same.numpy() - a.base_delta).max()))
    return worst, a.target, b.target


def test_the_start_wrist_is_the_parameter_else_the_base_bundles_initial_grasp_else_palm_up():
    """The hand is ramped to the pose of the base bundle's initial grasp, made at that grasp's
    wrist: the policy sees that wrist until /dexndm/wrist_orientation arrives."""
    shipped = PolicyRuntime(REPO / "policies" / "base_policy").initial_grasp
    assert shipped["wrist"] == "palm_up"
    palm_down = {**shipped, "wrist": "palm_down"}
    assert ControllerConfig().start_wrist(palm_down) == (
        "palm_down", "the base bundle's initial grasp")
    assert ControllerConfig(wrist="thumb_up").start_wrist(palm_down) == (
        "thumb_up", "the wrist parameter")
    assert ControllerConfig().start_wrist(None) == ("palm_up", "the default")
    assert PolicyRuntime(BASE).initial_grasp is None
    with pytest.raises(DexndmError, match="use one of palm_down, palm_up"):
        ControllerConfig(wrist="palm-up")
    with pytest.raises(DexndmError, match="set the wrist parameter"):
        ControllerConfig().start_wrist({**shipped, "wrist": "random"})


def test_int8_bundle_acts_like_the_fp32_policy_and_says_its_precision(tmp_path):
    fp32 = _fp32_base_bundle(tmp_path / "fp32")
    result = _quantize(str(fp32), "--out", str(tmp_path / "int8"))
    assert result.returncode == 0, result.stderr
    info = yaml.safe_load((tmp_path / "int8" / "bundle.yaml").read_text())
    assert info["precision"] == "int8_dynamic" and info["converted_from"] == str(fp32)
    assert 0 < info["precision_check"]["max_abs_delta_difference"] < 0.02
    assert (tmp_path / "int8" / "weights.pt").stat().st_size < \
        0.4 * (fp32 / "weights.pt").stat().st_size
    exact, fast = PolicyRuntime(fp32), PolicyRuntime(tmp_path / "int8")
    assert (exact.precision, fast.precision) == ("fp32", "int8_dynamic")
    worst, exact_target, fast_target = _worst_delta_on_the_same_observations(exact, fast)
    assert worst < 0.02  # = 0.83 mrad of target per step (action scale 1/24)
    assert np.abs(exact_target - fast_target).max() < 0.01  # each on its own chain, 50 steps
    again = _quantize(str(tmp_path / "int8"), "--out", str(tmp_path / "twice"))
    assert again.returncode == 2 and "convert from the fp32 bundle" in again.stderr
    info["precision"] = "fp8"
    (tmp_path / "int8" / "bundle.yaml").write_text(yaml.safe_dump(info))
    with pytest.raises(DexndmError, match="unknown bundle precision 'fp8'"):
        PolicyRuntime(tmp_path / "int8")


def test_fp16_weights_bundle_is_half_the_size_and_matches_fp32_within_its_tolerance(tmp_path):
    """fp16_weights: parameters stored as float16, normalisers float32, run in float32; the
    stated tolerance is |delta_a| <= 2e-3 (8.3e-5 rad of target per step; the shipped
    generalist measured 1.0e-3 at most over 4,096 observations, 6.5e-5 on average)."""
    fp32 = _fp32_base_bundle(tmp_path / "fp32")
    result = _quantize(str(fp32), "--out", str(tmp_path / "fp16"), "--precision", "fp16_weights")
    assert result.returncode == 0, result.stderr
    info = yaml.safe_load((tmp_path / "fp16" / "bundle.yaml").read_text())
    assert info["precision"] == "fp16_weights"
    assert 0 < info["precision_check"]["max_abs_delta_difference"] < 2e-3
    size = (tmp_path / "fp16" / "weights.pt").stat().st_size
    assert 0.45 < size / (fp32 / "weights.pt").stat().st_size < 0.55
    stored = torch.load(tmp_path / "fp16" / "weights.pt", weights_only=True)
    assert stored["obs_norm.mean"].dtype == torch.float32
    halves = [name for name, value in stored.items() if value.dtype == torch.float16]
    assert len(halves) == len([k for k in stored if k.endswith((".weight", ".bias"))]) > 0
    exact, compact = PolicyRuntime(fp32), PolicyRuntime(tmp_path / "fp16")
    assert compact.precision == "fp16_weights"
    assert next(compact.base.parameters()).dtype == torch.float32  # runs in float32
    worst, exact_target, compact_target = _worst_delta_on_the_same_observations(exact, compact)
    assert 0 < worst < 2e-3
    # each on its own chain: 50 steps of at most 8.3e-5 rad would allow 4.2e-3 (measured 1.2e-4)
    assert np.abs(exact_target - compact_target).max() < 1e-3


def test_shipped_base_policies_run_and_everything_shipped_stays_small():
    """Every base_policy bundle under policies/ runs in the controller's runtime (actions within
    the joint limits from its own initial pose), and the directory stays within the 25 MB the
    repository allows for shipped bundles."""
    bases = sorted(p.parent for p in (REPO / "policies").glob("*/bundle.yaml")
                   if yaml.safe_load(p.read_text())["kind"] == "base_policy")
    assert {"base_policy", "reference_student", "test_base_policy"} <= {p.name for p in bases}
    for path in bases:
        runtime = PolicyRuntime(path)
        pose = np.asarray(runtime.initial_pose)
        runtime.reset(pose, pose)
        for _ in range(3):
            target = runtime.step(pose, WRIST, AXIS).target
            assert np.all(target >= LOWER - 1e-9) and np.all(target <= UPPER + 1e-9), path.name
    size = sum(f.stat().st_size for f in (REPO / "policies").rglob("*") if f.is_file())
    assert size <= 25_000_000, f"policies/ holds {size / 1e6:.1f} MB"
