"""Exports a trained checkpoint as a model folder: the text model (float), the image model in float
and in INT8, the tokenizer, and model.json (files, hashes, shapes, classes; the manifest the
appliance checks on load). INT8 is torch FX static quantisation (qnnpack, per-channel weights) of the backbone,
calibrated on training wafers; the entry convolutions and the query/gating arithmetic stay in float.

    /usr/bin/python3 models/tools/export.py --checkpoint build/model.pt --calibrate 'data/train-*' \
        --val 'data/val-*' --id wafer-mm-1 --out models/wafer-mm-1
"""
import argparse
import hashlib
import json
import os
import shutil
import sys

import numpy as np
import torch
import torch.ao.quantization as tq
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

sys.path.insert(0, os.path.dirname(__file__))
from bpe import Tokenizer  # noqa: E402
from data import CLASSES, Arrays, class_targets  # noqa: E402
from model import EMBED, INPUT_CHANNELS, MODALITIES, STRIDE, ImageModel, TextModel  # noqa: E402
from train import CANONICAL, KINDS, canonical_queries, prefixes  # noqa: E402

OPSET = 13


def load(checkpoint, vocab, grid):
    ck = torch.load(checkpoint, map_location="cpu")
    image, text = ImageModel(grid), TextModel(vocab, len(KINDS))
    image.load_state_dict(ck["image"])
    text.load_state_dict(ck["text"])
    return image.eval(), text.eval()


def export_text(text, path, max_len):
    ids = torch.zeros(2, max_len, dtype=torch.long)
    ids[:, :3] = torch.tensor([5, 6, 7])
    torch.onnx.export(text, (ids,), path, opset_version=OPSET, input_names=["ids"], output_names=["embedding", "kinds"],
                      dynamic_axes={"ids": {0: "batch"}, "embedding": {0: "batch"}, "kinds": {0: "batch"}})


def export_image(image, path, grid):
    image.entry.fold(image.radius)
    x = torch.rand(2, 8, grid, grid)
    x[:, [3, 5, 7]] = 1.0
    q = torch.nn.functional.normalize(torch.randn(3, EMBED), dim=-1)
    torch.onnx.export(image, (x, q), path, opset_version=OPSET, input_names=["image", "queries"], output_names=["scores"],
                      dynamic_axes={"image": {0: "batch"}, "queries": {0: "specs"}, "scores": {0: "batch", 1: "specs"}})


FLOAT_MODULES = ["stems", "own", "shared"]


def quantise(image, arrays, n_calibrate, grid):
    """INT8 backbone by FX static quantisation, calibrated on n wafers."""
    torch.backends.quantized.engine = "qnnpack"
    # one weight scale per output channel, and activation ranges from histograms over the full 8 bits:
    # with one scale per tensor the thin visible classes lost up to 0.13 AUROC, with these under 0.03
    qconfig = tq.QConfig(activation=tq.HistogramObserver.with_args(reduce_range=False), weight=tq.default_per_channel_weight_observer)
    # the last 1x1 convolutions make the embeddings that the queries' dot products read: 8-bit steps
    # there move every score, so they stay in float (a few thousand parameters)
    mapping = tq.QConfigMapping().set_global(qconfig)
    for name in FLOAT_MODULES:
        mapping = mapping.set_module_name(name, None)
    entry = lambda x: image.entry(x, image.radius)  # noqa: E731
    with torch.no_grad():
        a, b, c = entry(torch.rand(1, 8, grid, grid))
    prepared = prepare_fx(image.backbone, mapping, example_inputs=(a, b, c))
    with torch.no_grad():
        for k in range(min(n_calibrate, len(arrays))):
            prepared(*entry(torch.from_numpy(arrays.x(k)[None])))
    image.backbone = convert_fx(prepared)
    return image


