import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { ResultRecord } from '../src/inspection/result.js';
import { LotWriter } from '../src/lot/write.js';
import { SyntheticLine } from '../src/sim/line.js';
import type { DefectRequest } from '../src/sim/defects.js';
import { CLI, tempDir } from './helpers.js';

/**
 * A lot with planted defects through `wafer-inspect replay`: verdicts, limits, zones, missing and
 * corrupt frames, scoring and KLARF, with the shipped model and the reference station's thresholds.
 */
t.test('replay a lot with planted defects', async (t) => {
  const dir = tempDir(t);
  const lot = join(dir, 'lot');
  const line = new SyntheticLine({ seed: 4242, poolSize: 0 });
  const plans: Array<[string, DefectRequest[]]> = [
    ['good-1', []],
    ['good-2', []],
    ['crack-10', [{ class: 'crack', xMm: -30, yMm: 40, sizeMm: 10 }]],
    ['crack-40', [{ class: 'crack', xMm: 20, yMm: -30, sizeMm: 40 }]],
    ['void-6', [{ class: 'void', xMm: 60, yMm: 50, sizeMm: 6 }]],
    ['hot-15', [{ class: 'hotspot', xMm: -60, yMm: -50, sizeMm: 15 }]],
    ['hot-edge', [{ class: 'hotspot', xMm: 0, yMm: 125, sizeMm: 15 }]],
    ['no-infrared', []],
    ['bad-visible', []],
  ];
  const writer = await LotWriter.create(lot, { lot: 'PLANTED', rateHz: 15 }, 'tiff');
  for (const [i, [id, defects]] of plans.entries()) {
    const w = line.render(line.plan(i, defects));
    await writer.write({ wafer: id, atMs: i * 66.7, frames: { ...w.frames, ...(id === 'no-infrared' ? { infrared: null } : {}) }, truth: w.truth });
  }
  await writer.close();
  writeFileSync(join(lot, 'bad-visible/visible.tiff'), readFileSync(join(lot, 'bad-visible/visible.tiff')).subarray(0, 5000));
  const recipe = join(dir, 'recipe.yaml');
  writeFileSync(
    recipe,
    ['specs:', '  - id: long-crack', '    text: cracks longer than 20 mm', '  - id: voids', '    text: any void', '  - id: centre-hot', '    text: hot spots within 100 mm of the centre', '  - id: big-stain', '    text: stains larger than 40 mm'].join('\n') + '\n',
  );
  const out = join(dir, 'results.jsonl');
  const r = spawnSync(process.execPath, [CLI, 'replay', lot, '--recipe', recipe, '--out', out, '--score', '--klarf', join(dir, 'lot.klarf')], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  const records = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ResultRecord);
  t.same(records.map((x) => x.wafer), plans.map((p) => p[0]), 'one record per wafer, in line order');
  const by = Object.fromEntries(records.map((x) => [x.wafer, x]));
  t.equal(by['good-1'].verdict, 'pass');
  t.equal(by['good-2'].verdict, 'pass');
  t.equal(by['crack-10'].verdict, 'pass', 'a 10 mm crack does not break "longer than 20 mm"');
  t.equal(by['crack-40'].verdict, 'fail');
  t.match(by['crack-40'].findings, [{ spec: 'long-crack', class: 'crack' }]);
  const f = by['crack-40'].findings[0];
  t.ok(Math.hypot(f.xMm - 20, f.yMm + 30) < 15 && f.sizeMm > 20, `crack found at (${f?.xMm}, ${f?.yMm}), ${f?.sizeMm} mm`);
  t.equal(by['void-6'].verdict, 'fail');
  t.equal(by['hot-15'].verdict, 'fail');
  t.equal(by['hot-edge'].verdict, 'pass', 'a hot spot outside the spec\'s zone is not a violation');
  t.equal(by['no-infrared'].verdict, 'not-inspected');
  t.match(by['no-infrared'].reason, /infrared: frame missing.*centre-hot \(hotspot\) needs infrared, which is missing/);
  t.same(by['no-infrared'].modalities, { visible: 'ok', infrared: 'missing', xray: 'ok' });
  // a corrupt frame is never passed, and says so; the specs it can still check find nothing on this good
  // wafer (models/README.md, "Missing modalities")
  t.equal(by['bad-visible'].verdict, 'not-inspected');
  t.same(by['bad-visible'].findings, []);
  t.match(by['bad-visible'].reason, /visible: .*truncated.*cannot check spec big-stain \(stain\) needs visible, which is corrupt/);
  t.match(r.stdout, /verdicts: 4 pass, 3 fail, 2 not inspected/);
  t.equal(records.filter((x) => x.verdict !== 'pass').length, 5, 'the three defective wafers and the two with a missing or corrupt frame');
  t.match(r.stdout, /wafer recall 100\.00%/);
  const klarf = readFileSync(join(dir, 'lot.klarf'), 'utf8');
  t.match(klarf, /LotID "PLANTED";/);
  t.equal(klarf.match(/^WaferID /gm)?.length, plans.length);
});

t.test('a recipe the appliance cannot read is refused before any wafer', async (t) => {
  const dir = tempDir(t);
  const recipe = join(dir, 'recipe.yaml');
  writeFileSync(recipe, 'specs:\n  - id: lunch\n    text: what is for lunch today\n');
  const r = spawnSync(process.execPath, [CLI, 'specs', 'explain', recipe], { encoding: 'utf8' });
  t.equal(r.status, 1);
  t.match(r.stdout, /lunch: "what is for lunch today"\n\s+REJECTED: .*nearest: /);
  t.match(r.stdout, /thresholds from .*calibration\/reference\/thresholds\.yaml: 5363 good wafers, target 0\.30% false rejects, expected on new good wafers at most 0\.2983%\n/, 'what the station\'s thresholds promise');
  writeFileSync(recipe, 'specs:\n  - id: a\n    text: voids\n  - id: a\n    text: cracks\n');
  const dup = spawnSync(process.execPath, [CLI, 'specs', 'explain', recipe], { encoding: 'utf8' });
  t.equal(dup.status, 1);
  t.match(dup.stderr, /specs\[1\]\.id: spec id "a" is used twice/);
});
