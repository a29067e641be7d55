"""The inspection model. Image side: a stem per modality (visible RGB, infrared, X-ray, each with its
validity mask), a shared context trunk, and an embedding per modality on a grid of 4x4 input cells
(with Fine, on 2x2 cells: the visible one refined from the entry's features, the others upsampled).
Text side: a small transformer over the spec's tokens. A spec's embedding q queries the image: per
cell and per modality a gate (from q and that modality's embedding) weights how much each modality's
score counts, so a spec about voids listens to X-ray and one about hot spots to infrared.

    score(cell, q) = sigmoid(scale · Σ_m w_m(cell, q) · <E_m(cell), q> + bias),
    w(cell, q) = softmax_m(<G_m E_m(cell), q>) over the modalities present.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

EMBED = 32
MODALITIES = ["visible", "infrared", "xray"]
# the fused tensor's channels (src/fusion/grid.ts): each modality's values then its mask, contiguous
INPUT_CHANNELS = ["visible-r", "visible-g", "visible-b", "mask-visible", "infrared", "mask-infrared", "xray", "mask-xray"]
SLICES = {"visible": (0, 4), "infrared": (4, 6), "xray": (6, 8)}
# contracts §3, as src/specs/read.ts NEEDED_MODALITIES: the modality each class must be seen in. Without
# it a wafer is not inspected for that class, so a model shown a crop without it is taught silence there.
NEEDS = {"edge-burr": "visible", "edge-chip": "visible", "scratch": "visible", "particle": "visible",
         "stain": "visible", "crack": "infrared", "void": "xray", "hotspot": "infrared"}
STRIDE = 4
ENTRY_KERNEL = 3
FIELD_MM, WAFER_RADIUS_MM = 320.0, 150.0


def radius_map(size, origin=(0, 0), grid=None):
    """Distance of each cell centre from the wafer centre, in wafer radii, for a size x size window of
    the grid starting at cell (row, col) = origin. It tells the model where the rim should be, so a
    protrusion beyond it or a bite out of it reads as such wherever it is."""
    cell = FIELD_MM / (grid or size)
    rows = (torch.arange(size) + origin[0] + 0.5) * cell - FIELD_MM / 2
    cols = (torch.arange(size) + origin[1] + 0.5) * cell - FIELD_MM / 2
    return (torch.sqrt(rows[:, None] ** 2 + cols[None, :] ** 2) / WAFER_RADIUS_MM)[None, None]


RIM_CELLS = 3.0


def rim_map(grid):
    """Signed distance of each cell centre to the rim (positive inside), in cells, clipped to
    +-RIM_CELLS and scaled to +-1: where within its cell the wafer's edge should run."""
    cell = FIELD_MM / grid
    c = (torch.arange(grid) + 0.5) * cell - FIELD_MM / 2
    d = (WAFER_RADIUS_MM - torch.sqrt(c[:, None] ** 2 + c[None, :] ** 2)) / cell
    return (d.clamp(-RIM_CELLS, RIM_CELLS) / RIM_CELLS)[None, None]


# The rim seen against itself: each cell near the rim minus the mean of RING_NEIGHBOURS cells of the
# same band whose centres lie at the closest radii, RING_ARC_MM along the rim on either side. A good
# rim fills its cells as its neighbours at that radius do; a burr or a bite does not, and a 0.35 mm
# burr on a 1.25 mm cell is a contrast the network did not find on its own (models/README.md).
RING_CHANNELS = [0, 1, 2, 4, 6]  # visible RGB, infrared, X-ray (the fused tensor's value channels)
RING_SLICES = {"visible": (0, 3), "infrared": (3, 4), "xray": (4, 5)}
RING_BAND_CELLS, RING_NEIGHBOURS, RING_ARC_MM = 3.0, 16, (4.0, 60.0)


