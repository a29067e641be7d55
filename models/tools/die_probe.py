"""How much of the die pattern the die residual (model.DieResidual) takes away, with no model: per
wafer and channel, the residual's spread over the dies against the pattern's own (the brightness
minus its 5x5 mean there). A ratio near 1 on a wafer with a strong pattern is a period read wrongly;
on a faint pattern the residual is noise and the ratio is about 1 whatever the period.

    /usr/bin/python3 models/tools/die_probe.py --data '/data/val-*' --wafers 200
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from data import Arrays  # noqa: E402
from model import DieResidual  # noqa: E402
from train import prefixes  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="glob of dataset prefixes")
    ap.add_argument("--wafers", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    arrays = Arrays(prefixes(a.data))
    die = DieResidual(arrays.grid)
    inner = die.inner > 0
    ratios, pattern = [], []
    with torch.no_grad():
        for k in range(min(a.wafers, len(arrays))):
            x = torch.from_numpy(arrays.x(k)[None])
            r = die(x)[0]
            v = x[:, 0:3].mean(1, keepdim=True)
            own = (v - F.avg_pool2d(F.pad(v, (2, 2, 2, 2), mode="replicate"), 5, 1))[0, 0][inner].std().item()
            pattern.append(own)
            ratios.append([r[c][inner].std().item() / own for c in range(r.shape[0])])
    ratios, pattern = np.array(ratios), np.array(pattern)
    strong = pattern >= np.median(pattern) / 2
    for c, name in enumerate(("along x", "along y")):
        q = np.percentile(ratios[:, c], [50, 90, 99])
        print("%s: residual / pattern spread, median %.2f, 90th percentile %.2f, 99th %.2f; above 1 on %d of %d wafers with a strong pattern"
              % (name, q[0], q[1], q[2], int((ratios[strong, c] > 1).sum()), int(strong.sum())))


if __name__ == "__main__":
    main()
