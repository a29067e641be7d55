"""Where a model's wafer-level errors come from, per class: the negatives that score highest (a
wafer's score for a class is its highest cell score for the class's canonical query, as in the
card) and what lies under their highest cell (another class's defect, or nothing, and how far from
the centre), and the sizes of the positives missed at the threshold for the false-reject rate.

    /usr/bin/python3 models/tools/errors.py --model models/wafer-mm-9 --data "$DATA/val-*" --classes scratch,particle
"""
import argparse
import json
import os
import sys
from collections import Counter

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from base import load_model  # noqa: E402
from bpe import Tokenizer  # noqa: E402
from data import Arrays  # noqa: E402
from model import FIELD_MM  # noqa: E402
from train import canonical_queries, prefixes  # noqa: E402

# a defect lies under a cell when the cell's centre is within its half size plus this margin (mm)
NEAR_MM = 8.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/wafer-mm-9")
    ap.add_argument("--data", required=True, help="glob of dataset prefixes")
    ap.add_argument("--classes", help="comma-separated classes (default: all)")
    ap.add_argument("--frr", type=float, default=0.003)
    ap.add_argument("--top", type=int, default=10, help="negatives listed per class")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    image, text, manifest = load_model(a.model)
    tok = Tokenizer(json.load(open(os.path.join(a.model, manifest["files"]["tokenizer"]["path"]))))
    arrays = Arrays(prefixes(a.data))
    classes = a.classes.split(",") if a.classes else list(manifest["classes"])
    cell = FIELD_MM / arrays.grid * image.stride
    rows = {c: [] for c in classes}
    q = canonical_queries(text, tok, classes, manifest["canonical"])
    with torch.no_grad():
        for k in range(len(arrays)):
            s = image(torch.from_numpy(arrays.x(k)[None]), q)[0].numpy()
            truth = arrays.wafers[k][2]["truth"]
            for j, c in enumerate(classes):
                r, col = np.unravel_index(s[j].argmax(), s[j].shape)
                x, y = (col + 0.5) * cell - FIELD_MM / 2, FIELD_MM / 2 - (r + 0.5) * cell
                under = sorted("%s %.1f mm" % (d["class"], d["sizeMm"]) for d in truth if max(abs(d["xMm"] - x), abs(d["yMm"] - y)) < NEAR_MM + d["sizeMm"] / 2)
                rows[c].append({"score": float(s[j].max()), "sizes": [d["sizeMm"] for d in truth if d["class"] == c],
                                "under": under, "radius": float(np.hypot(x, y))})
    for c in classes:
        neg = sorted((r for r in rows[c] if not r["sizes"]), key=lambda r: -r["score"])
        pos = [r for r in rows[c] if r["sizes"]]
        if not neg or not pos:
            print("%s: no %s" % (c, "negatives" if not neg else "positives"))
            continue
        # the highest score a share frr of the negatives may exceed
        threshold = neg[min(len(neg) - 1, int(np.floor(a.frr * len(neg))))]["score"]
        missed = sorted(s for r in pos if r["score"] < threshold for s in r["sizes"])
        found = sorted(s for r in pos if r["score"] >= threshold for s in r["sizes"])
        top = neg[:max(a.top, int(np.ceil(0.01 * len(neg))))]
        on = Counter(u.split(" ")[0] for r in top for u in (r["under"] or ["nothing"]))
        print("%s: %d positives, %d negatives, threshold %.4f at %.1f%% false rejects" % (c, len(pos), len(neg), threshold, 100 * a.frr))
        print("  highest 1%% of negatives (%d), under their highest cell: %s" % (len(top), ", ".join("%s %d" % kv for kv in on.most_common())))
        for r in neg[:a.top]:
            print("    %.4f  %-28s %3.0f mm from the centre" % (r["score"], ", ".join(r["under"]) or "nothing", r["radius"]))
        print("  missed %d: sizes (mm) median %.1f, %s" % (len(missed), np.median(missed) if missed else 0, " ".join("%.1f" % s for s in missed)))
        print("  found %d: sizes (mm) median %.1f" % (len(found), np.median(found) if found else 0))


if __name__ == "__main__":
    main()
