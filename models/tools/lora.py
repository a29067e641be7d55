"""Low-rank adapters: a frozen layer W plus a trainable update (alpha / rank) · B · A, where A maps the
input to `rank` channels and B (zero at the start) maps them back. Merging adds the update into W,
so the exported graph is the base model's graph with other numbers and costs nothing at run time."""
import fnmatch

import torch
import torch.nn as nn


class LoRA(nn.Module):
    def __init__(self, base, rank, alpha):
        super().__init__()
        self.base, self.rank, self.scale = base, rank, alpha / rank
        if isinstance(base, nn.Linear):
            self.a = nn.Linear(base.in_features, rank, bias=False)
            self.b = nn.Linear(rank, base.out_features, bias=False)
        else:
            assert base.groups == 1, "adapters on grouped convolutions are not supported"
            # A has the base's kernel, stride and dilation; B is 1x1, so B·A is a kernel of the base's shape
            self.a = nn.Conv2d(base.in_channels, rank, base.kernel_size, base.stride, base.padding, base.dilation, bias=False)
            self.b = nn.Conv2d(rank, base.out_channels, 1, bias=False)
        nn.init.kaiming_uniform_(self.a.weight, a=5 ** 0.5)
        nn.init.zeros_(self.b.weight)

    def forward(self, x):
        return self.base(x) + self.b(self.a(x)) * self.scale

    @torch.no_grad()
    def merged(self):
        """The base layer with the update added to its weight."""
        b = self.b.weight.reshape(self.b.weight.shape[0], self.rank)
        if isinstance(self.base, nn.Linear):
            delta = b @ self.a.weight
        else:
            delta = torch.einsum("or,rikl->oikl", b, self.a.weight)
        self.base.weight += delta * self.scale
        return self.base


def _parent(root, name):
    head, _, leaf = name.rpartition(".")
    return (root.get_submodule(head) if head else root), leaf


def _set(parent, leaf, module):
    if leaf.isdigit():
        parent[int(leaf)] = module
    else:
        setattr(parent, leaf, module)


def add_adapters(root, patterns, rank, alpha):
    """Wraps every Linear and ungrouped Conv2d whose name matches one of the glob patterns; returns their names."""
    names = [n for n, m in root.named_modules()
             if isinstance(m, (nn.Linear, nn.Conv2d)) and getattr(m, "groups", 1) == 1 and any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    for n in names:
        parent, leaf = _parent(root, n)
        _set(parent, leaf, LoRA(root.get_submodule(n), rank, alpha))
    return names


def merge_adapters(root):
    """Replaces every adapter by its merged base layer."""
    names = [n for n, m in root.named_modules() if isinstance(m, LoRA)]
    for n in names:
        parent, leaf = _parent(root, n)
        _set(parent, leaf, root.get_submodule(n).merged())
    return len(names)


def adapter_parameters(root):
    return [p for m in root.modules() if isinstance(m, LoRA) for p in (m.a.weight, m.b.weight)]
