"""The generalist acts in the batched environment exactly as in the controller's runtime, and
`dexndm sim compare` measures teacher and generalist from the same starts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dexndm_control.errors import DexndmError
from dexndm_control.policy.runtime import PolicyRuntime
from dexndm_learning.comparison import CompareConfig, GeneralistOnEnv, compare, markdown_table
from dexndm_learning.ppo.specialist import Specialist
from dexndm_learning.ppo.transfer import episode_outcomes
from dexndm_learning.runs import measured_with
from dexndm_sim.env import RotationEnvConfig

POLICIES = Path(__file__).resolve().parents[3] / "policies"
REFERENCE = POLICIES / "gap_reference" / "model_1949.pt"
# what the runtime commands does not depend on the object: one, with two grasps, keeps the
# grasp search short
ONE_OBJECT = {"objects": ("small_cylinders_000",), "grasps_per_object": 2}


def test_generalist_in_the_env_acts_as_in_the_controller_runtime(tmp_path):
    from dexndm_learning.ppo.vec_env import RotationVecEnv

    bundle = POLICIES / "test_base_policy"
    generalist = GeneralistOnEnv(bundle)
    vec_env = RotationVecEnv(RotationEnvConfig(num_envs=2, categories=("small_cylinders",),
                                               wrists=("palm_up",), threads=1,
                                               disturbance_probability=0.0, **ONE_OBJECT))
    env = vec_env.env
    runtime = PolicyRuntime(bundle, max_step=10.0)
    runtime.reset(env.q_history[1, -1], env.target[1])
    axis = env.observation_groups()["rotation_axis"][1]
    try:
        for _ in range(12):
            actions = generalist.act(vec_env)
            # the runtime gets the same (noisy) joint reading the environment's history holds
            step = runtime.step(env.q_history[1, -1], env.wrist[1], axis)
            assert np.allclose(step.observation, generalist.observation(env)[1], atol=1e-6)
            assert np.allclose(step.base_delta, actions[1].numpy(), atol=1e-5)
            vec_env.step(actions)
            assert not vec_env.last_infos["episodes"]  # no reset within these 12 steps
            assert np.allclose(env.target[1], step.base_target, atol=1e-6)
    finally:
        vec_env.close()


def _residual_bundle(path: Path, layout, zero: bool) -> Path:
    from dexndm_control.policy.bundle import save_bundle
    from dexndm_control.policy.networks import ResidualPolicyNet

    torch.manual_seed(3)  # the same network whatever ran before
    network = ResidualPolicyNet(layout.size, hidden=(32,), scale=0.05)
    if not zero:  # an arbitrary correction, for the runtime comparison
        torch.nn.init.normal_(network.net[-1].weight, std=0.5)
    save_bundle(path, "residual", network.config(), network.state_dict(),
                {"layout": layout.to_dict()})
    return path


def test_base_plus_residual_in_the_env_commands_what_the_runtime_commands(tmp_path):
    from dexndm_learning.ppo.vec_env import RotationVecEnv

    bundle = POLICIES / "test_base_policy"
    residual = _residual_bundle(tmp_path / "residual", GeneralistOnEnv(bundle).layout,
                                zero=False)
    controller = GeneralistOnEnv(bundle, residual)
    vec_env = RotationVecEnv(RotationEnvConfig(num_envs=2, categories=("small_cylinders",),
                                               wrists=("palm_up",), threads=1,
                                               disturbance_probability=0.0, **ONE_OBJECT))
    env = vec_env.env
    runtime = PolicyRuntime(bundle, residual, max_step=10.0)
    runtime.reset(env.q_history[0, -1], env.target[0])
    axis = env.observation_groups()["rotation_axis"][0]
    corrections = []
    try:
        for _ in range(10):
            step = runtime.step(env.q_history[0, -1], env.wrist[0], axis)
            controller.advance(vec_env)
            assert not vec_env.last_infos["episodes"]
            assert np.allclose(env.target[0], step.target, atol=1e-5)  # base + residual
            assert np.allclose(controller._base_history[0, -1], step.base_target, atol=1e-5)
            corrections.append(np.abs(step.residual).max())
    finally:
        vec_env.close()
    assert min(corrections) > 1e-3  # the residual did act


def test_a_zero_residual_changes_no_result(tmp_path):
    from dexndm_learning.evaluation import EvalConfig, evaluate_policy

    bundle = str(POLICIES / "test_base_policy")
    zero = str(_residual_bundle(tmp_path / "zero", GeneralistOnEnv(bundle).layout, zero=True))
    common = {"categories": ("small_cylinders",), "objects_per_category": 1, "seeds": (0,),
              "steps": 60}
    alone = evaluate_policy(EvalConfig(bundle, **common))["results"]
    with_zero = evaluate_policy(EvalConfig(bundle, residual=zero, **common))["results"]
    assert alone == with_zero
    config = CompareConfig(bundle, (str(REFERENCE),), profiles=("nominal",), episodes=2)
    plain = compare(config, progress=lambda line: None)["cells"][0]["generalist_result"]
    config.residual = zero
    zeroed = compare(config, progress=lambda line: None)["cells"][0]["generalist_result"]
    assert plain == zeroed


def test_compare_runs_teacher_and_generalist_from_the_same_starts(tmp_path):
    out = tmp_path / "eval.json"
    config = CompareConfig(str(POLICIES / "test_base_policy"), (str(REFERENCE),),
                           profiles=("nominal",), episodes=3)
    result = compare(config, out, progress=lambda line: None)
    (cell,) = result["cells"]
    assert cell["categories"] == ["cylinders"] and cell["profile"] == "nominal"
    # the teacher's cell is exactly what the transfer tool measures for the same environment
    teacher = Specialist(REFERENCE, num_envs=3, disturbance_probability=0.0,
                         profile="nominal", grasp_profile="nominal")
    try:
        outcomes = episode_outcomes(teacher)
    finally:
        teacher.close()
    assert cell["teacher_result"]["radians"] == pytest.approx(
        [outcomes["radians"].mean(), outcomes["radians"].std()])
    assert cell["teacher_result"]["episodes"] == 3
    share = cell["generalist_result"]["radians"][0] / cell["teacher_result"]["radians"][0]
    assert cell["share_of_teacher"] == pytest.approx(share)
    written = json.loads(out.read_text())
    assert written["cells"][0]["teacher_result"] == cell["teacher_result"]
    assert written["measured_with"]["cpu"] == measured_with()["cpu"]
    assert cell["objects"] == ["cylinders_004"]  # the teacher's environment names its object
    assert ("| cylinders (cylinders_004) | palm_up | z | nominal | generalist |"
            in markdown_table(result))
    moved = compare(CompareConfig(str(POLICIES / "test_base_policy"),
                                  (f"{REFERENCE}@cylinders_000",), profiles=("nominal",),
                                  episodes=2), progress=lambda line: None)["cells"][0]
    assert moved["objects"] == ["cylinders_000"]
    assert moved["teacher"] == f"{REFERENCE}@cylinders_000"
    with pytest.raises(DexndmError, match="teachers"):
        CompareConfig("bundle", ())
