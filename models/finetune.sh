#!/usr/bin/env bash
# Adapts the shipped model to a plant's data in one command: LoRA fine-tune, merge, export (float and
# INT8), evaluation of the base and the new model on the plant's held-out wafers with the appliance's
# own runtime, and the new model's card.
#   models/finetune.sh ID TRAIN VAL TEST [finetune.py options...]
# TRAIN, VAL, TEST: globs of `wafer-inspect dataset` chunks (models/make-data.sh), three disjoint sets
# of the plant's wafers. BASE (default models/wafer-mm-9, the shipped model) is the model to start from, OUT (default
# models/ID) the folder to write; REF_TEST and REF_VAL, when set, are chunks of the look the base was
# trained on, to check that the new model still reads it. CARD_COMMANDS: lines the card lists as how
# its data were made. TEXT_NONE (text_none.py options, may be empty): also train the text encoder to read
# text that names no defect as none.
set -euo pipefail
id=$1; train=$2; val=$3; test=$4; shift 4
root=$(cd "$(dirname "$0")/.." && pwd)
base=${BASE:-$root/models/wafer-mm-9}
out=${OUT:-$root/models/$id}
py=/usr/bin/python3
cli="node $root/dist/src/cli/main.js"
cd "$root"
[ -f dist/src/cli/main.js ] || npm run build
mkdir -p "$out"

$py models/tools/finetune.py --base "$base" --train "$train" --val "$val" --id "$id" --out "$out" "$@"
# TEXT_NONE: text_none.py options; when set, the new folder's text encoder also learns to read text that names no defect
if [ -n "${TEXT_NONE+x}" ]; then
  # shellcheck disable=SC2086
  $py models/tools/text_none.py --model "$out" $TEXT_NONE
fi

for v in fp32 int8; do
  $cli model eval --model "$base" --data "$test" --val "$val" --variant $v --out "$out/eval-base-$v.json"
  $cli model eval --model "$out" --data "$test" --val "$val" --variant $v --out "$out/eval-$v.json"
done
# what a wafer is judged on when one camera fails: each modality hidden in turn
for m in visible infrared xray; do
  $cli model eval --model "$base" --data "$test" --val "$val" --hide $m --out "$out/eval-base-without-$m.json"
  $cli model eval --model "$out" --data "$test" --val "$val" --hide $m --out "$out/eval-without-$m.json"
done
if [ -n "${REF_TEST:-}" ]; then
  $cli model eval --model "$base" --data "$REF_TEST" --val "${REF_VAL:-$REF_TEST}" --out "$out/eval-base-reference.json"
  $cli model eval --model "$out" --data "$REF_TEST" --val "${REF_VAL:-$REF_TEST}" --out "$out/eval-reference.json"
fi
node dist/bench/model.js --model "$out" | tail -n 1 > "$out/bench.json"
cmds=()
while IFS= read -r line; do [ -n "$line" ] && cmds+=(--command "$line"); done <<< "${CARD_COMMANDS:-}"
cmds+=(--command "${BASE:+BASE=$BASE }${TEXT_NONE+TEXT_NONE='$TEXT_NONE' }models/finetune.sh $id '$train' '$val' '$test'${*:+ $*}")
$py models/tools/adapt_card.py --model "$out" --test "$test" ${REF_TEST:+--reference "$REF_TEST"} "${cmds[@]}" > "$out/MODEL_CARD.md"
echo "wrote $out"
