"""scripts/train_base_policy.sh's resume logic, driven against a recording stand-in for
`dexndm` (the stages' own commands are tested where they live): which command each stage
runs, from which checkpoint, and that a rerun redoes nothing finished."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "train_base_policy.sh"

# Writes what a finished stage leaves (rsl-rl's model_N.pt numbering: a fresh run of N
# iterations ends at model_(N-1), a resume from model_K continues at K+1) and logs its argv.
FAKE_DEXNDM = r"""#!/usr/bin/env bash
set -eu
echo "$*" >> "$CALLS"
out="" resume="" iterations="" shards=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case ${args[i]} in
        --out) out=${args[i+1]} ;;
        --resume) resume=${args[i+1]} ;;
        --iterations) iterations=${args[i+1]} ;;
        --shards) shards=${args[i+1]} ;;
    esac
done
case "$1 ${2:-}" in
    "train ppo")
        mkdir -p "$out"
        first=0
        if [[ -n $resume ]]; then name=$(basename "$resume" .pt); first=$((${name#model_} + 1)); fi
        for ((n = first; n < first + iterations; n++)); do touch "$out/model_$n.pt"; done
        touch "$out/best.pt"; mkdir -p "$out/best" ;;
    "rollout --policy") mkdir -p "$shards" ;;
    "train bc") mkdir -p "$out/best" ;;
    "train dagger")
        mkdir -p "$out/best"
        rounds=1
        for ((i = 0; i < ${#args[@]}; i++)); do
            [[ ${args[i]} == --rounds ]] && rounds=${args[i+1]}
        done
        for ((n = 0; n < rounds; n++)); do mkdir -p "$out/round_$n/last"; done ;;
    "average "*) mkdir -p "$out" ;;
    "sim compare") touch "$out" ;;
    "quantize "*) mkdir -p "$out" ;;
