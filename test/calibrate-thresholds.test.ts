import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { recordSynthetic } from '../src/sim/record.js';
import { lookup, readThresholds } from '../src/specs/thresholds.js';
import { CLI, MAP_MODEL, REPO_ROOT, SMALL_STATION, tempDir } from './helpers.js';

/**
 * `calibrate thresholds` with the shipped model on a small recorded lot of good wafers: every class,
 * a recipe's zoned spec, and the same again with each modality left out (models/README.md, "Missing
 * modalities"), for the classes that do not need it.
 */
t.test('calibrate thresholds: every class, a zoned spec, and each again without each modality', async (t) => {
  const dir = tempDir(t);
  const lot = join(dir, 'lot');
  await recordSynthetic({ count: 10, out: lot, format: 'tiff', rateHz: 15, workers: 2, line: { seed: 31, defectRate: 0, station: SMALL_STATION } });
  const recipe = join(dir, 'recipe.yaml');
  writeFileSync(recipe, ['specs:', '  - id: centre-void', '    text: any void within 60 mm of the centre', '  - id: burr', '    text: edge burr'].join('\n') + '\n');
  const out = join(dir, 'thresholds.yaml');
  const r = spawnSync(process.execPath, [CLI, 'calibrate', 'thresholds', '--model', MAP_MODEL, '--good', lot, '--recipe', recipe, '--out', out, '--station', `${REPO_ROOT}calibration/reference`], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /without xray: edge-burr \d\.\d{4}, edge-chip/);
  t.match(r.stdout, /too few good wafers for the target: each threshold is the highest good score; 2666 good wafers would meet it/, '8 classes at 0.3%: 8 / (N + 1) <= 0.003');
  const file = await readThresholds(out);
  const [id] = Object.keys(file.models);
  t.match(id, /^wafer-mm-9@[0-9a-f]{12}$/);
  const m = file.models[id];
  t.equal(m.goodWafers, 10);
  t.equal(m.expectedFalseRejectRate, 0.727273, 'eight classes at their highest good score: 8 / 11 of new good wafers at most');
  const classes = ['edge-burr', 'edge-chip', 'scratch', 'particle', 'stain', 'crack', 'void', 'hotspot'];
  t.same(Object.keys(m.kinds), classes);
  t.same(m.specs.map((s) => s.text), ['any void within 60 mm of the centre'], 'the zoned spec has its own threshold');
  t.same(Object.keys(m.without.visible!.kinds), ['crack', 'void', 'hotspot'], 'without visible: the classes that do not need it');
  t.same(Object.keys(m.without.infrared!.kinds), ['edge-burr', 'edge-chip', 'scratch', 'particle', 'stain', 'void']);
  t.same(Object.keys(m.without.xray!.kinds), ['edge-burr', 'edge-chip', 'scratch', 'particle', 'stain', 'crack', 'hotspot']);
  t.same(m.without.visible!.specs.map((s) => s.text), ['any void within 60 mm of the centre']);
  t.same(m.without.xray!.specs, [], 'a void spec is not checked without X-ray');
  const moved = Object.entries(m.without.xray!.kinds).filter(([c, x]) => Math.abs(x.threshold - m.kinds[c].threshold) > 1e-3);
  t.ok(moved.length > 0, 'the model reads a wafer without X-ray differently: some thresholds move');

  // what a run judges a spec with
  const burr = lookup(m, 'edge burr', 'edge-burr')!;
  t.equal(burr.threshold, m.kinds['edge-burr'].threshold);
  t.same(burr.without, { infrared: m.without.infrared!.kinds['edge-burr'].threshold, xray: m.without.xray!.kinds['edge-burr'].threshold });
  const zoned = lookup(m, 'any void within 60 mm of the centre', 'void')!;
  t.equal(zoned.from, 'spec');
  t.same(zoned.without, { visible: m.without.visible!.specs[0].threshold, infrared: m.without.infrared!.specs[0].threshold });

  // a second model into the same file: the first keeps its thresholds and the command that made them
  t.match(m.producedBy, new RegExp(`^wafer-inspect calibrate thresholds --model \\S*wafer-mm-9 --variant fp32 --good ${lot} --target-frr 0.003 --recipe ${recipe}$`));
  const r2 = spawnSync(process.execPath, [CLI, 'calibrate', 'thresholds', '--model', join(REPO_ROOT, 'models/wafer-mm-2'), '--variant', 'int8', '--good', lot, '--out', out, '--station', `${REPO_ROOT}calibration/reference`], { encoding: 'utf8' });
  t.equal(r2.status, 0, r2.stderr);
  const both = await readThresholds(out);
  t.same(both.models[id], m, "the first model's entry is left as it was");
  const [, second] = Object.keys(both.models);
  t.match(second, /^wafer-mm-2@[0-9a-f]{12}$/);
  t.match(both.models[second].producedBy, /--model \S*wafer-mm-2 --variant int8 --good /);
});

t.test('calibrate thresholds: --good with a pattern takes every recorded lot it matches, and names a source that matches none', async (t) => {
  const dir = tempDir(t);
  await recordSynthetic({ count: 4, out: join(dir, 'lot-a'), format: 'tiff', rateHz: 15, workers: 2, line: { seed: 32, defectRate: 0, station: SMALL_STATION } });
  await recordSynthetic({ count: 3, out: join(dir, 'lot-b'), format: 'tiff', rateHz: 15, workers: 2, line: { seed: 33, defectRate: 0, station: SMALL_STATION } });
  await recordSynthetic({ count: 2, out: join(dir, 'other'), format: 'tiff', rateHz: 15, workers: 2, line: { seed: 34, defectRate: 0, station: SMALL_STATION } });
  const out = join(dir, 'thresholds.yaml');
  const run = (good: string) =>
    spawnSync(process.execPath, [CLI, 'calibrate', 'thresholds', '--model', MAP_MODEL, '--good', good, '--out', out, '--station', `${REPO_ROOT}calibration/reference`], { encoding: 'utf8' });
  const r = run(join(dir, 'lot-*'));
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^wafer-mm-9@[0-9a-f]{12}: 7 good wafers;/, 'both lots, not the folder the pattern does not match');
  const [m] = Object.values((await readThresholds(out)).models);
  t.equal(m.goodWafers, 7);
  const none = run(join(dir, 'cal-*'));
  t.not(none.status, 0);
  t.match(none.stderr, `${join(dir, 'cal-*')}: no recorded lot (a folder holding manifest.jsonl, or a pattern such as data/lot-* matching such folders) and no dataset chunks`);
});
