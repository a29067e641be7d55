"""Trains the image and text models together on arrays from `wafer-inspect dataset`.

    /usr/bin/python3 models/tools/train.py --train 'data/train-*' --val 'data/val-*' --steps 4000 --out models/build/model.pt

Each step: crops of training wafers (half centred on a defect, balanced over classes; a quarter on
the rim), and a batch of corpus lines for the text side. Losses:
  - per cell and class: focal binary cross-entropy of the query's score against the class mask;
  - per crop and class: the highest cell score against whether the class is in the crop;
  - contrastive, image to text: at cells holding one class, the cell's scores over the 8 class
    queries, as a softmax, against that class;
  - contrastive, text to kind: each phrasing's embedding against the kind prototypes (8 classes and
    'none'), as a softmax, plus its cosine distance to its own prototype.
The image is queried with the class prototypes (and in a share of steps with random phrasings), so
the image side learns a stable query per class and the text side learns to land on it.
"""
import argparse
import glob
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
from bpe import Tokenizer, read_corpus  # noqa: E402
from data import CLASSES, Arrays, auroc, class_targets, sample_batch  # noqa: E402
from model import STRIDE, ImageModel, TextModel, radius_map  # noqa: E402

KINDS = CLASSES + ["none"]
CANONICAL = {"edge-burr": "edge burr", "edge-chip": "edge chip", "scratch": "scratch", "particle": "particle",
             "stain": "stain", "crack": "crack", "void": "void", "hotspot": "hot spot"}


def prefixes(pattern):
    out = sorted({p[: -len(".json")] for p in glob.glob(pattern + ".json")})
    if not out:
        raise SystemExit("no dataset chunks match %s.json" % pattern)
    return out


def focal(logits, target, gamma=2.0):
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p = torch.sigmoid(logits)
    pt = p * target + (1 - p) * (1 - target)
    return ((1 - pt) ** gamma * ce).sum() / (target.sum() + 1.0)


def step_loss(logits, y, text, te, protos, kinds):
    """Per-cell focal loss, whether a crop holds a class at all, which class a cell of one class is,
    and text to kind: a softmax over the prototypes, with each phrasing pulled onto its prototype."""
    cell = focal(logits, y)
    crop = F.binary_cross_entropy_with_logits(logits.amax((2, 3)), y.amax((2, 3)))
    single = y.sum(1) == 1
    contrast = F.cross_entropy(logits.permute(0, 2, 3, 1)[single], y.argmax(1)[single]) if single.any() else logits.sum() * 0
    kt = torch.tensor(kinds)
    tl = F.cross_entropy(text.kind_logits(te), kt) + (1 - (te * protos[kt]).sum(-1)).mean()
    return cell + 0.5 * crop + 0.5 * contrast + 0.5 * tl, (cell, crop, contrast, tl)


def encode_all(tok, texts):
    return torch.tensor([tok.encode(t)[0] for t in texts], dtype=torch.long)


def canonical_queries(text, tok, classes, canonical=CANONICAL):
    """[classes, D]: the classes' canonical specs embedded as the appliance asks the image with them
    (text in eval mode, no gradient); the text model's mode is left as it was."""
    was = text.training
    text.eval()
    with torch.no_grad():
        q, _ = text(encode_all(tok, [canonical[c] for c in classes]))
    text.train(was)
    return q


