import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { DEFECT_CLASSES } from '../src/common/defects.js';
import type { Modality } from '../src/common/modality.js';
import { exportDataset } from '../src/dataset/export.js';
import { DEFAULT_MODEL, loadModel } from '../src/model/load.js';
import { datasetPrefixes, readDataset } from '../src/model/dataset-reader.js';
import { recordSynthetic } from '../src/sim/record.js';
import { NEEDED_MODALITIES } from '../src/specs/read.js';
import { REPO_ROOT, SMALL_STATION, tempDir } from './helpers.js';

/**
 * Adapting the shipped model to a plant, end to end on a tiny lot so it cannot rot: a lot of the
 * plant look with one wafer's X-ray missing and a class the shipped model does not know in the
 * truth, a few adapter steps, merge, export (float and INT8), and the new folder loaded and run by
 * the appliance's runtime. Also that the shipped model rebuilt from its ONNX files and exported
 * again without training scores exactly as the shipped files do.
 */
// training and export on 2 shared cores: well within a minute alone, several under a loaded test run
t.setTimeout(900_000);

const PYTHON = '/usr/bin/python3';
const GRID = { size: 256, fieldMm: 320, roiRadiusMm: 158 };

t.test('plant lot -> LoRA fine-tune -> merge -> export -> load in onnxruntime-node', async (t) => {
  const dir = tempDir(t);
  const lot = join(dir, 'lot');
  await recordSynthetic({ count: 4, out: lot, format: 'tiff', rateHz: 15, workers: 2, line: { seed: 5, defectRate: 1, station: SMALL_STATION, look: 'plant' } });
  t.equal(JSON.parse(readFileSync(join(lot, 'lot.json'), 'utf8')).synthetic.look, 'plant', 'the lot says which look rendered it');
  const lines = readFileSync(join(lot, 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { frames: Record<string, string | null>; truth: unknown[] });
  lines[0].frames.xray = null;
  lines[1].truth.push({ class: 'pit', xMm: 20, yMm: -30, sizeMm: 4 });
  writeFileSync(join(lot, 'manifest.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  await exportDataset({ lot, out: join(dir, 'plant-0'), stationDir: `${REPO_ROOT}calibration/reference`, grid: GRID, workers: 2 });

  const run = (args: string[]): string =>
    execFileSync(PYTHON, [join(REPO_ROOT, 'models/tools/finetune.py'), ...args], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONWARNINGS: 'ignore' } });
  const data = ['--train', join(dir, 'plant-*'), '--batch', '2', '--crop', '32', '--text-batch', '4', '--threads', '1', '--calibrate-wafers', '1', '--kind-phrasings', '20'];
  const log = run([
    ...data, '--val', join(dir, 'plant-*'), '--steps', '2', '--val-every', '2', '--rank', '2', '--kind', 'pit=pit;surface pit;pitting',
    '--rim', '--stage1-steps', '2', '--stage1-layers', 'entry.rim.*,entry.ring.*,entry.die.*,fine.*,backbone.own.*', '--ring-lr', '0.01', '--hard', '1', '--hard-every', '1', '--id', 'plant-smoke', '--out', join(dir, 'adapted'),
  ]);
  t.match(log, /trainable parameters of \d+/);
  t.match(log, /val AUROC stage1 step 2: /, 'stage 1 trains the rim term, the ring, die and fine-grid convolutions and the last convolutions');
  t.match(log, /val AUROC lora step 2: .* pit /, 'the new class is trained and validated');
  t.match(log, /stage1 step 2: \d+ hard negatives mined/, 'hard negatives mined again at each --hard-every step');

  const manifest = JSON.parse(readFileSync(join(dir, 'adapted/model.json'), 'utf8'));
  t.equal(manifest.base.id, 'wafer-mm-9', 'the shipped model is the default base');
  t.same(manifest.adaptation.stage1, { steps: 2, layers: 'entry.rim.*,entry.ring.*,entry.die.*,fine.*,backbone.own.*', parameters: manifest.adaptation.stage1.parameters, rim: true, ring: false, die: false, fine: false });
  t.equal(manifest.adaptation.ringLr, 0.01);
  t.same(manifest.adaptation.ringLrLayers, ['ring', 'die', 'fine-grid'], "the base's ring, die and fine-grid layers train at --ring-lr");
  t.equal(manifest.adaptation.hard, 1);
  t.ok(manifest.adaptation.stage1.parameters > 0);
  t.same(manifest.classes.slice(-1), ['pit']);
  t.same(manifest.kinds.slice(-2), ['pit', 'none']);
  t.equal(manifest.canonical.pit, 'pit');
  t.equal(manifest.adaptation.rank, 2);
  t.ok(manifest.adaptation.trainableParameters < manifest.adaptation.fullParameters / 5, 'adapters train a small share of the model');
  t.same(manifest.adaptation.train.modalities.xray, { ok: 3, missing: 1 });

  const model = await loadModel(join(dir, 'adapted'), GRID);
  t.teardown(() => model.close());
  t.match(model.id, /^plant-smoke@[0-9a-f]{12}$/);
  const [pit, burr] = await model.text.read(['surface pits larger than 2 mm', 'edge burr']);
  t.equal(Object.keys(pit.kinds).length, 10, 'kind probabilities over 9 classes and none');
  t.ok(Math.abs(Object.values(pit.kinds).reduce((a, b) => a + b) - 1) < 1e-4, 'kind probabilities sum to 1');
  const queries = model.image.queries([pit.embedding, burr.embedding]);
  let n = 0;
  for await (const w of readDataset(await datasetPrefixes(join(dir, 'plant-*')))) {
    const { scores } = await model.image.score(w.tensor, queries);
    t.equal(scores.length, 2 * (GRID.size / model.manifest.outputStride) ** 2, 'one score per output cell and spec, X-ray missing or not');
    t.ok(scores.every((s) => s >= 0 && s <= 1));
    if (++n === 2) break;
  }

  // the shipped model compares its rim with itself already (models/README.md): a second ring is refused, naming why
  t.throws(() => run([...data, '--ring', '--steps', '0', '--kind', 'pit=pit', '--id', 'twice', '--out', join(dir, 'twice')]), /--ring: .* already has the ring convolutions/);
  // the shipped model compares each die with its neighbours too: a second die input is refused, and the adapted model's die
  // convolution, trained on from the base's, is read back from its ONNX file (the last columns of the visible entry)
  t.throws(() => run([...data, '--die', '--steps', '0', '--kind', 'pit=pit', '--id', 'twice', '--out', join(dir, 'twice')]), /--die: .* already reads the die residual/);
  // and it scores on 2.5 mm cells already (models/README.md, wafer-mm-8)
  t.throws(() => run([...data, '--fine', '--steps', '0', '--kind', 'pit=pit', '--id', 'twice', '--out', join(dir, 'twice')]), /--fine: .* already scores on the finer grid/);
  const die = execFileSync(PYTHON, ['-c', `import sys; sys.path.insert(0, 'models/tools')
from base import load_model
image, _, _ = load_model(sys.argv[1])
print(float(image.entry.die.weight.abs().sum()) if image.entry.die is not None else -1)`, join(dir, 'adapted')], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, PYTHONWARNINGS: 'ignore' } });
  t.ok(Number(die) > 0, `the die convolution read back (sum of |weights| ${die.trim()})`);

  // no steps: the adapters and the rim term start at zero, so the merged model is the shipped one, rebuilt from its ONNX files
  // (ring, die and fine-grid convolutions included)
  run([...data, '--steps', '0', '--rim', '--kind', 'pit=pit', '--id', 'rebuilt', '--out', join(dir, 'rebuilt')]);
  const rebuilt = await loadModel(join(dir, 'rebuilt'), GRID);
  const shipped = await loadModel(DEFAULT_MODEL, GRID);
  t.teardown(() => Promise.all([rebuilt.close(), shipped.close()]));
  const spec = ['particle larger than 1 mm'];
  const [a] = await shipped.text.read(spec);
  const [b] = await rebuilt.text.read(spec);
  t.ok(a.embedding.every((v, i) => Math.abs(v - b.embedding[i]) < 1e-5), 'same text embedding');
  for await (const w of readDataset(await datasetPrefixes(join(dir, 'plant-*')))) {
    // score() hands the tensor's buffer to the worker and back: the second model gets it from the first's reply
    const x = await shipped.image.score(w.tensor, shipped.image.queries([a.embedding]));
    const y = await rebuilt.image.score(x.tensor, rebuilt.image.queries([b.embedding]));
    t.ok(x.scores.every((v, i) => Math.abs(v - y.scores[i]) < 1e-4), 'same scores as the shipped image model');
    break;
  }

  // a folder's image files exported again in place (models/tools/reexport.py): its manifest names the new files, which
  // the runtime checks on load, and the model scores as before
  const again = join(dir, 'again');
  cpSync(join(dir, 'rebuilt'), again, { recursive: true });
  const before = JSON.parse(readFileSync(join(again, 'model.json'), 'utf8'));
  execFileSync(PYTHON, [join(REPO_ROOT, 'models/tools/reexport.py'), '--model', again, '--calibrate', join(dir, 'plant-*'), '--calibrate-wafers', '1', '--threads', '1'],
    { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, PYTHONWARNINGS: 'ignore' } });
  const after = JSON.parse(readFileSync(join(again, 'model.json'), 'utf8'));
  t.same({ ...after, files: null }, { ...before, files: null }, 'id, provenance and the rest of the manifest stay');
  t.same(after.files.text, before.files.text, 'the text model is not touched');
  const reexported = await loadModel(again, GRID);
  t.teardown(() => reexported.close());
  for await (const w of readDataset(await datasetPrefixes(join(dir, 'plant-*')))) {
    const x = await rebuilt.image.score(w.tensor, rebuilt.image.queries([b.embedding]));
    const y = await reexported.image.score(x.tensor, reexported.image.queries([b.embedding]));
    t.ok(x.scores.every((v, i) => Math.abs(v - y.scores[i]) < 1e-4), 'same scores after exporting again');
    break;
  }
});