def modality_weights(image, text, tok, arrays, n, canonical=CANONICAL):
    """Mean gate weight of each modality at the cells holding each class: where the model reads a class from."""
    classes = arrays.classes
    sums = {c: [0.0, 0.0, 0.0] for c in classes}
    counts = {c: 0 for c in classes}
    q = canonical_queries(text, tok, classes, canonical)
    with torch.no_grad():
        for k in range(min(n, len(arrays))):
            y = class_targets(arrays.bits(k), image.stride, len(classes))
            if not y.any():
                continue
            _, w = image.logits(torch.from_numpy(arrays.x(k)[None]), q)
            for j, c in enumerate(classes):
                cells = y[j] > 0
                if cells.any():
                    for m in range(3):
                        sums[c][m] += float(w[m][0, j].numpy()[cells].sum())
                    counts[c] += int(cells.sum())
    return {c: {m: round(sums[c][i] / max(1, counts[c]), 3) for i, m in enumerate(MODALITIES)} for c in classes}


def onnx_entry(path, name):
    import onnx
    m = onnx.load(path)
    init = {i.name for i in m.graph.initializer}
    dims = lambda v: [d.dim_param if d.dim_param else d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    return {"path": name, "sha256": sha256(path),
            "inputs": {v.name: dims(v) for v in m.graph.input if v.name not in init},
            "outputs": {v.name: dims(v) for v in m.graph.output}}


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_manifest(out, model_id, grid, classes, canonical, parameters, weights=None, extra=None, stride=STRIDE):
    """model.json of an exported folder: what the appliance checks on load; `extra` adds keys it ignores."""
    p = lambda f: os.path.join(out, f)  # noqa: E731
    manifest = {
        "format": "wafer-inspect-model/1",
        "id": model_id,
        "grid": {"size": grid, "fieldMm": 320, "roiRadiusMm": 158},
        "inputChannels": INPUT_CHANNELS,
        "outputStride": stride,
        "embedding": EMBED,
        "classes": list(classes),
        "kinds": list(classes) + ["none"],
        "canonical": {c: canonical[c] for c in classes},
        "parameters": parameters,
        **({"modalityWeights": weights} if weights else {}),
        **(extra or {}),
        "files": {
            "image": onnx_entry(p("image-int8.onnx"), "image-int8.onnx"),
            "imageFloat": onnx_entry(p("image-fp32.onnx"), "image-fp32.onnx"),
            "text": onnx_entry(p("text.onnx"), "text.onnx"),
            "tokenizer": {"path": "tokenizer.json", "sha256": sha256(p("tokenizer.json"))},
        },
    }
    with open(p("model.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--tokenizer", default="models/wafer-mm-9/tokenizer.json")
    ap.add_argument("--calibrate", required=True, help="glob of dataset prefixes for INT8 calibration")
    ap.add_argument("--calibrate-wafers", type=int, default=64)
    ap.add_argument("--val", help="glob of dataset prefixes to measure each class's modality weights on")
    ap.add_argument("--id", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    tok = Tokenizer(json.load(open(a.tokenizer)))
    arrays = Arrays(prefixes(a.calibrate))
    image, text = load(a.checkpoint, len(tok.vocab), arrays.grid)
    weights = modality_weights(image, text, tok, Arrays(prefixes(a.val)), 300) if a.val else None
    p = lambda f: os.path.join(a.out, f)  # noqa: E731
    export_text(text, p("text.onnx"), tok.max_length)
    export_image(image, p("image-fp32.onnx"), arrays.grid)
    export_image(quantise(image, arrays, a.calibrate_wafers, arrays.grid), p("image-int8.onnx"), arrays.grid)
    if os.path.abspath(a.tokenizer) != os.path.abspath(p("tokenizer.json")):
        shutil.copyfile(a.tokenizer, p("tokenizer.json"))
    params = {"image": sum(t.numel() for t in ImageModel(arrays.grid).parameters()), "text": sum(t.numel() for t in text.parameters())}
    write_manifest(a.out, a.id, arrays.grid, CLASSES, CANONICAL, params, weights)
    for f in ("text.onnx", "image-fp32.onnx", "image-int8.onnx", "tokenizer.json"):
        print("%s: %d bytes" % (f, os.path.getsize(p(f))))


if __name__ == "__main__":
    main()
