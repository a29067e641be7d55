# Sourced by verifier.sh and verifier-hard.sh, after they set id, na and nb: where the tools, the base
# model, the new folder and the verifier's lots are. The lots with defects (seed 18) and good (seed 19)
# are named by their size, so lots of other sizes stay apart.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
base=${BASE:-$root/models/wafer-mm-9}
out=${OUT:-$root/models/$id}
data=${DATA:-/var/tmp/wafer-inspect-data}
cli="node $root/dist/src/cli/main.js"
cd "$root"
[ -f dist/src/cli/main.js ] || npm run build
mkdir -p "$data"
a=$data/lot-a18-$na; b=$data/lot-b19-$nb
