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
from export import onnx_entry, sha256  # noqa: E402

PER_CLASS = 6
MIN_SCORE = 0.01
SMALL_MM = 2.0


def scores(net, x, idx):
    """The network's highest class probability on each of x[idx]."""
    with torch.no_grad():
        return np.concatenate([torch.sigmoid(net(prep(x[idx[i : i + 1024]]))[0]).amax(1).numpy() for i in range(0, len(idx), 1024)])


def from_onnx(net, path):
    """Starts from an exported verifier's weights: its initializers are the network's parameters by name (net.<name>)."""
    import onnx
    from onnx import numpy_helper
    weights = {i.name.removeprefix("net."): torch.from_numpy(numpy_helper.to_array(i).copy()) for i in onnx.load(path).graph.initializer}
    net.load_state_dict(weights)


def train(x, meta, steps, seed, threads, hard_share=0, small_share=0, mine_every=1000, mine_pool=24000, hard_keep=1024, init=None, lr=1e-3):
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    y = np.stack([(meta[:, 5].astype(int) >> i) & 1 for i in range(len(CLASSES))], 1).astype(np.float32)
    log_size = np.log(np.maximum(meta[:, SIZE0 : SIZE0 + len(CLASSES)], 0.05)).astype(np.float32)
    net = Verifier()
    if init:
        from_onnx(net, init)
    opt = torch.optim.Adam(net.parameters(), lr)
    # a class's defect is in 1 or 2 crops of 100: a quarter of each batch is drawn from those that hold one,
    # so the network sees defects as often as it sees the good rim and die pattern around them
    positives = np.flatnonzero(y.any(1))
    # a chip or particle under 2 mm is a few pixels of the crop: drawn apart, so the largest defects do not
    # teach the network that a defect is always plain
    sizes = meta[:, SIZE0 : SIZE0 + len(CLASSES)]
    small = np.flatnonzero(((sizes > 0) & (sizes < SMALL_MM)).any(1))
    # crops of good wafers hold nothing: the ones the network reads highest set each class's threshold on
    # the station's good wafers, so a share of each batch is drawn from them, mined again as it learns
    good = np.flatnonzero(meta[:, 6] == 1)
    hard = np.array([], dtype=int)
    print(f"positives {len(positives)} (under {SMALL_MM} mm {len(small)}), good-wafer crops {len(good)}", flush=True)
    t0 = time.time()
    for step in range(steps):
        # a network trained already is mined before its first step
        if hard_share and (step or init) and step % mine_every == 0:
            pool = np.union1d(hard, rng.choice(good, min(mine_pool, len(good)), replace=False))
            p = scores(net, x, pool)
            hard = pool[np.argsort(-p)[:hard_keep]]
            print(f"step {step}: mined {len(hard)} hard negatives of {len(pool)}, highest {p.max():.3f}, "
                  f"{hard_keep}th {np.sort(p)[-min(hard_keep, len(p))]:.3f} ({time.time() - t0:.0f} s)", flush=True)
        n_hard = hard_share if len(hard) else 0
        n_small = small_share if len(small) else 0
        i = np.concatenate([rng.integers(0, len(x), 96 - n_hard), rng.choice(positives, 32 - n_small),
                            rng.choice(small, n_small), rng.choice(hard, n_hard) if n_hard else np.array([], dtype=int)])
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
                g["lr"] = lr * 0.3
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