def ring_table(grid):
    """(band, neighbours, where): flat indices of the cells within RING_BAND_CELLS of the rim [N]; for
    each, the positions in band of its reference cells [N, RING_NEIGHBOURS]; and for every cell of the
    grid its position in band, or N off the band [G * G]. Fixed for a grid."""
    cell = FIELD_MM / grid
    c = (torch.arange(grid, dtype=torch.float64) + 0.5) * cell - FIELD_MM / 2
    y, x = -c[:, None].expand(grid, grid), c[None, :].expand(grid, grid)
    r, t = torch.sqrt(x * x + y * y).reshape(-1), torch.atan2(y, x).reshape(-1)
    band = torch.nonzero(((WAFER_RADIUS_MM - r) / cell).abs() <= RING_BAND_CELLS).reshape(-1)
    rb, tb = r[band], t[band]
    lo, hi = RING_ARC_MM
    nb = torch.empty(len(band), RING_NEIGHBOURS, dtype=torch.long)
    for i in range(len(band)):
        d = tb - tb[i]
        arc = torch.abs(torch.atan2(torch.sin(d), torch.cos(d))) * WAFER_RADIUS_MM
        cand = torch.nonzero((arc >= lo) & (arc <= hi)).reshape(-1)
        # stable, so that ties go the same way on every machine
        nb[i] = cand[torch.sort(torch.abs(rb[cand] - rb[i]), stable=True).indices[:RING_NEIGHBOURS]]
    where = torch.full((grid * grid,), len(band), dtype=torch.long)
    where[band] = torch.arange(len(band))
    # 32-bit: they ship inside every exported image model
    return band.int(), nb.int(), where.int()


def ring_band(x, band, nb):
    """x [B, >=8, G, G] -> [B, 5, N]: the RING_CHANNELS of the band's cells minus their ring reference.
    Written for the exported graph, where it runs per wafer: the band's values are picked with one
    element gather (GatherElements, a tight loop; onnxruntime's Gather copies element by element,
    1 ms a wafer), the reference gathers whole rows (wafers and channels along a row), neighbour
    by neighbour so that the mean runs over the leading axis (over a middle one it cost 0.35 ms)."""
    B, G, C, N = x.shape[0], x.shape[-1], len(RING_CHANNELS), band.shape[0]
    flat = (torch.tensor(RING_CHANNELS)[:, None] * (G * G) + band.long()[None, :]).reshape(1, C * N)
    v = torch.gather(x.reshape(B, -1), 1, flat.expand(B, -1)).reshape(B * C, N).t()
    res = v - v.index_select(0, nb.t().reshape(-1).long()).reshape(nb.shape[1], N, B * C).mean(0)
    return res.t().reshape(B, C, N)


def ring_residual(x, band, nb):
    """x [B, >=8, G, G] -> [B, 5, G, G]: ring_band laid onto the grid, zero off the band, with one
    element scatter into a flat vector of zeros (ScatterElements on one axis: 0.3 ms a wafer, where
    onnxruntime took 1 to 5 ms scattering along the second axis of [B, 5·G·G], and a row gather with
    a transpose of the whole grid after it as long)."""
    B, G, C, N = x.shape[0], x.shape[-1], len(RING_CHANNELS), band.shape[0]
    at = (torch.arange(C)[:, None] * (G * G) + band.long()[None, :]).reshape(1, C * N)
    at = (torch.arange(B)[:, None] * (C * G * G) + at).reshape(-1)
    return torch.zeros(B * C * G * G).scatter(0, at, ring_band(x, band, nb).reshape(-1)).reshape(B, C, G, G)


# The die pattern seen against itself: a die's functional blocks and streets change a cell's light by
# up to a fifth, a thin scratch by a few hundredths, so on the fused grid a scratch is lost in the
# pattern (models/README.md) unless each cell is compared with the same place one die pitch away,
# as die-to-die inspection does. The pitch differs between products and is read off each wafer: the
# period of its brightness profile along each axis over the dies (within DIE_INNER_MM of the centre),
# the lag in DIE_LAGS cells whose squared difference, over its mean at the shorter lags (YIN), is least.
DIE_INNER_MM, DIE_LAGS, DIE_MIN_CELLS = 130.0, (4, 32), 20
DIE_CHANNELS = 2


