import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { localMaxima } from '../src/model/candidates.js';
import { LotWriter } from '../src/lot/write.js';
import type { DefectRequest } from '../src/sim/defects.js';
import { SyntheticLine } from '../src/sim/line.js';
import { CLI, MAP_MODEL, tempDir } from './helpers.js';

t.test('local maxima: every peak at or above the floor, highest first, at most top, on the cell centres', async (t) => {
  const G = { size: 8, cellMm: 2.5, x0: -10, y0: 10 };
  const m = new Float32Array(2 * 64);
  const set = (map: number, r: number, k: number, v: number): void => void (m[map * 64 + r * 8 + k] = v);
  // map 1: two peaks and the slope of one of them, a third peak under the floor
  set(1, 2, 3, 0.9);
  set(1, 2, 4, 0.6);
  set(1, 6, 6, 0.4);
  set(1, 0, 0, 0.004);
  const peaks = localMaxima(m, G, { top: 5, min: 0.01, offset: 64 });
  t.same(peaks.map((p) => Math.round(p.score * 10) / 10), [0.9, 0.4], 'the slope beside a peak is not one; below the floor is left out');
  t.same([peaks[0].xMm, peaks[0].yMm], [-10 + 3.5 * 2.5, 10 - 2.5 * 2.5], 'row 0 is the top of the wafer');
  t.same(localMaxima(m, G, { top: 1, min: 0.01, offset: 64 }).length, 1);
  t.same(localMaxima(m, G, { top: 5, min: 0.01 }), [], 'map 0 is empty');
});

t.test('model candidates: the shipped model peaks on each planted defect', async (t) => {
  const dir = tempDir(t);
  const lot = join(dir, 'lot');
  const line = new SyntheticLine({ seed: 5151, poolSize: 0 });
  const plans: Array<[string, DefectRequest[]]> = [
    ['good', []],
    ['particle', [{ class: 'particle', xMm: 40, yMm: -60, sizeMm: 3 }]],
    ['scratch', [{ class: 'scratch', xMm: -40, yMm: 30, sizeMm: 30 }]],
    ['void', [{ class: 'void', xMm: 70, yMm: 40, sizeMm: 5 }]],
  ];
  const writer = await LotWriter.create(lot, { lot: 'CAND', rateHz: 15 }, 'tiff');
  for (const [i, [id, defects]] of plans.entries()) {
    const w = line.render(line.plan(i, defects));
    await writer.write({ wafer: id, atMs: i * 66.7, frames: w.frames, truth: w.truth });
  }
  await writer.close();
  const out = join(dir, 'candidates.jsonl');
  const r = spawnSync(process.execPath, [CLI, 'model', 'candidates', lot, '--model', MAP_MODEL, '--out', out, '--per-class', '3'], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /4 wafers, candidates in /);
  type Line = { wafer: string; truth: Array<{ class: string; xMm: number; yMm: number; sizeMm: number }>; candidates: Record<string, Array<{ xMm: number; yMm: number; score: number }>> };
  const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);
  t.same(lines.map((l) => l.wafer), plans.map((p) => p[0]), 'one line per wafer, in line order');
  for (const l of lines) {
    t.same(Object.keys(l.candidates), ['edge-burr', 'edge-chip', 'scratch', 'particle', 'stain', 'crack', 'void', 'hotspot']);
    for (const [c, cs] of Object.entries(l.candidates)) {
      t.ok(cs.length <= 3, `${l.wafer} ${c}: at most --per-class`);
      t.ok(cs.every((x, i) => x.score >= 0.01 && (i === 0 || cs[i - 1].score >= x.score)), `${l.wafer} ${c}: above the floor, highest first`);
    }
    for (const d of l.truth) {
      const best = l.candidates[d.class][0];
      t.ok(best && Math.hypot(best.xMm - d.xMm, best.yMm - d.yMm) <= d.sizeMm / 2 + 2.5, `${l.wafer}: the highest ${d.class} candidate is on it (${JSON.stringify(best)})`);
    }
  }
  t.same(lines[0].truth, [], 'the good wafer has no truth');
  const bad = spawnSync(process.execPath, [CLI, 'model', 'candidates', lot, '--out', join(dir, 'missing', 'c.jsonl')], { encoding: 'utf8' });
  t.not(bad.status, 0);
  t.match(bad.stderr, /ENOENT.*missing\/c\.jsonl/, 'an output that cannot be written is named before the lot is scored');
});
