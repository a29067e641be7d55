"""Chooses, per class, how much of the map's evidence a crop verifier's confidence takes in, and how
many of each map's highest places are cropped, on a calibration lot, and writes both into the model's
manifest (verifier.mapWeights, verifier.perClass).

A crop's confidence is sigmoid(logit(crop probability) + w x logit(map score)). For each class, each
number of places k (the first k checks of each class, highest map score first) and each w, the
threshold is the RANK-th highest confidence among the lot's good wafers (1: the highest; the station's
thresholds sit at the rank their false-reject budget gives each spec, `calibrate thresholds`), and a
defect wafer counts as found when a check within its half size plus 7.5 mm (FOUND_WITHIN_MM) is over
it. Per k, the w that finds most is kept, and a class the map alone finds as many of (the largest w)
is left to the map, without a weight; the k whose classes find most in all is kept (the fewest crops
on a tie).

    wafer-inspect model candidates LOT --model MODEL --out LOT.checks.jsonl     (checks per class: the manifest's perClass)
    /usr/bin/python3 models/tools/map_weights.py --checks LOT.checks.jsonl --model MODEL [--rank 2] [--per-class 6,8,12]
"""
import argparse
import json
import os

import numpy as np

WEIGHTS = [0, 0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 10, 12, 16]
MAP_ONLY = 1000.0
FOUND_WITHIN_MM = 7.5


def logit(p):
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def prepare(rows, cls):
    """Per wafer: good or not, has the class, logit(prob) and logit(score) of its checks, which are on a defect."""
    out = []
    for r in rows:
        checks = r["candidates"][cls]
        ds = [d for d in r["truth"] if d["class"] == cls]
        near = np.array([any(np.hypot(c["xMm"] - d["xMm"], c["yMm"] - d["yMm"]) <= d["sizeMm"] / 2 + FOUND_WITHIN_MM for d in ds) for c in checks], dtype=bool)
        out.append((not r["truth"], bool(ds), logit([c["prob"] for c in checks]), logit([c["score"] for c in checks]), near))
    return out


def found(wafers, w, k, rank):
    """Defect wafers found, and the threshold, for weight w on the first k checks."""
    def conf(lp, ls):
        return ls[:k] if w == MAP_ONLY else lp[:k] + w * ls[:k]
    good = sorted((conf(lp, ls).max() if len(lp) else -np.inf for g, _, lp, ls, _ in wafers if g), reverse=True)
    thr = good[rank - 1]
    n = sum(1 for _, has, lp, ls, near in wafers if has and len(lp) and (conf(lp, ls)[near[:k]] > thr).any())
    return n, thr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checks", required=True, help="`wafer-inspect model candidates` of the calibration lot, with the verifier's checks")
    ap.add_argument("--model", required=True, help="model folder whose model.json gets the weights and checks per class")
    ap.add_argument("--rank", type=int, default=1, help="threshold at the RANK-th highest good wafer's confidence")
    ap.add_argument("--per-class", default=None, help="numbers of checks per class to try, comma separated (default: all the checks file has)")
    a = ap.parse_args()
    rows = [json.loads(line) for line in open(a.checks)]
    path = os.path.join(a.model, "model.json")
    m = json.load(open(path))
    classes = m["verifier"]["classes"]
    have = max(len(r["candidates"][c]) for r in rows for c in classes)
    ks = [int(k) for k in a.per_class.split(",")] if a.per_class else [have]
    if max(ks) > have:
        raise SystemExit(f"{a.checks} has at most {have} checks per class; make it with a model whose verifier.perClass is {max(ks)}")
    wafers = {cls: prepare(rows, cls) for cls in classes}
    best_k = None
    for k in ks:
        weights, table, total = {}, {}, 0
        for cls in classes:
            n = sum(1 for _, has, *_ in wafers[cls] if has)
            by_w = {w: found(wafers[cls], w, k, a.rank)[0] for w in WEIGHTS + [MAP_ONLY]}
            best = max(WEIGHTS, key=lambda w: (by_w[w], -abs(w - 1)))
            table[cls] = by_w
            print(f"{k} checks, {cls}: {n} wafers; found by weight {json.dumps({str(w): v for w, v in by_w.items()})}")
            if by_w[best] > by_w[MAP_ONLY]:
                weights[cls] = best
                print(f"  weight {best}: {by_w[best]} against {by_w[MAP_ONLY]} on the map alone")
            else:
                print(f"  judged on the map: {by_w[MAP_ONLY]}, the crops add none")
            total += max(by_w[best], by_w[MAP_ONLY])
        print(f"{k} checks per class: {total} defect wafers found in all")
        if best_k is None or total > best_k[1]:
            best_k = (k, total, weights, table)
    k, total, weights, table = best_k
    m["verifier"]["perClass"] = k
    m["verifier"]["mapWeights"] = weights
    m["verifier"]["mapWeightsFrom"] = {"checks": os.path.basename(a.checks), "goodWafers": sum(not r["truth"] for r in rows), "rank": a.rank, "perClass": k, "found": table}
    with open(path, "w") as f:
        json.dump(m, f, indent=2)
        f.write("\n")
    print(f"wrote {path}: {k} checks per class, weights {weights}")


if __name__ == "__main__":
    main()
