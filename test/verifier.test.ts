import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import t from 'tap';
import type { ScoredWafer } from '../src/inspection/calibrate.js';
import { ReplayCapture } from '../src/capture/replay.js';
import { FusionStage } from '../src/fusion/stage.js';
import { forEachScored } from '../src/inspection/scored.js';
import { loadModel } from '../src/model/load.js';
import { verifiedClasses } from '../src/model/manifest.js';
import { forModel, readThresholds } from '../src/specs/thresholds.js';
import { LotWriter } from '../src/lot/write.js';
import type { DefectRequest } from '../src/sim/defects.js';
import { SyntheticLine } from '../src/sim/line.js';
import { CLI, REPO_ROOT, tempDir } from './helpers.js';

const GRID = { size: 256, fieldMm: 320, roiRadiusMm: 158 };
const rim = (deg: number, r = 150): { xMm: number; yMm: number } => ({ xMm: r * Math.cos((deg * Math.PI) / 180), yMm: r * Math.sin((deg * Math.PI) / 180) });

// per shipped model, the classes its judge weighs crops for (verifier.mapWeights, chosen on the calibration lot C14)
const SHIPPED: Array<[string, string[], string]> = [
  ['wafer-mm-10', ['edge-burr', 'scratch', 'particle'], 'edge chips are left to the map: its crops found none more on the calibration lot'],
  ['wafer-mm-11', ['edge-burr', 'edge-chip', 'scratch', 'particle'], 'every class the verifier knows is judged on crops and map together'],
  ['wafer-mm-12', ['edge-burr', 'edge-chip', 'scratch', 'particle'], "wafer-mm-11's judge, looking around its particle places"],
  ['wafer-mm-13', ['edge-burr', 'edge-chip', 'scratch', 'particle'], "a verifier trained further on hard negatives, with wafer-mm-12's look around"],
  ['wafer-mm-14', ['edge-burr', 'edge-chip', 'scratch', 'particle'], "wafer-mm-13's verifier, checking the rim's bites too"],
  ['wafer-mm-15', ['edge-burr', 'edge-chip', 'scratch', 'particle'], "wafer-mm-14's judge, checking where the frame differs from its dies for scratches too"],
];

