#!/usr/bin/env bash
# Builds a model folder that runs the crop verifier after a base image model: two lots recorded with
# their frames (one mostly defective, one good), the base model's candidates on them, the verifier
# trained on crops of their visible frames and exported (models/tools/verifier.py).
#   models/verifier.sh ID [STEPS]       lots go to $DATA (default /var/tmp/wafer-inspect-data)
# BASE (default models/wafer-mm-9) is the image model, OUT (default models/ID) the folder to write.
# The new model's thresholds are calibrated as any model's (README, "Calibration"), on a recorded lot.
set -euo pipefail
id=$1; steps=${2:-4000}
root=$(cd "$(dirname "$0")/.." && pwd)
base=${BASE:-$root/models/wafer-mm-9}
out=${OUT:-$root/models/$id}
data=${DATA:-/var/tmp/wafer-inspect-data}
cli="node $root/dist/src/cli/main.js"
cd "$root"
[ -f dist/src/cli/main.js ] || npm run build
mkdir -p "$data"
# seeds 18 and 19: no lot the image model was trained, validated or tested on uses them
[ -f "$data/lot-a18/manifest.jsonl" ] || $cli record --synthetic 600 --seed 18 --defect-rate 0.7 --lot A18 "$data/lot-a18"
[ -f "$data/lot-b19/manifest.jsonl" ] || $cli record --synthetic 300 --seed 19 --defect-rate 0 --lot B19 "$data/lot-b19"
for lot in a18 b19; do
  $cli model candidates "$data/lot-$lot" --model "$base" --out "$data/lot-$lot.cand.jsonl"
done
/usr/bin/python3 models/tools/verifier.py --train "$data/lot-a18" --good "$data/lot-b19" --base "$base" \
  --id "$id" --out "$out" --steps "$steps"
echo "wrote $out"
