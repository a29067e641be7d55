#!/usr/bin/env bash
# Trains a shipped verifier further on the good crops it reads highest (hard negatives) and on small defects:
# a third lot of good wafers (seed 20) is checked by FROM, a verifier model (its six places per class and its
# looks around), and its crops join the lots of models/verifier.sh as negatives; a share of each batch is drawn
# from the good-wafer crops the network reads highest, mined again every 500 steps, and from defects under 2 mm.
#   models/verifier-hard.sh ID FROM [STEPS] [HARD_WAFERS] [DEFECT_WAFERS] [GOOD_WAFERS]
# e.g. models/verifier-hard.sh wafer-mm-13 models/wafer-mm-12 2000 1200 2000 1000 (after models/verifier.sh
# wafer-mm-11 6000 2000 1000, whose lots it reuses). The new folder takes FROM's map weights and looks around
# as a start (verifier.py --from): choose its own with tools/map_weights.py and calibrate its thresholds
# (README, "Calibration").
set -euo pipefail
id=$1; from=$2; steps=${3:-2000}; nh=${4:-1200}; na=${5:-2000}; nb=${6:-1000}
from=$(cd "$from" && pwd)
source "$(dirname "$0")/verifier-lots.sh"
h=$data/lot-h20-$nh
for lot in "$a" "$b"; do
  [ -f "$lot.cand.jsonl" ] || { echo "$lot.cand.jsonl is missing: run models/verifier.sh with the same sizes first" >&2; exit 1; }
done
# seed 20: no lot any model was trained, validated, calibrated or tested on uses it
[ -f "$h/manifest.jsonl" ] || $cli record --synthetic "$nh" --seed 20 --defect-rate 0 --lot H20 --format png "$h"
[ -f "$h.checks.jsonl" ] || $cli model candidates "$h" --model "$from" --out "$h.checks.jsonl"
/usr/bin/python3 models/tools/verifier.py --train "$a" --good "$b" --good-train "$nb" --base "$base" --id "$id" --out "$out" \
  --steps "$steps" --from "$from" --lr 3e-4 --hard "$h" --hard-candidates checks --hard-share 16 --small-share 8 --mine-every 500
echo "wrote $out"