t.test('the shipped verifiers: on a freshly rendered lot, the surest check of each planted defect\'s class is on the defect and over the station\'s threshold, which good wafers stay under', async (t) => {
  const dir = tempDir(t);
  const lot = join(dir, 'lot');
  const line = new SyntheticLine({ seed: 7373, poolSize: 0 });
  const plans: Array<[string, DefectRequest[]]> = [
    ['good-1', []],
    ['good-2', []],
    ['particle', [{ class: 'particle', xMm: 40, yMm: -60, sizeMm: 2 }]],
    ['scratch', [{ class: 'scratch', xMm: -40, yMm: 30, sizeMm: 20 }]],
    ['edge-chip', [{ class: 'edge-chip', ...rim(35), sizeMm: 3 }]],
    // a chip the map hardly shows: found by a model that traces the rim (verifier.rim)
    ['edge-chip-small', [{ class: 'edge-chip', ...rim(200), sizeMm: 1.1 }]],
    // sizes where T15 found all or nearly all (README, "Measured with wafer-mm-10"): a 4.5 mm burr here is missed by wafer-mm-9 and -10 both
    ['edge-burr', [{ class: 'edge-burr', ...rim(150), sizeMm: 8 }]],
    // short scratches, which a model that compares the frame with its dies (verifier.dies) checks where they are
    ['scratch-short', [{ class: 'scratch', xMm: 95, yMm: -85, sizeMm: 6 }]],
    ['scratch-short-2', [{ class: 'scratch', xMm: 20, yMm: -35, sizeMm: 4 }]],
  ];
  const writer = await LotWriter.create(lot, { lot: 'VER', rateHz: 15 }, 'tiff');
  for (const [i, [id, defects]] of plans.entries()) {
    const w = line.render(line.plan(i, defects));
    await writer.write({ wafer: id, atMs: i * 66.7, frames: w.frames, truth: w.truth });
  }
  await writer.close();

  for (const [id, expected, why] of SHIPPED) await t.test(id, async (t) => {
    const model = await loadModel(join(REPO_ROOT, 'models', id), GRID);
    t.teardown(() => model.close());
    const v = model.manifest.verifier!;
    t.same(v.classes, ['edge-burr', 'edge-chip', 'scratch', 'particle']);
    const readings = await model.text.read(model.manifest.classes.map((c) => model.manifest.canonical[c]));
    const queries = model.image.queries(
      readings.map((r) => r.embedding),
      model.manifest.classes,
    );
    t.ok(model.image.needsVisible(queries));
    const wafers: ScoredWafer[] = [];
    const r = await forEachScored(lot, model, queries, { stationDir: join(REPO_ROOT, 'calibration/reference'), grid: GRID }, (w) => wafers.push(w));
    t.same(r, { scored: plans.length, unusable: 0 });
    const byId = new Map(wafers.map((w) => [w.wafer, w]));
    const judged = verifiedClasses(model.manifest);
    t.same(judged, expected, why);
    const path = join(REPO_ROOT, 'calibration/reference/thresholds.yaml');
    const thresholds = forModel(await readThresholds(path), model.id, path);
    for (const [j, c] of model.manifest.classes.entries()) {
      const checked = wafers.map((w) => w.checks![j]);
      if (!judged.includes(c)) {
        t.ok(checked.every((x) => x === null), `${c} is judged on the map: no checks`);
        continue;
      }
      const most = v.perClass + (v.rim[c]?.top ?? 0) + (v.dies[c]?.top ?? 0);
      t.ok(checked.every((x) => x !== null && x.length > 0 && x.length <= most), `${c}: between 1 and ${most} checks on every wafer`);
      const goodHigh = Math.max(...['good-1', 'good-2'].map((g) => Math.max(...byId.get(g)!.checks![j]!.map((x) => x.confidence))));
      const w = byId.get(c)!;
      const d = w.truth![0];
      const best = [...w.checks![j]!].sort((a, b) => b.confidence - a.confidence)[0];
      t.ok(Math.hypot(best.xMm - d.xMm, best.yMm - d.yMm) <= d.sizeMm / 2 + 2.5, `${c}: the surest check is on the defect (${JSON.stringify(best)}, truth ${JSON.stringify(d)})`);
      const threshold = thresholds.kinds[c].threshold;
      t.ok(best.confidence > threshold && threshold > goodHigh, `${c}: confidence ${best.confidence.toFixed(4)} over the station's threshold ${threshold}, which the good wafers' highest ${goodHigh.toFixed(4)} is under`);
      t.ok(best.sizeMm > 0, `${c}: sized (${best.sizeMm.toFixed(2)} mm against ${d.sizeMm})`);
      if (c === 'edge-chip' && v.rim[c]) {
        const small = byId.get('edge-chip-small')!;
        const s = small.truth![0];
        const found = small.checks![j]!.filter((x) => x.rimMm !== undefined && Math.hypot(x.xMm - s.xMm, x.yMm - s.yMm) <= 2);
        t.equal(found.length, 1, `the ${s.sizeMm} mm chip is a rim place (${JSON.stringify(small.checks![j])})`);
        t.ok(found[0] && found[0].rimMm! < -v.rim[c].minMm && found[0].confidence > threshold, `its confidence ${found[0]?.confidence.toFixed(4)} is over the threshold ${threshold}`);
      }
      if (c === 'scratch' && v.dies[c]) {
        for (const k of ['scratch-short', 'scratch-short-2']) {
          const short = byId.get(k)!;
          const s = short.truth![0];
          const near = short.checks![j]!.filter((x) => Math.hypot(x.xMm - s.xMm, x.yMm - s.yMm) <= s.sizeMm / 2 + 2.5);
          const what = `the ${s.sizeMm} mm scratch at (${s.xMm.toFixed(0)}, ${s.yMm.toFixed(0)}): ${JSON.stringify(near)}`;
          t.ok(near.some((x) => x.dieCount !== undefined && x.dieCount > 0), `${what}: a die place on it`);
          if (k === 'scratch-short') t.ok(near.some((x) => x.dieCount !== undefined && x.confidence > threshold), `${what}: its die place over the threshold ${threshold}`);
          t.ok(near.some((x) => x.sizedBy === 'dies' && Math.abs(x.sizeMm - s.sizeMm) <= 1.5), `${what}: sized by the die place's extent`);
        }
        // a frame fused while a model that checks no die places was in use has none: the model's worker compares it
        const stage = new FusionStage({ stationDir: join(REPO_ROOT, 'calibration/reference'), grid: GRID, workers: 1, keepVisible: true, comparesDies: false });
        try {
          await stage.ready();
          for await (const set of new ReplayCapture({ lot, pace: 'max' }).frames()) {
            if (set.wafer !== 'scratch-short') continue;
            const fused = await stage.fuse(set);
            t.equal(fused.visible!.dies, null, 'fused without its dies compared');
            const s = fused.truth![0];
            const scored = await model.image.score(fused.tensor!, queries, fused.visible!);
            const near = scored.checks[j]!.filter((x) => x.dieCount !== undefined && Math.hypot(x.xMm - s.xMm, x.yMm - s.yMm) <= s.sizeMm / 2 + 2.5);
            t.ok(near.length > 0, `checked at a die place on the scratch all the same: ${JSON.stringify(near)}`);
          }
        } finally {
          await stage.close();
        }
      }
    }
  });
});

