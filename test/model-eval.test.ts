import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { exportDataset } from '../src/dataset/export.js';
import { recordSynthetic } from '../src/sim/record.js';
import { CLI, REPO_ROOT, SMALL_STATION, tempDir } from './helpers.js';

/** `model eval` with the shipped model on a small fused lot, as captured and with a modality hidden. */
t.test('model eval scores every class, and with --hide only the classes that do not need the hidden modality', async (t) => {
  const dir = tempDir(t);
  await recordSynthetic({ count: 8, out: join(dir, 'lot'), format: 'tiff', rateHz: 15, workers: 2, line: { seed: 77, defectRate: 0.6, station: SMALL_STATION } });
  await exportDataset({ lot: join(dir, 'lot'), out: join(dir, 'test-0'), stationDir: `${REPO_ROOT}calibration/reference`, grid: { size: 256, fieldMm: 320, roiRadiusMm: 158 }, workers: 2 });
  const evaluate = (extra: string[]) => {
    const out = join(dir, `eval${extra.join('')}.json`);
    const r = spawnSync(process.execPath, [CLI, 'model', 'eval', '--data', join(dir, 'test-*'), '--out', out, ...extra], { encoding: 'utf8' });
    t.equal(r.status, 0, r.stderr);
    return { stdout: r.stdout, json: JSON.parse(readFileSync(out, 'utf8')) as { hide: string | null; wafers: number; classes: Record<string, { auroc: number; positives: number }> } };
  };
  const all = evaluate([]);
  t.equal(all.json.wafers, 8);
  t.equal(all.json.hide, null);
  t.same(Object.keys(all.json.classes), ['edge-burr', 'edge-chip', 'scratch', 'particle', 'stain', 'crack', 'void', 'hotspot']);
  const noXray = evaluate(['--hide', 'xray']);
  t.equal(noXray.json.hide, 'xray');
  t.same(Object.keys(noXray.json.classes), ['edge-burr', 'edge-chip', 'scratch', 'particle', 'stain', 'crack', 'hotspot'], 'void needs X-ray: not checked without it');
  t.match(noXray.stdout, /without xray \(not checked: void\)/);
  for (const [c, x] of Object.entries(noXray.json.classes)) t.equal(x.positives, all.json.classes[c].positives, `${c}: same wafers`);
  const noVisible = evaluate(['--hide', 'visible']);
  t.same(Object.keys(noVisible.json.classes), ['crack', 'void', 'hotspot']);
  const r = spawnSync(process.execPath, [CLI, 'model', 'eval', '--data', join(dir, 'test-*'), '--hide', 'ultraviolet'], { encoding: 'utf8' });
  t.not(r.status, 0);
  t.match(r.stderr, /ultraviolet.*(visible|choices)/);
});
