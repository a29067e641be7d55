"""Training arrays written by `wafer-inspect dataset` (see src/dataset/export.ts), read in place."""
import json

import numpy as np
import torch

from model import INPUT_CHANNELS, ring_band

CLASSES = ["edge-burr", "edge-chip", "scratch", "particle", "stain", "crack", "void", "hotspot"]


class Arrays:
    """extra: classes beyond the built-in ones, named in the wafers' truth; the dataset's masks hold
    only built-in classes, so theirs are discs of the truth's size around its centre."""

    def __init__(self, prefixes, extra=()):
        self.inputs, self.masks, self.wafers, self.perms = [], [], [], []
        self.classes = CLASSES + [c for c in extra if c not in CLASSES]
        self.field = 320.0
        self.grid = None
        self.ring = None
        self.die = None
        for p in prefixes:
            idx = json.load(open(p + ".json"))
            assert idx["format"] == "wafer-inspect-dataset/1", p
            assert list(idx["classes"]) == CLASSES, "class order differs from the model's"
            g = idx["grid"]["size"]
            if self.grid is None:
                self.grid = g
            assert g == self.grid, "chunks with different grids"
            self.field = float(idx["grid"]["fieldMm"])
            n = len(idx["wafers"])
            self.perms.append([list(idx["channels"]).index(c) for c in INPUT_CHANNELS])
            self.inputs.append(np.memmap(p + ".inputs.u16", dtype="<u2", mode="r", shape=(n, len(idx["channels"]), g, g)))
            self.masks.append(np.memmap(p + ".masks.u8", dtype="u1", mode="r", shape=(n, g, g)))
            self.wafers += [(len(self.inputs) - 1, i, w) for i, w in enumerate(idx["wafers"])]

    def __len__(self):
        return len(self.wafers)

    def x(self, k, r0=0, c0=0, size=None):
        """The fused tensor's window [8, size, size]; after with_ring, the ring residual's 5 channels
        follow, and after with_die the die residual's 2, each cut from the whole wafer's (a crop alone
        lacks the cells its rim cells and its dies are compared with)."""
        c, i, _ = self.wafers[k]
        size = size or self.grid
        x = self.inputs[c][i, self.perms[c], r0:r0 + size, c0:c0 + size].astype(np.float32) / 65535.0
        parts = [x]
        if self.ring is not None:
            band, nb, grid_where, cache = self.ring
            if k not in cache:
                res = ring_band(self.whole(k), band, nb)[0].numpy()
                # with a zero column last, for the cells off the band
                cache[k] = np.concatenate([res, np.zeros((res.shape[0], 1), np.float32)], 1)
            parts.append(cache[k][:, grid_where[r0:r0 + size, c0:c0 + size]])
        if self.die is not None:
            residual, cache = self.die
            if k not in cache:
                with torch.no_grad():
                    cache[k] = residual(self.whole(k))[0].numpy().astype(np.float16)
            parts.append(cache[k][:, r0:r0 + size, c0:c0 + size].astype(np.float32))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def whole(self, k):
        c, i, _ = self.wafers[k]
        return torch.from_numpy(self.inputs[c][i, self.perms[c]].astype(np.float32) / 65535.0)[None]

    def with_die(self, residual):
        """From now on x() carries the die residual too (a model.DieResidual), after the ring's
        channels, each wafer's computed once from the whole wafer and kept: 256 kB a wafer."""
        self.die = (residual, {})

    def with_ring(self, band, nb, where):
        """From now on x() carries the ring residual too (model.ring_band with these tables), each
        wafer's band computed once and kept: 90 kB a wafer."""
        self.ring = (band, nb, where.long().numpy().reshape(self.grid, self.grid), {})

    def bits(self, k, r0=0, c0=0, size=None):
        c, i, w = self.wafers[k]
        size = size or self.grid
        b = np.asarray(self.masks[c][i, r0:r0 + size, c0:c0 + size])
        if len(self.classes) == len(CLASSES):
            return b
        b = b.astype(np.int32)
        for d in w["truth"]:
            if d["class"] in self.classes[len(CLASSES):]:
                b |= self.disc(d, r0, c0, size).astype(np.int32) << self.classes.index(d["class"])
        return b

    def disc(self, d, r0, c0, size):
        """Cells of the window within the truth's radius of its centre (src/dataset/masks.ts, truth discs)."""
        cell = self.field / self.grid
        r = max(d["sizeMm"] / 2, cell / 2)
        y = self.field / 2 - (np.arange(r0, r0 + size) + 0.5) * cell
        x = (np.arange(c0, c0 + size) + 0.5) * cell - self.field / 2
        return (x[None, :] - d["xMm"]) ** 2 + (y[:, None] - d["yMm"]) ** 2 <= r * r

    def present(self, k):
        """[classes] 0/1: the classes in the wafer's truth."""
        names = {d["class"] for d in self.wafers[k][2]["truth"]}
        return np.array([1.0 if c in names else 0.0 for c in self.classes], dtype=np.float32)


