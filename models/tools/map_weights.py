"""Chooses, per class, how much of the map's evidence a crop verifier's confidence takes in, on a
calibration lot, and writes it into the model's manifest (verifier.mapWeights).

A crop's confidence is sigmoid(logit(crop probability) + w x logit(map score)). For each class and
each w, the threshold is the highest confidence among the lot's good wafers (as the station's
thresholds are set), and a defect wafer counts as found when a check within its half size plus 7.5 mm
(FOUND_WITHIN_MM) is over it. The w that finds most is kept; a class the map alone finds as many of
(the largest w) is left to the map, without a weight.

    wafer-inspect model candidates LOT --model models/wafer-mm-10 --out LOT.checks.jsonl
    /usr/bin/python3 models/tools/map_weights.py --checks LOT.checks.jsonl --model models/wafer-mm-10
"""
import argparse
import json
import os

import numpy as np

WEIGHTS = [0, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 10, 12, 16]
MAP_ONLY = 1000.0
FOUND_WITHIN_MM = 7.5


def logit(p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def found(rows, cls, w):
    """Defect wafers of cls found, and the threshold, for weight w."""
    def conf(checks):
        if not checks:
            return np.array([-np.inf])
        return logit(np.array([c["prob"] for c in checks])) + w * logit(np.array([c["score"] for c in checks]))
    thr = max(conf(r["candidates"][cls]).max() for r in rows if not r["truth"])
    n = 0
    for r in rows:
        ds = [d for d in r["truth"] if d["class"] == cls]
        if not ds:
            continue
        v = conf(r["candidates"][cls])
        n += any(v[i] > thr and any(np.hypot(c["xMm"] - d["xMm"], c["yMm"] - d["yMm"]) <= d["sizeMm"] / 2 + FOUND_WITHIN_MM for d in ds)
                 for i, c in enumerate(r["candidates"][cls]))
    return n, thr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checks", required=True, help="`wafer-inspect model candidates` of the calibration lot, with the verifier's checks")
    ap.add_argument("--model", required=True, help="model folder whose model.json gets the weights")
    a = ap.parse_args()
    rows = [json.loads(line) for line in open(a.checks)]
    path = os.path.join(a.model, "model.json")
    m = json.load(open(path))
    weights, table = {}, {}
    for cls in m["verifier"]["classes"]:
        wafers = sum(any(d["class"] == cls for d in r["truth"]) for r in rows)
        by_w = {w: found(rows, cls, w)[0] for w in WEIGHTS + [MAP_ONLY]}
        best = max(WEIGHTS, key=lambda w: (by_w[w], -abs(w - 1)))
        table[cls] = by_w
        print(f"{cls}: {wafers} wafers; found by weight {json.dumps({str(k): v for k, v in by_w.items()})}")
        if by_w[best] > by_w[MAP_ONLY]:
            weights[cls] = best
            print(f"  weight {best}: {by_w[best]} against {by_w[MAP_ONLY]} on the map alone")
        else:
            print(f"  judged on the map: {by_w[MAP_ONLY]}, the crops add none")
    m["verifier"]["mapWeights"] = weights
    m["verifier"]["mapWeightsFrom"] = {"checks": os.path.basename(a.checks), "goodWafers": sum(not r["truth"] for r in rows), "found": table}
    with open(path, "w") as f:
        json.dump(m, f, indent=2)
        f.write("\n")
    print(f"wrote {path}: {weights}")


if __name__ == "__main__":
    main()