esac
"""


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(SCRIPT, tmp_path / "scripts" / SCRIPT.name)
    fake = tmp_path / ".venv" / "bin" / "dexndm"
    fake.parent.mkdir(parents=True)
    fake.write_text(FAKE_DEXNDM)
    fake.chmod(0o755)
    return tmp_path


def script(project: Path, **knobs: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CALLS": str(project / "calls.txt"), "RUNS": "runs/base",
           "SPECIALISTS": "cylinders:cylinders_000", "ITERATIONS": "3", **knobs}
    return subprocess.run(["bash", "scripts/train_base_policy.sh"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=60)


def run_script(project: Path, **knobs: str) -> list[list[str]]:
    """The commands one successful run of the script issued, in order."""
    calls = project / "calls.txt"
    calls.unlink(missing_ok=True)
    result = script(project, **knobs)
    assert result.returncode == 0, result.stderr
    return [shlex.split(line) for line in calls.read_text().splitlines()] if calls.exists() else []


def flag(call: list[str], name: str) -> str | None:
    return call[call.index(name) + 1] if name in call else None


def finetunes(calls: list[list[str]]) -> list[list[str]]:
    return [call for call in calls if call[:2] == ["train", "ppo"] and "--generalist" in call]


def test_stages_of_growing_batch_each_resume_the_last_and_the_evaluation_takes_the_final(project):
    calls = run_script(project, FINETUNE_STAGES="5:8 9:16")
    first, second = finetunes(calls)
    assert (flag(first, "--out"), flag(first, "--num-envs"), flag(first, "--iterations")) == (
        "runs/base/finetune", "8", "5")
    assert flag(first, "--teacher") == "runs/base/ppo_cylinders_000/best.pt"
    assert flag(first, "--resume") is None
    # iterations 5-8: from the first stage's model_4, in a directory of its own
    assert (flag(second, "--out"), flag(second, "--num-envs"), flag(second, "--iterations"),
            flag(second, "--resume")) == ("runs/base/finetune_to9_envs16", "16", "4",
                                          "runs/base/finetune/model_4.pt")
    assert "--overwrite" in second
    assert (project / "runs/base/finetune_to9_envs16/model_8.pt").is_file()
    compare = next(call for call in calls if call[:2] == ["sim", "compare"])
    assert compare[2] == "runs/base/finetune_to9_envs16/best"
    # a rerun finds every stage finished
    assert finetunes(run_script(project, FINETUNE_STAGES="5:8 9:16")) == []


def test_an_interrupted_stage_resumes_its_own_latest_checkpoint(project):
    run_script(project, FINETUNE_STAGES="5:8")
    stage = project / "runs/base/finetune_to9_envs16"
    stage.mkdir()
    (stage / "model_6.pt").touch()
    (resumed,) = finetunes(run_script(project, FINETUNE_STAGES="5:8 9:16"))
    assert (flag(resumed, "--resume"), flag(resumed, "--iterations")) == (
        str(stage.relative_to(project) / "model_6.pt"), "2")
    assert "--overwrite" not in resumed


def test_one_stage_is_the_single_fine_tune_of_finetune_iterations(project):
    (call,) = finetunes(run_script(project, FINETUNE_ITERATIONS="4"))
    assert (flag(call, "--out"), flag(call, "--num-envs"), flag(call, "--iterations")) == (
        "runs/base/finetune", "1024", "4")


def test_the_fall_penalty_knob_reaches_every_stage_and_is_absent_by_default(project):
    first, second = finetunes(run_script(project, FINETUNE_STAGES="5:8 9:16",
                                         FINETUNE_FALL_PENALTY="60"))
    # a resumed stage rebuilds its environment from the flags: both must carry the same term
    assert flag(first, "--fall-penalty") == flag(second, "--fall-penalty") == "60"
    (default,) = finetunes(run_script(project, FINETUNE_ITERATIONS="4", RUNS="runs/other"))
    assert "--fall-penalty" not in default


@pytest.mark.parametrize("stages", ["9:16 5:8", "5", "5:x"])
def test_a_malformed_stage_list_is_refused_before_anything_trains(project, stages):
    result = script(project, FINETUNE_STAGES=stages)
    assert result.returncode == 2
    assert "FINETUNE_STAGES entry" in result.stderr and "END:ENVS" in result.stderr
    assert not (project / "calls.txt").exists()  # refused before any stage ran


def test_several_teachers_are_fine_tuned_as_one_environment_over_their_objects(project):
    (call,) = finetunes(run_script(
        project, SPECIALISTS="cylinders:cylinders_000 small_cylinders:small_cylinders_001",
        FINETUNE_ITERATIONS="4"))
    assert flag(call, "--category") == "cylinders"
    categories = call[call.index("--categories") + 1:call.index("--out")]
    assert categories == ["cylinders", "small_cylinders"]
    objects = call[call.index("--objects") + 1:]
    assert objects[:2] == ["cylinders_000", "small_cylinders_001"]
    assert flag(call, "--teacher") == "runs/base/ppo_cylinders_000/best.pt"  # the first's critic


@pytest.mark.parametrize(("specialists", "message"), [
    ("reference cylinders:cylinders_000", 'not "reference"'),
    ("cylinders small_cylinders:small_cylinders_001", "all whole categories"),
])
def test_a_fine_tune_it_cannot_build_is_refused_before_anything_trains(project, specialists,
                                                                       message):
    result = script(project, SPECIALISTS=specialists, FINETUNE_ITERATIONS="4")
    assert result.returncode == 2 and message in result.stderr
    assert not (project / "calls.txt").exists()


def specialist_runs(calls: list[list[str]]) -> dict[str, list[str]]:
    return {flag(call, "--category"): call for call in calls
            if call[:2] == ["train", "ppo"] and "--generalist" not in call}


def test_cylinders_and_cuboids_start_at_random_and_small_cylinders_from_the_first(project):
    runs = specialist_runs(run_script(project, SPECIALISTS="cylinders:cylinders_000 "
                                      "cuboids:cuboids_000 small_cylinders:small_cylinders_000"))
    for category in ("cylinders", "cuboids"):
        assert "--init" not in runs[category] and "--critic-warmup" not in runs[category]
    assert flag(runs["small_cylinders"], "--init") == "runs/base/ppo_cylinders_000/best.pt"
    assert flag(runs["small_cylinders"], "--critic-warmup") == "30"


def test_small_cylinders_first_start_from_the_reference(project):
    runs = specialist_runs(run_script(project, SPECIALISTS="small_cylinders:small_cylinders_000"))
    assert flag(runs["small_cylinders"], "--init") == "policies/gap_reference/model_1949.pt"


def test_long_cuboids_start_from_the_cuboid_specialist_trained_before_them(project):
    runs = specialist_runs(run_script(project, SPECIALISTS="cylinders:cylinders_000 "
                                      "cuboids:cuboids_000 long_cuboids:long_cuboids_000"))
    assert flag(runs["long_cuboids"], "--init") == "runs/base/ppo_cuboids_000/best.pt"
    assert flag(runs["long_cuboids"], "--critic-warmup") == "30"
    # with no cuboid specialist before them (here: after them) they start at random
    runs = specialist_runs(run_script(project, RUNS="runs/other", SPECIALISTS=(
        "long_cuboids:long_cuboids_000 cuboids:cuboids_000")))
    assert "--init" not in runs["long_cuboids"] and "--init" not in runs["cuboids"]


def test_a_category_warm_start_overrides_the_default_and_warm_start(project):
    runs = specialist_runs(run_script(project, SPECIALISTS="cylinders:cylinders_000 "
                                      "cuboids:cuboids_000", WARM_START="none",
                                      WARM_START_cuboids="policies/x/model_1.pt"))
    assert "--init" not in runs["cylinders"]
    assert flag(runs["cuboids"], "--init") == "policies/x/model_1.pt"


def test_students_are_made_per_teacher_and_then_distilled_into_the_generalist(project):
    calls = run_script(project, SPECIALISTS="cylinders:cylinders_000 cuboids:cuboids_000",
                       DISTILL="students", FINETUNE_ITERATIONS="4")
    teachers = ["runs/base/ppo_cylinders_000/best.pt", "runs/base/ppo_cuboids_000/best.pt"]
    students = [f"runs/base/students/{name}/finetune/best.pt"
                for name in ("ppo_cylinders_000", "ppo_cuboids_000")]
    for teacher, student, entry in zip(teachers, students, ("cylinders_000", "cuboids_000"),
                                       strict=True):
        run = student.split("/finetune/")[0]
        name = run.rsplit("/", 1)[1]
        (bc,) = [c for c in calls if c[:2] == ["train", "bc"] and flag(c, "--out") == f"{run}/bc"]
        assert flag(bc, "--data") == f"runs/base/bc_data/{name}"
        (dagger,) = [c for c in calls if c[:2] == ["train", "dagger"]
                     and flag(c, "--out") == f"{run}/dagger"]
        assert (flag(dagger, "--init"), flag(dagger, "--teachers")) == (f"{run}/bc/best", teacher)
        (tune,) = [c for c in finetunes(calls) if flag(c, "--out") == f"{run}/finetune"]
        assert (flag(tune, "--generalist"), flag(tune, "--teacher")) == (f"{run}/dagger/best",
                                                                        teacher)
        assert call_objects(tune) == [entry]  # each student on its own entry
        (rollout,) = [c for c in calls if c[:2] == ["rollout", "--policy"] and c[2] == student]
        assert flag(rollout, "--shards") == f"runs/base/student_data/{name}"
    (generalist,) = [c for c in calls if c[:2] == ["train", "dagger"]
                     and flag(c, "--out") == "runs/base/generalist"]
    assert generalist[generalist.index("--teachers") + 1:][:2] == students
    assert flag(generalist, "--init") == "runs/base/students/ppo_cylinders_000/finetune/best"
    data = generalist[generalist.index("--data") + 1:generalist.index("--init")]
    assert data == ["runs/base/student_data/ppo_cuboids_000",
                    "runs/base/student_data/ppo_cylinders_000"]
    compare = next(call for call in calls if call[:2] == ["sim", "compare"])
    assert compare[2] == "runs/base/generalist/best"
    assert compare[compare.index("--teachers") + 1:][:2] == teachers  # against the oracles
    assert run_script(project, SPECIALISTS="cylinders:cylinders_000 cuboids:cuboids_000",
                      DISTILL="students", FINETUNE_ITERATIONS="4") == []  # all finished


def test_a_weighted_category_rolls_out_and_labels_that_many_times(project):
    """WEIGHT_cuboids=2: the cuboid student rolls out twice (seeds 0 and 1) and labels twice
    in every round of the generalist's DAgger; the other students once."""
    knobs = {"SPECIALISTS": "cylinders:cylinders_000 cuboids:cuboids_000", "DISTILL": "students",
             "FINETUNE_ITERATIONS": "4", "WEIGHT_cuboids": "2"}
    calls = run_script(project, **knobs)
    cuboid = "runs/base/students/ppo_cuboids_000/finetune/best.pt"
    cylinder = "runs/base/students/ppo_cylinders_000/finetune/best.pt"
    rollouts = [c for c in calls if c[:2] == ["rollout", "--policy"]
                and c[2] in (cuboid, cylinder)]
    assert [(c[2], flag(c, "--seed"), flag(c, "--shards")) for c in rollouts] == [
        (cylinder, None, "runs/base/student_data/ppo_cylinders_000"),
        (cuboid, None, "runs/base/student_data/ppo_cuboids_000"),
        (cuboid, "1", "runs/base/student_data/ppo_cuboids_000_seed1")]
    (generalist,) = [c for c in calls if c[:2] == ["train", "dagger"]
                     and flag(c, "--out") == "runs/base/generalist"]
    teachers = generalist[generalist.index("--teachers") + 1:generalist.index("--out")]
    assert teachers == [cylinder, cuboid, cuboid]
    data = generalist[generalist.index("--data") + 1:generalist.index("--init")]
    assert data == ["runs/base/student_data/ppo_cuboids_000",
                    "runs/base/student_data/ppo_cuboids_000_seed1",
                    "runs/base/student_data/ppo_cylinders_000"]
    assert run_script(project, **knobs) == []  # all finished, the extra rollout included


