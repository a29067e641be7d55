"""Adapts a model folder to a plant's own data: optionally continues training the last blocks, then
trains low-rank adapters (lora.py) on the image and text encoders, merges them, and exports and
quantises the result as a new model folder (export.py), with the base it came from in model.json.

    /usr/bin/python3 models/tools/finetune.py --base models/wafer-mm-9 --train 'data/plant-train-*' \
        --val 'data/plant-val-*' --rank 4 --steps 1200 --id wafer-mm-9-plant-a --out models/wafer-mm-9-plant-a

Data are `wafer-inspect dataset` chunks of the plant's recorded lots (contracts §2, with truth).
A modality missing from a lot is a zero mask there, which the model's gate already leaves out;
--drop-modality also hides a present one in a share of crops so the adapters learn to do without.
A class the base does not know is named with --kind "name=phrase;phrase"; its cells are discs of
its truth, and its phrases (and templated specs made from them) extend the text side's corpus.
"""
import argparse
import fnmatch
import hashlib
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from base import load_model  # noqa: E402
from bpe import Tokenizer, read_corpus  # noqa: E402
from corpus import phrase  # noqa: E402
from data import CLASSES, Arrays, sample_batch  # noqa: E402
from hard import mine_hard  # noqa: E402
from export import export_image, export_text, modality_weights, quantise, sha256, write_manifest  # noqa: E402
from lora import adapter_parameters, add_adapters, merge_adapters  # noqa: E402
from model import NEEDS, RING_SLICES, SLICES, STRIDE, crop_channels  # noqa: E402
from train import canonical_queries, encode_all, evaluate, prefixes, step_loss  # noqa: E402

IMAGE_LAYERS = "backbone.stems.*,backbone.mix.*,backbone.trunk.*,backbone.own.*,backbone.shared.*,gates.*"
TEXT_LAYERS = "layers.1.*,proj"
STAGE1_LAYERS = "backbone.trunk.3.*,backbone.own.*,backbone.shared.*"


def parse_kinds(specs):
    """--kind "name=phrase;phrase" -> {name: [phrases]}; the first phrase is the class's canonical query."""
    out = {}
    for s in specs:
        name, _, rest = s.partition("=")
        phrases = [p.strip() for p in rest.split(";") if p.strip()]
        if not name.strip() or not phrases:
            raise SystemExit("--kind %r: expected name=phrase;phrase" % s)
        out[name.strip()] = phrases
    return out


def extend_kinds(text, n_old_classes, new):
    """Prototype rows for new classes, between the known ones and 'none', each at the mean of its phrasings."""
    if not new:
        return
    with torch.no_grad():
        init = torch.stack([F.normalize(text.embed(ids).mean(0), dim=-1) for ids in new])
        p = text.prototypes.data
        text.prototypes = torch.nn.Parameter(torch.cat([p[:n_old_classes], init * p.norm(dim=-1).mean(), p[n_old_classes:]]))


def corpus_for(base_corpus, kinds, classes, rng, per_kind):
    """The base corpus, plus for each new class its own phrases and templated specs made from them."""
    by = {k: [t for c, t in base_corpus if c == k] for k in classes + ["none"]}
    for name, phrases in kinds.items():
        made = list(dict.fromkeys(phrases))
        while len(made) < per_kind:
            made.append(phrase(rng, rng.choice(phrases)))
        by[name] = made
    return by


def hide_modality(x, y, classes, rng, p, ring=False, die=False):
    """With probability p, zero one present modality of a crop (values and mask) when another is
    present, as fusion leaves a missing frame. The classes that need it (model.NEEDS) lose their
    targets there: the appliance does not check them without it, and a target the crop cannot show
    would teach the model to guess. ring, die: whether the crop carries those residuals (model.crop_channels)."""
    if p <= 0 or rng.random() >= p:
        return x, y
    present = [m for m, (lo, hi) in SLICES.items() if x[hi - 1].max() > 0.5]
    if len(present) < 2:
        return x, y
    m = present[rng.integers(len(present))]
    x = x.copy()
    x[SLICES[m][0]:SLICES[m][1]] = 0
    extra = crop_channels(ring, die)
    if "ring" in extra:
        lo = extra["ring"][0]
        x[lo + RING_SLICES[m][0]:lo + RING_SLICES[m][1]] = 0
    if "die" in extra and m == "visible":
        x[extra["die"][0]:extra["die"][1]] = 0
    y = y.copy()
    for j, c in enumerate(classes):
        if NEEDS.get(c) == m:
            y[j] = 0
    return x, y


def late_layers(image):
    """[(name, module)] of the layers that train at --ring-lr, those the model has: the ring
    convolutions start at zero on inputs of a few hundredths and at the others' rate take thousands of
    steps to matter; the die convolution and the fine head start at zero too."""
    return [(n, m) for n, m in (("ring", image.entry.ring), ("die", image.entry.die), ("fine-grid", image.fine)) if m is not None]


