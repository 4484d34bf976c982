#!/usr/bin/env bash
# Train the base policy (policies/base_policy) with the project's own commands, as in the paper
# (sections 3.1-3.2): one PPO specialist per object category of Table 14 on oracle observations,
# rollouts that keep only episodes surviving the full 400 steps, behaviour cloning of the
# proprioceptive generalist on all of them, DAgger rounds in which the teachers label the states
# the generalist visits (plain BC drops the object: docs/base_policy.md), and the evaluation
# table of docs/base_policy.md (generalist vs each teacher, nominal and real).
#
# Every stage is resumable: run the script again and it continues a specialist from its last
# checkpoint, skips a specialist that reached the budget, and skips rollouts, BC and evaluation
# whose outputs exist (delete one to redo it). Budget knobs (environment variables):
#   ITERATIONS  PPO iterations per specialist (128 envs x 32 steps = 4,096 env steps each)
#   EPISODES    surviving rollout episodes kept per specialist
#   CATEGORIES  which specialists, in order; the first warm-starts from policies/gap_reference,
#               the others from WARM_START (default: the first one's final checkpoint)
#   ROUNDS      DAgger rounds
#   RUNS        where everything goes
# On the 2-core CPU machine one iteration takes ~1.4 s: the defaults (5 x 800 iterations) take
# about 1.6 h for the specialists and 20 min for the rest. Then:
#   cp -r "$RUNS/dagger/best" policies/base_policy
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
iterations=${ITERATIONS:-800}
episodes=${EPISODES:-96}
rounds=${ROUNDS:-5}
runs=${RUNS:-runs/base}
read -r -a categories <<< "${CATEGORIES:-cylinders cuboids long_cuboids small_cylinders irregular}"
dexndm=.venv/bin/dexndm
# PPO alternates MuJoCo's rollout threads and torch's OpenMP threads on the same cores; idle
# OpenMP threads that spin-wait steal them: passive waiting buys ~8 % PPO throughput on 2 cores
# (3,284 -> 3,550 env steps/s, benchmarks/ppo_throughput.py) and costs pure-torch training
# ~15 %, so it is set here, for the simulation-bound stages only, not project-wide
ppo_env=(env "OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}")
# palm up, +-z (the issue's first stage); object mass from Table 14 (10-50 g); friction
# narrowed from Table 14's 0.3-3.0 to 0.6-2.0 for this budget
env_flags=(--wrists palm_up --axes z --friction-range 0.6 2.0)

latest() { ls -v "$1"/model_*.pt 2>/dev/null | tail -1; }
number() { local name; name=$(basename "$1" .pt); echo "${name#model_}"; }

train_specialist() {  # category, checkpoint to warm-start from
    local run=$runs/ppo_$1 last remaining
    last=$(latest "$run")
    if [[ -n $last ]]; then
        # rsl-rl names the final checkpoint of iterations 0..N-1 model_(N-1).pt
        remaining=$((iterations - 1 - $(number "$last")))
        if ((remaining <= 0)); then return; fi
        echo "== specialist $1: resuming $last for $remaining iterations"
        "${ppo_env[@]}" $dexndm train ppo --category "$1" --out "$run" --resume "$last" \
            --iterations "$remaining" "${env_flags[@]}"
    else
        echo "== specialist $1: $iterations iterations from $2"
        "${ppo_env[@]}" $dexndm train ppo --category "$1" --out "$run" --init "$2" \
            --critic-warmup 30 \
            --iterations "$iterations" "${env_flags[@]}"
    fi
}

first=${categories[0]}
train_specialist "$first" policies/gap_reference/model_1949.pt
warm_start=${WARM_START:-$(latest "$runs/ppo_$first")}
for category in "${categories[@]:1}"; do
    train_specialist "$category" "$warm_start"
done

for category in "${categories[@]}"; do
    if [[ ! -d $runs/bc_data/$category ]]; then
        echo "== rollouts $category"
        $dexndm rollout --policy "$(latest "$runs/ppo_$category")" --episodes "$episodes" \
            --steps 400 --shards "$runs/bc_data/$category" \
            --library "$runs/library_$category.npz"
    fi
done

if [[ ! -d $runs/bc/best ]]; then
    echo "== behaviour cloning"
    $dexndm train bc --data "$runs"/bc_data/* --out "$runs/bc" --width 512 --blocks 3 \
        --epochs 30 --no-progress --overwrite
fi

teachers=()
for category in "${categories[@]}"; do teachers+=("$(latest "$runs/ppo_$category")"); done
if [[ ! -d $runs/dagger/best ]]; then
    echo "== DAgger"
    $dexndm train dagger --data "$runs"/bc_data/* --init "$runs/bc/best" \
        --teachers "${teachers[@]}" --out "$runs/dagger" --rounds "$rounds" --envs 64 \
        --steps 400 --epochs 4 --no-progress --overwrite
fi
if [[ ! -f $runs/eval.json ]]; then
    echo "== evaluation: generalist vs teachers, nominal and real"
    $dexndm sim compare "$runs/dagger/best" --teachers "${teachers[@]}" --profiles nominal real \
        --out "$runs/eval.json"
fi
echo "done: $runs/dagger/best (cp -r it to policies/base_policy), table in $runs/eval.json"