@pytest.mark.parametrize("weight", ["0", "two", "-1"])
def test_a_weight_that_is_no_count_is_refused_before_anything_trains(project, weight):
    result = script(project, WEIGHT_cylinders=weight)
    assert result.returncode == 2 and f"WEIGHT_cylinders={weight}" in result.stderr
    assert not (project / "calls.txt").exists()


def call_objects(call: list[str]) -> list[str]:
    start = call.index("--objects") + 1
    end = next((i for i in range(start, len(call)) if call[i].startswith("--")), len(call))
    return call[start:end]


@pytest.mark.parametrize(("knobs", "message"), [
    ({"DISTILL": "students"}, "needs FINETUNE_ITERATIONS or FINETUNE_STAGES"),
    ({"DISTILL": "oracles"}, "give teachers or students"),
])
def test_a_distillation_it_cannot_run_is_refused_before_anything_trains(project, knobs, message):
    result = script(project, **knobs)
    assert result.returncode == 2 and message in result.stderr
    assert not (project / "calls.txt").exists()


def test_a_palm_down_entry_trains_its_own_run_at_that_wrist_and_its_student_joins_the_generalist(
        project):
    knobs = {"SPECIALISTS": "cylinders:cylinders_000 cylinders:cylinders_000@palm_down",
             "DISTILL": "students", "FINETUNE_ITERATIONS": "4",
             "ITERATIONS_cylinders": "3", "ITERATIONS_cylinders_palm_down": "5"}
    calls = run_script(project, **knobs)
    specialists = [c for c in calls if c[:2] == ["train", "ppo"] and "--generalist" not in c]
    up, down = specialists
    assert (flag(up, "--out"), flag(up, "--wrists"), flag(up, "--grasp-wrist"),
            flag(up, "--iterations")) == ("runs/base/ppo_cylinders_000", "palm_up", "palm_up", "3")
    assert (flag(down, "--out"), flag(down, "--wrists"), flag(down, "--grasp-wrist"),
            flag(down, "--iterations")) == ("runs/base/ppo_cylinders_000_palm_down", "palm_down",
                                            "palm_down", "5")
    assert "--init" not in down  # another wrist than palm up starts at random
    assert call_objects(down) == ["cylinders_000"]
    tunes = {flag(c, "--out"): c for c in finetunes(calls)}
    down_tune = tunes["runs/base/students/ppo_cylinders_000_palm_down/finetune"]
    assert (flag(down_tune, "--wrists"), flag(down_tune, "--grasp-wrist"),
            flag(down_tune, "--teacher")) == (
        "palm_down", "palm_down", "runs/base/ppo_cylinders_000_palm_down/best.pt")
    assert flag(tunes["runs/base/students/ppo_cylinders_000/finetune"], "--wrists") == "palm_up"
    (generalist,) = [c for c in calls if c[:2] == ["train", "dagger"]
                     and flag(c, "--out") == "runs/base/generalist"]
    teachers = generalist[generalist.index("--teachers") + 1:generalist.index("--out")]
    assert teachers == ["runs/base/students/ppo_cylinders_000/finetune/best.pt",
                        "runs/base/students/ppo_cylinders_000_palm_down/finetune/best.pt"]
    assert run_script(project, **knobs) == []  # both wrists finished