def die_period(profile, valid):
    """profile, valid [B, G] -> the profile's period in cells [B] (the die pitch or a multiple of it),
    refined between lags by a parabola through the squared differences."""
    B, G = profile.shape
    hi = DIE_LAGS[1] + 1
    lags = torch.arange(1, hi + 1)
    idx = (torch.arange(G)[None, :] + lags[:, None]).clamp(max=G - 1).reshape(-1)
    inside = (torch.arange(G)[None, :] + lags[:, None] < G).float()
    pair = torch.index_select(valid, 1, idx).reshape(B, hi, G) * valid[:, None, :] * inside
    diff = torch.index_select(profile, 1, idx).reshape(B, hi, G) - profile[:, None, :]
    d = (diff * diff * pair).sum(-1) / pair.sum(-1).clamp(min=1.0)
    yin = d * lags.float() / torch.cumsum(d, 1).clamp(min=1e-12)
    lo = DIE_LAGS[0]
    k = torch.argmin(yin[:, lo - 1:hi - 1], 1) + (lo - 1)
    a, b, c = d.gather(1, (k - 1)[:, None])[:, 0], d.gather(1, k[:, None])[:, 0], d.gather(1, (k + 1)[:, None])[:, 0]
    frac = ((a - c) / (2 * (a - 2 * b + c)).clamp(min=1e-12)).clamp(-0.5, 0.5)
    return k.float() + 1 + frac


class DieResidual(nn.Module):
    """vis [B, >=3, G, G] (visible RGB first) -> [B, 2, G, G]: each cell's brightness minus the same
    place one die period along x (channel 0) and along y (channel 1), bilinear between cells. Of the
    two sides the smaller difference where both agree in sign, else 0 (the median of the two and 0):
    a defect differs from both of its neighbours, while a neighbour's defect shows on one side only.
    A scratch along an axis runs on into the next die along it and shows in the other channel.

    Written for the exported graph: a shift by a wafer's own period is a product with a tent matrix
    (v @ it shifts columns, it @ v rows), which onnxruntime runs as a matrix product, where
    GridSample took 4 ms a wafer for the four shifts; the brightness is a product over
    the channels, since a channel slice and a mean copied the whole input (models/README.md)."""

    def __init__(self, grid):
        super().__init__()
        cell = FIELD_MM / grid
        c = (torch.arange(grid) + 0.5) * cell - FIELD_MM / 2
        inner = (torch.sqrt(c[:, None] ** 2 + c[None, :] ** 2) < DIE_INNER_MM).float()
        self.register_buffer("inner", inner)
        self.register_buffer("cols", inner.sum(0).clamp(min=1.0))
        self.register_buffer("rows", inner.sum(1).clamp(min=1.0))
        self.register_buffer("col_valid", (inner.sum(0) >= DIE_MIN_CELLS).float()[None])
        self.register_buffer("row_valid", (inner.sum(1) >= DIE_MIN_CELLS).float()[None])
        self.register_buffer("idx", torch.arange(grid).float())

    def shift(self, p):
        """[B, G, G]: the tent matrix that shifts the rows of what it multiplies by p [B] cells (its
        transpose, multiplied on the right, shifts columns), sampling at the cell, or the grid's edge
        where that lies beyond it (as GridSample's border padding does)."""
        G = self.idx.shape[0]
        at = (self.idx[None, :] + p[:, None]).clamp(0, G - 1)
        return F.relu(1 - (at[:, :, None] - self.idx[None, None, :]).abs())

    def forward(self, vis):
        B, C, G = vis.shape[0], vis.shape[1], vis.shape[-1]
        w = torch.zeros(1, C)
        w[0, 0:3] = 1.0 / 3
        v = torch.matmul(w, vis.reshape(B, C, G * G)).reshape(B, G, G)
        on = v * self.inner
        px = die_period(on.sum(1) / self.cols, self.col_valid.expand(B, G))
        py = die_period(on.sum(2) / self.rows, self.row_valid.expand(B, G))
        zero = torch.zeros_like(v)
        out = []
        cols = lambda p: torch.matmul(v, self.shift(p).transpose(1, 2))  # noqa: E731
        for a, b in ((v - cols(px), v - cols(-px)), (v - torch.matmul(self.shift(py), v), v - torch.matmul(self.shift(-py), v))):
            out.append(torch.minimum(torch.maximum(torch.minimum(a, b), zero), torch.maximum(a, b)))
        return torch.stack(out, 1)


