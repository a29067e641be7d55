"""Trains the crop verifier and writes a model folder that runs it after an image model.

The image model sees the visible frame as 2.5 mm cells, where a 1 mm particle or chip is a few
percent of a cell's light; in the frame (0.158 mm a pixel) it is a plain shape. The verifier looks at
48 x 48 pixel crops of the registered visible frame around the highest local maxima of each visible
class's map and says, per class, whether that class's defect is in the crop and how large it is. The
appliance then judges those classes by the verifier's probability (thresholds calibrated on good
wafers, as for the map) and sizes their findings by its size.

    wafer-inspect model candidates LOT --out LOT.cand.jsonl        # the training lots, with the base model
    /usr/bin/python3 models/tools/verifier.py --train LOT_A --good LOT_B --base models/wafer-mm-9 \
        --id wafer-mm-10 --out models/wafer-mm-10

The new folder's manifest names the base model's image and text files where they are (../BASE/...),
so nothing is copied; its id is new, since its thresholds mean something else for the verified classes.
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
from crops import CLASSES, HALF, SIZE0, Exported, Verifier, crops, pitch, prep  # noqa: E402
from export import onnx_entry  # noqa: E402

PER_CLASS = 6
MIN_SCORE = 0.01


def train(x, meta, steps, seed, threads):
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    y = np.stack([(meta[:, 5].astype(int) >> i) & 1 for i in range(len(CLASSES))], 1).astype(np.float32)
    log_size = np.log(np.maximum(meta[:, SIZE0 : SIZE0 + len(CLASSES)], 0.05)).astype(np.float32)
    net = Verifier()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    # a class's defect is in 1 or 2 crops of 100: a quarter of each batch is drawn from those that hold one,
    # so the network sees defects as often as it sees the good rim and die pattern around them
    positives = np.flatnonzero(y.any(1))
    t0 = time.time()
    for step in range(steps):
        i = np.concatenate([rng.integers(0, len(x), 96), rng.choice(positives, 32)])
        xb = torch.rot90(prep(x[i]), int(rng.integers(0, 4)), (2, 3))
        if rng.random() < 0.5:
            xb = xb.flip(3)
        logit, ls = net(xb)
        yb = torch.from_numpy(y[i])
        loss = nn.functional.binary_cross_entropy_with_logits(logit, yb)
        # sizes are learnt where the class's defect is: elsewhere there is none to measure
        size_loss = ((ls - torch.from_numpy(log_size[i])) ** 2 * yb).sum() / yb.sum().clamp(min=1)
        opt.zero_grad()
        (loss + 0.2 * size_loss).backward()
        opt.step()
        if step == int(steps * 0.7):
            for g in opt.param_groups:
                g["lr"] = 3e-4
        if step % 500 == 0:
            print(f"step {step} loss {loss.item():.4f} size {size_loss.item():.4f} ({time.time() - t0:.0f} s)", flush=True)
    return net.eval()


def size_fits(net, x, meta):
    """Per class, true size = slope x the verifier's size + offset, and the spread around it (mm), on crops held out of training."""
    with torch.no_grad():
        sizes = np.concatenate([torch.exp(net(prep(x[i : i + 512]))[1]).numpy() for i in range(0, len(x), 512)])
    fits = {}
    for ci, c in enumerate(CLASSES):
        true = meta[:, SIZE0 + ci]
        on = true > 0
        if on.sum() < 10:
            continue
        slope, offset = np.polyfit(sizes[on, ci], true[on], 1)
        spread = float(np.std(true[on] - (slope * sizes[on, ci] + offset)))
        fits[c] = {"slope": round(float(slope), 3), "offset": round(float(offset), 3), "spread": round(spread, 3), "samples": int(on.sum())}
        print(f"size {c}: true = {slope:.3f} x verifier + {offset:.3f} mm, spread {spread:.3f} mm ({on.sum()} crops)")
    return fits


def export(net, path):
    x = torch.zeros(5, 3, 2 * HALF, 2 * HALF)
    torch.onnx.export(Exported(net), (x,), path, opset_version=13, input_names=["crops"], output_names=["probs", "sizes"],
                      dynamic_axes={"crops": {0: "crops"}, "probs": {0: "crops"}, "sizes": {0: "crops"}})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True, help="lot with defects to train on (a recorded lot with LOT.<candidates>.jsonl beside it)")
    ap.add_argument("--good", required=True, help="lot of good wafers: its first --good-train add the notch and the rim as negatives")
    ap.add_argument("--good-train", type=int, default=300)
    ap.add_argument("--held-out", type=int, default=100, help="last wafers of --train kept out of training, for the size fit")
    ap.add_argument("--station", default="calibration/reference")
    ap.add_argument("--candidates", default="cand")
    ap.add_argument("--base", required=True, help="the image model's folder (its model.json)")
    ap.add_argument("--id", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=3500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint", help="also save the trained network's weights here")
    a = ap.parse_args()
    lines = sum(1 for _ in open(f"{a.train.rstrip('/')}.{a.candidates}.jsonl"))
    keep = lines - a.held_out
    xa, ma, _ = crops(a.train, a.station, a.candidates, truth_crops=True, first=keep, seed=a.seed)
    xg, mg, _ = crops(a.good, a.station, a.candidates, rim_negatives=True, first=a.good_train, seed=a.seed + 1)
    xh, mh, _ = crops(a.train, a.station, a.candidates, truth_crops=True, skip=keep, seed=a.seed + 2)
    x, m = np.concatenate([xa, xg]), np.concatenate([ma, mg])
    print(f"training crops {len(x)}, with each class: {[int(((m[:, 5].astype(int) >> i) & 1).sum()) for i in range(len(CLASSES))]}")
    net = train(x, m, a.steps, a.seed, a.threads)
    if a.checkpoint:
        torch.save(net.state_dict(), a.checkpoint)
    fits = size_fits(net, xh, mh)
    os.makedirs(a.out, exist_ok=True)
    export(net, os.path.join(a.out, "verifier.onnx"))
    base = json.load(open(os.path.join(a.base, "model.json")))
    base_id = base["id"]
    rel = os.path.relpath(a.base, a.out)
    for k, f in base["files"].items():
        f["path"] = os.path.join(rel, f["path"])
    base["id"] = a.id
    base["files"]["verifier"] = onnx_entry(os.path.join(a.out, "verifier.onnx"), "verifier.onnx")
    base["verifier"] = {
        "base": base_id,
        "classes": CLASSES, "cropPx": 2 * HALF, "mmPerPx": pitch(a.station), "perClass": PER_CLASS, "minScore": MIN_SCORE,
        "sizeFits": fits, "parameters": sum(p.numel() for p in net.parameters()),
        "training": {"train": os.path.basename(a.train.rstrip("/")), "good": os.path.basename(a.good.rstrip("/")), "goodTrain": a.good_train,
                     "heldOut": a.held_out, "steps": a.steps, "seed": a.seed, "crops": len(x)},
    }
    with open(os.path.join(a.out, "model.json"), "w") as f:
        json.dump(base, f, indent=2)
        f.write("\n")
    print(f"wrote {a.out}/verifier.onnx and model.json ({base['verifier']['parameters']} parameters)")


if __name__ == "__main__":
    main()
