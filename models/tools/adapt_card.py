"""Writes the card of a model made by finetune.py, from what it measured: model.json (base,
adaptation), finetune.log, and the evaluations finetune.sh ran (eval-base-*.json: the base on the
same held-out wafers; eval-*.json: the new model; *-reference.json: both on the base's own look).

    /usr/bin/python3 models/tools/adapt_card.py --model models/wafer-mm-9-plant-a --test 'data/plant-test-*' > MODEL_CARD.md
"""
import argparse
import json
import os
import re

from card import gate_table, speed_table
from hard import REACH_MM
from model import MODALITIES, STRIDE


def load(folder, name):
    path = os.path.join(folder, name)
    return json.load(open(path)) if os.path.exists(path) else None


def table(w, classes, columns):
    """columns: [(title, eval json)] -> per class AUROC and recall at the eval's threshold."""
    w("| class | positives | " + " | ".join("AUROC %s | recall %s" % (t, t) for t, _ in columns) + " |")
    w("| --- | --- |" + " --- | --- |" * len(columns))
    for c in classes:
        first = next(e for _, e in columns if c in e["classes"])
        cells = []
        for _, e in columns:
            r = e["classes"].get(c)
            cells.append("%.4f | %.1f%%" % (r["auroc"], r["recall"] * 100) if r else "- | -")
        w("| %s | %d | %s |" % (c, first["classes"][c]["positives"], " | ".join(cells)))
    w("")


def adapters(w, ad, secs):
    w("- adapters: rank %d, alpha %g, seed %d, on %d image layers (%s) and %d text layers (%s); merged into the weights before export." % (
        ad["rank"], ad["alpha"], ad["seed"], len(ad["imageLayers"]), ", ".join(ad["imageLayers"]), len(ad["textLayers"]), ", ".join(ad["textLayers"])))
    w("- trainable: %d parameters (%d in adapters, the rest the score's scale and bias%s) of %d in the full model: %.1f%%." % (
        ad["trainableParameters"], ad["adapterParameters"], " and new classes' prototypes" if ad["newClasses"] else "",
        ad["fullParameters"], 100.0 * ad["trainableParameters"] / ad["fullParameters"]))
    w("- %d steps of %d crops (%dx%d cells), AdamW lr %g, one modality hidden in %d%% of crops; %s s wall time on 2 CPU cores." % (
        ad["steps"], ad["batch"], ad["crop"], ad["crop"], ad["lr"], round(ad["dropModality"] * 100), secs or "-"))