def crop_channels(ring, die):
    """Where a training crop carries the residuals after fusion's channels (data.Arrays.x, ring's then
    die's): {"ring": (lo, hi), "die": (lo, hi)} for those the model reads."""
    out, at = {}, len(INPUT_CHANNELS)
    for name, n, on in (("ring", len(RING_CHANNELS), ring), ("die", DIE_CHANNELS, die)):
        if on:
            out[name] = (at, at + n)
            at += n
    return out


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin, cout, k=3, s=1, groups=1, dilation=1):
        pad = dilation * (k - 1) // 2
        super().__init__(nn.Conv2d(cin, cout, k, s, pad, dilation=dilation, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Separable(nn.Module):
    """Depthwise-separable residual block."""

    def __init__(self, c, dilation=1):
        super().__init__()
        self.dw = ConvBNReLU(c, c, 3, 1, groups=c, dilation=dilation)
        self.pw = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(x + self.pw(self.dw(x)))


class Entry(nn.Module):
    """First convolution of each modality, kept in float: it turns faint contrasts (a stain is ~1% of
    the infrared range) into activations that survive 8-bit quantisation further on."""

    def __init__(self, widths):
        super().__init__()
        self.convs = nn.ModuleList([ConvBNReLU(SLICES[m][1] - SLICES[m][0] + 1, widths[m][0], ENTRY_KERNEL, 2) for m in MODALITIES])

    def forward(self, x, radius):
        # conv(cat(x_m, radius)) is computed as conv(x_m) + conv(radius)
        out = []
        for i, ((conv, bn, relu), m) in enumerate(zip(self.convs, MODALITIES)):
            lo, hi = SLICES[m]
            k = hi - lo
            w, s, p = conv.weight, conv.stride, conv.padding
            if self.folded is not None:
                weight, fixed = self.folded[i]
                y = F.conv2d(x[:, lo:hi], weight, None, s, p) + fixed
            else:
                y = bn(F.conv2d(x[:, lo:hi], w[:, :k], None, s, p) + F.conv2d(radius, w[:, k:], None, s, p))
            out.append(relu(y))
        return out

    folded = None

    @torch.no_grad()
    def fold(self, radius):
        """For inference on the whole grid: batch norm folded into the weights, and the radius term
        (constant for a fixed grid) computed once into a map that is simply added."""
        self.folded = []
        for (conv, bn, _), m in zip(self.convs, MODALITIES):
            k = SLICES[m][1] - SLICES[m][0]
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            shift = bn.bias - bn.running_mean * scale
            fixed = F.conv2d(radius, conv.weight[:, k:], None, conv.stride, conv.padding) * scale[None, :, None, None] + shift[None, :, None, None]
            self.folded.append((conv.weight[:, :k] * scale[:, None, None, None], fixed))


class Backbone(nn.Module):
    """Everything between the entry convolutions and the query: the part that runs in INT8.
    A 1x1 convolution over concatenated features is written as a sum of one per part, which is the
    same arithmetic and keeps quantised tensors out of concatenations the ONNX exporter cannot take."""

    def __init__(self, widths, trunk=64, blocks=(1, 2, 4, 8)):
        super().__init__()
        self.stems = nn.ModuleList([
            nn.Sequential(Separable(widths[m][0]), ConvBNReLU(widths[m][0], widths[m][1], 3, 2)) for m in MODALITIES])
        self.mix = nn.ModuleList([nn.Conv2d(widths[m][1], trunk, 1, bias=(i == 0)) for i, m in enumerate(MODALITIES)])
        self.relu = nn.ReLU()
        self.trunk = nn.Sequential(*[Separable(trunk, d) for d in blocks])
        self.own = nn.ModuleList([nn.Conv2d(widths[m][1], EMBED, 1) for m in MODALITIES])
        self.shared = nn.ModuleList([nn.Conv2d(trunk, EMBED, 1, bias=False) for _ in MODALITIES])

    def forward(self, a, b, c):
        f = [stem(t) for stem, t in zip(self.stems, (a, b, c))]
        ctx = self.trunk(self.relu(self.mix[0](f[0]) + self.mix[1](f[1]) + self.mix[2](f[2])))
        e = [own(fm) + shared(ctx) for own, shared, fm in zip(self.own, self.shared, f)]
        return e[0], e[1], e[2]


FINE_STRIDE = 2


class Fine(nn.Module):
    """What a stride-2 cell adds to the visible embedding of the stride-4 cell above it, from the visible
    entry convolution's features around it (two separable convolutions: 11 input cells, 14 mm, across;
    not dilated, which onnxruntime's depthwise convolution runs several times slower). A 1.5 mm edge
    chip is a small part of one 5 mm cell and a larger part of a 2.5 mm one. The infrared and X-ray
    embeddings are only upsampled: heads of their own changed no class's test AUROC by more than
    0.004 and cost as much as the visible one (models/README.md, wafer-mm-8). The last convolution
    starts at zero, so a model given it begins as its base."""

    def __init__(self, widths):
        super().__init__()
        c = widths["visible"][0]
        last = nn.Conv2d(c, EMBED, 1)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.head = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, groups=c), nn.Conv2d(c, c, 1), nn.ReLU(),
                                  nn.Conv2d(c, c, 3, 1, 1, groups=c), nn.Conv2d(c, c, 1), nn.ReLU(), last)

    def forward(self, entries):
        """Per modality (MODALITIES) what its stride-2 cells add, or None where nothing."""
        return [self.head(t) if m == "visible" else None for m, t in zip(MODALITIES, entries)]


