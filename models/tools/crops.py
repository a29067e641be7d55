"""Crops of the registered visible frame around the places a model's map peaks (`wafer-inspect model
candidates`), and the small CNN that looks at them: shared by verify_probe.py and verifier.py.

The appliance cuts the same crops (src/model/crops.ts): 48 x 48 pixels centred on the pixel the
candidate's wafer mm fall on, black outside the frame, each channel less its median, / 255; from a
station of another visible pitch, resampled to this station's.
"""
import json
import os

import numpy as np
import torch
import torch.nn as nn
import yaml
from PIL import Image

CLASSES = ["edge-burr", "edge-chip", "scratch", "particle"]
HALF = 24  # crop half size, pixels
NEAR_MM = 2.5  # a crop is on a defect when within its half size plus half a map cell
# meta columns of crops(): wafer, candidate class (-1: none), map score, x, y, classes present (bits), good wafer,
# then per class the size of its defect in the crop (mm, 0: none)
SIZE0 = 7


class Frames:
    """A lot's visible frames and where wafer mm fall in them (the wafer's own registration, else the station's)."""

    def __init__(self, lot, station):
        self.station = np.array(yaml.safe_load(open(os.path.join(station, "station.yaml")))["modalities"]["visible"]["pxToMm"])
        self.lot = lot
        self.paths, self.geometry = {}, {}
        for line in open(os.path.join(lot, "manifest.jsonl")):
            w = json.loads(line)
            self.paths[w["wafer"]] = w["frames"]["visible"]
            g = (w.get("geometry") or {}).get("visible")
            if g is not None:
                self.geometry[w["wafer"]] = np.array(g)

    def image(self, wafer):
        im = np.array(Image.open(os.path.join(self.lot, self.paths[wafer])).convert("RGB"))
        m = self.geometry.get(wafer, self.station)
        return np.pad(im, ((HALF, HALF), (HALF, HALF), (0, 0))), np.linalg.inv(m[:, :2]), m[:, 2]

    @staticmethod
    def crop(image, x, y):
        im, inv, off = image
        c, r = np.floor(inv @ (np.array([x, y]) - off) + 0.5).astype(int)
        c = min(max(c, 0), im.shape[1] - 2 * HALF - 1) + HALF
        r = min(max(r, 0), im.shape[0] - 2 * HALF - 1) + HALF
        return im[r - HALF : r + HALF, c - HALF : c + HALF].copy()


def pitch(station):
    """The station's visible pitch, mm per pixel: the verifier's crops are cut at it, and the appliance
    resamples another station's frames to it (model.json `verifier.mmPerPx`)."""
    m = np.array(yaml.safe_load(open(os.path.join(station, "station.yaml")))["modalities"]["visible"]["pxToMm"])
    return round(float(np.hypot(m[0, 0], m[1, 0])), 4)


def present(x, y, truth):
    """Classes whose defect a crop at (x, y) holds (bits), and the size of each (mm, 0: none)."""
    bits, sizes = 0, [0.0] * len(CLASSES)
    for d in truth:
        if d["class"] in CLASSES and np.hypot(x - d["xMm"], y - d["yMm"]) <= d["sizeMm"] / 2 + NEAR_MM:
            i = CLASSES.index(d["class"])
            bits |= 1 << i
            sizes[i] = max(sizes[i], d["sizeMm"])
    return bits, sizes


def crops(lot, station, cands, truth_crops=False, rim_negatives=False, first=None, skip=0, seed=0):
    """Crops around each wafer's candidates (and around its truth, and on its notch and rim), with meta
    rows (see SIZE0)."""
    rng = np.random.default_rng(seed)
    frames = Frames(lot, station)
    out, meta, wafers = [], [], []
    for i, line in enumerate(open(f"{lot.rstrip('/')}.{cands}.jsonl")):
        if i < skip or (first is not None and i >= first):
            continue
        w = json.loads(line)
        wi = len(wafers)
        wafers.append(w)
        im = frames.image(w["wafer"])
        good = int(not w["truth"])
        places = [(ci, p["score"], p["xMm"], p["yMm"]) for ci, c in enumerate(CLASSES) for p in w["candidates"][c]]
        if truth_crops:
            places += [(-1, 0, d["xMm"] + rng.uniform(-2, 2), d["yMm"] + rng.uniform(-2, 2)) for d in w["truth"] if d["class"] in CLASSES for _ in range(3)]
        if rim_negatives:
            places += [(-1, 0, rng.uniform(-3, 3), -149 + rng.uniform(-3, 3)) for _ in range(4)]
            for _ in range(6):
                a, r = rng.uniform(0, 2 * np.pi), rng.uniform(146, 155)
                places.append((-1, 0, r * np.cos(a), r * np.sin(a)))
        for ci, score, x, y in places:
            bits, sizes = present(x, y, w["truth"])
            out.append(Frames.crop(im, x, y))
            meta.append([wi, ci, score, x, y, bits, good, *sizes])
    return np.stack(out), np.array(meta, dtype=np.float64), wafers


def prep(c):
    """uint8 crops [N, 48, 48, 3] -> the verifier's input [N, 3, 48, 48]: the film's colour out (it
    varies from wafer to wafer), the defect's contrast kept. torch's median of an even count is the lower one."""
    x = torch.from_numpy(c).permute(0, 3, 1, 2).float() / 255
    return x - x.flatten(2).median(2).values[:, :, None, None]


class Verifier(nn.Module):
    """Per crop and class: a logit that the class's defect is in it, and the log of its size in mm."""

    def __init__(self, width=(16, 32, 48, 64)):
        super().__init__()
        a, b, c, d = width
        self.f = nn.Sequential(
            nn.Conv2d(3, a, 3, padding=1), nn.ReLU(), nn.Conv2d(a, b, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(b, c, 3, 2, 1), nn.ReLU(), nn.Conv2d(c, d, 3, 2, 1), nn.ReLU(), nn.Conv2d(d, d, 3, 1, 1), nn.ReLU(),
        )
        self.h = nn.Linear(2 * d, len(CLASSES))
        self.s = nn.Linear(2 * d, len(CLASSES))

    def forward(self, x):
        f = self.f(x)
        f = torch.cat([f.amax((2, 3)), f.mean((2, 3))], 1)
        return self.h(f), self.s(f)


class Exported(nn.Module):
    """What the appliance runs: probabilities and sizes in mm."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, crops):
        logit, log_size = self.net(crops)
        return torch.sigmoid(logit), torch.exp(log_size)
