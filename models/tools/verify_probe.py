"""How much a second look at the visible frame's own pixels finds of what the fused grid misses.

The model sees the visible frame as 1.25 mm cells; a 1 mm particle, a 1 mm edge chip or a 0.1 mm
scratch is a few percent of a cell's light there, against a die pattern that changes it by a fifth,
while in the frame (0.158 mm a pixel) each is a plain shape tens of pixels across. This probe cuts
48 x 48 pixel crops (7.6 mm) of the registered visible frame around the places where the model's map
of each visible class peaks (`wafer-inspect model candidates`), trains a small CNN on one lot's crops
to say which classes' defects are in a crop, sets each class's threshold at the highest crop score
on a lot of good wafers (as the station's thresholds are set on the model's own scores), and counts
on a third lot what the model's score alone and the crop score each find at that place.

    wafer-inspect model candidates LOT --out LOT.cand.jsonl            # for each of the lots below
    /usr/bin/python3 models/tools/verify_probe.py --train LOT_A --good LOT_B --test LOT_T --steps 3500

Lots are recorded lot folders (frames on disk) with a `.cand.jsonl` beside each (`--candidates`). The first
`--good-train` wafers of the good lot add negatives that every wafer has (the notch, and the rim seen
from just outside it) to the training and are left out of the thresholds.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(__file__))
from crops import CLASSES, Verifier, crops, prep  # noqa: E402


def train(x, meta, steps, seed):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    y = np.stack([(meta[:, 5].astype(int) >> i) & 1 for i in range(len(CLASSES))], 1).astype(np.float32)
    net = Verifier((24, 32, 48, 64))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    t0 = time.time()
    for step in range(steps):
        i = rng.integers(0, len(x), 128)
        xb = torch.rot90(prep(x[i]), int(rng.integers(0, 4)), (2, 3))
        if rng.random() < 0.5:
            xb = xb.flip(3)
        loss = nn.functional.binary_cross_entropy_with_logits(net(xb)[0], torch.from_numpy(y[i]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step == int(steps * 0.7):
            for g in opt.param_groups:
                g["lr"] = 3e-4
        if step % 500 == 0:
            print(f"step {step} loss {loss.item():.4f} ({time.time() - t0:.0f} s)", flush=True)
    return net.eval()


def probs(net, x):
    with torch.no_grad():
        return np.concatenate([torch.sigmoid(net(prep(x[i : i + 512]))[0]).numpy() for i in range(0, len(x), 512)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True, help="lot to train on (defects)")
    ap.add_argument("--good", required=True, help="lot of good wafers: thresholds")
    ap.add_argument("--test", required=True, help="lot to count on")
    ap.add_argument("--station", default="calibration/reference")
    ap.add_argument("--candidates", default="cand", help="each lot's candidates are LOT.<this>.jsonl")
    ap.add_argument("--good-train", type=int, default=300, help="good wafers given to training instead of thresholds")
    ap.add_argument("--steps", type=int, default=3500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="write the figures as JSON")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    xa, ma, _ = crops(a.train, a.station, a.candidates, truth_crops=True, seed=a.seed)
    xg0, mg0, _ = crops(a.good, a.station, a.candidates, rim_negatives=True, first=a.good_train, seed=a.seed + 1)
    x, m = np.concatenate([xa, xg0]), np.concatenate([ma, mg0])
    print(f"training crops {len(x)}, with each class: {[int(((m[:, 5].astype(int) >> i) & 1).sum()) for i in range(len(CLASSES))]}")
    net = train(x, m, a.steps, a.seed)
    xg, mg, gw = crops(a.good, a.station, a.candidates, skip=a.good_train)
    xt, mt, tw = crops(a.test, a.station, a.candidates)
    t0 = time.time()
    pg, pt = probs(net, xg), probs(net, xt)
    ms = 1000 * (time.time() - t0) / (len(xg) + len(xt))
    good_wafers = len(gw)
    rows = {}
    for ci, c in enumerate(CLASSES):
        g = mg[:, 1] == ci
        # a good wafer's score is its highest over its candidates; the threshold the highest good wafer's
        thr_score = float(mg[g, 2].max(initial=0))
        thr_crop = float(pg[g, ci].max(initial=0))
        s = mt[:, 1] == ci
        on = ((mt[s, 5].astype(int) >> ci) & 1) == 1
        wi = mt[s, 0].astype(int)
        has = {i for i, w in enumerate(tw) if any(d["class"] == c for d in w["truth"])}
        small = {i for i in has if any(d["class"] == c and d["sizeMm"] < 2 for d in tw[i]["truth"])}
        covered = set(wi[on])
        by_score = set(wi[on & (mt[s, 2] > thr_score)])
        by_crop = set(wi[on & (pt[s, ci] > thr_crop)])
        good_t = mt[s, 6] == 1
        rows[c] = {
            "wafers": len(has), "candidate on it": len(covered & has), "found by score": len(by_score & has), "found by crop": len(by_crop & has),
            "under 2 mm": len(small), "under 2 mm by score": len(by_score & small), "under 2 mm by crop": len(by_crop & small),
            "good wafers over, score": len(set(wi[good_t & (mt[s, 2] > thr_score)])), "good wafers over, crop": len(set(wi[good_t & (pt[s, ci] > thr_crop)])),
            "threshold score": round(thr_score, 4), "threshold crop": round(thr_crop, 4),
        }
        print(c, json.dumps(rows[c]))
    print(f"{len(xg) + len(xt)} crops scored, {ms:.3f} ms a crop; thresholds from {good_wafers} good wafers")
    if a.out:
        json.dump({"classes": rows, "msPerCrop": round(ms, 3), "goodWafers": good_wafers, "steps": a.steps, "seed": a.seed}, open(a.out, "w"), indent=2)


if __name__ == "__main__":
    main()
