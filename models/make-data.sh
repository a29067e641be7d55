#!/usr/bin/env bash
# Renders lots with `wafer-inspect record` and turns them into training arrays with
# `wafer-inspect dataset`, a chunk at a time so that at most one chunk of frames is on disk.
#   models/make-data.sh OUT_PREFIX SEED WAFERS [DEFECT_RATE] [CHUNK] [LOOK]
# writes OUT_PREFIX-<k>.{inputs.u16,masks.u8,json} for chunks k = 0, 1, ...; chunk k uses seed SEED*1000+k.
# LOOK: the synthetic line's ranges (`wafer-inspect record --look`), default or plant.
set -euo pipefail
out=$1; seed=$2; wafers=$3; rate=${4:-0.5}; chunk=${5:-500}; look=${6:-default}
here=$(cd "$(dirname "$0")/.." && pwd)
cli="node $here/dist/src/cli/main.js"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wi-lot-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
k=0
left=$wafers
while [ "$left" -gt 0 ]; do
  n=$(( left < chunk ? left : chunk ))
  if [ ! -f "$out-$k.json" ]; then
    $cli record --synthetic "$n" --seed $(( seed * 1000 + k )) --defect-rate "$rate" --look "$look" --lot "S$seed-$k" "$tmp/lot" >/dev/null
    $cli dataset "$tmp/lot" --out "$out-$k"
    rm -rf "$tmp/lot"
  fi
  left=$(( left - n ))
  k=$(( k + 1 ))
done
