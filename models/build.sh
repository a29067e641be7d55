#!/usr/bin/env bash
# Rebuilds the shipped models from a seed: corpus, tokenizer, training/validation/test data rendered
# by `wafer-inspect record` (three different seeds), training, export (float and INT8), evaluation on
# the test data with the appliance's own runtime, speed, and the model card of wafer-mm-1; then the
# models trained further from it by finetune.sh, each with its own card: wafer-mm-2 (rim input),
# wafer-mm-3 (ring input), wafer-mm-4, wafer-mm-5, wafer-mm-6 (modalities hidden), wafer-mm-7 (die
# input), wafer-mm-8 (2.5 mm cells) and wafer-mm-9 (hard negatives), the default. wafer-mm-1 and -3 to -8 are
# built under $DATA/build; models/ ships wafer-mm-9 and wafer-mm-2 (no ring or die input, 5 mm cells: faster, less accurate on the
# rim and on scratches).
#   models/build.sh [SEED] [STEPS]       data goes to $DATA (default /var/tmp/wafer-inspect-data)
set -euo pipefail
seed=${1:-1}
steps=${2:-7000}
root=$(cd "$(dirname "$0")/.." && pwd)
data=${DATA:-/var/tmp/wafer-inspect-data}
id=wafer-mm-1
build="$data/build"
out="$build/$id"
py=/usr/bin/python3
cli="node $root/dist/src/cli/main.js"
mkdir -p "$data" "$build" "$out"
cd "$root"
[ -f dist/src/cli/main.js ] || npm run build

$py models/tools/corpus.py --seed "$seed" --out models/specs/corpus.tsv
$py models/tools/bpe.py --corpus models/specs/corpus.tsv --out "$build/tokenizer.json" --ids-out models/specs/corpus.ids

# train, validation and test lots never share a seed; the test lot is used for nothing but the card
models/make-data.sh "$data/train" "${seed}1" 6000 0.6
models/make-data.sh "$data/val" "${seed}2" 500 0.5
models/make-data.sh "$data/test" "${seed}3" 2000 0.4

$py models/tools/train.py --train "$data/train-*" --val "$data/val-*" --tokenizer "$build/tokenizer.json" \
  --steps "$steps" --val-every 2000 --batch 24 --crop 96 --text-batch 32 --threads 2 --seed "$seed" \
  --out "$build/model.pt" | tee "$build/train.log"
$py models/tools/export.py --checkpoint "$build/model.pt" --tokenizer "$build/tokenizer.json" \
  --calibrate "$data/train-*" --val "$data/val-*" --id "$id" --out "$out"

$cli model eval --model "$out" --data "$data/test-*" --val "$data/val-*" --variant int8 --out "$out/eval-int8.json"
$cli model eval --model "$out" --data "$data/test-*" --val "$data/val-*" --variant fp32 --out "$out/eval-fp32.json"
node dist/bench/model.js --model "$out" | tee "$build/bench.log"
tail -n 1 "$build/bench.log" > "$out/bench.json"
$py models/tools/card.py --model "$out" --train-log "$build/train.log" --seed "$seed" --steps "$steps" > "$out/MODEL_CARD.md"
echo "built $out"

# wafer-mm-2: wafer-mm-1 trained further, all layers, with the rim input (models/README.md)
BASE="$out" OUT="$root/models/wafer-mm-2" CARD_COMMANDS="models/build.sh $seed $steps" models/finetune.sh wafer-mm-2 \
  "$data/train-[0-5]" "$data/val-*" "$data/test-*" --rim --stage1-steps 3000 --stage1-layers '*' --steps 0 \
  --batch 24 --crop 96 --text-batch 32 --threads 2 --drop-modality 0 --lr 5e-4 --val-every 1000 --seed "$(( seed + 1 ))"
# wafer-mm-3: with the ring input, the rim compared with itself (models/README.md)
BASE="$root/models/wafer-mm-2" OUT="$build/wafer-mm-3" CARD_COMMANDS="models/build.sh $seed $steps" models/finetune.sh wafer-mm-3 \
  "$data/train-[0-5]" "$data/val-*" "$data/test-*" --ring --stage1-steps 3000 --stage1-layers '*' --steps 0 \
  --batch 24 --crop 96 --text-batch 32 --threads 2 --drop-modality 0 --lr 5e-4 --val-every 1000 --seed "$(( seed + 2 ))"
