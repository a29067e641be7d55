"""How well the ring residual alone (model.ring_band) tells rim defects from good rims, with no
model: a wafer's score is its largest residual over the band, per channel and sign, and the AUROC of
that score per rim class is printed. It is the reason for the ring input (models/README.md).

    /usr/bin/python3 models/tools/ring_probe.py --data '/data/val-*'
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from data import CLASSES, Arrays, auroc  # noqa: E402
from model import ring_band, ring_table  # noqa: E402
from train import prefixes  # noqa: E402

FEATURES = {"visible brighter": (slice(0, 3), 1), "visible darker": (slice(0, 3), -1),
            "infrared brighter": (slice(3, 4), 1), "X-ray brighter": (slice(4, 5), 1), "X-ray darker": (slice(4, 5), -1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="glob of dataset prefixes")
    a = ap.parse_args()
    arrays = Arrays(prefixes(a.data))
    band, nb, _ = ring_table(arrays.grid)
    scores, labels = [], []
    for k in range(len(arrays)):
        res = ring_band(torch.from_numpy(arrays.x(k))[None], band, nb)[0]
        scores.append([float((sign * res[ch].mean(0)).max()) for ch, sign in FEATURES.values()])
        labels.append(arrays.present(k))
    scores, labels = np.array(scores), np.array(labels)
    print("%d wafers; AUROC of the largest ring residual over the band, per feature" % len(arrays))
    print("| class | positives | " + " | ".join(FEATURES) + " |")
    print("| --- | --- |" + " --- |" * len(FEATURES))
    for c in ("edge-burr", "edge-chip"):
        j = CLASSES.index(c)
        print("| %s | %d | %s |" % (c, labels[:, j].sum(), " | ".join("%.3f" % auroc(scores[:, f], labels[:, j]) for f in range(len(FEATURES)))))


if __name__ == "__main__":
    main()
