"""Rebuilds trainable torch models from a model folder's float ONNX files, so a shipped model can be
fine-tuned without a second copy of its weights.

The exporter folded every batch norm into the convolution before it, and each modality's entry
convolution into a weight and a constant map for the radius term (model.Entry.fold). The rebuilt
model keeps the same modules, so export.py exports and quantises it unchanged: each batch norm is
set to pass its input through plus the folded bias, and the entry is a FoldedEntry.
"""
import json
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

from model import DIE_CHANNELS, MODALITIES, RING_SLICES, SLICES, DieResidual, ImageModel, TextModel, crop_channels, rim_map, ring_residual, ring_table


def onnx_scope(root, name):
    """The ONNX node name prefix torch's exporter gives the module at `name`: one part per module,
    named relative to its nearest ancestor that is not a container; ModuleLists give no part."""
    parts, rel, mod = [], [], root
    for p in name.split("."):
        mod = mod[int(p)] if p.isdigit() else getattr(mod, p)
        rel.append(p)
        if isinstance(mod, nn.ModuleList):
            continue
        parts.append(".".join(rel))
        if not isinstance(mod, nn.Sequential):
            rel = []
    return "/" + "/".join(parts)


class FoldedEntry(nn.Module):
    """The entry convolutions as exported: per modality a weight over its channels and a constant
    map (radius term and batch-norm shift) over the whole grid. Frozen; a training crop takes the
    map's window at its origin, which is what the whole-grid model computes there."""

    def __init__(self, weights, fixed):
        super().__init__()
        for i, (w, f) in enumerate(zip(weights, fixed)):
            self.register_buffer("w%d" % i, torch.from_numpy(w.copy()))
            self.register_buffer("f%d" % i, torch.from_numpy(f.copy()))
        self.rim = None
        self.ring = None
        self.die = None

    def add_die(self, grid, weights=None):
        """A convolution over the die-to-die residual (model.DieResidual), computed from the visible
        channels in the graph, starting at zero unless given (a base that has it) so the model begins
        as the base. Exported as the last input columns of the visible entry convolution."""
        self.die_residual = DieResidual(grid)
        self.die = nn.Conv2d(DIE_CHANNELS, self.w0.shape[0], 3, 2, 1, bias=False)
        with torch.no_grad():
            if weights is None:
                self.die.weight.zero_()
            else:
                self.die.weight.copy_(torch.from_numpy(weights))

    def die_of(self, x, vis):
        """The die residual: carried after the ring's channels by training crops (cut from the whole
        wafer's, data.Arrays.x with die), computed from the whole grid's visible channels vis otherwise
        (the entry's own slice, so the exported graph copies them once)."""
        lo, hi = crop_channels(self.ring is not None, True)["die"]
        return x[:, lo:hi] if x.shape[1] >= hi else self.die_residual(vis)

    def add_rim(self, grid):
        """A trainable term on the signed distance to the rim (model.rim_map), starting at zero so the
        model begins exactly as the base. The radius map changes by under 1% of a radius per cell, too
        little to say where within a cell the rim should be, which is what tells a burr from the rim."""
        self.register_buffer("rim_map", rim_map(grid))
        self.rim = nn.ModuleList([nn.Conv2d(1, getattr(self, "w%d" % i).shape[0], 3, 2, 1, bias=False) for i in range(len(MODALITIES))])
        for conv in self.rim:
            nn.init.zeros_(conv.weight)

    def add_ring(self, grid, weights=None):
        """Convolutions over the rim's ring residual (model.ring_residual), one per modality over its
        own channels, starting at zero unless given (a base that has them). Unlike the rim term they
        depend on the wafer, so they stay in the exported graph; the ring's index tables go with them."""
        band, nb, where = ring_table(grid)
        self.register_buffer("ring_band", band)
        self.register_buffer("ring_nb", nb)
        self.register_buffer("ring_where", where)
        self.ring = nn.ModuleList([
            nn.Conv2d(RING_SLICES[m][1] - RING_SLICES[m][0], getattr(self, "w%d" % i).shape[0], 3, 2, 1, bias=False)
            for i, m in enumerate(MODALITIES)])
        for i, conv in enumerate(self.ring):
            with torch.no_grad():
                if weights is None:
                    conv.weight.zero_()
                else:
                    conv.weight.copy_(torch.from_numpy(weights[i]))

    def ring_of(self, x):
        """The ring residual of x: carried as extra channels by training crops (cut from the whole
        wafer's, data.Arrays.x with ring), computed from the whole grid otherwise."""
        lo, hi = crop_channels(True, self.die is not None)["ring"]
        return x[:, lo:hi] if x.shape[1] >= hi else ring_residual(x, self.ring_band, self.ring_nb)

    @torch.no_grad()
    def fold(self, radius):
        """For export: the rim term, constant on the whole grid, goes into the constant maps."""
        if self.rim is None:
            return
        for i, conv in enumerate(self.rim):
            getattr(self, "f%d" % i).add_(conv(self.rim_map))
        self.rim = None

    def forward(self, x, radius):
        """radius: the whole grid's radius map, or crop origins [B, 2] in cells (multiples of 4)."""
        out = []
        ring = self.ring_of(x) if self.ring is not None else None
        for i, m in enumerate(MODALITIES):
            lo, hi = SLICES[m]
            fixed = getattr(self, "f%d" % i)
            if self.rim is not None:
                fixed = fixed + self.rim[i](self.rim_map)
            if radius.dim() == 2:
                s = x.shape[-1] // 2
                fixed = torch.cat([fixed[:, :, r // 2:r // 2 + s, c // 2:c // 2 + s] for r, c in radius.tolist()])
            own, w = x[:, lo:hi], getattr(self, "w%d" % i)
            inp = own
            if ring is not None:
                # one convolution over the modality's channels and its ring channels: in the exported
                # graph a second convolution and its sum cost more than the wider input (0.5 ms a wafer)
                inp = torch.cat([inp, ring[:, RING_SLICES[m][0]:RING_SLICES[m][1]]], 1)
                w = torch.cat([w, self.ring[i].weight], 1)
            if self.die is not None and m == "visible":
                inp = torch.cat([inp, self.die_of(x, own)], 1)
                w = torch.cat([w, self.die.weight], 1)
            out.append(F.relu(F.conv2d(inp, w, None, 2, 1) + fixed))
        return out


def _arrays(model):
    init = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            init[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    return init


def _unfold_bn(bn, bias):
    """Batch norm that passes its input through and adds the folded bias."""
    with torch.no_grad():
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0)
        bn.weight.fill_(float(np.sqrt(1.0 + bn.eps)))
        bn.bias.copy_(torch.from_numpy(bias))


def load_image(path, grid):
    m = onnx.load(path)
    g, init = m.graph, _arrays(m)
    image = ImageModel(grid)
    convs = {n.name[: -len("/Conv")]: n for n in g.node if n.op_type == "Conv" and n.name.startswith("/backbone/")}
    done = set()
    for name, mod in image.backbone.named_modules():
        if not isinstance(mod, nn.Conv2d):
            continue
        node = convs[onnx_scope(image, "backbone." + name)]
        w = init[node.input[1]]
        b = init[node.input[2]] if len(node.input) > 2 else None
        with torch.no_grad():
            mod.weight.copy_(torch.from_numpy(w))
            if mod.bias is not None:
                mod.bias.copy_(torch.from_numpy(b))
            elif b is not None:
                # a batch norm followed this convolution (Sequential: conv, bn, ...)
                parent = image.backbone.get_submodule(name.rsplit(".", 1)[0])
                _unfold_bn(parent[int(name.rsplit(".", 1)[1]) + 1], b)
        done.add(node.name)
    assert len(done) == len(convs), "backbone convolutions of %s not matched: %s" % (path, sorted(set(n.name for n in convs.values()) - done))
    entry_w, entry_f, ring_w = [], [], []
    # a model with the die residual computes it in the graph (FoldedEntry.add_die); its columns end the visible entry's
    die = any(n.name.startswith("/entry/die_residual/") for n in g.node)
    die_w = None
    for i, m in enumerate(MODALITIES):
        conv = next(n for n in g.node if n.name == "/entry/Conv" + ("_%d" % i if i else ""))
        add = next(n for n in g.node if n.op_type == "Add" and conv.output[0] in n.input)
        w, k = init[conv.input[1]], SLICES[m][1] - SLICES[m][0]
        if die and m == "visible":
            die_w, w = w[:, -DIE_CHANNELS:], w[:, :-DIE_CHANNELS]
        # a model with the ring input convolves each modality's channels and its ring channels at once
        entry_w.append(w[:, :k])
        ring_w.append(w[:, k:] if w.shape[1] > k else None)
        entry_f.append(init[[t for t in add.input if t != conv.output[0]][0]])
    # wafer-mm-4 as first exported had separate convolutions for the ring channels: reading only
    # the entry's would silently drop what the model learnt from the rim
    if any(n.name.startswith("/entry/ring.") for n in g.node):
        raise SystemExit("%s: ring convolutions exported apart from the entry's (an older export): rebuild it with models/build.sh" % path)
    image.entry = FoldedEntry(entry_w, entry_f)
    if any(w is not None for w in ring_w):
        assert all(w is not None for w in ring_w), "%s: ring convolutions for only some modalities" % path
        image.entry.add_ring(grid, ring_w)
    if die:
        image.entry.add_die(grid, die_w)
    if any(n.name.startswith("/fine/") for n in g.node):
        image.add_fine()
        fine = {n.name[: -len("/Conv")]: n for n in g.node if n.op_type == "Conv" and n.name.startswith("/fine/")}
        for name, mod in image.fine.named_modules():
            if isinstance(mod, nn.Conv2d):
                node = fine[onnx_scope(image, "fine." + name)]
                with torch.no_grad():
                    mod.weight.copy_(torch.from_numpy(init[node.input[1]]))
                    mod.bias.copy_(torch.from_numpy(init[node.input[2]]))
    with torch.no_grad():
        for m, gate in enumerate(image.gates):
            node = next(n for n in g.node if n.name == onnx_scope(image, "gates.%d" % m) + "/MatMul")
            gate.weight.copy_(torch.from_numpy(init[node.input[1]].T))
        image.scale.fill_(float(init["scale"]))
        image.bias.fill_(float(init["bias"]))
    return image.eval()


def load_text(path, vocab, kinds):
    m = onnx.load(path)
    init = _arrays(m)
    text = TextModel(vocab, kinds)
    state = text.state_dict()
    with torch.no_grad():
        for k, v in state.items():
            if k in init:
                v.copy_(torch.from_numpy(init[k]))
        for name, mod in text.named_modules():
            if isinstance(mod, nn.Linear) and name + ".weight" not in init:
                node = next(n for n in m.graph.node if n.name == onnx_scope(text, name) + "/MatMul")
                mod.weight.copy_(torch.from_numpy(init[node.input[1]].T))
    return text.eval()


def load_model(folder):
    """(image, text, manifest) of a model folder, from its float ONNX files."""
    manifest = json.load(open(os.path.join(folder, "model.json")))
    files = manifest["files"]
    image = load_image(os.path.join(folder, files.get("imageFloat", files["image"])["path"]), manifest["grid"]["size"])
    vocab = len(json.load(open(os.path.join(folder, files["tokenizer"]["path"])))["vocab"])
    text = load_text(os.path.join(folder, files["text"]["path"]), vocab, len(manifest["kinds"]))
    return image, text, manifest