def missing(w, folder):
    """The evaluations finetune.sh ran with each modality hidden (eval-[base-]without-M.json), when it ran them."""
    runs = [(m, load(folder, "eval-base-without-%s.json" % m), load(folder, "eval-without-%s.json" % m)) for m in MODALITIES]
    runs = [r for r in runs if r[1] and r[2]]
    if not runs:
        return
    w("## A modality missing\n")
    w("The test wafers with one modality's frames taken away, as fusion leaves a missing frame (values and mask zero; "
      "`model eval --hide M`), fp32, thresholds from the validation wafers as captured: what a wafer is judged on when "
      "one camera fails. Classes that need the missing modality are not checked (a spec of theirs makes such a wafer "
      "not-inspected) and are left out. Recall / false rejects at the usual thresholds:\n")
    w("| missing | class | base AUROC | base recall | base false rejects | this AUROC | this recall | this false rejects |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- |")
    def cell(x):
        return "%.4f | %.1f%% | %.2f%%" % (x["auroc"], x["recall"] * 100, x["falseReject"] * 100) if x else "- | - | -"
    for m, b, e in runs:
        for c, r in e["classes"].items():
            w("| %s | %s | %s | %s |" % (m, c, cell(b["classes"].get(c)), cell(r)))
    w("")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--test", required=True, help="the held-out chunks the evaluations ran on (named in the card)")
    ap.add_argument("--reference", help="chunks of the base's own look, when evaluated")
    ap.add_argument("--command", action="append", default=[], help="a command that made the model or its data, listed verbatim")
    a = ap.parse_args()
    m = load(a.model, "model.json")
    ad, base = m["adaptation"], m["base"]
    e32, e8 = load(a.model, "eval-fp32.json"), load(a.model, "eval-int8.json")
    b32, b8 = load(a.model, "eval-base-fp32.json"), load(a.model, "eval-base-int8.json")
    ref, bref = load(a.model, "eval-reference.json"), load(a.model, "eval-base-reference.json")
    log = open(os.path.join(a.model, "finetune.log")).read() if os.path.exists(os.path.join(a.model, "finetune.log")) else ""
    secs = sum(int(s) for s in re.findall(r"\d+ steps in (\d+) s", log))
    out = []
    w = out.append
    w("# %s\n" % m["id"])
    s1 = ad["stage1"]
    how = ("`%s` adapted to a plant's own wafers with low-rank adapters (LoRA)" % base["id"]) if ad["steps"] else (
        "Trained further from `%s`%s" % (base["id"], " with a new input on where the rim runs" if s1.get("rim") else
                                         " with a new input comparing the rim with itself" if s1.get("ring") else
                                         " with a new input comparing each die with its neighbours" if s1.get("die") else
                                         " scoring on a finer grid" if s1.get("fine") else ""))
    new_input = s1.get("rim") or s1.get("ring") or s1.get("die")
    if s1.get("fine"):
        same = "same inputs as the base and scores on a grid of %g mm cells instead of %g (below), so it replaces it in a " \
               "model folder setting or hot swap (the appliance reads the grid from model.json); its thresholds are its own" % (
                   m["grid"]["fieldMm"] / m["grid"]["size"] * m["outputStride"], m["grid"]["fieldMm"] / m["grid"]["size"] * STRIDE)
    else:
        same = "same inputs and outputs as the base, so it replaces it in a model folder setting or hot swap; %s" % (
            "its entry convolutions gain the new input, computed from the same fused tensor (below)" if new_input else "only the numbers differ")
    w("%s: %s. Every figure below was measured by the commands at the end; the evaluations are the JSON files beside "
      "this card.\n" % (how, same))
    w("## Base\n")
    w("- id `%s`, float image model sha256 `%s`, text model sha256 `%s`." % (base["id"], base["imageFloat"], base["text"]))
    w("- Rebuilt for training from the base's float ONNX files (models/tools/base.py); its tokenizer is reused unchanged.\n")
    w("## Data\n")
    tr, va = ad["train"], ad["val"]
    w("- fine-tuning: %d wafers, lots %s; modality status %s." % (tr["wafers"], ", ".join(tr["lots"]), json.dumps(tr["modalities"])))
    if va:
        w("- validation (thresholds for the recall figures, progress below): %d wafers, lots %s." % (va["wafers"], ", ".join(va["lots"])))
    w("- held-out test: `%s`, %d wafers, used for this card only." % (a.test, e32["wafers"]))
    if ref:
        w("- the base's own look: `%s`, %d wafers." % (a.reference, ref["wafers"]))
    if ad["newClasses"]:
        w("- classes the base did not know: %s." % "; ".join("%s (%s)" % (k, ", ".join('"%s"' % p for p in v)) for k, v in ad["newClasses"].items()))
    w("")
    w("## Adaptation\n")
    if s1.get("rim"):
        w("- rim input: each modality's entry convolution gains a term on the signed distance of each cell to the rim "
          "(in cells, clipped to +-3; `rim_map` in models/tools/model.py), starting at zero so that training starts from the "
          "base exactly. The radius input changes by under 1% of a radius per cell, too little to say where within a cell "
          "the edge should run, which is what tells a burr or a chip from the rim itself. The term is constant for the grid, "
          "so export folds it into the entry's constant map: no extra work per wafer.")
    if s1.get("ring"):
        w("- ring input: each modality's entry gains a convolution over the ring residual of its channels: every cell within "
          "3 cells of the rim minus the mean of the 16 cells of that band, 4 to 60 mm along the rim on either side, whose "
          "centres lie at the closest radii (`ring_residual` in models/tools/model.py), starting at zero so that training "
          "starts from the base exactly. A good rim fills its cells as its neighbours at the same radius do; a burr or a "
          "bite does not. It depends on the wafer, so it runs in the exported graph (a gather of the band's 4,496 cells and "
          "a scatter back onto the grid, joined to the entry convolution), in float.")
    if s1.get("die"):
        w("- die input: the visible entry gains a convolution over the die-to-die residual (`DieResidual` in "
          "models/tools/model.py): each cell's visible brightness minus the same place one die period along x, and along y, "
          "the smaller of the two sides where both agree in sign. The period is read off each wafer (the brightness profile's "
          "period over the dies), so it runs in the exported graph (profiles, a few gathers, four matrix products that shift by "
          "the period, bilinear), in "
          "float. It starts at zero so that training starts from the base exactly. A die's functional blocks change a cell's "
          "light by up to a fifth, a thin scratch by a few hundredths: against its neighbour die the pattern cancels and the "
          "scratch remains.")
    if s1.get("fine"):
        w("- finer grid: the visible embedding of a 2x2-cell square is its 4x4 square's plus what two separable "
          "convolutions read from the visible entry convolution's features around it (`Fine` in models/tools/model.py), the "
          "last starting at zero so that training starts from the base exactly; the infrared and X-ray embeddings are their "
          "4x4 square's. A 1.5 mm edge chip is a small part of one 5 mm cell and a larger part of a 2.5 mm one. The per-cell "
          "query and gate arithmetic runs on four times the cells.")
    if ad.get("ringLr"):
        # folders made before finetune.py wrote ringLrLayers: the layers their stage-1 flags name
        late = ad.get("ringLrLayers") or ["ring"] + (["die"] if s1.get("die") or s1.get("fine") else []) + (["fine-grid"] if s1.get("fine") else [])
        w("- the %s convolutions (models/README.md, \"wafer-mm-3 to wafer-mm-5\") train at lr %g, the rest at lr %g: they "
          "start from small weights on inputs of a few hundredths and at the common rate were still learning when training "
          "stopped." % (" and ".join([", ".join(late[:-1]), late[-1]] if len(late) > 1 else late), ad["ringLr"], ad["lr"]))
    if ad.get("hard"):
        w("- hard negatives: a quarter of each step's crops is cut around cells where the model scores a class that is not "
          "there (farther than %g mm from the class's defects): per class the %d training wafers where that score is "
          "highest, mined again every %d steps (`hard.py`). The thresholds a station calibrates are the highest scores its "
          "good wafers reach, so those cells decide what the small defects must beat." % (REACH_MM, ad["hard"], ad["hardEvery"]))
    if s1["steps"]:
        w("- stage 1: %d steps of plain training of `%s` (%d parameters; the entry convolutions, rebuilt as constants, stay "
          "as they were), %d crops (%dx%d cells) a step, AdamW lr %g, seed %d%s." % (
              s1["steps"], s1["layers"], s1["parameters"], ad["batch"], ad["crop"], ad["crop"], ad["lr"], ad["seed"],
              "; one modality hidden in %d%% of crops, the classes that need it without targets there" % round(ad["dropModality"] * 100)
              if ad["dropModality"] else ""))
    if ad["steps"]:
        adapters(w, ad, secs)
    else:
        w("- no adapters; %s s wall time on 2 CPU cores." % (secs or "-"))
    if ad["history"]:
        classes = list(ad["history"][0]["auroc"])
        w("\nValidation AUROC during fine-tuning (step 0: the base):\n")
        w("| stage | step | " + " | ".join(classes) + " |")
        w("| --- | --- |" + " --- |" * len(classes))
        first = re.search(r"val AUROC base: (.*)", log)
        if first:
            d = dict(re.findall(r"(\S+) ([0-9.]+|nan)", first.group(1)))
            w("| base | 0 | " + " | ".join(d.get(c, "-") for c in classes) + " |")
        for h in ad["history"]:
            w("| %s | %d | " % (h["stage"], h["step"]) + " | ".join("-" if h["auroc"][c] is None else "%.4f" % h["auroc"][c] for c in classes) + " |")
    w("")
    w("## Accuracy on the held-out wafers\n")
    w("Wafer level, as in the base's card: a wafer's score for a class is its highest cell score for the class's canonical "
      "query; thresholds are set on the validation wafers for %.1f%% false rejects; recall is counted on the %d test wafers.\n" % (
          e32["frr"] * 100, e32["wafers"]))
    table(w, m["classes"], [("base fp32", b32), ("this fp32", e32)])
    if e8 and b8:
        w("INT8 (only the shared trunk 8-bit; each folder quantised as `export.py` did when it was made, models/README.md \"INT8\"):\n")
        table(w, m["classes"], [("base INT8", b8), ("this INT8", e8)])
    if ref and bref:
        w("## The base's own look\n")
        w("What the adaptation costs on the look the base was trained on: both models on `%s` (thresholds on the same wafers), fp32.\n" % a.reference)
        table(w, m["classes"], [("base", bref), ("this", ref)])
        worst = min((c for c in bref["classes"] if c in ref["classes"]), key=lambda c: ref["classes"][c]["auroc"] - bref["classes"][c]["auroc"])
        drop = bref["classes"][worst]["auroc"] - ref["classes"][worst]["auroc"]
        if drop > 0.02:
            w("Largest loss: %s, AUROC %.4f -> %.4f. The new model learned its own wafers in place of these; a plant that "
              "also runs wafers like them adds some to the fine-tuning chunks.\n" % (worst, bref["classes"][worst]["auroc"], ref["classes"][worst]["auroc"]))
    missing(w, a.model)
    tn = m.get("textNone")
    if tn:
        w("## Text that names no defect\n")
        w("After the image side, the text encoder was trained %d steps further (`tools/text_none.py`, %d sentences a step, "
          "lr %g, seed %d) on the spec corpus plus %d everyday sentences (`specs/everyday.tsv`) as \"none\", holding every "
          "class phrasing's embedding where it was (weight %g); the canonical queries moved by at most %.1e (1 - cosine). Share of sentences read as their kind (in brackets: at "
          "least 0.6 surely, the floor below which a spec is rejected), before -> after:\n" % (
              tn["steps"], tn["batch"], tn["lr"], tn["seed"], tn["everydaySentences"], tn["anchor"], tn["canonicalDrift"]))
        w("| set | before | after |")
        w("| --- | --- | --- |")
        names = {"corpusClasses": "corpus class phrasings (trained)", "heldoutClasses": "unseen class phrasings (`specs/heldout.tsv`)",
                 "heldoutNone": "unseen sentences naming no defect (`specs/heldout-none.tsv`), as none"}
        for k, label in names.items():
            sure = lambda d: " (%.1f%%)" % (100 * d[k + "Sure"]) if k + "Sure" in d else ""  # noqa: E731
            w("| %s | %.1f%%%s | %.1f%%%s |" % (label, 100 * tn["before"][k], sure(tn["before"]), 100 * tn["after"][k], sure(tn["after"])))
        w("")
    gate_table(w, m, "this model")
    bench = load(a.model, "bench.json")
    if bench:
        speed_table(w, bench)
    w("## Files\n")
    w("| file | bytes | sha256 |")
    w("| --- | --- | --- |")
    for f in m["files"].values():
        w("| %s | %d | `%s` |" % (f["path"], os.path.getsize(os.path.join(a.model, f["path"])), f["sha256"]))
    w("")
    if a.command:
        w("## Commands\n")
        w("```sh")
        out.extend(a.command)
        w("```\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
