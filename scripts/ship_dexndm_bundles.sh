#!/usr/bin/env bash
# Ship the DexNDM bundles of a finished `dexndm experiment sim2sim` run under policies/:
# the joint-wise dynamics (pretrained on the base policy's nominal rollouts, finetuned on the
# chaos box under the gap profile) as policies/dexndm_dynamics, with its per-joint error on the
# base policy's own episodes under the gap as the live gap meter's reference (docs/gap_meter.md),
# and the residual trained through it with the first residual seed as policies/dexndm_residual.
#   bash scripts/ship_dexndm_bundles.sh runs/sim2sim
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
run=${1:?usage: scripts/ship_dexndm_bundles.sh EXPERIMENT_DIR}
dexndm=${DEXNDM:-.venv/bin/dexndm}
seed=$(.venv/bin/python -c "import yaml,sys; print(yaml.safe_load(open(sys.argv[1]))['residual_seeds'][0])" "$run/config.yaml")
for needed in "$run/dynamics/joint/best/bundle.yaml" "$run/residual/joint/seed_$seed/best/bundle.yaml" "$run/ood"; do
  [ -e "$needed" ] || { echo "ship: $needed missing: run the experiment to the end first" >&2; exit 2; }
done
rm -rf policies/dexndm_dynamics policies/dexndm_residual
cp -r "$run/dynamics/joint/best" policies/dexndm_dynamics
cp -r "$run/residual/joint/seed_$seed/best" policies/dexndm_residual
"$dexndm" eval dynamics policies/dexndm_dynamics --ood "$run/ood" --out "$run/meter_reference" \
  --meter-reference
du -sh policies/dexndm_dynamics policies/dexndm_residual
