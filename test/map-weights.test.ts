import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { REPO_ROOT, tempDir } from './helpers.js';

/**
 * models/tools/map_weights.py on a calibration lot's checks: where the rim's own evidence finds edge
 * chips the map and the crops do not, the tool keeps the class's rim places and weighs them; where it
 * finds none more, it leaves them out, so the judge checks no more than helps.
 */
type Check = { xMm: number; yMm: number; score: number; prob: number; confidence: number; rimMm?: number; dieCount?: number };
const CLASSES = ['edge-burr', 'edge-chip', 'scratch', 'particle'];

function lot(chipRim: number): string {
  const prob = 0.04;
  const rows: string[] = [];
  const map = (x: number, y: number, score: number, prob: number): Check => ({ xMm: x, yMm: y, score, prob, confidence: 0 });
  const quiet = (): Record<string, Check[]> => Object.fromEntries(CLASSES.map((c) => [c, [map(0, 0, 0.05, 0.02), map(50, 50, 0.04, 0.03)]]));
  for (let i = 0; i < 40; i++) {
    const c = quiet();
    // a good wafer's rim stands off its circle by the frame's noise only
    c['edge-chip'].push({ ...map(150, 0, 0.03, 0.05), rimMm: -(0.15 + 0.001 * i) });
    c['edge-burr'].push({ ...map(-150, 0, 0.03, 0.05), rimMm: 0.15 + 0.001 * i });
    rows.push(JSON.stringify({ wafer: `G${i}`, truth: [], candidates: c }));
  }
  for (let i = 0; i < 10; i++) {
    const c = quiet();
    // a small chip: the map hardly peaks, the crop reads it no higher than good wafers' rims, the rim stands in by chipRim
    c['edge-chip'].push({ ...map(0, 150, 0.02, prob), rimMm: -chipRim });
    rows.push(JSON.stringify({ wafer: `D${i}`, truth: [{ class: 'edge-chip', xMm: 0, yMm: 150, sizeMm: 1 }], candidates: c }));
  }
  return rows.join('\n') + '\n';
}

function run(t: Test, chipRim: number): { rim: Record<string, unknown>; out: string } {
  const dir = tempDir(t);
  const model = join(dir, 'model');
  cpSync(join(REPO_ROOT, 'models/wafer-mm-14/model.json'), join(model, 'model.json'), { recursive: true });
  writeFileSync(join(dir, 'checks.jsonl'), lot(chipRim));
  const out = execFileSync('/usr/bin/python3', [join(REPO_ROOT, 'models/tools/map_weights.py'), '--checks', join(dir, 'checks.jsonl'), '--model', model], { encoding: 'utf8' });
  return { rim: JSON.parse(readFileSync(join(model, 'model.json'), 'utf8')).verifier.rim, out };
}

t.test('rim places that find chips the crops miss are kept, with a weight and a least standing off over the good wafers\'', async (t) => {
  const { rim, out } = run(t, 0.4);
  const chip = rim['edge-chip'] as { side: string; weight: number; minMm: number };
  t.ok(chip, 'edge chip rim places kept');
  t.equal(chip.side, 'inside');
  t.ok(chip.weight > 0, `weight ${chip.weight} per mm`);
  t.ok(chip.minMm > 0.19 || chip.weight * 0.4 + Math.log(0.04 / 0.96) > chip.weight * 0.19 + Math.log(0.05 / 0.95), 'the chips stand over every good wafer');
  t.match(out, /edge-chip: 10 wafers/);
  t.notOk(rim['edge-burr'], 'burr rim places, which found nothing here, are left out');
});

t.test('rim places standing off no more than a good wafer\'s are left out', async (t) => {
  const { rim } = run(t, 0.16);
  t.notOk(rim['edge-chip'], JSON.stringify(rim));
});

/** Scratches the map misses, at die places standing out by `count` cells; good wafers' die places stand out by 3 to 12. */
function dieLot(count: number): string {
  const rows: string[] = [];
  const map = (x: number, y: number, score: number, prob: number): Check => ({ xMm: x, yMm: y, score, prob, confidence: 0 });
  const quiet = (): Record<string, Check[]> => Object.fromEntries(CLASSES.map((c) => [c, [map(0, 0, 0.05, 0.02), map(50, 50, 0.04, 0.03)]]));
  for (let i = 0; i < 40; i++) {
    const c = quiet();
    c.scratch.push({ ...map(-40, 30, 0.03, 0.1), dieCount: 3 + (i % 10) }, { ...map(60, -20, 0.03, 0.05), dieCount: 3 });
    rows.push(JSON.stringify({ wafer: `G${i}`, truth: [], candidates: c }));
  }
  for (let i = 0; i < 10; i++) {
    const c = quiet();
    c.scratch.push({ ...map(20, 80, 0.02, 0.1), dieCount: count });
    rows.push(JSON.stringify({ wafer: `D${i}`, truth: [{ class: 'scratch', xMm: 20, yMm: 80, sizeMm: 4 }], candidates: c }));
  }
  return rows.join('\n') + '\n';
}

type Verifier = { dies: Record<string, { top: number; minCount: number; weight: number }>; mapWeights: Record<string, number> };

function runDies(t: Test, count: number): { v: Verifier; out: string } {
  const dir = tempDir(t);
  const model = join(dir, 'model');
  cpSync(join(REPO_ROOT, 'models/wafer-mm-14/model.json'), join(model, 'model.json'), { recursive: true });
  const m = JSON.parse(readFileSync(join(model, 'model.json'), 'utf8'));
  m.verifier.dies = { scratch: { top: 8, minCount: 0, weight: 0 } };
  writeFileSync(join(model, 'model.json'), JSON.stringify(m));
  writeFileSync(join(dir, 'checks.jsonl'), dieLot(count));
  const out = execFileSync('/usr/bin/python3', [join(REPO_ROOT, 'models/tools/map_weights.py'), '--checks', join(dir, 'checks.jsonl'), '--model', model], { encoding: 'utf8' });
  return { v: JSON.parse(readFileSync(join(model, 'model.json'), 'utf8')).verifier, out };
}

t.test('die places where scratches stand out more than any good wafer\'s place are kept, weighed by the cells standing out', async (t) => {
  const { v, out } = runDies(t, 20);
  const s = v.dies.scratch;
  t.ok(s, 'scratch die places kept');
  // the judge's confidence: the scratches' over the good wafers' highest die place
  const w = v.mapWeights.scratch ?? 0;
  const conf = (score: number, n: number): number => Math.log(0.1 / 0.9) + w * Math.log(score / (1 - score)) + s.weight * n;
  t.ok(conf(0.02, 20) > conf(0.03, 12) || s.minCount > 12, JSON.stringify({ ...s, mapWeight: w }));
  t.match(out, /scratch: 10 wafers/);
  t.match(out, /with dies places/);
});

t.test('die places standing out no more than a good wafer\'s are left out', async (t) => {
  const { v } = runDies(t, 5);
  t.notOk(v.dies.scratch, JSON.stringify(v.dies));
});
