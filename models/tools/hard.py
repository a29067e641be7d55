"""Hard negatives: where on the training wafers the model scores a class that is not there.

A station's threshold for a class is the highest score its good wafers reach (README, "Calibration"),
so the few cells of the die pattern, the rim or another class's defect that score highest decide
what the class's small defects must beat. Crops cut at random rarely hold them; finetune.py --hard
cuts a share of its crops around them, mined again as the model learns.
"""
import numpy as np
import torch
import torch.nn.functional as F

from data import class_targets


# how far from a class's own defect a cell must lie to be a negative for it, mm: the reach within
# which replay scoring (src/inspection/score.ts, FOUND_WITHIN_MM) counts a region as the defect
REACH_MM = 7.5


def near_own(arrays, k, stride, reach_mm=REACH_MM):
    """[classes, G/stride, G/stride] bool: the output cells within reach_mm of a cell of the class, or
    whose centres lie within reach_mm of the extent (half its size from its centre) of a defect of the
    class in the wafer's truth. On the output grid rather than through Arrays.disc on the input grid:
    the two differ at the edge by a cell, and this is what wafer-mm-9 was mined with."""
    own = torch.from_numpy(class_targets(arrays.bits(k), stride, len(arrays.classes)))
    cell = arrays.field / arrays.grid * stride
    r = int(np.ceil(reach_mm / cell))
    near = F.max_pool2d(own[None], 2 * r + 1, 1, r)[0] > 0
    g = own.shape[-1]
    centre = (np.arange(g) + 0.5) * cell - arrays.field / 2
    for d in arrays.wafers[k][2]["truth"]:
        if d["class"] in arrays.classes:
            inside = (centre[None, :] - d["xMm"]) ** 2 + (-centre[:, None] - d["yMm"]) ** 2 <= (d["sizeMm"] / 2 + reach_mm) ** 2
            near[arrays.classes.index(d["class"])] |= torch.from_numpy(inside)
    return near


def mine_hard(image, queries, arrays, per_class, reach_mm=REACH_MM, batch=4, wafers=None):
    """[(wafer, row, col)]: for each class the per_class wafers whose highest score for it, away from
    its own defects (near_own), is highest, at that cell, in input cells.
    queries [classes, D]: the classes' queries, in arrays.classes order. wafers: how many to look at
    (default all)."""
    s = image.stride
    n = len(arrays) if wafers is None else min(wafers, len(arrays))
    found = [[] for _ in arrays.classes]
    training = image.training
    image.eval()
    with torch.no_grad():
        for i in range(0, n, batch):
            ks = list(range(i, min(n, i + batch)))
            logits, _ = image.logits(torch.from_numpy(np.stack([arrays.x(k) for k in ks])), queries)
            for b, k in enumerate(ks):
                v = logits[b].masked_fill(near_own(arrays, k, s, reach_mm), float("-inf")).flatten(1)
                best, at = v.max(1)
                W = logits.shape[-1]
                for j in range(len(arrays.classes)):
                    if torch.isfinite(best[j]):
                        r, c = divmod(int(at[j]), W)
                        found[j].append((float(best[j]), k, r * s + s // 2, c * s + s // 2))
    image.train(training)
    out = []
    for f in found:
        out += [(k, r, c) for _, k, r, c in sorted(f, reverse=True)[:per_class]]
    return out
