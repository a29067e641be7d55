import { execFileSync } from 'node:child_process';
import t from 'tap';
import { REPO_ROOT } from './helpers.js';

/**
 * Hard-negative mining for fine-tuning (models/tools/hard.py, finetune.py --hard): on two wafers
 * whose scores are planted, the cell mined for a class is the highest one away from that class's
 * own defects (its cells and its truth's extent), never one on them; and sample_batch cuts a quarter
 * of its crops around the mined cells.
 */
const SCRIPT = `
import json, sys
import numpy as np
import torch
sys.path.insert(0, 'models/tools')
from data import CLASSES, sample_batch
from hard import mine_hard

G, S = 256, 2
class Arrays:
    classes, grid, field = CLASSES, G, 320.0
    def __init__(self):
        self.masks = [np.zeros((G, G), np.uint8) for _ in range(2)]
        # wafer 0: a particle (class 3) on input cells rows 100-103, cols 60-63, centred at (-82.5, 32.5) mm
        self.masks[0][100:104, 60:64] = 1 << 3
        self.wafers = [(0, 0, {"truth": [{"class": "particle", "xMm": -82.5, "yMm": 32.5, "sizeMm": 5}]}), (0, 1, {"truth": []})]
    def __len__(self):
        return 2
    def bits(self, k, r0=0, c0=0, size=None):
        size = size or G
        return self.masks[k][r0:r0 + size, c0:c0 + size]
    def x(self, k, r0=0, c0=0, size=None):
        size = size or G
        return np.full((8, size, size), float(k), np.float32)

class Image:
    stride, training = S, False
    def eval(self): pass
    def train(self, on): pass
    def logits(self, x, q):
        B, H = x.shape[0], G // S
        out = torch.zeros(B, len(CLASSES), H, H)
        for b in range(B):
            k = int(x[b, 0, 0, 0])
            if k == 0:
                out[b, 3, 51, 31] = 9.0   # on wafer 0's particle: not a negative
                out[b, 3, 52, 34] = 8.0   # 9.5 mm from its centre, within its extent plus 7.5 mm: not either
                out[b, 3, 20, 100] = 5.0  # far from it: wafer 0's hard negative for particles
                out[b, 2, 51, 31] = 7.0   # the particle read as a scratch: a hard negative for scratches
            else:
                out[b, 3, 60, 40] = 6.0
        return out, None

arrays = Arrays()
hard = mine_hard(Image(), torch.zeros(len(CLASSES), 32), arrays, 2)
by_class = {CLASSES[i // 2]: hard[i:i + 2] for i in range(0, len(hard), 2)}
rng = np.random.default_rng(0)
batch = sample_batch(rng, arrays, [(3, [0])], 16, 32, 4, S, hard=[(1, 121, 81)])
print(json.dumps({"particle": by_class["particle"], "scratch": by_class["scratch"],
                  "origins": [list(o) for _, _, o in batch], "wafers": [float(x[0, 0, 0]) for x, _, _ in batch]}))
`;

t.test('mined hard negatives lie away from the class own defects, and a quarter of the crops is cut around them', async (t) => {
  const out = JSON.parse(execFileSync('/usr/bin/python3', ['-c', SCRIPT], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, PYTHONWARNINGS: 'ignore' } })) as {
    particle: number[][]; scratch: number[][]; origins: number[][]; wafers: number[];
  };
  // output cell (row, col) -> input cell (row * 2 + 1, col * 2 + 1); highest first
  t.same(out.particle, [[1, 121, 81], [0, 41, 201]], 'wafer 1 (6.0), then wafer 0 away from its particle (5.0); never on the particle or beside it (9.0, 8.0)');
  t.same(out.scratch[0], [0, 103, 63], 'the particle read as a scratch is a hard negative for scratches');
  // 16 crops: 8 near defects, 2 on the rim, 4 around hard negatives, 2 anywhere
  const holds = out.origins.map(([r, c], i) => out.wafers[i] === 1 && r <= 121 && 121 < r + 32 && c <= 81 && 81 < c + 32);
  t.same(holds.slice(10, 14), [true, true, true, true], `the 11th to 14th crops hold the mined cell (origins ${JSON.stringify(out.origins.slice(10, 14))})`);
  t.same(holds.slice(0, 8), Array(8).fill(false), 'the crops near defects are on wafer 0');
});
