"""The generalist acts in the batched environment exactly as in the controller's runtime, and
`dexndm sim compare` measures teacher and generalist from the same starts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dexndm_control.errors import DexndmError
from dexndm_control.policy.runtime import PolicyRuntime
from dexndm_learning.comparison import CompareConfig, GeneralistOnEnv, compare, markdown_table
from dexndm_learning.ppo.specialist import Specialist
from dexndm_learning.ppo.transfer import episode_outcomes
from dexndm_sim.env import RotationEnvConfig

POLICIES = Path(__file__).resolve().parents[3] / "policies"
REFERENCE = POLICIES / "gap_reference" / "model_1949.pt"


def test_generalist_in_the_env_acts_as_in_the_controller_runtime(tmp_path, monkeypatch):
    from dexndm_learning.ppo.vec_env import RotationVecEnv

    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path / "cache"))
    bundle = POLICIES / "test_base_policy"
    generalist = GeneralistOnEnv(bundle)
    vec_env = RotationVecEnv(RotationEnvConfig(num_envs=2, categories=("small_cylinders",),
                                               wrists=("palm_up",), threads=1,
                                               disturbance_probability=0.0))
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


def test_compare_runs_teacher_and_generalist_from_the_same_starts(tmp_path, monkeypatch):
    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path / "cache"))
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
    assert json.loads(out.read_text())["cells"][0]["teacher_result"] == cell["teacher_result"]
    assert "| cylinders | palm_up | z | nominal | generalist |" in markdown_table(result)
    with pytest.raises(DexndmError, match="teachers"):
        CompareConfig("bundle", ())
