"""Where a scratch the map does not reach stands out of the die pattern: a die-to-die probe.

The scratches a verifier model misses are plain lines in the visible frame, but its scratch map peaks
elsewhere, so no crop is cut on them (models/README.md, "Scratches the map does not reach"). Dies
repeat; a scratch does not. This probe resamples a wafer's visible frame onto wafer mm at the
station's pitch, finds the die pitch along x and y from the frame itself (the autocorrelation of its
column and row means), and compares every pixel with the same place one and two dies away on either
axis (eight neighbours). A pixel stands out where it differs from their median by more than
STANDOUT times the frame's robust noise and more than SPREAD times the range of its four nearest
neighbours: at the edge of the printed dies, or on the rim's shading, those disagree with each other
and nothing is read there. The places are the 1.26 mm blocks where most pixels stand out (summed
over 3 x 3 blocks), APART_MM apart, highest first, as the rim's places are for edge chips.

    wafer-inspect model candidates LOT --model models/wafer-mm-14 --out LOT.checks.jsonl
    /usr/bin/python3 models/tools/scratch_probe.py --lot LOT --candidates LOT.checks.jsonl \
        --threshold 0.37933 [--good 30] [--bin 4]

For each wafer with a scratch whose checks all stay under --threshold (the station's scratch
threshold for that model), prints the rank of the first place within reach of the scratch (its
centre within half its length and REACH_MM more) and, for --good wafers without defects, the top
places' counts: what a verifier would be shown besides the map's places.
"""
import argparse
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from PIL import Image

RADIUS_MM = 150.0
STANDOUT, SPREAD = 6.0, 1.5
BLOCK_PX = 8
APART_MM = 6.0
REACH_MM = 2.5
RIM_MARGIN_MM = 1.0


