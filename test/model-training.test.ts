import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { DEFECT_CLASSES } from '../src/common/defects.js';
import { exportDataset } from '../src/dataset/export.js';
import { loadModel } from '../src/model/load.js';
import { datasetPrefixes, readDataset } from '../src/model/dataset-reader.js';
import { recordSynthetic } from '../src/sim/record.js';
import { REPO_ROOT, SMALL_STATION, tempDir } from './helpers.js';

/**
 * The training pipeline end to end on a tiny lot, so it cannot rot: record, dataset, a few training
 * steps, export (float and INT8), and the exported model loaded and run by the appliance's runtime.
 */
const PYTHON = '/usr/bin/python3';

t.test('record -> dataset -> train -> export -> load in onnxruntime-node', async (t) => {
  const dir = tempDir(t);
  const grid = { size: 64, fieldMm: 320, roiRadiusMm: 158 };
  await recordSynthetic({ count: 6, out: join(dir, 'lot'), format: 'tiff', rateHz: 15, workers: 2, line: { seed: 3, defectRate: 0.8, station: SMALL_STATION } });
  await exportDataset({ lot: join(dir, 'lot'), out: join(dir, 'train-0'), stationDir: `${REPO_ROOT}calibration/reference`, grid, workers: 2 });
  const tools = join(REPO_ROOT, 'models/tools');
  const run = (script: string, args: string[]): string =>
    execFileSync(PYTHON, [join(tools, script), ...args], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONWARNINGS: 'ignore' } });
  const trained = run('train.py', ['--train', join(dir, 'train-*'), '--val', join(dir, 'train-*'), '--steps', '3', '--val-every', '3', '--batch', '4', '--crop', '32', '--threads', '1', '--out', join(dir, 'model.pt')]);
  t.match(trained, /val AUROC step 3/);
  run('export.py', ['--checkpoint', join(dir, 'model.pt'), '--calibrate', join(dir, 'train-*'), '--calibrate-wafers', '2', '--val', join(dir, 'train-*'), '--id', 'smoke', '--out', join(dir, 'smoke')]);
  const model = await loadModel(join(dir, 'smoke'), grid);
  t.teardown(() => model.close());
  t.match(model.id, /^smoke@[0-9a-f]{12}$/);
  const [reading] = await model.text.read(['any void larger than 1.5 mm']);
  t.equal(reading.embedding.length, model.manifest.embedding);
  t.ok(Math.abs(Object.values(reading.kinds).reduce((a, b) => a + b) - 1) < 1e-4, 'kind probabilities sum to 1');
  const queries = model.image.queries([reading.embedding]);
  for await (const w of readDataset(await datasetPrefixes(join(dir, 'train-*')))) {
    const { scores } = await model.image.score(w.tensor, queries);
    t.equal(scores.length, (64 / model.manifest.outputStride) ** 2, 'one score per output cell');
    t.ok(scores.every((s) => s >= 0 && s <= 1));
    break;
  }

  // where the model's errors come from: every class reported, and every defect of a class either missed or found
  const errors = run('errors.py', ['--model', join(dir, 'smoke'), '--data', join(dir, 'train-*'), '--threads', '1']);
  const index = JSON.parse(readFileSync(join(dir, 'train-0.json'), 'utf8')) as { wafers: Array<{ truth: Array<{ class: string }> }> };
  let reported = 0;
  for (const c of DEFECT_CLASSES) {
    const defects = index.wafers.flatMap((w) => w.truth).filter((d) => d.class === c).length;
    const block = errors.split('\n').slice(errors.split('\n').findIndex((l) => l.startsWith(`${c}: `)));
    t.ok(block.length > 0 && block[0].startsWith(`${c}: `), `${c} reported`);
    if (!/threshold/.test(block[0])) continue;
    reported++;
    const missed = Number(/^ {2}missed (\d+)/m.exec(block.join('\n'))![1]);
    const found = Number(/^ {2}found (\d+)/m.exec(block.join('\n'))![1]);
    t.equal(missed + found, defects, `${c}: ${missed} missed and ${found} found of ${defects} defects`);
  }
  t.ok(reported > 0, `${reported} classes with positives and negatives in the lot`);

  // how much of the die pattern the die residual takes away on real rendered wafers: well under the pattern's own spread
  const probe = run('die_probe.py', ['--data', join(dir, 'train-*'), '--threads', '1']);
  for (const axis of ['x', 'y']) {
    const m = new RegExp(`^along ${axis}: residual / pattern spread, median ([0-9.]+)`, 'm').exec(probe);
    t.ok(m && Number(m[1]) < 0.6, `along ${axis}: the residual keeps ${m?.[1]} of the pattern (median over the lot)`);
  }
});
