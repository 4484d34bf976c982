#!/usr/bin/env bash
# The sim-to-sim table's "autotune + direct" and "autotune + DexNDM" rows (the paper's pipeline:
# system identification first, then DexNDM; docs/sim2sim.md):
#   1. the reference specialist fine-tuned by PPO in the profile `dexndm sysid` identified from
#      the stand-in's probing data (config/profiles/real_standin_identified.yaml);
#   2. its surviving rollouts in that profile, and DAgger from the shipped generalist
#      (policies/reference_student, distilled from the un-tuned reference) with the fine-tuned
#      specialist labelling, every round judged in the identified profile (never under the
#      stand-in): the autotuned generalist;
#   3. `dexndm experiment sim2sim` with that generalist as the base and the identified profile as
#      its training simulator (config/experiments/sim2sim_autotune.yaml): its Direct row is
#      "autotune + direct", its joint-wise DexNDM row "autotune + DexNDM", on the same starts as
#      every row of config/experiments/sim2sim.yaml.
#
# Resumable: each stage is skipped when its output exists (delete it to redo it); the PPO run
# continues from its last checkpoint. Budget knobs (environment variables):
#   ITERATIONS  PPO iterations of the fine-tune (4,096 env steps each; ~1.5 s each on 2 cores)
#   ROUNDS      DAgger rounds
#   RUNS        where everything goes
#   BASE        where the autotuned generalist is copied (the experiment's `base`)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
iterations=${ITERATIONS:-2500}
rounds=${ROUNDS:-3}
runs=${RUNS:-runs/autotune}
base=${BASE:-runs/autotune/base_policy}
profile=config/profiles/real_standin_identified.yaml
dexndm=.venv/bin/dexndm
ppo_env=(env "OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}")  # why: train_base_policy.sh

latest() { ls -v "$1"/model_*.pt 2>/dev/null | tail -1; }
number() { local name; name=$(basename "$1" .pt); echo "${name#model_}"; }

# the reference's own environment (one cylinder, palm up, +-z, fixed mass and friction) in the
# identified profile; warm start from its actor with a fresh critic trained alone first
ppo_flags=(--category cylinders --objects cylinders_004 --mass-range 0.03 0.03
           --friction-range 1.0 1.0 --profile "$profile" --learning-rate 3e-4 --desired-kl 0.02
           --device cpu)
run=$runs/ppo
last=$(latest "$run")
if [[ -z $last ]]; then
    echo "== fine-tune: $iterations iterations from policies/gap_reference"
    "${ppo_env[@]}" $dexndm train ppo --out "$run" --iterations "$iterations" \
        --init policies/gap_reference/model_1949.pt --critic-warmup 30 "${ppo_flags[@]}"
else
    remaining=$((iterations - 1 - $(number "$last")))
    if ((remaining > 0)); then
        echo "== fine-tune: resuming $last for $remaining iterations"
        "${ppo_env[@]}" $dexndm train ppo --out "$run" --resume "$last" \
            --iterations "$remaining" "${ppo_flags[@]}"
    fi
fi
teacher=$(latest "$run")  # the run's end, chosen before anything was measured

if [[ ! -d $runs/rollouts ]]; then
    echo "== rollouts of $teacher"
    $dexndm rollout --policy "$teacher" --episodes 64 --steps 400 --shards "$runs/rollouts"
fi
if [[ ! -d $runs/dagger/best ]]; then
    echo "== DAgger from policies/reference_student"
    $dexndm train dagger --data "$runs/rollouts" --init policies/reference_student \
        --teachers "$teacher" --out "$runs/dagger" --rounds "$rounds" --envs 64 --steps 400 \
        --epochs 6 --beta 0.7 --eval-episodes 64 --no-progress --overwrite
fi
if [[ ! -f $base/bundle.yaml ]]; then
    mkdir -p "$(dirname "$base")"
    cp -r "$runs/dagger/best" "$base"
fi
echo "== sim-to-sim experiment with the autotuned base"
$dexndm experiment sim2sim --config config/experiments/sim2sim_autotune.yaml \
    --out "$runs/sim2sim"
