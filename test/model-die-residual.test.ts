import { execFileSync } from 'node:child_process';
import t from 'tap';
import { REPO_ROOT } from './helpers.js';

/**
 * The die-to-die residual the image model reads (models/tools/model.py, DieResidual): on a grid
 * rendered from a finer one as fusion averages it, a die pattern with a pitch between cells in each
 * axis, and a thin scratch across several dies fainter than the pattern. The residual must find the
 * pitch, take the pattern away and keep the scratch.
 */
const SCRIPT = `
import json, sys
import numpy as np
import torch
sys.path.insert(0, 'models/tools')
from model import DieResidual, die_period
G, S = 256, 8
px, py = 13.6, 9.3
n = G * S
u = (np.arange(n) + 0.5) / S
fu, fv = (u / px) % 1.0, (u / py) % 1.0
block = ((fu[None, :] > 0.2) & (fu[None, :] < 0.5) & (fv[:, None] > 0.3) & (fv[:, None] < 0.7)) * 0.15 \\
      - ((fu[None, :] > 0.6) & (fu[None, :] < 0.8) & (fv[:, None] > 0.1) & (fv[:, None] < 0.4)) * 0.12
street = ((fu[None, :] < 0.03) | (fv[:, None] < 0.03)) * -0.1
fine = 0.5 + block + street
line = np.zeros_like(fine)
for t in np.linspace(0, 40 * S, 4000):
    line[int(100 * S + t * 0.5), int(90 * S + t * 0.866)] = 0.5
fine = fine * (1 + line)
v = fine.reshape(G, S, G, S).mean((1, 3)).astype(np.float32)
x = torch.zeros(1, 8, G, G)
x[0, 0:3] = torch.from_numpy(v)
x[0, 3] = 1
die = DieResidual(G)
r = die(x)[0].numpy()
inner = die.inner.numpy() > 0
on = (line.reshape(G, S, G, S).max((1, 3)) > 0) & inner
off = inner & ~on
on_v = torch.from_numpy(v)[None] * die.inner
periods = [float(die_period(on_v.sum(1) / die.cols, die.col_valid)[0]), float(die_period(on_v.sum(2) / die.rows, die.row_valid)[0])]
print(json.dumps({
    "periods": periods,
    "pattern": float(v[off].std()),
    "residual": [float(r[c][off].std()) for c in range(2)],
    "scratch": [float(np.median(np.abs(r[c][on]))) for c in range(2)],
    "scratch_raw": float(np.median(np.abs(v[on] - v[off].mean()))),
}))
`;

t.test('the die residual finds the pitch, removes the pattern and keeps a scratch fainter than it', async (t) => {
  const out = JSON.parse(execFileSync('/usr/bin/python3', ['-c', SCRIPT], { cwd: REPO_ROOT, encoding: 'utf8' })) as {
    periods: number[]; pattern: number; residual: number[]; scratch: number[]; scratch_raw: number;
  };
  // the period may be a multiple of the pitch: any multiple lines a die up with one of its own
  for (const [i, pitch] of [13.6, 9.3].entries()) {
    const k = Math.round(out.periods[i] / pitch);
    t.ok(k >= 1 && Math.abs(out.periods[i] - k * pitch) < 0.15, `axis ${i}: period ${out.periods[i].toFixed(2)} cells, a multiple of the pitch ${pitch}`);
  }
  t.ok(out.scratch_raw < out.pattern, `on the grid the scratch (${out.scratch_raw.toFixed(4)}) is fainter than the pattern (${out.pattern.toFixed(4)})`);
  for (const c of [0, 1]) {
    t.ok(out.residual[c] < 0.1 * out.pattern, `channel ${c}: the pattern is gone (${out.residual[c].toFixed(4)} against ${out.pattern.toFixed(4)})`);
    t.ok(out.scratch[c] > 5 * out.residual[c], `channel ${c}: the scratch stands out (${out.scratch[c].toFixed(4)})`);
  }
});
