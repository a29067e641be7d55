import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { REPO_ROOT, tempDir } from './helpers.js';

/** Every (positive, negative) pair counted: 1 when the positive scores higher, a half for a tie. */
function bruteAuroc(pos: number[], neg: number[]): number {
  let s = 0;
  for (const p of pos) for (const n of neg) s += p > n ? 1 : p === n ? 0.5 : 0;
  return s / (pos.length * neg.length);
}

const logit = (p: number): number => Math.log(p / (1 - p));

t.test("check_auroc.py: per class, the wafer-level AUROC of the judged confidence, crop and map weighed, the crop and the map, as every pair counted gives it", async (t) => {
  const dir = tempDir(t);
  let seed = 12345;
  const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  // scores on a coarse grid so that ties happen; some wafers without any check of a class
  const q = (v: number): number => Math.min(0.95, Math.max(0.05, Math.round(v * 20) / 20));
  const rows = Array.from({ length: 300 }, (_, i) => {
    const burr = rand() < 0.3;
    const chip = rand() < 0.2;
    const checks = (has: boolean) =>
      rand() < 0.1
        ? []
        : Array.from({ length: 1 + Math.floor(rand() * 4) }, () => {
            const score = q(rand() * 0.7 + (has ? 0.25 : 0));
            const prob = q(rand() * 0.8 + (has ? 0.2 : 0));
            // the judge's own confidence: a rim or die place adds evidence of its own, which crop and map do not show
            const extra = rand() < 0.3 ? rand() * (has ? 3 : 1) : 0;
            return { xMm: 0, yMm: 0, score, prob, confidence: 1 / (1 + Math.exp(-(logit(prob) + 2 * logit(score) + extra))) };
          });
    return {
      wafer: `W${i}`,
      truth: [...(burr ? [{ class: 'edge-burr', xMm: 0, yMm: 0, sizeMm: 3 }] : []), ...(chip ? [{ class: 'edge-chip', xMm: 0, yMm: 0, sizeMm: 2 }] : [])],
      candidates: { 'edge-burr': checks(burr), 'edge-chip': checks(chip) },
    };
  });
  const checksPath = join(dir, 'lot.checks.jsonl');
  writeFileSync(checksPath, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  writeFileSync(join(dir, 'model.json'), JSON.stringify({ verifier: { classes: ['edge-burr', 'edge-chip'], mapWeights: { 'edge-burr': 2 } } }));
  const r = spawnSync('/usr/bin/python3', ['models/tools/check_auroc.py', '--checks', checksPath, '--model', dir], { cwd: REPO_ROOT, encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout.trim().split('\n').pop()!).auroc;

  for (const [cls, w] of [['edge-burr', 2], ['edge-chip', null]] as const) {
    const score = (how: string) => (row: (typeof rows)[number]): number => {
      const cs = row.candidates[cls];
      if (cs.length === 0) return -Infinity;
      return Math.max(...cs.map((c) => (how === 'map' ? c.score : how === 'crop' ? c.prob : how === 'judged' ? c.confidence : logit(c.prob) + w! * logit(c.score))));
    };
    const has = (row: (typeof rows)[number]): boolean => row.truth.some((d) => d.class === cls);
    const hows = w === null ? ['crop', 'map'] : ['judged', 'crop+map', 'crop', 'map'];
    t.equal(got[cls].wafers, rows.filter(has).length, `${cls}: wafers with the class`);
    if (w === null) t.equal(got[cls].judged, 'map', `${cls}: no map weight, judged on the map`);
    else t.type(got[cls].judged, 'number', `${cls}: judged on crops and map`);
    for (const how of hows) {
      const s = score(how);
      const want = bruteAuroc(rows.filter(has).map(s), rows.filter((x) => !has(x)).map(s));
      t.ok(Math.abs(got[cls][how] - want) < 6e-5, `${cls} ${how}: ${got[cls][how]} against ${want.toFixed(5)} from every pair`);
    }
  }
});