t.test('a crop with a modality hidden loses that modality and the targets of the classes that need it', async (t) => {
  // every crop is hidden (p = 1); which modality is drawn, so several seeds see all three
  const script = `
import json, sys
import numpy as np
sys.path.insert(0, 'models/tools')
from data import CLASSES
from finetune import hide_modality
out = []
for seed in range(12):
    x = np.ones((15, 8, 8), np.float32)
    y = np.ones((len(CLASSES), 2, 2), np.float32)
    hx, hy = hide_modality(x, y, CLASSES, np.random.default_rng(seed), 1.0, ring=True, die=True)
    out.append({"zero": [c for c in range(15) if not hx[c].any()], "silent": [CLASSES[j] for j in range(len(CLASSES)) if not hy[j].any()],
                "untouched": bool(x.all() and y.all())})
print(json.dumps(out))
`;
  const runs = JSON.parse(execFileSync(PYTHON, ['-c', script], { cwd: REPO_ROOT, encoding: 'utf8' })) as Array<{ zero: number[]; silent: string[]; untouched: boolean }>;
  // channels: visible RGB + mask, infrared + mask, X-ray + mask, then the ring's visible RGB, infrared, X-ray, then the die residual's two
  const expected: Record<string, { zero: number[]; silent: string[] }> = {
    visible: { zero: [0, 1, 2, 3, 8, 9, 10, 13, 14], silent: ['edge-burr', 'edge-chip', 'scratch', 'particle', 'stain'] },
    infrared: { zero: [4, 5, 11], silent: ['crack', 'hotspot'] },
    xray: { zero: [6, 7, 12], silent: ['void'] },
  };
  // the training's NEEDS and the appliance's NEEDED_MODALITIES must say the same (contracts §3)
  for (const [m, e] of Object.entries(expected)) t.same(e.silent, DEFECT_CLASSES.filter((c) => NEEDED_MODALITIES[c].includes(m as Modality)), `${m}: as the appliance reads it`);
  const seen = new Set<string>();
  for (const r of runs) {
    const m = Object.keys(expected).find((k) => expected[k].zero[0] === r.zero[0]);
    t.ok(m, `one modality hidden: channels ${r.zero.join(',')}`);
    if (!m) continue;
    seen.add(m);
    t.same(r.zero, expected[m].zero, `${m}: its values, mask, ring and (visible) die channels are zero`);
    t.same(r.silent, expected[m].silent, `${m}: the classes that need it have no target`);
    t.ok(r.untouched, 'the caller\'s arrays are not changed');
  }
  t.equal(seen.size, 3, 'each modality is hidden by some seed');
});
