#!/usr/bin/env bash
# Builds a model folder that runs the crop verifier after a base image model: two lots recorded with
# their frames (one mostly defective, one good), the base model's candidates on them, the verifier
# trained on crops of their visible frames and exported (models/tools/verifier.py).
#   models/verifier.sh ID [STEPS] [DEFECT_WAFERS] [GOOD_WAFERS]    lots go to $DATA (default /var/tmp/wafer-inspect-data)
# The lot with defects (seed 18, 70% with defects) and the good one (seed 19) are named by their size, so
# lots of other sizes stay apart; their last 100 and first GOOD_WAFERS are used as verifier.py says.
# BASE (default models/wafer-mm-9) is the image model, OUT (default models/ID) the folder to write.
# The new model's thresholds are calibrated as any model's (README, "Calibration"), on a recorded lot.
set -euo pipefail
id=$1; steps=${2:-4000}; na=${3:-600}; nb=${4:-300}
source "$(dirname "$0")/verifier-lots.sh"
# seeds 18 and 19: no lot the image model was trained, validated or tested on uses them
[ -f "$a/manifest.jsonl" ] || $cli record --synthetic "$na" --seed 18 --defect-rate 0.7 --lot A18 --format png "$a"
[ -f "$b/manifest.jsonl" ] || $cli record --synthetic "$nb" --seed 19 --defect-rate 0 --lot B19 --format png "$b"
for lot in "$a" "$b"; do
  [ -f "$lot.cand.jsonl" ] || $cli model candidates "$lot" --model "$base" --out "$lot.cand.jsonl"
done
/usr/bin/python3 models/tools/verifier.py --train "$a" --good "$b" --good-train "$nb" --base "$base" \
  --id "$id" --out "$out" --steps "$steps"
echo "wrote $out"