def test_an_axis_entry_trains_its_own_run_about_those_axes_and_its_student_joins_the_generalist(
        project):
    knobs = {"SPECIALISTS": "cylinders:cylinders_000 cylinders:cylinders_000/x "
                            "cylinders:cylinders_000@palm_down/principal",
             "DISTILL": "students", "FINETUNE_ITERATIONS": "4", "ITERATIONS_cylinders": "3",
             "ITERATIONS_cylinders_palm_up_x": "7", "WEIGHT_cylinders_palm_up_x": "2"}
    calls = run_script(project, **knobs)
    specialists = [c for c in calls if c[:2] == ["train", "ppo"] and "--generalist" not in c]
    assert [(flag(c, "--out"), flag(c, "--wrists"), flag(c, "--axes"), flag(c, "--iterations"))
            for c in specialists] == [
        ("runs/base/ppo_cylinders_000", "palm_up", "z", "3"),
        ("runs/base/ppo_cylinders_000_axis_x", "palm_up", "x", "7"),
        ("runs/base/ppo_cylinders_000_palm_down_axis_principal", "palm_down", "principal", "3")]
    # the +-x entry starts at random, not from the +-z gait trained before it
    assert [("--init" in c) for c in specialists] == [False, False, False]
    tunes = {flag(c, "--out"): c for c in finetunes(calls)}
    x_tune = tunes["runs/base/students/ppo_cylinders_000_axis_x/finetune"]
    assert (flag(x_tune, "--axes"), flag(x_tune, "--teacher")) == (
        "x", "runs/base/ppo_cylinders_000_axis_x/best.pt")
    rollouts = [flag(c, "--shards") for c in calls if c[:2] == ["rollout", "--policy"]
                and "students" in c[2]]
    assert rollouts == ["runs/base/student_data/ppo_cylinders_000",
                        "runs/base/student_data/ppo_cylinders_000_axis_x",
                        "runs/base/student_data/ppo_cylinders_000_axis_x_seed1",
                        "runs/base/student_data/ppo_cylinders_000_palm_down_axis_principal"]
    assert run_script(project, **knobs) == []  # every entry finished


