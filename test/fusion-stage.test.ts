import t from 'tap';
import { MODALITIES } from '../src/common/modality.js';
import { DIE_PLACES } from '../src/fusion/die-places.js';
import { FusionStage } from '../src/fusion/stage.js';
import { rimPlaces } from '../src/model/rim.js';
import { SyntheticCapture } from '../src/capture/synthetic.js';
import { REPO_ROOT, tempDir } from './helpers.js';

t.test('a station that cannot load is an error at start, naming the file', async (t) => {
  const stage = new FusionStage({ stationDir: tempDir(t), grid: { size: 64, fieldMm: 320 }, workers: 2 });
  t.teardown(() => stage.close());
  await t.rejects(stage.ready(), { message: /station calibration .*station\.yaml: not found/ });
});

t.test('the reference station fuses synthetic wafers in worker threads, tensors handed back for reuse', async (t) => {
  const stage = new FusionStage({ stationDir: `${REPO_ROOT}calibration/reference`, grid: { size: 128, fieldMm: 320, roiRadiusMm: 158 }, workers: 2 });
  t.teardown(() => stage.close());
  await stage.ready();
  const cap = new SyntheticCapture({ line: { seed: 4, poolSize: 2 }, rateHz: 0, count: 6 });
  const seen: number[] = [];
  for await (const set of cap.frames()) {
    const w = await stage.fuse(set);
    t.same(MODALITIES.map((m) => w.modalities[m]), ['ok', 'ok', 'ok']);
    t.equal(w.tensor?.length, 8 * 128 * 128);
    seen.push(w.tensor![64 * 128 + 64]);
    stage.recycle(w.tensor);
    t.equal(w.tensor!.length, 0, 'a recycled tensor is moved, not shared');
  }
  t.ok(seen.every((v) => v > 0 && v < 1), 'centre cells hold wafer colour');
});

t.test('a kept visible frame comes with its rim traced: an edge chip or burr stands off the circle where the truth has it', async (t) => {
  const stage = new FusionStage({ stationDir: `${REPO_ROOT}calibration/reference`, grid: { size: 64, fieldMm: 320 }, workers: 2, keepVisible: true });
  t.teardown(() => stage.close());
  await stage.ready();
  const cap = new SyntheticCapture({ line: { seed: 21, poolSize: 2, defectRate: 1, maxDefects: 1 }, rateHz: 0, count: 40 });
  let rims = 0;
  for await (const set of cap.frames()) {
    const w = await stage.fuse(set);
    const d = w.truth?.find((x) => (x.class === 'edge-chip' || x.class === 'edge-burr') && x.sizeMm >= 1);
    if (!d) continue;
    rims++;
    const rim = w.visible!.rim;
    t.equal(rim.radiusMm, 150, "the station's wafer radius");
    const places = rimPlaces(rim, { side: d.class === 'edge-chip' ? -1 : 1, top: 2, minMm: 0.15 });
    const near = places.find((p) => Math.hypot(p.xMm - d.xMm, p.yMm - d.yMm) < d.sizeMm / 2 + 1.5);
    t.ok(near, `${d.class} of ${d.sizeMm.toFixed(1)} mm at (${d.xMm.toFixed(1)}, ${d.yMm.toFixed(1)}): a place on it among ${JSON.stringify(places.map((p) => [p.xMm.toFixed(1), p.yMm.toFixed(1)]))}`);
  }
  t.ok(rims >= 3, `${rims} wafers with an edge chip or burr`);
});

t.test('a kept visible frame comes with the places where it differs from its dies: a scratch is among them', async (t) => {
  const stage = new FusionStage({ stationDir: `${REPO_ROOT}calibration/reference`, grid: { size: 64, fieldMm: 320 }, workers: 2, keepVisible: true });
  t.teardown(() => stage.close());
  await stage.ready();
  const cap = new SyntheticCapture({ line: { seed: 23, poolSize: 2, defectRate: 1, maxDefects: 1 }, rateHz: 0, count: 40 });
  let scratches = 0;
  let found = 0;
  for await (const set of cap.frames()) {
    const w = await stage.fuse(set);
    const dies = w.visible!.dies!;
    t.ok(dies.length > 0 && dies.length <= DIE_PLACES, `${w.wafer}: ${dies.length} places`);
    t.ok(dies.every((p, i) => Math.hypot(p.xMm, p.yMm) <= 150 && (i === 0 || p.count <= dies[i - 1].count)), 'on the wafer, most standing out first');
    t.ok(w.timings.placesMs > 0, 'timed');
    const d = w.truth?.find((x) => x.class === 'scratch');
    if (!d) continue;
    scratches++;
    if (dies.some((p) => Math.hypot(p.xMm - d.xMm, p.yMm - d.yMm) <= d.sizeMm / 2 + 2.5)) found++;
    else t.comment(`scratch of ${d.sizeMm.toFixed(1)} mm at (${d.xMm.toFixed(1)}, ${d.yMm.toFixed(1)}): no place on it among ${JSON.stringify(dies.map((p) => [Math.round(p.xMm), Math.round(p.yMm), p.count]))}`);
  }
  t.ok(scratches >= 3, `${scratches} wafers with a scratch`);
  t.ok(found >= scratches - 1, `a place on ${found} of ${scratches} scratches`);
});

t.test('the dies are compared only while the model in use checks die places', async (t) => {
  const stage = new FusionStage({ stationDir: `${REPO_ROOT}calibration/reference`, grid: { size: 64, fieldMm: 320 }, workers: 1, keepVisible: true, comparesDies: false });
  t.teardown(() => stage.close());
  await stage.ready();
  const cap = new SyntheticCapture({ line: { seed: 24, poolSize: 2, defectRate: 0 }, rateHz: 0, count: 2 });
  const sets = [];
  for await (const set of cap.frames()) sets.push(set);
  const without = await stage.fuse(sets[0]);
  t.equal(without.visible!.dies, null, 'not compared: null, not an empty list');
  t.ok(without.visible!.rim.off.length > 0, 'the rim is traced all the same');
  stage.comparesDies = true;
  const compared = await stage.fuse(sets[1]);
  t.ok(compared.visible!.dies!.length > 0, 'compared once a model that checks them is in use');
});
