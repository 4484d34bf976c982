#!/usr/bin/env bash
# Train the base policy (policies/base_policy) with the project's own commands, as in the paper
# (sections 3.1-3.2): one PPO specialist per object category of Table 14 on oracle observations,
# rollouts that keep only episodes surviving the full 400 steps, behaviour cloning of the
# proprioceptive generalist on all of them, DAgger rounds in which the teachers label the states
# the generalist visits (plain BC drops the object: docs/base_policy_log.md), and the evaluation
# table of docs/base_policy.md (generalist vs each teacher, nominal and real).
#
# Every stage is resumable: run the script again and it continues a specialist from its last
# checkpoint, skips a specialist that reached the budget, and skips rollouts, BC, DAgger and
# evaluation whose outputs exist (delete one to redo it). Knobs (environment variables):
#   SPECIALISTS  entries CATEGORY (all its objects) or CATEGORY:OBJECT (that object only), each
#                at palm up or, with @WRIST, at that wrist (cylinders@palm_down: the palm-down
#                stage; its runs are named ..._palm_down), about +-z or, with /AXES, that axis
#                set of `train ppo --axes` (cylinders/x: the principal-axes stage, run
#                ..._axis_x), or "reference" (policies/gap_reference as it is, no training);
#                default: the five categories, all objects, palm up, +-z. A knob named for a
#                category below (ITERATIONS_, WARM_START_, WEIGHT_) takes a wrist and an axis
#                set too, the most specific set one counting: ITERATIONS_cylinders_palm_up_x,
#                then ITERATIONS_cylinders_palm_up, then ITERATIONS_cylinders
#   ITERATIONS   PPO iterations per specialist (ENVS x 32 env steps each);
#                ITERATIONS_<category> overrides it for one category
#   ENVS         environments per specialist (default 512: with 128, 4,096 samples an iteration,
#                every warm start drifted off the reference's rotation; 2048 lifted the issue's
#                cylinder teacher past the 512 plateau at ~15 s an iteration, 4096 (~30-37 s)
#                past 2,048's plateau after ~250 iterations: docs/base_policy_log.md)
#   PHYSICS      object physics flags of `dexndm train ppo` (default: Table 14 mass, friction
#                narrowed to 0.6-2.0); "--no-randomize-physics" trains every object at its own
#                Table 14 draw, the mass and friction `dexndm sim eval` scores it with;
#                add "--observe-physics" for an oracle that sees mass, friction and size, and
#                "--eval-own-physics" to pick the best checkpoint at each object's own draw
#   EVAL_EPISODES  deterministic episodes every saved checkpoint is evaluated on (default 64);
#                the best (RUN/best.pt) teaches, not the last: warm starts peaked, then drifted
#   WARM_START   checkpoint every specialist starts from, or "none" for a random start (default:
#                cylinders, cuboids and irregular objects start at random, long cuboids from the
#                cuboid specialist's best checkpoint when cuboids come before them (else at
#                random), small cylinders from the first specialist's best checkpoint (the
#                reference if small cylinders come first): warm starts from the cylinder gait
#                learned to hold flat faces without turning them, on the issue's two cylinders
#                the reference's lineage plateaued at ~4 rad where a random start passed 6 in
#                300 iterations, and long cuboids from random plateaued at ~1.1 rad where the
#                cuboid gait passed it in 30: docs/base_policy_log.md); an entry at another
#                wrist than palm up or another axis set than +-z starts at random (the palm-down
#                cylinder teacher warm-started from the palm-up gait held at 1.6 rad where a
#                random start passed 9 in 320 iterations); WARM_START_<category> overrides both
#                for one category (the +-x cylinder teacher policies/cylinders_axis_x is such
#                a run, cylinders/x, on the issue's two cylinders: docs/base_policy_log.md)
#   EPISODES     surviving rollout episodes kept per specialist
#   INIT         a base_policy bundle DAgger starts from instead of behaviour cloning
#   ROUNDS, DAGGER_ENVS, BETA   DAgger rounds, environments per teacher, teacher share
#   FINETUNE_ITERATIONS  PPO fine-tuning of the DAgger student in its teachers' environment
#                (`train ppo --generalist`: every SPECIALISTS entry, none "reference", all
#                whole categories or all single objects, all at one wrist; several run as one
#                environment over their categories, the first teacher's critic starting it;
#                default 0: off);
#                FINETUNE_ENVS (1024), FINETUNE_RATE (the actor's fixed rate,
#                5e-6), FINETUNE_STD (0.05), FINETUNE_WARMUP (critic-only iterations, 10,
#                counted in FINETUNE_ITERATIONS), FINETUNE_FALL_PENALTY (the training reward's
#                fall term, default 20; the shipped cylinder student took a second fine-tune
#                at 60 to hold longer: docs/base_policy.md); the evaluation and the fp16
#                bundle then use its best
#   FINETUNE_STAGES  the fine-tune as stages of growing batch, "END:ENVS ..." (END: iterations
#                in all when the stage stops), each resumed from the previous stage's last
#                checkpoint in a directory of its own (a run keeps one environment); replaces
#                FINETUNE_ITERATIONS and FINETUNE_ENVS; the evaluation uses the last stage's
#                best. The kept student (policies/cylinders_issue_student) was
#                FINETUNE_STAGES="281:1024 431:2048 456:4096" (docs/base_policy_log.md)
#   DISTILL      teachers (default): BC and DAgger of the generalist from the oracle teachers,
#                then the optional fine-tune over all of them; students: per teacher a student
#                (BC, DAgger, the FINETUNE_STAGES fine-tune on its own entry), then the
#                generalist by DAgger from the fine-tuned students (RUNS/generalist);
#                WEIGHT_<category> (default 1) gives a category's student N rollouts (seeds
#                0..N-1) and N turns at labelling in every DAgger round (the shipped network's
#                cuboid share passed 50 % with the cuboids weighted twice). The
#                shipped generalist was made this way (docs/base_policy.md), e.g.
#                SPECIALISTS="cylinders cuboids small_cylinders cylinders@palm_down" \
#                ENVS=2048 PHYSICS="--no-randomize-physics --grasp-seeds 0 1 2 \
#                --min-grasp-hold 5" DISTILL=students FINETUNE_ITERATIONS=200 \
#                WEIGHT_cylinders_palm_up=2 WEIGHT_small_cylinders=2 (its palm-down line
#                came from a palm-down student labelling beside the palm-up three, which
#                labelled twice except the cuboids), then once more from that network with
#                RUNS/generalist moved to G: INIT=G/best ROUNDS=1 WEIGHT_cylinders=3
#                WEIGHT_small_cylinders=2 (both cylinder wrists three times: palm down 40 ->
#                47 % of its teacher: B); that second run with ANCHOR_ROUNDS=2 AVERAGE=0.35
#                ANCHOR_WEIGHT_cylinders_palm_up=2 ANCHOR_WEIGHT_small_cylinders=1
#                ANCHOR_WEIGHT_cylinders_palm_down=4 added gives A, the network the
#                WRISTS stage below starts from (palm down 47 -> 51 %, the palm-up lines
#                kept; the shipped run's palm-down student was fine-tuned once more at fall
#                term 60 for its anchored rounds)
#   ANCHOR_ROUNDS  after the generalist, DAgger rounds from it in which it labels its own
#                palm-up +-z cells (rolled out by itself, as a labeller) and each other entry's
#                labeller (its student, or its teacher with DISTILL=teachers) labels its own;
#                the last round is then averaged with the generalist (`dexndm average`)
#                (default 0: off); ANCHOR_WEIGHT_<category> (default: its WEIGHT) gives an
#                entry that many turns at labelling in those rounds
#   AVERAGE      the anchored network's weight in that average (default 0.35: the palm-down
#                cylinders passed half their teacher's rotation with every palm-up line kept)
#   WRISTS_ITERATIONS  last, a PPO fine-tune of the network at every wrist of the +-z cylinder
#                entries at once (`train ppo --generalist --wrists palm_up palm_down
#                --grasp-wrist each`: each wrist from its own grasps; the palm-up teacher's
#                critic; WRISTS_ENVS environments, default 1024), then the average of its
#                checkpoints from iteration SWA_FROM (default 20) on, every 5th and the last
#                (`dexndm average RUN/model_N.pt...`; one checkpoint to the next moves a
#                teacher share by ~5 points either way) (default 0: off). W, the network
#                shipped before the current one: WRISTS_ITERATIONS=56 after the ANCHOR_ROUNDS
#                run above (palm-up cylinders 50 -> 55 % of the teacher; RELABEL_ROUNDS below
#                makes the network shipped now from it); WRISTS_FALL_PENALTIES="palm_up=20
#                palm_down=60" gives each wrist of that fine-tune its own fall term in the
#                training reward (every wrist named; default: the reward's 20 at each;
#                docs/base_policy_log.md, "A fall term per wrist")
#   RELABEL_ROUNDS  last, after WRISTS_ITERATIONS: a second fine-tune of the network at both
#                wrists (that stage's, into RUNS/relabel/wrists; RELABEL_FALL_PENALTIES as
#                WRISTS_FALL_PENALTIES) labels the palm-up cylinder entries, the network its
#                other palm-up +-z cells and each other entry's labeller its own
#                (ANCHOR_WEIGHT_<category> turns each), DAgger from the network for
#                RELABEL_ROUNDS rounds, the last averaged with it at AVERAGE (default 0: off).
#                The shipped network: RELABEL_ROUNDS=2 RELABEL_FALL_PENALTIES="palm_up=20
#                palm_down=60" with the ANCHOR_WEIGHT knobs above, after W (palm-up cylinders
#                55 -> 57 %, palm down 50 -> 52 % of their teachers over 576 starts; its
#                palm-down labeller was a student made afresh at fall term 60, and W one
#                checkpoint over its palm-up categories: docs/base_policy.md)
#   RUNS         where everything goes
# On the 2-core CPU machine one iteration of 512 environments takes ~6 s at the benchmarked
# throughput (~19 s measured on a slower host): the defaults (5 x 300 iterations, 4.9 M env
# steps each) take 2.5-8 h for the specialists and 20-40 min for the rest. On a larger machine
# the physics runs on every core and the PPO update on the GPU torch sees, with no flag (4,096
# environments: 7.8 s an iteration on 16 cores and an H200, 31.6 s here). The five-teacher run
# of docs/base_policy_log.md ("Five teachers, one object each"; measured, not shipped; 128 envs):
#   SPECIALISTS="reference cuboids:cuboids_007 long_cuboids:long_cuboids_000 \
#     small_cylinders:small_cylinders_004 irregular:irregular_000" ENVS=128 ITERATIONS=600 \
#     ITERATIONS_cuboids=800 ITERATIONS_small_cylinders=900 \
#     PHYSICS="--mass-range 0.03 0.03 --friction-range 1.0 1.0" \
#     WARM_START=policies/gap_reference/model_1949.pt EPISODES=64 INIT=policies/base_policy \
#     ROUNDS=4 DAGGER_ENVS=32 BETA=0.7 RUNS=runs/spec scripts/train_base_policy.sh
# Then: cp -r "$RUNS/dagger/best" (with a fine-tune, its last stage's best; the script's
# last line names it) to policies/base_policy, or its best_fp16 (float16 weights run in
# float32, half the size, outputs within 2e-3 of fp32)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
episodes=${EPISODES:-96}
eval_episodes=${EVAL_EPISODES:-64}
rounds=${ROUNDS:-5}
runs=${RUNS:-runs/base}
reference=policies/gap_reference/model_1949.pt
read -r -a specialists <<< "${SPECIALISTS:-cylinders cuboids long_cuboids small_cylinders irregular}"
read -r -a physics <<< "${PHYSICS:---friction-range 0.6 2.0}"
dexndm=.venv/bin/dexndm
# PPO alternates MuJoCo's rollout threads and torch's OpenMP threads on the same cores; idle
# OpenMP threads that spin-wait steal them: passive waiting buys ~8 % PPO throughput on 2 cores
# (3,284 -> 3,550 env steps/s, benchmarks/ppo_throughput.py) and costs pure-torch training
# ~15 %, so it is set here, for the simulation-bound stages only, not project-wide
ppo_env=(env "OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}")
envs=${ENVS:-512}
# an entry is CATEGORY[:OBJECT][@WRIST][/AXES]
axes_of() { if [[ $1 == */* ]]; then echo "${1#*/}"; else echo z; fi; }
wrist_of() { local e=${1%/*}; if [[ $e == *@* ]]; then echo "${e#*@}"; else echo palm_up; fi; }
category_of() { local bare=${1%/*}; bare=${bare%@*}; echo "${bare%%:*}"; }
object_of() { local bare=${1%/*}; bare=${bare%@*}; [[ $bare != *:* ]] || echo "${bare#*:}"; }
entry_flags_of() {  # entry -> $entry_flags: its environment but the batch size
    # at its wrist and axis set; a resumed run must repeat these (train ppo refuses an
    # environment that differs from the run's env.yaml)
    local wrist
    wrist=$(wrist_of "$1")
    entry_flags=(--wrists "$wrist" --axes "$(axes_of "$1")" --grasp-wrist "$wrist"
                 "${physics[@]}")
}
knob_names() {  # NAME entry -> its knob names, most specific first
    local category wrist axes
    category=$(category_of "$2") wrist=$(wrist_of "$2") axes=$(axes_of "$2")
    [[ $axes == z ]] || echo "$1_${category}_${wrist}_$axes"
    echo "$1_${category}_$wrist"
    echo "$1_$category"
}
knob() {  # NAME entry -> the value of its most specific knob that is set, else nothing
    local name
    for name in $(knob_names "$1" "$2"); do
        if [[ -n ${!name:-} ]]; then echo "${!name}"; return; fi
    done
}

# the entry's shape only: `train ppo` names the categories, wrists and axis sets it knows
entry_pattern='^[a-z_]+(:[a-z0-9_]+)?(@[a-z_]+)?(/[a-z+-]+)?$'
for specialist in "${specialists[@]}"; do
    if [[ $specialist != reference && ! $specialist =~ $entry_pattern ]]; then
        echo "SPECIALISTS entry '$specialist': give CATEGORY or CATEGORY:OBJECT, either with" \
             "@WRIST (e.g. cylinders@palm_down) and /AXES (an axis set of train ppo --axes," \
             "e.g. cylinders/x), or reference" >&2
        exit 2
    fi
done

# the fine-tune's stages, checked before anything trains
read -r -a finetune_stages <<< "${FINETUNE_STAGES:-}"
if ((${#finetune_stages[@]} == 0)) && ((${FINETUNE_ITERATIONS:-0} > 0)); then
    finetune_stages=("$FINETUNE_ITERATIONS:${FINETUNE_ENVS:-1024}")
fi
distill=${DISTILL:-teachers}
if [[ $distill != teachers && $distill != students ]]; then
    echo "DISTILL=$distill: give teachers or students" >&2
    exit 2
fi
for specialist in "${specialists[@]}"; do
    for weight_knob in $(knob_names WEIGHT "$specialist"); do
        if [[ -n ${!weight_knob:-} && ! ${!weight_knob} =~ ^[1-9][0-9]*$ ]]; then
            echo "$weight_knob=${!weight_knob}: give a whole number of 1 or more (how many" \
                 "times its student rolls out and labels)" >&2
            exit 2
        fi
    done
done
if [[ $distill == students ]] && ((${#finetune_stages[@]} == 0)); then
    echo "DISTILL=students needs FINETUNE_ITERATIONS or FINETUNE_STAGES: each student is" \
         "fine-tuned, and its fine-tuned checkpoint labels the generalist" >&2
    exit 2
fi
if ((${#finetune_stages[@]} > 0)); then
    with_object=0 settings=()
    for specialist in "${specialists[@]}"; do
        if [[ $specialist == reference ]]; then
            echo "FINETUNE_ITERATIONS or FINETUNE_STAGES needs every SPECIALISTS entry trained" \
                 "here, not \"reference\" (a teacher's critic starts the fine-tune; shipped" \
                 "checkpoints hold only the actor)" >&2
            exit 2
        fi
        [[ -n $(object_of "$specialist") ]] && with_object=$((with_object + 1))
        setting=$(wrist_of "$specialist")/$(axes_of "$specialist")
        [[ " ${settings[*]} " == *" $setting "* ]] || settings+=("$setting")
    done
    # (one fine-tune over every teacher's objects; DISTILL=students fine-tunes one entry each)
    if [[ $distill == teachers ]] && ((with_object != 0 && with_object != ${#specialists[@]})); then
        echo "FINETUNE_ITERATIONS or FINETUNE_STAGES: give SPECIALISTS as all whole categories" \
             "or all CATEGORY:OBJECT entries (the fine-tune runs on exactly their objects)" >&2
        exit 2
    fi
    if [[ $distill == teachers ]] && ((${#settings[@]} > 1)); then
        echo "FINETUNE_ITERATIONS or FINETUNE_STAGES: give SPECIALISTS all at one wrist and" \
             "axis set (one fine-tune environment over them; DISTILL=students fine-tunes each" \
             "at its own)" >&2
        exit 2
    fi
    stage_end=0
    for stage in "${finetune_stages[@]}"; do
        if [[ ! $stage =~ ^[0-9]+:[0-9]+$ ]] || ((${stage%%:*} <= stage_end)); then
            echo "FINETUNE_STAGES entry '$stage': give END:ENVS with END above the previous" \
                 "stage's (e.g. \"281:1024 431:2048 456:4096\")" >&2
            exit 2
        fi
        stage_end=${stage%%:*}
    done
fi

anchor_rounds=${ANCHOR_ROUNDS:-0} average=${AVERAGE:-0.35}
if [[ ! $anchor_rounds =~ ^[0-9]+$ ]]; then
    echo "ANCHOR_ROUNDS=$anchor_rounds: give a whole number (0: no anchored DAgger)" >&2
    exit 2
fi
if [[ ! $average =~ ^(0(\.[0-9]+)?|1(\.0*)?|\.[0-9]+)$ ]]; then
    echo "AVERAGE=$average: give the anchored network's weight, a number from 0 to 1" >&2
    exit 2
fi
for specialist in "${specialists[@]}"; do
    if ((anchor_rounds > 0)) && [[ $specialist == reference ]]; then
        echo "ANCHOR_ROUNDS needs every SPECIALISTS entry trained here, not \"reference\"" \
             "(the generalist labels in each palm-up entry's own environment)" >&2
        exit 2
    fi
    for weight_knob in $(knob_names ANCHOR_WEIGHT "$specialist"); do
        if [[ -n ${!weight_knob:-} && ! ${!weight_knob} =~ ^[1-9][0-9]*$ ]]; then
            echo "$weight_knob=${!weight_knob}: give a whole number of 1 or more" >&2
            exit 2
        fi
    done
done

wrists_iterations=${WRISTS_ITERATIONS:-0} swa_from=${SWA_FROM:-20}
if [[ ! $wrists_iterations =~ ^[0-9]+$ ]]; then
    echo "WRISTS_ITERATIONS=$wrists_iterations: give a whole number (0: no fine-tune at both" \
         "wrists)" >&2
    exit 2
fi
if ((wrists_iterations > 0)); then
    if [[ ! $swa_from =~ ^[0-9]+$ ]] || ((swa_from > wrists_iterations - 6)); then
        echo "SWA_FROM=$swa_from: give the first checkpoint averaged, a whole number at least" \
             "6 below WRISTS_ITERATIONS ($wrists_iterations), so two or more are averaged" >&2
        exit 2
    fi
    cylinder_wrists=()
    for specialist in "${specialists[@]}"; do
        [[ $(category_of "$specialist") == cylinders && $(axes_of "$specialist") == z ]] &&
            cylinder_wrists+=("$(wrist_of "$specialist")")
    done
    if [[ " ${cylinder_wrists[*]} " != *" palm_up "* ||
          $(printf '%s\n' "${cylinder_wrists[@]}" | sort -u | wc -l) -lt 2 ]]; then
        echo "WRISTS_ITERATIONS needs +-z cylinder entries at palm up and at another wrist in" \
             "SPECIALISTS (e.g. cylinders cylinders@palm_down): the fine-tune runs at their" \
             "wrists with the palm-up teacher's critic" >&2
        exit 2
    fi
fi
fall_terms() {  # KNOB ARRAY: "WRIST=TERM ..." of KNOB into associative ARRAY, one per wrist
    local knob=$1 term wrist value
    local -n terms=$2
    [[ -n ${!knob:-} ]] || return 0
    for term in ${!knob}; do
        wrist=${term%%=*} value=${term#*=}
        if ((wrists_iterations == 0)) || [[ $term != *=* || ! $value =~ ^[0-9]+([.][0-9]+)?$ ||
              " ${cylinder_wrists[*]} " != *" $wrist "* ]]; then
            echo "$knob=\"${!knob}\": give WRIST=TERM (a number >= 0) for each wrist of the" \
                 "WRISTS_ITERATIONS fine-tune (e.g. palm_up=20 palm_down=60)" >&2
            exit 2
        fi
        terms[$wrist]=$value
    done
    for wrist in "${cylinder_wrists[@]}"; do
        if [[ -z ${terms[$wrist]:-} ]]; then
            echo "$knob names no fall term for $wrist: give every wrist of the fine-tune one" \
                 "(${cylinder_wrists[*]})" >&2
            exit 2
        fi
    done
}
# each wrist's fall term of the both-wrist fine-tune, and of the relabelling stage's own one
declare -A wrist_fall=() relabel_fall=()
fall_terms WRISTS_FALL_PENALTIES wrist_fall
relabel_rounds=${RELABEL_ROUNDS:-0}
if [[ ! $relabel_rounds =~ ^[0-9]+$ ]]; then
    echo "RELABEL_ROUNDS=$relabel_rounds: give a whole number (0: no relabelling stage)" >&2
    exit 2
fi
if ((relabel_rounds > 0 && wrists_iterations == 0)); then
    echo "RELABEL_ROUNDS needs WRISTS_ITERATIONS: its palm-up cylinder labeller is a fine-tune" \
         "of the network at both wrists, as long as that stage's" >&2
    exit 2
fi
if ((relabel_rounds > 0)) && [[ " ${specialists[*]} " == *" reference "* ]]; then
    echo "RELABEL_ROUNDS needs every SPECIALISTS entry trained here, not \"reference\"" >&2
    exit 2
fi
fall_terms RELABEL_FALL_PENALTIES relabel_fall
if [[ -n ${RELABEL_FALL_PENALTIES:-} ]] && ((relabel_rounds == 0)); then
    echo "RELABEL_FALL_PENALTIES sets the fall terms of the RELABEL_ROUNDS stage's fine-tune:" \
         "give RELABEL_ROUNDS too" >&2
    exit 2
fi

latest() { ls -v "$1"/model_*.pt 2>/dev/null | tail -1 || true; }  # "" when none
number() { local name; name=$(basename "$1" .pt); echo "${name#model_}"; }
run_of() {  # specialist entry -> its run directory
    local name wrist axes
    name=$(object_of "$1") wrist=$(wrist_of "$1") axes=$(axes_of "$1")
    [[ -n $name ]] || name=$(category_of "$1")
    # palm-up runs about +-z keep the names they had
    [[ $wrist == palm_up ]] || name+=_$wrist
    [[ $axes == z ]] || name+=_axis_$axes
    echo "$runs/ppo_$name"
}
teacher_of() {  # specialist entry -> the checkpoint that teaches: its best evaluated one
    local run
    if [[ $1 == reference ]]; then echo "$reference"; return; fi
    run=$(run_of "$1")
    if [[ -f $run/best.pt ]]; then echo "$run/best.pt"; else latest "$run"; fi
}

train_specialist() {  # entry, checkpoint to warm-start from
    local category run last remaining objects=() iterations entry_flags
    [[ $1 == reference ]] && return
    category=$(category_of "$1") run=$(run_of "$1")
    [[ -n $(object_of "$1") ]] && objects=(--objects "$(object_of "$1")")
    iterations=$(knob ITERATIONS "$1")
    iterations=${iterations:-${ITERATIONS:-300}}
    entry_flags_of "$1"
    last=$(latest "$run")
    if [[ -n $last ]]; then
        # rsl-rl names the final checkpoint of iterations 0..N-1 model_(N-1).pt; a run resumed
        # from model_K.pt continues at iteration K+1, so it needs N-1-K more to end at N-1
        if (($(number "$last") >= iterations - 1)); then return; fi
        remaining=$((iterations - 1 - $(number "$last")))
        echo "== specialist $1: resuming $last for $remaining iterations"
        "${ppo_env[@]}" $dexndm train ppo --category "$category" --out "$run" --resume "$last" \
            --iterations "$remaining" --eval-episodes "$eval_episodes" "${objects[@]}" \
            --num-envs "$envs" "${entry_flags[@]}"
    else
        local start=(--init "$2" --critic-warmup 30) from=$2
        if [[ $2 == none ]]; then start=(); from="a random start"; fi
        echo "== specialist $1: $iterations iterations from $from"
        "${ppo_env[@]}" $dexndm train ppo --category "$category" --out "$run" "${start[@]}" \
            --iterations "$iterations" --eval-episodes "$eval_episodes" "${objects[@]}" \
            --num-envs "$envs" "${entry_flags[@]}"
    fi
}

start_of() {  # specialist entry, its default warm start -> the checkpoint it starts from, or none
    local category chosen
    category=$(category_of "$1") chosen=$(knob WARM_START "$1")
    if [[ -n $chosen ]]; then echo "$chosen"; return; fi
    if [[ -n ${WARM_START:-} ]]; then echo "$WARM_START"; return; fi
    # another wrist or axis set than palm up about +-z starts at random: the palm-down cylinder
    # teacher warm-started from the palm-up gait held at 1.6 rad where a random start passed 9
    if [[ $(wrist_of "$1") != palm_up || $(axes_of "$1") != z ]]; then echo none; return; fi
    case $category in
        long_cuboids)  # the cuboid gait, where a palm-up cuboid specialist was trained before
            local entry
            for entry in "${specialists[@]}"; do
                [[ $entry == "$1" ]] && break
                if [[ $(category_of "$entry") == cuboids && $(wrist_of "$entry") == palm_up &&
                      $(axes_of "$entry") == z ]]; then
                    teacher_of "$entry"
                    return
                fi
            done
            echo none ;;
        cylinders | cuboids | irregular) echo none ;;
        *) echo "$2" ;;
    esac
}

first=${specialists[0]}
train_specialist "$first" "$(start_of "$first" "$reference")"
for entry in "${specialists[@]:1}"; do
    train_specialist "$entry" "$(start_of "$entry" "$(teacher_of "$first")")"
done

teachers=()
for entry in "${specialists[@]}"; do
    teacher=$(teacher_of "$entry")
    teachers+=("$teacher")
    name=$(basename "$(dirname "$teacher")")
    if [[ ! -d $runs/bc_data/$name ]]; then
        echo "== rollouts $entry"
        $dexndm rollout --policy "$teacher" --episodes "$episodes" --steps 400 \
            --shards "$runs/bc_data/$name" --library "$runs/library_$name.npz"
    fi
done

finetune() {  # run directory, student bundle, teacher checkpoint, entries -> $finetuned
    # PPO fine-tuning of a DAgger student on its own observation, as FINETUNE_STAGES says: one
    # environment over the entries' objects (or whole categories), the teacher's critic
    local prefix=$1 student=$2 teacher=$3 specialist stage stage_end stage_envs stage_run last
    shift 3
    local entries=("$@") categories=() objects=() previous_end=0 previous_run="" flags overwrite
    local entry_flags
    for specialist in "${entries[@]}"; do
        [[ " ${categories[*]} " == *" $(category_of "$specialist") "* ]] ||
            categories+=("$(category_of "$specialist")")
        [[ -n $(object_of "$specialist") ]] && objects+=("$(object_of "$specialist")")
    done
    entry_flags_of "${entries[0]}"  # one wrist and axis set for all (checked above)
    ((${#objects[@]} > 0)) && objects=(--objects "${objects[@]}")
    for stage in "${finetune_stages[@]}"; do
        stage_end=${stage%%:*} stage_envs=${stage#*:}
        # the first stage keeps the single-stage name, so FINETUNE_ITERATIONS runs resume here
        stage_run=$prefix
        [[ -n $previous_run ]] && stage_run=${prefix}_to${stage_end}_envs$stage_envs
        flags=(--category "${categories[0]}" --categories "${categories[@]}" --out "$stage_run"
               --generalist "$student" --eval-episodes "$eval_episodes" "${objects[@]}"
               "${entry_flags[@]}" --num-envs "$stage_envs")
        # in every stage's flags: a resume rebuilds the environment from them and checks it
        [[ -n ${FINETUNE_FALL_PENALTY:-} ]] && flags+=(--fall-penalty "$FINETUNE_FALL_PENALTY")
        last=$(latest "$stage_run")
        if [[ -z $last && -z $previous_run ]]; then
            echo "== PPO fine-tuning of $student: $stage_end iterations, $stage_envs envs"
            # --overwrite: without a checkpoint, nothing of an interrupted start is worth keeping
            "${ppo_env[@]}" $dexndm train ppo "${flags[@]}" --teacher "$teacher" \
                --overwrite --critic-warmup "${FINETUNE_WARMUP:-10}" \
                --init-std "${FINETUNE_STD:-0.05}" \
                --actor-learning-rate "${FINETUNE_RATE:-5e-6}" --iterations "$stage_end"
        else
            # the previous stage's final checkpoint starts this one; its own latest resumes it
            [[ -z $last ]] && last=$previous_run/model_$((previous_end - 1)).pt
            if (($(number "$last") < stage_end - 1)); then
                echo "== PPO fine-tuning of $student: $stage_envs envs from $last"
                overwrite=()
                [[ $(dirname "$last") != "$stage_run" ]] && overwrite=(--overwrite)
                "${ppo_env[@]}" $dexndm train ppo "${flags[@]}" --resume "$last" \
                    "${overwrite[@]}" --actor-learning-rate "${FINETUNE_RATE:-5e-6}" \
                    --iterations $((stage_end - 1 - $(number "$last")))
            fi
        fi
        previous_end=$stage_end previous_run=$stage_run
    done
    finetuned=$previous_run
}

if [[ $distill == students ]]; then
    # one student per teacher (BC, DAgger, fine-tune on its own category), then the generalist
    # distilled from the students: their labels are functions of the observation it sees, where
    # distillation from the oracle teachers lost what fine-tuning had won
    # (docs/base_policy_log.md, "One generalist from the students")
    students=()
    for index in "${!specialists[@]}"; do
        entry=${specialists[index]} teacher=${teachers[index]}
        name=$(basename "$(dirname "$teacher")")
        dir=$runs/students/$name
        if [[ ! -d $dir/bc/best ]]; then
            echo "== behaviour cloning of $entry's student"
            $dexndm train bc --data "$runs/bc_data/$name" --out "$dir/bc" --width 512 \
                --blocks 3 --epochs 30 --no-progress --overwrite
        fi
        if [[ ! -d $dir/dagger/best ]]; then
            echo "== DAgger of $entry's student"
            $dexndm train dagger --data "$runs/bc_data/$name" --init "$dir/bc/best" \
                --teachers "$teacher" --out "$dir/dagger" --rounds "$rounds" \
                --envs "${DAGGER_ENVS:-64}" --beta "${BETA:-0.5}" --steps 400 --epochs 4 \
                --no-progress --overwrite
        fi
        finetune "$dir/finetune" "$dir/dagger/best" "$teacher" "$entry"
        labeller_of[index]=$finetuned/best.pt data_of[index]=""
        weight=$(knob WEIGHT "$entry")
        for ((copy = 0; copy < ${weight:-1}; copy++)); do
            students+=("$finetuned/best.pt")  # labels once more every DAgger round
            shards=$runs/student_data/$name seed=()
            ((copy > 0)) && shards+=_seed$copy seed=(--seed "$copy")
            data_of[index]+=" $shards"
            if [[ ! -d $shards ]]; then
                echo "== rollouts of $entry's student${seed[*]:+ (${seed[*]})}"
                $dexndm rollout --policy "$finetuned/best.pt" --episodes "$episodes" \
                    --steps 400 "${seed[@]}" --shards "$shards"
            fi
        done
    done
    final=$runs/generalist
    if [[ ! -d $final/best ]]; then
        echo "== DAgger of the generalist from ${students[*]}"
        $dexndm train dagger --data "$runs"/student_data/* \
            --init "${INIT:-$(dirname "${students[0]}")/best}" --teachers "${students[@]}" \
            --out "$final" --rounds "$rounds" --envs "${DAGGER_ENVS:-64}" \
            --beta "${BETA:-0.5}" --steps 400 --epochs 5 --lr 1e-4 --no-progress --overwrite
    fi
else
    for index in "${!specialists[@]}"; do
        labeller_of[index]=${teachers[index]}
        data_of[index]=$runs/bc_data/$(basename "$(dirname "${teachers[index]}")")
    done
    init=${INIT:-$runs/bc/best}
    if [[ -z ${INIT:-} && ! -d $runs/bc/best ]]; then
        echo "== behaviour cloning"
        $dexndm train bc --data "$runs"/bc_data/* --out "$runs/bc" --width 512 --blocks 3 \
            --epochs 30 --no-progress --overwrite
    fi
    if [[ ! -d $runs/dagger/best ]]; then
        echo "== DAgger from $init"
        $dexndm train dagger --data "$runs"/bc_data/* --init "$init" \
            --teachers "${teachers[@]}" --out "$runs/dagger" --rounds "$rounds" \
            --envs "${DAGGER_ENVS:-64}" --beta "${BETA:-0.5}" --steps 400 --epochs 4 \
            --no-progress --overwrite
    fi
    final=$runs/dagger
    if ((${#finetune_stages[@]} > 0)); then
        finetune "$runs/finetune" "$runs/dagger/best" "${teachers[0]}" "${specialists[@]}"
        final=$finetuned
    fi
fi
anchored_average() {  # NETWORK ANCHOR_DIR AVERAGED_DIR ROUNDS [CYLINDER_LABELLER]
    # The generalist labels its own palm-up +-z cells (its actor in a PPO checkpoint of each
    # entry's environment: a critic-only first iteration leaves it as it is) while the other
    # entries' labellers label theirs (CYLINDER_LABELLER, a bundle, labels the palm-up
    # cylinder entries in its place), DAgger from it for ROUNDS rounds; the last
    # round, which leans towards the other wrists and loses palm-up rotation, is averaged
    # with the generalist at weight AVERAGE: between the two, a network that keeps the
    # palm-up cells and more of the others than either (docs/base_policy_log.md, "Between
    # two networks")
    local network=$1 anchor=$2 averaged=$3 rounds=$4 cylinder_labeller=${5:-}
    local anchor_teachers=() anchor_data=() index entry weight labeller name
    local shards=() objects=() anchored source
    for index in "${!specialists[@]}"; do
        entry=${specialists[index]}
        weight=$(knob ANCHOR_WEIGHT "$entry")
        [[ -n $weight ]] || weight=$(knob WEIGHT "$entry")
        labeller=${labeller_of[index]}
        read -r -a shards <<< "${data_of[index]}"
        if [[ $(wrist_of "$entry") == palm_up && $(axes_of "$entry") == z ]]; then
            name=$(basename "$(run_of "$entry")")
            objects=()
            [[ -n $(object_of "$entry") ]] && objects=(--objects "$(object_of "$entry")")
            entry_flags_of "$entry"
            source=$network
            [[ -n $cylinder_labeller && $(category_of "$entry") == cylinders ]] &&
                source=$cylinder_labeller
            if [[ ! -f $anchor/labeller_$name/model_0.pt ]]; then
                echo "== $source as the labeller of $entry"
                "${ppo_env[@]}" $dexndm train ppo --category "$(category_of "$entry")" \
                    --out "$anchor/labeller_$name" --generalist "$source" --iterations 2 \
                    --critic-warmup 1 --save-interval 1 --eval-episodes 0 --num-envs 64 \
                    "${objects[@]}" "${entry_flags[@]}" --overwrite
            fi
            labeller=$anchor/labeller_$name/model_0.pt shards=("$anchor/data/$name")
            if [[ ! -d ${shards[0]} ]]; then
                echo "== rollouts of $source as the labeller of $entry"
                $dexndm rollout --policy "$labeller" --episodes "$episodes" --steps 400 \
                    --shards "${shards[0]}"
            fi
        fi
        for ((copy = 0; copy < ${weight:-1}; copy++)); do anchor_teachers+=("$labeller"); done
        anchor_data+=("${shards[@]}")
    done
    anchored=$anchor/dagger/round_$((rounds - 1))/last
    if [[ ! -d $anchored ]]; then
        echo "== DAgger from $network with its palm-up labellers"
        $dexndm train dagger --data "${anchor_data[@]}" --init "$network" \
            --teachers "${anchor_teachers[@]}" --out "$anchor/dagger" --rounds "$rounds" \
            --envs "${DAGGER_ENVS:-64}" --beta "${BETA:-0.5}" --steps 400 --epochs 5 --lr 1e-4 \
            --eval-episodes 32 --no-progress --overwrite
    fi
    if [[ ! -d $averaged/best ]]; then
        echo "== $network and $anchored averaged at weight $average"
        $dexndm average "$network" "$anchored" --out "$averaged/best" --overwrite \
            --weights "$(awk "BEGIN { print 1 - $average }")" "$average"
    fi
}
both_wrists() {  # OUT START FALL_TERMS_ARRAY: PPO at every cylinder wrist, averaged
    # PPO at every wrist of the cylinder entries at once, each from its own grasps: a fine-tune
    # at one wrist gained there what it cost the other; the average of its checkpoints smooths
    # their swings (docs/base_policy_log.md, "Both wrists in one fine-tune")
    local both=$1 start=$2
    local -n fall=$3
    local wrist_list=() wrist_objects=() critic="" index entry wrist object
    local flags=() last averaged=() n
    for index in "${!specialists[@]}"; do
        entry=${specialists[index]}
        [[ $(category_of "$entry") == cylinders && $(axes_of "$entry") == z ]] || continue
        wrist=$(wrist_of "$entry") object=$(object_of "$entry")
        [[ " ${wrist_list[*]} " == *" $wrist "* ]] || wrist_list+=("$wrist")
        if [[ -n $object && " ${wrist_objects[*]} " != *" $object "* ]]; then
            wrist_objects+=("$object")
        fi
        [[ $wrist == palm_up && -z $critic ]] && critic=${teachers[index]}
    done
    ((${#wrist_objects[@]} > 0)) && wrist_objects=(--objects "${wrist_objects[@]}")
    flags=(--category cylinders --out "$both/ppo" --generalist "$start"
           --wrists "${wrist_list[@]}" --axes z --grasp-wrist each "${physics[@]}"
           "${wrist_objects[@]}" --num-envs "${WRISTS_ENVS:-1024}" --save-interval 5
           --eval-episodes "$eval_episodes")
    if ((${#fall[@]} > 0)); then  # in a resume's flags too: it checks the environment
        flags+=(--wrist-fall-penalties)
        for wrist in "${wrist_list[@]}"; do flags+=("${fall[$wrist]}"); done
    fi
    last=$(latest "$both/ppo")
    if [[ -z $last ]]; then
        echo "== PPO fine-tuning of $start at ${wrist_list[*]}: $wrists_iterations iterations"
        "${ppo_env[@]}" $dexndm train ppo "${flags[@]}" --teacher "$critic" --overwrite \
            --critic-warmup 10 --init-std 0.03 --actor-learning-rate 5e-6 \
            --iterations "$wrists_iterations"
    elif (($(number "$last") < wrists_iterations - 1)); then
        echo "== PPO fine-tuning of $start at ${wrist_list[*]}: from $last"
        "${ppo_env[@]}" $dexndm train ppo "${flags[@]}" --resume "$last" \
            --actor-learning-rate 5e-6 --iterations $((wrists_iterations - 1 - $(number "$last")))
    fi
    if [[ ! -d $both/best ]]; then
        for ((n = swa_from; n < wrists_iterations; n++)); do
            if ((n % 5 == 0 || n == wrists_iterations - 1)) && [[ -f $both/ppo/model_$n.pt ]]; then
                averaged+=("$both/ppo/model_$n.pt")
            fi
        done
        echo "== the average of ${#averaged[@]} checkpoints from iteration $swa_from"
        $dexndm average "${averaged[@]}" --out "$both/best" --overwrite
    fi
}
if ((anchor_rounds > 0)); then
    anchored_average "$final/best" "$runs/anchor" "$runs/averaged" "$anchor_rounds"
    final=$runs/averaged
fi
if ((wrists_iterations > 0)); then
    both_wrists "$runs/wrists" "$final/best" wrist_fall
    final=$runs/wrists
fi
if ((relabel_rounds > 0)); then
    # the network's own fine-tune at both wrists (RELABEL_FALL_PENALTIES: a fall term per
    # wrist) labels its palm-up cylinders, the network its other palm-up cells, each other
    # entry's labeller its own; the last round averaged with the network at AVERAGE
    # (docs/base_policy_log.md, "Stronger labellers for the cylinders")
    both_wrists "$runs/relabel/wrists" "$final/best" relabel_fall
    anchored_average "$final/best" "$runs/relabel" "$runs/relabeled" "$relabel_rounds" \
        "$runs/relabel/wrists/best"
    final=$runs/relabeled
fi
if [[ ! -f $final/eval.json ]]; then
    echo "== evaluation: generalist vs teachers, nominal and real"
    $dexndm sim compare "$final/best" --teachers "${teachers[@]}" --episodes 64 \
        --profiles nominal real --out "$final/eval.json"
fi
if [[ ! -d $final/best_fp16 ]]; then
    # half the size for policies/ (25 MB for every shipped bundle): weights stored as float16,
    # run in float32; bundle.yaml records the largest output difference to fp32
    $dexndm quantize "$final/best" --out "$final/best_fp16" --precision fp16_weights
fi
echo "done: $final/best (cp -r it, or best_fp16 at half the size, to policies/base_policy)"
echo "table in $final/eval.json"