@pytest.mark.parametrize(("knobs", "message"), [
    ({"SPECIALISTS": "cylinders@palm_down@x"}, "SPECIALISTS entry 'cylinders@palm_down@x'"),
    ({"SPECIALISTS": "cylinders/x/y"}, "SPECIALISTS entry 'cylinders/x/y'"),
    ({"SPECIALISTS": "cylinders cylinders@palm_down", "FINETUNE_ITERATIONS": "4"},
     "all at one wrist"),
    ({"SPECIALISTS": "cylinders cylinders/x", "FINETUNE_ITERATIONS": "4"},
     "all at one wrist and axis set"),
    ({"SPECIALISTS": "cylinders/x", "WEIGHT_cylinders_palm_up_x": "x"},
     "WEIGHT_cylinders_palm_up_x=x"),
    ({"SPECIALISTS": "cylinders@palm_down", "WEIGHT_cylinders_palm_down": "0"},
     "WEIGHT_cylinders_palm_down=0"),
])
def test_a_wrist_entry_it_cannot_build_is_refused_before_anything_trains(project, knobs,
                                                                        message):
    result = script(project, **knobs)
    assert result.returncode == 2 and message in result.stderr
    assert not (project / "calls.txt").exists()


def test_the_anchored_rounds_label_palm_up_with_the_generalist_and_average_it(project):
    """ANCHOR_ROUNDS=2: the generalist in checkpoint form labels its palm-up entry (its own
    rollouts), the palm-down student labels palm down (ANCHOR_WEIGHT times), DAgger from the
    generalist, and its last round averaged with it at AVERAGE; evaluation and fp16 copy use
    the average."""
    knobs = {"SPECIALISTS": "cylinders:cylinders_000 cylinders:cylinders_000@palm_down",
             "DISTILL": "students", "FINETUNE_ITERATIONS": "4", "ANCHOR_ROUNDS": "2",
             "ANCHOR_WEIGHT_cylinders_palm_down": "3", "AVERAGE": "0.3"}
    calls = run_script(project, **knobs)
    labellers = [c for c in calls if c[:2] == ["train", "ppo"]
                 and flag(c, "--generalist") == "runs/base/generalist/best"]
    (labeller,) = labellers
    assert (flag(labeller, "--out"), flag(labeller, "--iterations"),
            flag(labeller, "--critic-warmup"), flag(labeller, "--wrists")) == (
        "runs/base/anchor/labeller_ppo_cylinders_000", "2", "1", "palm_up")
    assert call_objects(labeller) == ["cylinders_000"] and "--teacher" not in labeller
    own = "runs/base/anchor/labeller_ppo_cylinders_000/model_0.pt"
    (rollout,) = [c for c in calls if c[:2] == ["rollout", "--policy"] and c[2] == own]
    assert flag(rollout, "--shards") == "runs/base/anchor/data/ppo_cylinders_000"
    (anchored,) = [c for c in calls if c[:2] == ["train", "dagger"]
                   and flag(c, "--out") == "runs/base/anchor/dagger"]
    down = "runs/base/students/ppo_cylinders_000_palm_down/finetune/best.pt"
    teachers = anchored[anchored.index("--teachers") + 1:anchored.index("--out")]
    assert teachers == [own, down, down, down]
    data = anchored[anchored.index("--data") + 1:anchored.index("--init")]
    assert data == ["runs/base/anchor/data/ppo_cylinders_000",
                    "runs/base/student_data/ppo_cylinders_000_palm_down"]
    assert (flag(anchored, "--init"), flag(anchored, "--rounds")) == (
        "runs/base/generalist/best", "2")
    (average,) = [c for c in calls if c[0] == "average"]
    assert average[1:3] == ["runs/base/generalist/best", "runs/base/anchor/dagger/round_1/last"]
    assert average[average.index("--weights") + 1:][:2] == ["0.7", "0.3"]
    assert flag(average, "--out") == "runs/base/averaged/best"
    compare = next(call for call in calls if call[:2] == ["sim", "compare"])
    assert compare[2] == "runs/base/averaged/best"
    assert flag(compare, "--out") == "runs/base/averaged/eval.json"
    (quantize,) = [c for c in calls if c[0] == "quantize"]
    assert quantize[1] == "runs/base/averaged/best"
    assert run_script(project, **knobs) == []  # all finished