def evaluate(image, text, tok, arrays, limit=None, batch=8, canonical=CANONICAL):
    """Per-class AUROC of each wafer's highest score for the class's canonical query."""
    classes = arrays.classes
    training = image.training, text.training
    image.eval()
    text.eval()
    q = canonical_queries(text, tok, classes, canonical)
    with torch.no_grad():
        n = len(arrays) if limit is None else min(limit, len(arrays))
        scores, labels = [], []
        for i in range(0, n, batch):
            ks = range(i, min(n, i + batch))
            x = torch.from_numpy(np.stack([arrays.x(k) for k in ks]))
            s = image(x, q)
            scores.append(s.amax((2, 3)).numpy())
            labels.append(np.stack([arrays.present(k) for k in ks]))
    scores, labels = np.concatenate(scores), np.concatenate(labels)
    image.train(training[0])
    text.train(training[1])
    return {c: auroc(scores[:, j], labels[:, j]) for j, c in enumerate(classes)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True, help="glob of dataset prefixes, e.g. 'data/train-*'")
    ap.add_argument("--val", help="glob of validation dataset prefixes")
    ap.add_argument("--corpus", default="models/specs/corpus.tsv")
    ap.add_argument("--tokenizer", default="models/wafer-mm-9/tokenizer.json")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--text-batch", type=int, default=40)
    ap.add_argument("--phrase-queries", type=float, default=0.25, help="share of steps that query the image with phrasings instead of prototypes")
    ap.add_argument("--classes", help="comma-separated classes to centre defect crops on (default: all)")
    ap.add_argument("--val-every", type=int, default=1000)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    pyrng = random.Random(a.seed)
    tok = Tokenizer(json.load(open(a.tokenizer)))
    corpus = read_corpus(a.corpus)
    by_kind = {k: [t for c, t in corpus if c == k] for k in KINDS}
    ids = {k: encode_all(tok, by_kind[k]) for k in KINDS}
    train = Arrays(prefixes(a.train))
    val = Arrays(prefixes(a.val)) if a.val else None
    defective = [k for k in range(len(train)) if train.present(k).any()]
    # defect crops are balanced over classes: a thin burr along the rim gets as much training as a
    # stain that covers a hundred cells
    having = [[k for k in defective if train.present(k)[j]] for j in range(len(CLASSES))]
    having = [(j, ks) for j, ks in enumerate(having) if ks and (not a.classes or CLASSES[j] in a.classes.split(","))]
    print("train: %d wafers (%d with defects); corpus: %d phrasings" % (len(train), len(defective), len(corpus)), flush=True)

    image, text = ImageModel(train.grid), TextModel(len(tok.vocab), len(KINDS))
    params = list(image.parameters()) + list(text.parameters())
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=1e-4)
    warm = max(1, min(200, a.steps // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / a.steps)))))
    t0 = time.time()
    history = []
    for step in range(1, a.steps + 1):
        xs, ys, rs = [], [], []
        for x, y, origin in sample_batch(rng, train, having, a.batch, a.crop, STRIDE):
            xs.append(x)
            ys.append(y)
            rs.append(radius_map(a.crop, origin, train.grid)[0])
        x = torch.from_numpy(np.stack(xs))
        y = torch.from_numpy(np.stack(ys))
        radius = torch.stack(rs)
        # the image is queried with the class prototypes, the points the text side aligns every phrasing
        # of a class to; a share of steps uses real phrasings, so the image side also tolerates their spread
        kinds = [pyrng.randrange(len(KINDS)) for _ in range(a.text_batch)]
        ti = torch.stack([ids[KINDS[k]][pyrng.randrange(len(ids[KINDS[k]]))] for k in kinds])
        te = text.embed(ti)
        protos = F.normalize(text.prototypes, dim=-1)
        if pyrng.random() < a.phrase_queries:
            q = text.embed(torch.stack([ids[c][pyrng.randrange(len(ids[c]))] for c in CLASSES]))
        else:
            q = protos[: len(CLASSES)]
        logits, _ = image.logits(x, q, radius)
        loss, (cell, crop, contrast, tl) = step_loss(logits, y, text, te, protos, kinds)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == 1:
            print("step %d  loss %.4f  cell %.4f  crop %.4f  contrast %.4f  text %.4f  %.1f s" % (
                step, loss.item(), cell.item(), crop.item(), contrast.item(), tl.item(), time.time() - t0), flush=True)
        if val and (step % a.val_every == 0 or step == a.steps):
            r = evaluate(image, text, tok, val)
            history.append({"step": step, "auroc": r})
            print("val AUROC step %d: %s" % (step, " ".join("%s %.4f" % (c, v) for c, v in r.items())), flush=True)
            torch.save({"image": image.state_dict(), "text": text.state_dict(), "args": vars(a), "history": history}, a.out)
    torch.save({"image": image.state_dict(), "text": text.state_dict(), "args": vars(a), "history": history}, a.out)
    print("saved %s after %.0f s" % (a.out, time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
