"""Fits, per class with rim places, a defect's true size on the arc of rim it stands off, on a
calibration lot, and writes the fits into the model's manifest (verifier.rimSizeFits), which the
judge sizes such findings by in place of the verifier's own fit (verifier.sizeFits).

A defect of the lot's truth is matched to the check of its class the verifier is surest of within its
half size plus FOUND_WITHIN_MM; the checks the image model sized by a rim run (`sizedByRim`, the arc in
`sizeMm`) give the pairs. true = slope x arc + offset by least squares; spread is the residuals' root
mean square (n - 2), as `calibrate thresholds` fits the map's sizes. A class with fewer than MIN_PAIRS
pairs gets no fit.

    wafer-inspect model candidates LOT --model MODEL --out LOT.checks.jsonl
    /usr/bin/python3 models/tools/rim_sizes.py --checks LOT.checks.jsonl --model MODEL
"""
import argparse
import json
import math
import os

import numpy as np

FOUND_WITHIN_MM = 3.0
MIN_PAIRS = 10


def pairs(rows, cls):
    out = []
    for w in rows:
        checks = w["candidates"].get(cls, [])
        for d in w["truth"]:
            if d["class"] != cls:
                continue
            near = [c for c in checks if math.hypot(c["xMm"] - d["xMm"], c["yMm"] - d["yMm"]) <= d["sizeMm"] / 2 + FOUND_WITHIN_MM]
            if not near:
                continue
            best = max(near, key=lambda c: c["confidence"])
            if best.get("sizedByRim"):
                out.append((best["sizeMm"], d["sizeMm"]))
    return out


def fit(ps):
    x = np.array([p[0] for p in ps], dtype=np.float64)
    y = np.array([p[1] for p in ps], dtype=np.float64)
    sxx = float(((x - x.mean()) ** 2).sum())
    slope = round(float(((x - x.mean()) * (y - y.mean())).sum()) / sxx, 3) if sxx > 0 else 1.0
    offset = round(float(y.mean() - slope * x.mean()), 2)
    spread = round(math.sqrt(float(((y - (slope * x + offset)) ** 2).sum()) / max(1, len(ps) - 2)), 2)
    return {"slope": slope, "offset": offset, "spread": spread}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checks", required=True, help="`wafer-inspect model candidates` output on a calibration lot")
    ap.add_argument("--model", required=True, help="the model folder whose model.json gets verifier.rimSizeFits")
    a = ap.parse_args()
    rows = [json.loads(l) for l in open(a.checks) if l.strip()]
    path = os.path.join(a.model, "model.json")
    with open(path) as f:
        m = json.load(f)
    fits = {}
    for cls in sorted(m["verifier"].get("rim", {})):
        ps = pairs(rows, cls)
        if len(ps) < MIN_PAIRS:
            print(f"{cls}: {len(ps)} defects sized by the rim, fewer than {MIN_PAIRS}: no fit")
            continue
        fits[cls] = fit(ps)
        print(f"{cls}: true = {fits[cls]['slope']} x arc + {fits[cls]['offset']} mm, spread {fits[cls]['spread']} mm ({len(ps)} defects)")
    m["verifier"]["rimSizeFits"] = fits
    with open(path, "w") as f:
        json.dump(m, f, indent=2)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