t.test('the verifier\'s training pipeline: candidates, a few steps, export, and the folder loads in onnxruntime-node', async (t) => {
  const dir = tempDir(t);
  const line = new SyntheticLine({ seed: 7474, poolSize: 0 });
  const record = async (name: string, plans: DefectRequest[][]): Promise<string> => {
    const lot = join(dir, name);
    const writer = await LotWriter.create(lot, { lot: name.toUpperCase(), rateHz: 15 }, 'tiff');
    for (const [i, defects] of plans.entries()) {
      const w = line.render(line.plan(i, defects));
      await writer.write({ wafer: `${name}-${i}`, atMs: i * 66.7, frames: w.frames, truth: w.truth });
    }
    await writer.close();
    const r = spawnSync(process.execPath, [CLI, 'model', 'candidates', lot, '--out', `${lot}.cand.jsonl`], { encoding: 'utf8' });
    t.equal(r.status, 0, r.stderr);
    return lot;
  };
  const train = await record('train', [[{ class: 'particle', sizeMm: 3 }], [{ class: 'scratch' }], [{ class: 'edge-chip' }], [{ class: 'edge-burr' }]]);
  const good = await record('good', [[], []]);
  const out = join(dir, 'wafer-mm-smoke');
  const cache = join(dir, 'crops.npz');
  const verifierPy = (steps: number): SpawnSyncReturns<string> =>
    spawnSync(
      '/usr/bin/python3',
      ['models/tools/verifier.py', '--train', train, '--good', good, '--good-train', '2', '--held-out', '1', '--base', 'models/wafer-mm-9', '--id', 'wafer-mm-smoke', '--out', out, '--steps', String(steps), '--threads', '1',
        // trained further from a shipped verifier, with the good lot again as hard negatives, mined before step 0 and at step 2
        '--from', 'models/wafer-mm-12', '--lr', '3e-4',
        '--hard', good, '--hard-candidates', 'cand', '--hard-share', '4', '--small-share', '2', '--mine-every', '2', '--crops', cache],
      { cwd: REPO_ROOT, encoding: 'utf8' },
    );
  // the crops are cut once and kept: a second training reads them, not the lots' frames
  t.equal(verifierPy(1).status, 0);
  const cut = readFileSync(cache);
  const py = verifierPy(3);
  t.equal(py.status, 0, py.stderr);
  t.match(py.stdout, `crops from ${cache}`);
  t.same(readFileSync(cache), cut, 'the cached crops are read, not written again');
  // a cache cut with other options is refused with both, not trained on
  const stale = spawnSync('/usr/bin/python3', ['models/tools/verifier.py', '--train', train, '--good', good, '--good-train', '1', '--base', 'models/wafer-mm-9', '--id', 'x', '--out', join(dir, 'x'), '--steps', '1', '--crops', cache], { cwd: REPO_ROOT, encoding: 'utf8' });
  t.not(stale.status, 0);
  t.match(stale.stderr, /crops cut from other lots or options .*"goodTrain": 2.*"goodTrain": 1/);
  t.match(py.stdout, /wrote .*verifier\.onnx and model\.json/);
  t.match(py.stdout, /step 0: mined \d+ hard negatives/);
  t.match(py.stdout, /step 2: mined \d+ hard negatives/);
  const model = await loadModel(out, GRID);
  t.teardown(() => model.close());
  t.equal(model.manifest.id, 'wafer-mm-smoke');
  t.equal(model.manifest.verifier?.cropPx, 48);
  t.match(JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')).verifier.training, {
    hard: ['good'],
    hardShare: 4,
    smallShare: 2,
    init: { path: relative(out, join(REPO_ROOT, 'models/wafer-mm-11/verifier.onnx')), sha256: 'b5d874c1cc697cca65e72250fd14d5a7c357f367bbdae387663818d1b829d2d0' },
  });
  // wafer-mm-12's judge is the new folder's start
  t.same(model.manifest.verifier?.mapWeights, { 'edge-burr': 1, 'edge-chip': 3, scratch: 2, particle: 1 });
  t.same(model.manifest.verifier?.around, { particle: { top: 2, stepMm: 3 } });
  t.equal(model.manifest.files.image.path, join(relative(out, join(REPO_ROOT, 'models/wafer-mm-9')), 'image-int8.onnx'), "the base model's files are named where they are, not copied");
});