@pytest.mark.parametrize(("knobs", "message"), [
    ({"ANCHOR_ROUNDS": "two"}, "ANCHOR_ROUNDS=two"),
    ({"ANCHOR_ROUNDS": "1", "AVERAGE": "1.5"}, "AVERAGE=1.5"),
    ({"ANCHOR_ROUNDS": "1", "AVERAGE": "half"}, "AVERAGE=half"),
    ({"ANCHOR_WEIGHT_cylinders": "0"}, "ANCHOR_WEIGHT_cylinders=0"),
    ({"ANCHOR_ROUNDS": "1", "SPECIALISTS": "reference"}, "not \"reference\""),
])
def test_an_anchor_it_cannot_run_is_refused_before_anything_trains(project, knobs, message):
    result = script(project, **knobs)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (project / "calls.txt").exists()


WRISTS = {"SPECIALISTS": "cylinders:cylinders_000 cylinders:cylinders_000@palm_down",
          "DISTILL": "students", "FINETUNE_ITERATIONS": "4", "WRISTS_ITERATIONS": "12",
          "SWA_FROM": "5"}


def test_the_fine_tune_at_both_wrists_averages_its_checkpoints(project):
    """WRISTS_ITERATIONS=12: one PPO run from the generalist at palm up and palm down, each
    from its own grasps, the palm-up teacher's critic; then the average of its checkpoints
    5, 10 and the last (11), which the evaluation and the fp16 copy take."""
    calls = run_script(project, **WRISTS)
    (both,) = [c for c in calls if c[:2] == ["train", "ppo"] and flag(c, "--out") ==
               "runs/base/wrists/ppo"]
    assert flag(both, "--generalist") == "runs/base/generalist/best"
    assert flag(both, "--teacher") == "runs/base/ppo_cylinders_000/best.pt"
    assert both[both.index("--wrists") + 1:both.index("--axes")] == ["palm_up", "palm_down"]
    assert (flag(both, "--grasp-wrist"), flag(both, "--iterations"), flag(both, "--init-std"),
            flag(both, "--actor-learning-rate")) == ("each", "12", "0.03", "5e-6")
    assert call_objects(both) == ["cylinders_000"]
    (average,) = [c for c in calls if c[0] == "average"]
    assert average[1:average.index("--out")] == [
        f"runs/base/wrists/ppo/model_{n}.pt" for n in (5, 10, 11)]
    assert flag(average, "--out") == "runs/base/wrists/best"
    compare = next(call for call in calls if call[:2] == ["sim", "compare"])
    assert (compare[2], flag(compare, "--out")) == ("runs/base/wrists/best",
                                                    "runs/base/wrists/eval.json")
    (quantize,) = [c for c in calls if c[0] == "quantize"]
    assert quantize[1] == "runs/base/wrists/best"
    assert run_script(project, **WRISTS) == []  # all finished
    assert "--wrist-fall-penalties" not in both