class Probe:
    def __init__(self, station, bin=1):
        self.bin = bin
        m = np.array(yaml.safe_load(open(os.path.join(station, "station.yaml")))["modalities"]["visible"]["pxToMm"])
        self.pitch = float(np.hypot(m[0, 0], m[1, 0]))
        full = np.linalg.inv(np.vstack([m, [0, 0, 1]]))
        n = int(round(2 * RADIUS_MM / self.pitch))
        c = (np.arange(n) + 0.5) * self.pitch - RADIUS_MM
        x, y = np.meshgrid(c, -c)  # row 0 at the top, y up
        self.n, self.radius = n, np.hypot(x, y)
        self.cols = full[0, 0] * x + full[0, 1] * y + full[0, 2]
        self.rows = full[1, 0] * x + full[1, 1] * y + full[1, 2]

    def wafer_mm(self, path):
        """The frame's grey levels on a wafer-mm grid at the station's pitch (bilinear)."""
        im = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32).mean(-1)
        h, w = im.shape
        grid = np.stack([self.cols / ((w - 1) / 2) - 1, self.rows / ((h - 1) / 2) - 1], -1)
        t = torch.tensor(im)[None, None]
        return F.grid_sample(t, torch.tensor(grid[None], dtype=torch.float32), mode="bilinear", align_corners=True)[0, 0]

    def die_pitch(self, g, axis):
        """Die pitch along x (axis 1) or y (axis 0), mm: the first autocorrelation peak of the mean
        profile across the wafer's middle that comes close to the highest (its multiples peak as high)."""
        mid = self.n // 2
        band = g[mid - 400 : mid + 400, :] if axis == 1 else g[:, mid - 400 : mid + 400].T
        prof = band.mean(0).numpy().astype(np.float64)
        prof = (prof - np.convolve(prof, np.ones(301) / 301, mode="same"))[200:-200]
        f = np.fft.rfft(prof, 4 * len(prof))
        ac = np.fft.irfft(f * np.conj(f))[: len(prof)]
        ac /= ac[0]
        lo, hi = int(5.5 / self.pitch), int(23 / self.pitch)
        k = int(np.argmax(ac[lo:hi])) + lo
        for j in range(lo + 1, k):
            if ac[j] >= 0.85 * ac[k] and ac[j] >= ac[j - 1] and ac[j] >= ac[j + 1]:
                k = j
                break
        a, b, c = ac[k - 1], ac[k], ac[k + 1]
        return (k + 0.5 * (a - c) / (a - 2 * b + c)) * self.pitch

    def shifted(self, g, dx, dy, pitch):
        """g (pixels of `pitch` mm) read at (x + dx, y + dy) mm."""
        h, w = g.shape
        gx = torch.linspace(-1, 1, w) + 2 * dx / pitch / (w - 1)
        gy = torch.linspace(-1, 1, h) - 2 * dy / pitch / (h - 1)
        grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], -1)[None]
        return F.grid_sample(g[None, None], grid, mode="bilinear", padding_mode="border", align_corners=True)[0, 0]

    def places(self, path, top=8):
        full = self.wafer_mm(path)
        px, py = self.die_pitch(full, 1), self.die_pitch(full, 0)
        # compared at bin x bin pixels of the wafer-mm grid: what an appliance could afford per wafer
        b = self.bin
        g = F.avg_pool2d(full[None, None], b)[0, 0] if b > 1 else full
        pitch = self.pitch * b
        radius = self.radius[: g.shape[0] * b : b, : g.shape[1] * b : b] if b > 1 else self.radius
        nb = torch.stack([self.shifted(g, s * px, 0, pitch) for s in (-2, -1, 1, 2)] + [self.shifted(g, 0, s * py, pitch) for s in (-2, -1, 1, 2)])
        med = nb.median(0).values
        near = nb[[1, 2, 5, 6]]
        spread = near.max(0).values - near.min(0).values
        r = g - med
        r[torch.tensor(radius > RADIUS_MM - RIM_MARGIN_MM)] = 0
        noise = r.abs().median() * 1.4826 + 1e-3
        out = ((r.abs() > STANDOUT * noise) & (r.abs() > SPREAD * spread)).float()
        block = max(1, BLOCK_PX // b)
        count = F.avg_pool2d(F.avg_pool2d(out[None, None], block) * block**2, 3, 1, 1)[0, 0] * 9
        centres = (np.arange(count.shape[0]) + 0.5) * block * pitch - RADIUS_MM
        apart = int(math.ceil(APART_MM / (block * pitch)))
        found = []
        for _ in range(top):
            v, i = count.flatten().max(0)
            if v <= 0:
                break
            by, bx = divmod(int(i), count.shape[0])
            found.append((float(centres[bx]), float(-centres[by]), int(v)))
            count[max(0, by - apart) : by + apart + 1, max(0, bx - apart) : bx + apart + 1] = 0
        return (px, py), found


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lot", required=True)
    ap.add_argument("--candidates", required=True, help="`wafer-inspect model candidates` of the lot, by a verifier model")
    ap.add_argument("--threshold", type=float, required=True, help="the station's scratch threshold for that model")
    ap.add_argument("--station", default=os.path.join(os.path.dirname(__file__), "../../calibration/reference"))
    ap.add_argument("--good", type=int, default=30, help="good wafers to read the places of")
    ap.add_argument("--top", type=int, default=8)
    ap.add_argument("--bin", type=int, default=1, help="compare bin x bin pixels of the wafer-mm grid (the die pitch is found at full resolution)")
    a = ap.parse_args()
    paths = {}
    for line in open(os.path.join(a.lot, "manifest.jsonl")):
        w = json.loads(line)
        paths[w["wafer"]] = os.path.join(a.lot, w["frames"]["visible"])
    probe = Probe(a.station, a.bin)
    missed, good = [], []
    for line in open(a.candidates):
        w = json.loads(line)
        scratches = [d for d in w["truth"] if d["class"] == "scratch"]
        if scratches and max([c["confidence"] for c in w["candidates"]["scratch"]] or [0]) < a.threshold:
            missed.append((w["wafer"], scratches))
        elif not w["truth"] and len(good) < a.good:
            good.append(w["wafer"])
    reached = 0
    for wafer, scratches in missed:
        pitch, found = probe.places(paths[wafer], a.top)
        ranks = []
        for d in scratches:
            near = [k for k, (x, y, _) in enumerate(found) if math.hypot(x - d["xMm"], y - d["yMm"]) <= d["sizeMm"] / 2 + REACH_MM]
            ranks.append(near[0] if near else None)
        reached += any(r is not None for r in ranks)
        print(json.dumps({"wafer": wafer, "diePitchMm": [round(p, 2) for p in pitch], "scratches": [{"sizeMm": d["sizeMm"], "xMm": d["xMm"], "yMm": d["yMm"], "rank": r} for d, r in zip(scratches, ranks)], "places": [[round(x, 1), round(y, 1), v] for x, y, v in found]}))
    tops = [probe.places(paths[w], a.top)[1] for w in good]
    print(json.dumps({"missed": len(missed), "reached": reached, "goodWafers": len(good), "goodTopCounts": sorted(t[0][2] if t else 0 for t in tops)}))


if __name__ == "__main__":
    main()
