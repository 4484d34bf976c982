#!/usr/bin/env bash
# Rebuild the shipped test base policy (policies/test_base_policy) with the project's own tools:
# open-loop rollouts in the nominal simulation, then behaviour cloning of a small generalist.
# It is a stand-in that exercises the controller end to end, NOT a trained rotation policy:
# replace it with a generalist distilled from PPO specialists (`dexndm train bc` on their rollouts).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/dexndm rollout --episodes 24 --category cylinders --wrist palm_up palm_down \
    --shards "$work/shards" --seed 1
.venv/bin/dexndm train bc --data "$work/shards" --out "$work/bc" --width 128 --blocks 2 \
    --epochs 8 --seed 0 --no-progress
rm -rf policies/test_base_policy
mkdir -p policies
cp -r "$work/bc/best" policies/test_base_policy
echo "wrote policies/test_base_policy"
