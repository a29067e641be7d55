"""Exports a model folder's image model again with the current export code, rebuilt from the folder's
own float ONNX file (base.py), and rewrites the image files' entries in its model.json. For a change
in how the graph computes the same thing (a cheaper export of an input, say): the weights, and so
the scores, stay the model's own to float rounding; its id, provenance and card stay. The INT8 file
is quantised again, calibrated as finetune.py does on the first wafers of the training chunks.

    /usr/bin/python3 models/tools/reexport.py --model models/wafer-mm-9 --calibrate "$DATA/train-[0-5]"
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from base import load_model  # noqa: E402
from data import Arrays  # noqa: E402
from export import export_image, onnx_entry, quantise  # noqa: E402
from train import prefixes  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="model folder, rewritten in place")
    ap.add_argument("--calibrate", required=True, help="glob of dataset prefixes to calibrate the INT8 file on")
    ap.add_argument("--calibrate-wafers", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    image, _, manifest = load_model(a.model)
    grid = manifest["grid"]["size"]
    p = lambda f: os.path.join(a.model, f)  # noqa: E731
    export_image(image, p("image-fp32.onnx"), grid)
    export_image(quantise(image, Arrays(prefixes(a.calibrate)), a.calibrate_wafers, grid), p("image-int8.onnx"), grid)
    manifest["files"]["imageFloat"] = onnx_entry(p("image-fp32.onnx"), "image-fp32.onnx")
    manifest["files"]["image"] = onnx_entry(p("image-int8.onnx"), "image-int8.onnx")
    with open(p("model.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    for k in ("imageFloat", "image"):
        print("%s: sha256 %s" % (manifest["files"][k]["path"], manifest["files"][k]["sha256"][:12]))


if __name__ == "__main__":
    main()