def cut(a):
    """The training crops and the held-out ones (for the size fits), with their meta rows."""
    lines = sum(1 for _ in open(f"{a.train.rstrip('/')}.{a.candidates}.jsonl"))
    keep = lines - a.held_out
    xa, ma, _ = crops(a.train, a.station, a.candidates, truth_crops=True, first=keep, seed=a.seed)
    xg, mg, _ = crops(a.good, a.station, a.candidates, rim_negatives=True, first=a.good_train, seed=a.seed + 1)
    xh, mh, _ = crops(a.train, a.station, a.candidates, truth_crops=True, skip=keep, seed=a.seed + 2)
    xs, ms = [xa, xg], [ma, mg]
    for k, lot in enumerate(a.hard):
        xk, mk, _ = crops(lot, a.station, a.hard_candidates, seed=a.seed + 3 + k)
        assert (mk[:, 6] == 1).all(), f"{lot} has wafers with defects: --hard takes good lots"
        xs.append(xk)
        ms.append(mk)
    return np.concatenate(xs), np.concatenate(ms), xh, mh


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
    ap.add_argument("--hard", action="append", default=[], help="a lot of good wafers whose checks by a verifier model "
                    "(LOT.<hard-candidates>.jsonl: the places the appliance crops, looked around too) add negatives; repeatable")
    ap.add_argument("--hard-candidates", default="checks")
    ap.add_argument("--hard-share", type=int, default=0, help="crops of each batch of 128 drawn from the good-wafer crops the network reads highest")
    ap.add_argument("--small-share", type=int, default=0, help=f"crops of each batch's 32 with a defect drawn from defects under {SMALL_MM} mm")
    ap.add_argument("--from", dest="start", help="a verifier model's folder to train further: its verifier.onnx's weights instead of new "
                    "ones, and its judge (map weights, looks around) as the new folder's start")
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam's step size, three tenths of it for the last 30%% of steps")
    ap.add_argument("--crops", help="an .npz of the crops cut from the lots: read when it exists (the same lots and options), else written, so "
                    "the lots' frames may go once it is")
    ap.add_argument("--mine-every", type=int, default=1000, help="steps between minings of the hard negatives")
    a = ap.parse_args()
    # what the crops were cut from: a cache of other lots or options is refused, not trained on
    cut_from = json.dumps({"train": os.path.abspath(a.train), "good": os.path.abspath(a.good), "goodTrain": a.good_train, "heldOut": a.held_out,
                           "station": os.path.abspath(a.station), "candidates": a.candidates, "hard": [os.path.abspath(h) for h in a.hard],
                           "hardCandidates": a.hard_candidates, "seed": a.seed}, sort_keys=True)
    if a.crops and os.path.exists(a.crops):
        c = np.load(a.crops)
        if "cutFrom" not in c or str(c["cutFrom"]) != cut_from:
            raise SystemExit(f"{a.crops} holds crops cut from other lots or options ({c['cutFrom'] if 'cutFrom' in c else 'not recorded'}); "
                             f"these are {cut_from}: remove it or name another file")
        x, m, xh, mh = c["x"], c["m"], c["xh"], c["mh"]
        print(f"crops from {a.crops}")
    else:
        x, m, xh, mh = cut(a)
        if a.crops:
            np.savez(a.crops, x=x, m=m, xh=xh, mh=mh, cutFrom=np.array(cut_from))
    print(f"training crops {len(x)}, with each class: {[int(((m[:, 5].astype(int) >> i) & 1).sum()) for i in range(len(CLASSES))]}")
    start = json.load(open(os.path.join(a.start, "model.json"))) if a.start else None
    init = os.path.join(a.start, start["files"]["verifier"]["path"]) if start else None
    net = train(x, m, a.steps, a.seed, a.threads, a.hard_share, a.small_share, a.mine_every, init=init, lr=a.lr)
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
                     "heldOut": a.held_out, "steps": a.steps, "seed": a.seed, "crops": len(x),
                     **({"hard": [os.path.basename(h.rstrip("/")) for h in a.hard], "hardShare": a.hard_share, "mineEvery": a.mine_every} if a.hard else {}),
                     **({"smallShare": a.small_share} if a.small_share else {}),
                     **({"init": {"path": os.path.relpath(init, a.out), "sha256": sha256(init)}, "lr": a.lr} if init else {})},
    }
    if start:
        base["verifier"]["mapWeights"] = start["verifier"]["mapWeights"]
        base["verifier"]["around"] = start["verifier"].get("around", {})
    with open(os.path.join(a.out, "model.json"), "w") as f:
        json.dump(base, f, indent=2)
        f.write("\n")
    print(f"wrote {a.out}/verifier.onnx and model.json ({base['verifier']['parameters']} parameters)")


if __name__ == "__main__":
    main()