def project(queries, e):
    """queries [Q, D], e [B, D, H, W] -> [B, Q, H, W]: each cell's embedding against each query."""
    B, D, H, W = e.shape
    return torch.matmul(queries, e.reshape(B, D, H * W)).reshape(B, queries.shape[0], H, W)


class ImageModel(nn.Module):
    def __init__(self, grid=256):
        super().__init__()
        widths = {"visible": (24, 48), "infrared": (12, 24), "xray": (12, 24)}
        self.widths = widths
        self.entry = Entry(widths)
        self.backbone = Backbone(widths)
        self.fine = None
        # the gate of modality m is <G_m E_m, q> = <E_m, G_m^T q>: applied to the queries, not to every cell
        self.gates = nn.ModuleList([nn.Linear(EMBED, EMBED, bias=False) for _ in MODALITIES])
        self.scale = nn.Parameter(torch.tensor(6.0))
        self.bias = nn.Parameter(torch.tensor(-4.0))
        self.register_buffer("radius", radius_map(grid))

    def add_fine(self):
        """Scores on a grid of 2x2 input cells instead of 4x4 (Fine)."""
        self.fine = Fine(self.widths)

    @property
    def stride(self):
        return FINE_STRIDE if self.fine is not None else STRIDE

    def embed(self, x, radius=None):
        """Per modality its embedding on the stride-4 grid and, with Fine, what each stride-2 cell adds
        to it (else None). radius: the radius map of x's window (training crops); the whole grid's when
        None, kept at batch 1 so its convolution is a constant the exported graph folds, broadcast over the batch."""
        a, b, c = self.entry(x, self.radius if radius is None else radius)
        e = self.backbone(a, b, c)
        return list(zip(e, [None] * len(e) if self.fine is None else self.fine((a, b, c))))

    def logits(self, x, queries, radius=None):
        """x [B, 8, G, G], queries [Q, D] (unit length) -> logits [B, Q, G/s, G/s] (s = self.stride) and
        per-modality weights (a list of 3)."""
        emb = self.embed(x, radius)
        Q = queries.shape[0]
        scores, gates = [], []
        for m, ((e, fine), g) in enumerate(zip(emb, self.gates)):
            qs = torch.cat([queries, g(queries)], 0)
            both = project(qs, e)
            if self.fine is not None:
                # <up(E), q> = up(<E, q>): the coarse products are taken before upsampling, on 2Q channels instead of D
                both = F.interpolate(both, scale_factor=2.0, mode="nearest")
                if fine is not None:
                    both = both + project(qs, fine)
            valid = F.avg_pool2d(x[:, SLICES[MODALITIES[m]][1] - 1:SLICES[MODALITIES[m]][1]], self.stride) > 0.5
            scores.append(both[:, :Q])
            gates.append(both[:, Q:] + (valid.float() - 1.0) * 1e4)
        top = torch.max(torch.max(gates[0], gates[1]), gates[2])
        w = [torch.exp(a - top) for a in gates]
        total = w[0] + w[1] + w[2]
        mixed = (w[0] * scores[0] + w[1] * scores[1] + w[2] * scores[2]) / total
        return mixed * self.scale + self.bias, [wm / total for wm in w]

    def forward(self, x, queries):
        logits, _ = self.logits(x, queries)
        return torch.sigmoid(logits)


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x, pad):
        B, L, D = x.shape
        q, k, v = self.qkv(x).reshape(B, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        att = torch.matmul(q, k.transpose(-1, -2)) / (D // self.heads) ** 0.5
        att = att + pad[:, None, None, :] * -1e4
        return self.out(torch.matmul(torch.softmax(att, -1), v).transpose(1, 2).reshape(B, L, D))


class Layer(nn.Module):
    def __init__(self, d, heads, ff):
        super().__init__()
        self.n1 = nn.LayerNorm(d)
        self.att = Attention(d, heads)
        self.n2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Linear(ff, d))
        self.drop = nn.Dropout(0.1)

    def forward(self, x, pad):
        x = x + self.drop(self.att(self.n1(x), pad))
        return x + self.drop(self.ff(self.n2(x)))


class TextModel(nn.Module):
    """Spec tokens -> unit embedding [B, D], and how much the spec reads as each known kind [B, K]."""

    def __init__(self, vocab, kinds, d=64, layers=2, heads=4, ff=128, max_len=32):
        super().__init__()
        self.tok = nn.Embedding(vocab, d, padding_idx=0)
        self.pos = nn.Parameter(torch.zeros(max_len, d))
        nn.init.normal_(self.pos, std=0.02)
        self.layers = nn.ModuleList([Layer(d, heads, ff) for _ in range(layers)])
        self.norm = nn.LayerNorm(d)
        self.proj = nn.Linear(d, EMBED)
        self.prototypes = nn.Parameter(torch.randn(kinds, EMBED) * 0.1)
        self.temperature = 0.07

    def embed(self, ids):
        pad = (ids == 0).float()
        x = self.tok(ids) + self.pos[: ids.shape[1]]
        for layer in self.layers:
            x = layer(x, pad)
        x = self.norm(x)
        keep = 1.0 - pad
        pooled = (x * keep[..., None]).sum(1) / keep.sum(1, keepdim=True).clamp(min=1.0)
        return F.normalize(self.proj(pooled), dim=-1)

    def kind_logits(self, e):
        return torch.matmul(e, F.normalize(self.prototypes, dim=-1).t()) / self.temperature

    def forward(self, ids):
        e = self.embed(ids)
        return e, torch.softmax(self.kind_logits(e), -1)
