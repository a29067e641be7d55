"""Fits, per class with rim places or die places, a defect's true size on what such a place measures
of it (the arc of rim it stands off, or the extent of the cells differing from its dies), on a
calibration lot, and writes the fits into the model's manifest (verifier.rimSizeFits,
verifier.dieSizeFits), which the judge sizes such findings by in place of the verifier's own fit
(verifier.sizeFits).

A defect of the lot's truth is matched to the check of its class the verifier is surest of within its
half size plus FOUND_WITHIN_MM; the checks the image model sized by such a place (`sizedBy` 'rim' or
'dies', the measure in `sizeMm`) give the pairs. true = slope x measure + offset by least squares;
spread is the residuals' root mean square (n - 2), as `calibrate thresholds` fits the map's sizes.
With --growing-spread the spread grows with the fitted size s, spread + spreadPerMm x s: the
residuals' sizes fitted on s by least squares (each term at least 0), times sqrt(pi / 2) (a normal
spread's mean absolute residual is sqrt(2 / pi) of it). A die place's extent is a few tenths of a mm
out for a short scratch and may be centimetres out for a long one that fades along its length: one
spread for all would let no short scratch pass a limit of a few mm. A class with fewer than
MIN_PAIRS pairs gets no fit.

    wafer-inspect model candidates LOT --model MODEL --out LOT.checks.jsonl
    /usr/bin/python3 models/tools/place_sizes.py --checks LOT.checks.jsonl --model MODEL [--by rim|dies] [--growing-spread]
"""
import argparse
import json
import math
import os

import numpy as np

FOUND_WITHIN_MM = 3.0
MIN_PAIRS = 10
# per kind of place: the manifest's section naming the classes that have them, its fits, and what it measures
PLACES = {
    "rim": ("rim", "rimSizeFits", "arc"),
    "dies": ("dies", "dieSizeFits", "extent"),
}


def pairs(rows, cls, by):
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
            if best.get("sizedBy") == by:
                out.append((best["sizeMm"], d["sizeMm"]))
    return out


def fit(ps, growing=False):
    x = np.array([p[0] for p in ps], dtype=np.float64)
    y = np.array([p[1] for p in ps], dtype=np.float64)
    sxx = float(((x - x.mean()) ** 2).sum())
    slope = round(float(((x - x.mean()) * (y - y.mean())).sum()) / sxx, 3) if sxx > 0 else 1.0
    offset = round(float(y.mean() - slope * x.mean()), 2)
    fitted = slope * x + offset
    if not growing:
        spread = round(math.sqrt(float(((y - fitted) ** 2).sum()) / max(1, len(ps) - 2)), 2)
        return {"slope": slope, "offset": offset, "spread": spread}
    size = np.abs(y - fitted)
    (c0, c1), *_ = np.linalg.lstsq(np.vstack([np.ones_like(fitted), fitted]).T, size, rcond=None)
    if c1 < 0:
        c0, c1 = size.mean(), 0.0
    elif c0 < 0:
        c0, c1 = 0.0, float((size * fitted).sum() / (fitted * fitted).sum())
    k = math.sqrt(math.pi / 2)
    return {"slope": slope, "offset": offset, "spread": round(float(c0) * k, 2), "spreadPerMm": round(float(c1) * k, 4)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checks", required=True, help="`wafer-inspect model candidates` output on a calibration lot")
    ap.add_argument("--model", required=True, help="the model folder whose model.json gets the fits")
    ap.add_argument("--by", choices=sorted(PLACES), action="append", help="the places to fit (default: both)")
    ap.add_argument("--growing-spread", action="store_true", help="a spread that grows with the fitted size (spreadPerMm)")
    a = ap.parse_args()
    rows = [json.loads(l) for l in open(a.checks) if l.strip()]
    path = os.path.join(a.model, "model.json")
    with open(path) as f:
        m = json.load(f)
    for by in a.by or sorted(PLACES):
        section, key, measure = PLACES[by]
        fits = {}
        for cls in sorted(m["verifier"].get(section, {})):
            ps = pairs(rows, cls, by)
            if len(ps) < MIN_PAIRS:
                print(f"{cls}: {len(ps)} defects sized by the {by}, fewer than {MIN_PAIRS}: no fit")
                continue
            f = fits[cls] = fit(ps, a.growing_spread)
            grows = f" and {f['spreadPerMm']} per mm" if "spreadPerMm" in f else ""
            print(f"{cls}: true = {f['slope']} x {measure} + {f['offset']} mm, spread {f['spread']} mm{grows} ({len(ps)} defects)")
        m["verifier"][key] = fits
    with open(path, "w") as f:
        json.dump(m, f, indent=2)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