# wafer-mm-4: 3000 steps more, the ring convolutions at a higher rate, and a text encoder that reads
# text naming no defect as none
BASE="$build/wafer-mm-3" OUT="$build/wafer-mm-4" TEXT_NONE="" CARD_COMMANDS="models/build.sh $seed $steps" models/finetune.sh wafer-mm-4 \
  "$data/train-[0-5]" "$data/val-*" "$data/test-*" --stage1-steps 3000 --stage1-layers '*' --steps 0 \
  --batch 24 --crop 96 --text-batch 32 --threads 2 --drop-modality 0 --lr 5e-4 --ring-lr 2.5e-3 --val-every 1000 --seed "$(( seed + 3 ))"
# wafer-mm-5: 4000 steps more on all 6000 training wafers (the text encoder is wafer-mm-4's)
BASE="$build/wafer-mm-4" OUT="$build/wafer-mm-5" CARD_COMMANDS="models/build.sh $seed $steps" models/finetune.sh wafer-mm-5 \
  "$data/train-*" "$data/val-*" "$data/test-*" --stage1-steps 4000 --stage1-layers '*' --steps 0 \
  --batch 24 --crop 96 --text-batch 32 --threads 2 --drop-modality 0 --lr 5e-4 --ring-lr 2.5e-3 --val-every 1000 --seed "$(( seed + 4 ))"
# wafer-mm-6: 2500 steps more with one modality hidden in 15% of the crops, the classes that need it
# without targets there, so a wafer missing a frame is read on what it has (models/README.md)
BASE="$build/wafer-mm-5" OUT="$build/wafer-mm-6" CARD_COMMANDS="models/build.sh $seed $steps" models/finetune.sh wafer-mm-6 \
  "$data/train-[0-5]" "$data/val-*" "$data/test-*" --stage1-steps 2500 --stage1-layers '*' --steps 0 \
  --batch 24 --crop 96 --text-batch 32 --threads 2 --drop-modality 0.15 --lr 2.5e-4 --ring-lr 1.25e-3 --val-every 1250 --seed "$(( seed + 5 ))"
# wafer-mm-7: 3000 steps more with the die-to-die residual as an input (models/README.md)
BASE="$build/wafer-mm-6" OUT="$build/wafer-mm-7" CARD_COMMANDS="models/build.sh $seed $steps" models/finetune.sh wafer-mm-7 \
  "$data/train-[0-5]" "$data/val-*" "$data/test-*" --die --stage1-steps 3000 --stage1-layers '*' --steps 0 \
  --batch 24 --crop 96 --text-batch 32 --threads 2 --drop-modality 0.15 --lr 2.5e-4 --ring-lr 2.5e-3 --val-every 1000 --seed "$(( seed + 6 ))"
# wafer-mm-8: 2500 steps more scoring on 2.5 mm cells, a finer visible embedding added to the 5 mm one
# (models/README.md), on the first 1500 training wafers
BASE="$build/wafer-mm-7" OUT="$build/wafer-mm-8" CARD_COMMANDS="models/build.sh $seed $steps" models/finetune.sh wafer-mm-8 \
  "$data/train-[0-2]" "$data/val-*" "$data/test-*" --fine --stage1-steps 2500 --stage1-layers '*' --steps 0 \
  --batch 24 --crop 96 --text-batch 32 --threads 2 --drop-modality 0.15 --lr 2.5e-4 --ring-lr 2.5e-3 --val-every 1250 --seed "$(( seed + 7 ))"
# wafer-mm-9, the default: 2500 steps more with a quarter of the crops cut around hard negatives, the cells
# where it scores a class that is not there, mined again halfway (models/README.md); one thread, as measured
BASE="$build/wafer-mm-8" CARD_COMMANDS="models/build.sh $seed $steps" models/finetune.sh wafer-mm-9 \
  "$data/train-[0-2]" "$data/val-*" "$data/test-*" --hard 150 --hard-every 1250 --stage1-steps 2500 --stage1-layers '*' --steps 0 \
  --batch 24 --crop 96 --text-batch 32 --threads 1 --drop-modality 0.15 --lr 2.5e-4 --val-every 1250 --seed "$(( seed + 8 ))"
# wafer-mm-10: wafer-mm-9 with the crop verifier for the four classes seen in the visible frame
# (models/README.md, "The crop verifier"); its thresholds are calibrated on a recorded lot
DATA="$data" models/verifier.sh wafer-mm-10 3000 600 300
# wafer-mm-11: the same verifier trained on lots three times larger, twice as long
DATA="$data" models/verifier.sh wafer-mm-11 6000 2000 1000