def class_targets(bits, stride, n=len(CLASSES)):
    """Per-class targets on the model's output grid: a cell holds a class if any input cell under it does."""
    g = bits.shape[-1] // stride
    planes = np.stack([(bits >> k) & 1 for k in range(n)]).astype(np.float32)
    return planes.reshape(n, g, stride, g, stride).max(axis=(2, 4))


def sample_crop(rng, arrays, k, size, stride, where, cls=None, out_stride=None, at=None):
    """A size x size crop (aligned to stride, the coarsest grid the model computes on) of wafer k, its
    targets on the output grid (out_stride, default stride), and its top-left cell.
    where: 'defect' centres it near a cell of class index cls (any class when None), 'rim' on the
    wafer's rim (where the edge classes live and most false alarms would), 'at' near the cell at =
    (row, col), anything else anywhere."""
    g = arrays.grid
    b = arrays.bits(k)
    if where == "defect":
        ys, xs = np.nonzero((b >> cls) & 1 if cls is not None else b)
    elif where == "at":
        ys, xs = np.array([at[0]]), np.array([at[1]])
    else:
        ys, xs = (), ()
    if len(ys):
        j = rng.integers(len(ys))
        cy, cx = ys[j] + rng.integers(-size // 3, size // 3 + 1), xs[j] + rng.integers(-size // 3, size // 3 + 1)
    elif where == "rim":
        t = rng.uniform(0, 2 * np.pi)
        r = 150.0 / (320.0 / g)
        cy, cx = int(g / 2 - r * np.sin(t)), int(g / 2 + r * np.cos(t))
    else:
        cy, cx = rng.integers(size // 2, g - size // 2 + 1, size=2)
    r0 = int(np.clip(cy - size // 2, 0, g - size)) // stride * stride
    c0 = int(np.clip(cx - size // 2, 0, g - size)) // stride * stride
    y = class_targets(arrays.bits(k, r0, c0, size), out_stride or stride, len(arrays.classes))
    return arrays.x(k, r0, c0, size), y, (r0, c0)


def sample_batch(rng, arrays, having, batch, size, stride, out_stride=None, hard=None):
    """Crops for one step: half near defects, a quarter on the rim of any wafer, a quarter anywhere.
    hard: (wafer, row, col) of cells where the model scores a class that is not there (mine_hard);
    when given, a quarter of the batch is cut around them and the rim and anywhere share the rest."""
    out = []
    bounds = (batch // 2, 5 * batch // 8, 7 * batch // 8) if hard else (batch // 2, 3 * batch // 4, 3 * batch // 4)
    for j in range(batch):
        where = "defect" if j < bounds[0] and having else "rim" if j < bounds[1] else "at" if j < bounds[2] else "any"
        cls, at = None, None
        if where == "defect":
            cls, ks = having[rng.integers(len(having))]
            k = ks[rng.integers(len(ks))]
        elif where == "at":
            k, r, c = hard[rng.integers(len(hard))]
            at = (r, c)
        else:
            k = int(rng.integers(len(arrays)))
        out.append(sample_crop(rng, arrays, k, size, stride, where, cls, out_stride, at))
    return out


def auroc(scores, labels):
    """Area under the ROC curve by the rank-sum formula (ties share ranks)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    npos, nneg = labels.sum(), (~labels).sum()
    if npos == 0 or nneg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    s = scores[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[labels].sum() - npos * (npos + 1) / 2) / (npos * nneg))