def trainable(module, patterns):
    return [p for n, p in module.named_parameters() if any(fnmatch.fnmatchcase(n, pat) for pat in patterns)]


def count(params):
    return sum(p.numel() for p in params)


def run_stage(name, steps, params, a, image, text, train, having, ids, kinds_all, classes, rng, pyrng, val, tok, canonical, proto_mask, log):
    if steps <= 0:
        return []
    for p in list(image.parameters()) + list(text.parameters()):
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    fast = {id(p) for _, m in late_layers(image) for p in m.parameters()} if a.ring_lr else set()
    own = [p for p in params if id(p) in fast]
    groups = [{"params": [p for p in params if id(p) not in fast]}] + ([{"params": own, "lr": a.ring_lr}] if own else [])
    opt = torch.optim.AdamW(groups, lr=a.lr, weight_decay=0.0)
    warm = max(1, min(100, steps // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps)))))
    image.eval()
    text.train()
    n = len(classes)
    history = []
    hard = None
    t0 = time.time()
    for step in range(1, steps + 1):
        if a.hard and (step - 1) % a.hard_every == 0:
            t1 = time.time()
            hard = mine_hard(image, canonical_queries(text, tok, classes, canonical), train, a.hard, wafers=a.hard_wafers)
            log("%s step %d: %d hard negatives mined in %.0f s" % (name, step, len(hard), time.time() - t1))
        xs, ys, origins = [], [], []
        for x, y, origin in sample_batch(rng, train, having, a.batch, a.crop, STRIDE, image.stride, hard):
            x, y = hide_modality(x, y, classes, rng, a.drop_modality, image.entry.ring is not None, image.entry.die is not None)
            xs.append(x)
            ys.append(y)
            origins.append(origin)
        x = torch.from_numpy(np.stack(xs))
        y = torch.from_numpy(np.stack(ys))
        chosen = [pyrng.randrange(len(kinds_all)) for _ in range(a.text_batch)]
        te = text.embed(torch.stack([ids[kinds_all[k]][pyrng.randrange(len(ids[kinds_all[k]]))] for k in chosen]))
        protos = F.normalize(text.prototypes, dim=-1)
        if pyrng.random() < a.phrase_queries:
            q = text.embed(torch.stack([ids[c][pyrng.randrange(len(ids[c]))] for c in classes]))
        else:
            q = protos[:n]
        logits, _ = image.logits(x, q, torch.tensor(origins))
        loss, (cell, crop, contrast, tl) = step_loss(logits, y, text, te, protos, chosen)
        opt.zero_grad()
        loss.backward()
        if text.prototypes.grad is not None:
            # only new classes' prototypes move: the known ones are what the image side was trained against
            text.prototypes.grad *= proto_mask
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step in (1, 10):
            log("%s step %d  loss %.4f  cell %.4f  crop %.4f  contrast %.4f  text %.4f  %.1f s" % (
                name, step, loss.item(), cell.item(), crop.item(), contrast.item(), tl.item(), time.time() - t0))
        if val and (step % a.val_every == 0 or step == steps):
            r = evaluate(image, text, tok, val, limit=a.val_wafers, canonical=canonical)
            # a class without positives (or negatives) in the validation wafers has no AUROC: null in model.json
            history.append({"stage": name, "step": step, "auroc": {c: None if v != v else round(v, 4) for c, v in r.items()}})
            log("val AUROC %s step %d: %s" % (name, step, " ".join("%s %.4f" % (c, v) for c, v in r.items())))
    log("%s: %d steps in %.0f s" % (name, steps, time.time() - t0))
    return history


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="models/wafer-mm-9", help="model folder to start from (default: the shipped model)")
    ap.add_argument("--train", required=True, help="glob of dataset prefixes of the plant's lots; several, comma-separated")
    ap.add_argument("--val", help="glob of dataset prefixes to validate on (and to measure modality weights)")
    ap.add_argument("--corpus", default="models/specs/corpus.tsv")
    ap.add_argument("--kind", action="append", default=[], help='a class the base does not know: "name=phrase;phrase"')
    ap.add_argument("--kind-phrasings", type=int, default=300, help="corpus lines per new class, templated from its phrases")
    ap.add_argument("--rank", type=int, default=4)
    ap.add_argument("--alpha", type=float, default=8.0)
    ap.add_argument("--image-layers", default=IMAGE_LAYERS, help="comma-separated globs of image layers to adapt")
    ap.add_argument("--text-layers", default=TEXT_LAYERS, help="comma-separated globs of text layers to adapt")
    ap.add_argument("--stage1-steps", type=int, default=0, help="steps of plain training of --stage1-layers before the adapters")
    ap.add_argument("--stage1-layers", default=STAGE1_LAYERS)
    ap.add_argument("--rim", action="store_true", help="add a trainable term on the distance to the rim to the entry convolutions (trained in stage 1; entry.rim.*)")
    ap.add_argument("--ring", action="store_true", help="add trainable convolutions over the rim's ring residual to the entry (model.ring_residual; trained in stage 1; entry.ring.*)")
    ap.add_argument("--ring-lr", type=float, default=None, help="learning rate of the ring and die convolutions and the fine head (default: --lr)")
    ap.add_argument("--die", action="store_true", help="add a trainable convolution over the die-to-die residual (model.DieResidual) to the visible entry (trained in stage 1; entry.die.*)")
    ap.add_argument("--fine", action="store_true", help="score on a grid of 2x2 input cells (model.Fine, starting at zero; trained in stage 1 at --ring-lr; fine.*)")
    ap.add_argument("--hard", type=int, default=0, help="cut a quarter of the crops around hard negatives: per class the N training wafers where it scores highest away from its own cells (hard.py); 0: none")
    ap.add_argument("--hard-every", type=int, default=1000, help="steps between minings of the hard negatives")
    ap.add_argument("--hard-wafers", type=int, default=None, help="training wafers to mine them on (default all)")
    ap.add_argument("--steps", type=int, default=1000, help="adapter steps")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--text-batch", type=int, default=32)
    ap.add_argument("--phrase-queries", type=float, default=0.25)
    ap.add_argument("--drop-modality", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--val-every", type=int, default=500)
    ap.add_argument("--val-wafers", type=int, default=None)
    ap.add_argument("--calibrate-wafers", type=int, default=64)
    ap.add_argument("--id", required=True, help="the new model's id")
    ap.add_argument("--out", required=True, help="model folder to write")
    ap.add_argument("--save", help="also save the merged torch weights here")
    a = ap.parse_args()
    if a.hard < 0 or a.hard_every < 1:
        raise SystemExit("--hard %d --hard-every %d: need a count of wafers per class >= 0 (0: none) and a step interval >= 1" % (a.hard, a.hard_every))

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    pyrng = random.Random(a.seed)
    lines = []

    def log(s):
        lines.append(s)
        print(s, flush=True)

    image, text, base = load_model(a.base)
    tok = Tokenizer(json.load(open(os.path.join(a.base, base["files"]["tokenizer"]["path"]))))
    base_classes = list(base["classes"])
    assert base_classes == CLASSES, "the base's classes differ from the dataset's built-in ones"
    kinds = parse_kinds(a.kind)
    train = Arrays(sorted({q for p in a.train.split(",") for q in prefixes(p)}), extra=list(kinds))
    val = Arrays(prefixes(a.val), extra=list(kinds)) if a.val else None
    classes = train.classes
    unnamed = sorted({d["class"] for w in train.wafers for d in w[2]["truth"]} - set(classes))
    if unnamed:
        raise SystemExit("truth names classes the base does not know: %s; name them with --kind \"name=phrase;phrase\"" % ", ".join(unnamed))
    canonical = {**base["canonical"], **{k: v[0] for k, v in kinds.items()}}
    by_kind = corpus_for(read_corpus(a.corpus), kinds, base_classes, pyrng, a.kind_phrasings)
    kinds_all = classes + ["none"]
    ids = {k: encode_all(tok, by_kind[k]) for k in kinds_all}
    extend_kinds(text, len(base_classes), [ids[k] for k in kinds])
    proto_mask = torch.zeros(len(kinds_all), 1)
    proto_mask[len(base_classes):len(classes)] = 1

    defective = [k for k in range(len(train)) if train.present(k).any()]
    having = [(j, [k for k in defective if train.present(k)[j]]) for j in range(len(classes))]
    having = [(j, ks) for j, ks in having if ks]
    modalities = {}
    for w in train.wafers:
        for m, s in w[2].get("modalities", {}).items():
            modalities.setdefault(m, {}).setdefault(s, 0)
            modalities[m][s] += 1
    log("base %s; train: %d wafers (%d with defects), classes %s; modalities %s" % (
        base["id"], len(train), len(defective), ", ".join(classes), json.dumps(modalities)))
    if val:
        r = evaluate(image, text, tok, val, limit=a.val_wafers, canonical=canonical)
        log("val AUROC base: %s" % " ".join("%s %.4f" % (c, v) for c, v in r.items()))

    if a.rim:
        image.entry.add_rim(train.grid)
    if a.ring:
        if image.entry.ring is not None:
            raise SystemExit("--ring: %s already has the ring convolutions" % a.base)
        image.entry.add_ring(train.grid)
    if a.die:
        if image.entry.die is not None:
            raise SystemExit("--die: %s already reads the die residual" % a.base)
        image.entry.add_die(train.grid)
    if a.fine:
        if image.fine is not None:
            raise SystemExit("--fine: %s already scores on the finer grid" % a.base)
        image.add_fine()
    if image.entry.ring is not None:
        train.with_ring(image.entry.ring_band, image.entry.ring_nb, image.entry.ring_where)
    if image.entry.die is not None:
        train.with_die(image.entry.die_residual)
    # the base's own count: the rebuilt entry convolutions are folded constants here
    full = base["parameters"]["image"] + count(text.parameters())
    split = lambda s: [p for p in s.split(",") if p]  # noqa: E731
    stage1 = trainable(image, split(a.stage1_layers)) if a.stage1_steps else []
    history = run_stage("stage1", a.stage1_steps, stage1 + [text.prototypes], a, image, text, train, having, ids, kinds_all,
                        classes, rng, pyrng, val, tok, canonical, proto_mask, log)
    image_adapted = add_adapters(image, split(a.image_layers), a.rank, a.alpha)
    text_adapted = add_adapters(text, split(a.text_layers), a.rank, a.alpha)
    lora = adapter_parameters(image) + adapter_parameters(text)
    # the prototypes ride along for new classes only (their gradient is masked), scale and bias recalibrate the scores
    head = [image.scale, image.bias] + ([text.prototypes] if kinds else [])
    log("adapters: rank %d, alpha %g, %d image layers, %d text layers; %d trainable parameters of %d (%.2f%%)" % (
        a.rank, a.alpha, len(image_adapted), len(text_adapted), count(lora) + count(head), full, 100.0 * (count(lora) + count(head)) / full))
    history += run_stage("lora", a.steps, lora + head, a, image, text, train, having, ids, kinds_all, classes, rng, pyrng,
                         val, tok, canonical, proto_mask, log)

    merge_adapters(image)
    merge_adapters(text)
    image.eval()
    text.eval()
    os.makedirs(a.out, exist_ok=True)
    p = lambda f: os.path.join(a.out, f)  # noqa: E731
    if a.save:
        torch.save({"image": image.state_dict(), "text": text.state_dict(), "args": vars(a)}, a.save)
    weights = modality_weights(image, text, tok, val, 300, canonical) if val else None
    export_text(text, p("text.onnx"), tok.max_length)
    export_image(image, p("image-fp32.onnx"), train.grid)
    export_image(quantise(image, train, a.calibrate_wafers, train.grid), p("image-int8.onnx"), train.grid)
    with open(os.path.join(a.base, base["files"]["tokenizer"]["path"]), "rb") as f, open(p("tokenizer.json"), "wb") as g:
        g.write(f.read())
    chunks = lambda arrays: sorted({w[2]["wafer"].rsplit("-W", 1)[0] for w in arrays.wafers})  # noqa: E731
    adaptation = {
        "base": {"id": base["id"], "imageFloat": base["files"]["imageFloat"]["sha256"], "text": base["files"]["text"]["sha256"]},
        "adaptation": {
            "method": "lora", "rank": a.rank, "alpha": a.alpha, "seed": a.seed,
            "stage1": {"steps": a.stage1_steps, "layers": a.stage1_layers if a.stage1_steps else "", "parameters": count(stage1), "rim": a.rim, "ring": a.ring, "die": a.die, "fine": a.fine},
            "steps": a.steps, "batch": a.batch, "crop": a.crop, "hard": a.hard, "hardEvery": a.hard_every,
            "ringLrLayers": [n for n, _ in late_layers(image)] if a.ring_lr else [], "lr": a.lr, "ringLr": a.ring_lr, "dropModality": a.drop_modality,
            "imageLayers": image_adapted, "textLayers": text_adapted,
            "trainableParameters": count(lora) + count(head), "adapterParameters": count(lora), "fullParameters": full,
            "newClasses": kinds,
            "train": {"wafers": len(train), "lots": chunks(train), "modalities": modalities},
            "val": {"wafers": len(val), "lots": chunks(val)} if val else None,
            "history": history,
            "corpus": hashlib.sha256(open(a.corpus, "rb").read()).hexdigest(),
        },
    }
    added = (count(image.entry.die.parameters()) if a.die else 0) + (count(image.fine.parameters()) if a.fine else 0)
    params = {"image": base["parameters"]["image"] + added, "text": count(text.parameters())}
    write_manifest(a.out, a.id, train.grid, classes, canonical, params, weights, adaptation, image.stride)
    with open(p("finetune.log"), "w") as f:
        f.write("\n".join(lines) + "\n")
    for f in ("text.onnx", "image-fp32.onnx", "image-int8.onnx", "tokenizer.json"):
        log("%s: %d bytes, sha256 %s" % (f, os.path.getsize(p(f)), sha256(p(f))[:12]))


if __name__ == "__main__":
    main()
