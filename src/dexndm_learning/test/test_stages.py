"""Resumable stages: skipped when their inputs are unchanged, rerun with what depends on them."""

import json

import pytest

from dexndm_control.errors import DexndmError
from dexndm_learning.stages import RECORD, Stage, run_stages


def _pipeline(calls: list[str], setting: int) -> list[Stage]:
    def stage(name: str):
        def run(directory, upstream):
            order = ["data", "model", "table"]
            assert list(upstream) == order[:order.index(name)]  # every earlier stage's outputs
            calls.append(name)
            (directory / "out.txt").write_text(name)
            return {"name": name}
        return run
    return [Stage("data", {"n": 1}, stage("data")),
            Stage("model", {"width": setting}, stage("model"), after=("data",)),
            Stage("table", {}, stage("table"), after=("model",))]


def test_unchanged_stages_are_skipped_and_changes_rerun_what_follows(tmp_path):
    calls: list[str] = []
    first = run_stages(_pipeline(calls, 8), tmp_path, progress=lambda _: None)
    assert calls == ["data", "model", "table"]
    assert first["table"] == {"name": "table"}
    record = json.loads((tmp_path / "model" / RECORD).read_text())
    assert record["status"] == "done" and record["settings"] == {"width": 8}

    calls.clear()
    again = run_stages(_pipeline(calls, 8), tmp_path, progress=lambda _: None)
    assert calls == [] and again == first

    calls.clear()  # a changed setting reruns its stage and everything downstream
    run_stages(_pipeline(calls, 16), tmp_path, progress=lambda _: None)
    assert calls == ["model", "table"]

    calls.clear()  # --from reruns from that stage on
    run_stages(_pipeline(calls, 16), tmp_path, start="table", progress=lambda _: None)
    assert calls == ["table"]


def test_a_stage_that_failed_runs_again_from_a_clean_directory(tmp_path):
    calls: list[str] = []
    stages = _pipeline(calls, 8)

    def broken(directory, upstream):
        (directory / "half.txt").write_text("partial")
        raise RuntimeError("interrupted")
    with pytest.raises(RuntimeError):
        run_stages([stages[0], Stage("model", {"width": 8}, broken, after=("data",))],
                   tmp_path, progress=lambda _: None)
    calls.clear()
    run_stages(stages, tmp_path, progress=lambda _: None)
    assert calls == ["model", "table"]  # data was done; model had no record
    assert not (tmp_path / "model" / "half.txt").exists()


def test_an_unknown_start_names_the_stages(tmp_path):
    with pytest.raises(DexndmError, match="data, model, table"):
        run_stages(_pipeline([], 8), tmp_path, start="plots", progress=lambda _: None)