def test_each_wrist_of_the_both_wrist_fine_tune_takes_its_own_fall_term(project):
    """WRISTS_FALL_PENALTIES names a term per wrist; the run gets them in its --wrists order,
    and so does its resume (which rebuilds the environment from its flags)."""
    knobs = {**WRISTS, "WRISTS_FALL_PENALTIES": "palm_down=60 palm_up=20"}
    calls = run_script(project, **knobs)
    (both,) = [c for c in calls if flag(c, "--out") == "runs/base/wrists/ppo"]
    terms = both.index("--wrist-fall-penalties")
    assert both[terms + 1:terms + 3] == ["20", "60"] and "--fall-penalty" not in both
    (project / "runs/base/wrists/ppo/model_11.pt").unlink()
    shutil.rmtree(project / "runs/base/wrists/best")
    (resumed,) = [c for c in run_script(project, **knobs) if c[:2] == ["train", "ppo"]]
    assert flag(resumed, "--resume") == "runs/base/wrists/ppo/model_10.pt"
    terms = resumed.index("--wrist-fall-penalties")
    assert resumed[terms + 1:terms + 3] == ["20", "60"]


def test_an_interrupted_fine_tune_at_both_wrists_resumes_its_latest_checkpoint(project):
    run_script(project, **WRISTS)
    ppo = project / "runs/base/wrists/ppo"
    for n in range(8, 12):
        (ppo / f"model_{n}.pt").unlink()
    shutil.rmtree(project / "runs/base/wrists/best")
    (project / "runs/base/wrists/eval.json").unlink()
    calls = run_script(project, **WRISTS)
    (resumed,) = [c for c in calls if c[:2] == ["train", "ppo"]]
    assert (flag(resumed, "--resume"), flag(resumed, "--iterations")) == (
        "runs/base/wrists/ppo/model_7.pt", "4")
    assert flag(resumed, "--grasp-wrist") == "each" and "--teacher" not in resumed
    assert [c[0] for c in calls if c[0] in ("average", "sim")] == ["average", "sim"]


@pytest.mark.parametrize(("knobs", "message"), [
    ({"WRISTS_ITERATIONS": "many"}, "WRISTS_ITERATIONS=many"),
    ({"WRISTS_ITERATIONS": "12", "SWA_FROM": "7"}, "SWA_FROM=7"),
    ({"WRISTS_ITERATIONS": "30", "SPECIALISTS": "cylinders:cylinders_000 cuboids"},
     "WRISTS_ITERATIONS needs +-z cylinder entries at palm up and at another wrist"),
    ({**WRISTS, "WRISTS_FALL_PENALTIES": "palm_up=20"},
     "WRISTS_FALL_PENALTIES names no fall term for palm_down"),
    ({**WRISTS, "WRISTS_FALL_PENALTIES": "palm_up=20 base_up=60"},
     'WRISTS_FALL_PENALTIES="palm_up=20 base_up=60": give WRIST=TERM'),
    ({**WRISTS, "WRISTS_FALL_PENALTIES": "palm_up=20 palm_down=-1"}, "give WRIST=TERM"),
    ({"WRISTS_FALL_PENALTIES": "palm_up=20"}, "for each wrist of the WRISTS_ITERATIONS"),
])
def test_a_fine_tune_at_both_wrists_it_cannot_run_is_refused_before_anything_trains(
        project, knobs, message):
    result = script(project, **knobs)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (project / "calls.txt").exists()


