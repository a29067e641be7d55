"""Wafer-level AUROC of a crop verifier's classes on a lot, from `wafer-inspect model candidates`.

A wafer's score for a class is its highest check of that class: the confidence the judge thresholds
(each check's own `confidence`: the crop's probability with the map's score, and a rim or die place's
own evidence, weighed as the model's verifier says), the same without the places' own evidence
(sigmoid(logit(crop probability) + w x logit(map score)), w from verifier.mapWeights), the crop's
probability alone and the map's score alone. Wafers with the class are the positives,
every other wafer (good or with other classes) the negatives; a wafer with no check of the class
scores lowest.

    wafer-inspect model candidates LOT --model models/wafer-mm-11 --out LOT.checks.jsonl
    /usr/bin/python3 models/tools/check_auroc.py --checks LOT.checks.jsonl --model models/wafer-mm-11
"""
import argparse
import json
import os

import numpy as np

from data import auroc  # rank-sum AUROC, ties shared, as the model's own evaluation


def logit(p):
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def wafer_score(checks, how, w):
    if not checks:
        return -np.inf
    prob = np.array([c["prob"] for c in checks])
    score = np.array([c["score"] for c in checks])
    if how == "map":
        return float(score.max())
    if how == "judged":
        return float(max(c["confidence"] for c in checks))
    if how == "crop":
        return float(prob.max())
    return float((logit(prob) + w * logit(score)).max())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checks", required=True)
    ap.add_argument("--model", required=True, help="model folder whose verifier.mapWeights give the judged confidence")
    a = ap.parse_args()
    m = json.load(open(os.path.join(a.model, "model.json")))["verifier"]
    rows = [json.loads(line) for line in open(a.checks)]
    out = {}
    for cls in m["classes"]:
        w = m["mapWeights"].get(cls)
        has = [any(d["class"] == cls for d in r["truth"]) for r in rows]
        res = {"wafers": int(sum(has)), "judged": "crops" if w is not None else "map"}
        for how in ("judged", "crop+map", "crop", "map"):
            if how in ("judged", "crop+map") and w is None:
                continue
            s = [wafer_score(r["candidates"].get(cls, []), how, w) for r in rows]
            s = np.nan_to_num(np.array(s), neginf=-1e9)
            res[how] = round(auroc(s, has), 4)
        out[cls] = res
        print(f"{cls}: {json.dumps(res)}")
    print(json.dumps({"checks": os.path.basename(a.checks), "wafers": len(rows), "auroc": out}))


if __name__ == "__main__":
    main()
