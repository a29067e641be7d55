"""Teaches a model folder's text encoder to read text that names no defect as "none", in place.

The spec corpus's "none" lines are a few dozen short plant words, so sentences about anything else
(lunch, a coffee machine, a budget) landed near some defect kind with full confidence. This trains
the text encoder further on the corpus plus everyday sentences (specs/everyday.tsv, corpus.py) as "none", while
holding the embeddings of every class phrasing where they were: the image side was trained against
them, and the canonical phrases are the queries the station's thresholds were calibrated with. Only
the "none" prototype moves among the prototypes. Rewrites text.onnx and the manifest's entry for it,
and records what it did and measured under "textNone".

    /usr/bin/python3 models/tools/text_none.py --model models/wafer-mm-9
"""
import argparse
import copy
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from base import load_text  # noqa: E402
from bpe import Tokenizer, read_corpus  # noqa: E402
from export import export_text, onnx_entry  # noqa: E402
from train import encode_all  # noqa: E402


# src/specs/read.ts DEFAULT_MIN_CONFIDENCE: a spec read less surely than this is rejected
MIN_CONFIDENCE = 0.6


@torch.no_grad()
def readings(text, ids, kinds):
    """(embeddings, kind names read, their probabilities) of ids."""
    text.eval()
    e = text.embed(ids)
    p, k = torch.softmax(text.kind_logits(e), -1).max(-1)
    return e, [kinds[j] for j in k.tolist()], p.tolist()


def measure(text, sets, kinds):
    """Per set, the share read as the wanted kind, and the share read so at least MIN_CONFIDENCE surely."""
    out = {}
    for name, (ids, want) in sets.items():
        _, read, p = readings(text, ids, kinds)
        out[name] = round(sum(r == w for r, w in zip(read, want)) / len(want), 4)
        out[name + "Sure"] = round(sum(r == w and q >= MIN_CONFIDENCE for r, w, q in zip(read, want, p)) / len(want), 4)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="model folder, changed in place")
    ap.add_argument("--corpus", default="models/specs/corpus.tsv")
    ap.add_argument("--heldout", default="models/specs/heldout.tsv", help="class phrasings kept out of training (measured)")
    ap.add_argument("--heldout-none", default="models/specs/heldout-none.tsv", help="sentences naming no defect kept out of training (measured)")
    ap.add_argument("--everyday", default="models/specs/everyday.tsv", help="everyday sentences, trained as none (corpus.py)")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--anchor", type=float, default=50.0, help="weight of holding the class phrasings' embeddings")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    mpath = os.path.join(a.model, "model.json")
    manifest = json.load(open(mpath))
    if "textNone" in manifest:
        raise SystemExit("%s: the text encoder was already trained on everyday sentences" % a.model)
    kinds = manifest["kinds"]
    none = kinds.index("none")
    tok = Tokenizer(json.load(open(os.path.join(a.model, manifest["files"]["tokenizer"]["path"]))))
    text = load_text(os.path.join(a.model, manifest["files"]["text"]["path"]), len(tok.vocab), len(kinds))
    old = copy.deepcopy(text).eval()

    rows = [(k, t) for k, t in read_corpus(a.corpus) if k in kinds]
    held_none = [t for _, t in read_corpus(a.heldout_none)]
    held = [(k, t) for k, t in read_corpus(a.heldout) if k in kinds]
    daily = [t for _, t in read_corpus(a.everyday)]
    if {t.lower() for t in daily} & {t.lower() for t in held_none}:
        raise SystemExit("%s holds sentences of %s, which are kept out to measure" % (a.everyday, a.heldout_none))
    cls_text = [t for k, t in rows if k != "none"]
    cls_ids, cls_y = encode_all(tok, cls_text), torch.tensor([kinds.index(k) for k, t in rows if k != "none"])
    none_ids = encode_all(tok, [t for k, t in rows if k == "none"] + daily)
    canon_ids = encode_all(tok, [manifest["canonical"][c] for c in manifest["classes"]])
    with torch.no_grad():
        cls_old, canon_old = old.embed(cls_ids), old.embed(canon_ids)
    sets = {
        "corpusClasses": (cls_ids, [kinds[k] for k in cls_y.tolist()]),
        "heldoutClasses": (encode_all(tok, [t for _, t in held]), [k for k, _ in held]),
        "heldoutNone": (encode_all(tok, held_none), ["none"] * len(held_none)),
    }
    before = measure(text, sets, kinds)
    print("before: %s" % json.dumps(before), flush=True)

    proto_mask = torch.zeros(len(kinds), 1)
    proto_mask[none] = 1
    opt = torch.optim.AdamW(text.parameters(), lr=a.lr, weight_decay=0.0)
    h = a.batch // 2
    for step in range(1, a.steps + 1):
        text.train()
        i = torch.randint(len(cls_ids), (h,))
        j = torch.randint(len(none_ids), (h,))
        e = text.embed(torch.cat([cls_ids[i], none_ids[j]]))
        y = torch.cat([cls_y[i], torch.full((h,), none)])
        ce = F.cross_entropy(text.kind_logits(e), y)
        held_in = ((e[:h] - cls_old[i]) ** 2).sum(-1).mean() + ((text.embed(canon_ids) - canon_old) ** 2).sum(-1).mean()
        loss = ce + a.anchor * held_in
        opt.zero_grad()
        loss.backward()
        text.prototypes.grad *= proto_mask
        opt.step()
        if step % 100 == 0 or step == 1:
            print("step %d  loss %.4f  kind %.4f  anchor %.6f" % (step, loss.item(), ce.item(), held_in.item()), flush=True)

    after = measure(text, sets, kinds)
    canon_new = readings(text, canon_ids, kinds)[0]
    drift = float((1 - (canon_new * canon_old).sum(-1)).max())
    print("after: %s; canonical queries moved by at most %.2e (1 - cosine)" % (json.dumps(after), drift), flush=True)

    path = os.path.join(a.model, manifest["files"]["text"]["path"])
    export_text(text.eval(), path, tok.max_length)
    manifest["files"]["text"] = onnx_entry(path, manifest["files"]["text"]["path"])
    manifest["textNone"] = {
        "steps": a.steps, "batch": a.batch, "lr": a.lr, "anchor": a.anchor, "seed": a.seed, "everydaySentences": len(daily),
        "before": before, "after": after, "canonicalDrift": drift,
    }
    with open(mpath, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print("wrote %s and %s" % (path, mpath))


if __name__ == "__main__":
    main()