RELABEL = {**WRISTS, "SPECIALISTS": "cylinders:cylinders_000 cuboids:cuboids_000 "
           "cylinders:cylinders_000@palm_down", "RELABEL_ROUNDS": "2",
           "RELABEL_FALL_PENALTIES": "palm_down=60 palm_up=20",
           "ANCHOR_WEIGHT_cylinders_palm_up": "2", "ANCHOR_WEIGHT_cylinders_palm_down": "4"}


def test_the_relabelling_stage_lets_the_networks_per_wrist_fine_tune_label_its_cylinders(project):
    """RELABEL_ROUNDS=2 after the both-wrist fine-tune W: a second both-wrist fine-tune of W
    with its own fall terms labels the palm-up cylinders, W its cuboids, the palm-down student
    palm down (ANCHOR_WEIGHT turns each); DAgger from W, its last round averaged with W at
    AVERAGE, and the evaluation and fp16 copy take the average."""
    calls = run_script(project, **RELABEL)
    w = "runs/base/wrists/best"
    (second,) = [c for c in calls if flag(c, "--out") == "runs/base/relabel/wrists/ppo"]
    assert flag(second, "--generalist") == w and flag(second, "--iterations") == "12"
    terms = second.index("--wrist-fall-penalties")
    assert second[terms + 1:terms + 3] == ["20", "60"]
    (first,) = [c for c in calls if flag(c, "--out") == "runs/base/wrists/ppo"]
    assert "--wrist-fall-penalties" not in first  # WRISTS_FALL_PENALTIES is its own knob
    averages = [c for c in calls if c[0] == "average"]
    assert [flag(c, "--out") for c in averages] == [
        w, "runs/base/relabel/wrists/best", "runs/base/relabeled/best"]
    labellers = {flag(c, "--out"): flag(c, "--generalist") for c in calls
                 if c[:2] == ["train", "ppo"] and flag(c, "--out").startswith(
                     "runs/base/relabel/labeller_")}
    assert labellers == {"runs/base/relabel/labeller_ppo_cylinders_000":
                         "runs/base/relabel/wrists/best",
                         "runs/base/relabel/labeller_ppo_cuboids_000": w}
    (dagger,) = [c for c in calls if c[:2] == ["train", "dagger"]
                 and flag(c, "--out") == "runs/base/relabel/dagger"]
    cylinders = "runs/base/relabel/labeller_ppo_cylinders_000/model_0.pt"
    cuboids = "runs/base/relabel/labeller_ppo_cuboids_000/model_0.pt"
    down = "runs/base/students/ppo_cylinders_000_palm_down/finetune/best.pt"
    assert dagger[dagger.index("--teachers") + 1:dagger.index("--out")] == [
        cylinders, cylinders, cuboids, *[down] * 4]
    assert (flag(dagger, "--init"), flag(dagger, "--rounds")) == (w, "2")
    assert averages[-1][1:3] == [w, "runs/base/relabel/dagger/round_1/last"]
    assert averages[-1][averages[-1].index("--weights") + 1:][:2] == ["0.65", "0.35"]
    compare = next(call for call in calls if call[:2] == ["sim", "compare"])
    assert compare[2] == "runs/base/relabeled/best"
    (quantize,) = [c for c in calls if c[0] == "quantize"]
    assert quantize[1] == "runs/base/relabeled/best"
    assert run_script(project, **RELABEL) == []  # all finished


@pytest.mark.parametrize(("knobs", "message"), [
    ({**WRISTS, "RELABEL_ROUNDS": "two"}, "RELABEL_ROUNDS=two"),
    ({"RELABEL_ROUNDS": "2"}, "RELABEL_ROUNDS needs WRISTS_ITERATIONS"),
    ({**WRISTS, "RELABEL_FALL_PENALTIES": "palm_up=20 palm_down=60"},
     "RELABEL_FALL_PENALTIES sets the fall terms of the RELABEL_ROUNDS stage"),
    ({**RELABEL, "RELABEL_FALL_PENALTIES": "palm_up=20"},
     "RELABEL_FALL_PENALTIES names no fall term for palm_down"),
])
def test_a_relabelling_stage_it_cannot_run_is_refused_before_anything_trains(project, knobs,
                                                                              message):
    result = script(project, **knobs)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (project / "calls.txt").exists()
