import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Fuser } from '../src/fusion/fuse.js';
import type { FusedWafer } from '../src/fusion/result.js';
import { Inspector } from '../src/inspection/inspector.js';
import { prepareSpecs } from '../src/inspection/setup.js';
import { DEFAULT_MODEL, loadModel } from '../src/model/load.js';
import { SyntheticLine } from '../src/sim/line.js';
import type { Recipe } from '../src/specs/recipe.js';
import { forModel, readThresholds } from '../src/specs/thresholds.js';
import { loadStation } from '../src/station/load.js';
import { REPO_ROOT } from './helpers.js';

/**
 * Specs written in words the model never saw (models/specs/heldout.tsv, kept out of the training
 * corpus) are read as the right kind, and judge wafers as the same spec asked with the class's
 * canonical words does (same limits and zones, only the query differs).
 */
const GRID = { size: 256, fieldMm: 320, roiRadiusMm: 158 };
const heldout = readFileSync(join(REPO_ROOT, 'models/specs/heldout.tsv'), 'utf8')
  .split('\n')
  .filter((l) => l.includes('\t') && !l.startsWith('#'))
  .map((l) => l.split('\t') as [string, string]);

t.test(`${heldout.length} unseen phrasings read as their kind and give the canonical verdicts`, async (t) => {
  t.ok(heldout.length >= 40);
  const corpus = new Set(readFileSync(join(REPO_ROOT, 'models/specs/corpus.tsv'), 'utf8').split('\n').map((l) => l.split('\t')[1]?.toLowerCase()));
  for (const [, text] of heldout) t.notOk(corpus.has(text.toLowerCase()), `"${text}" is not in the training corpus`);
  const model = await loadModel(DEFAULT_MODEL, GRID);
  t.teardown(() => model.close());
  const specs: Recipe['specs'] = heldout.flatMap(([cls, text], i) => [
    { id: `p${i}`, text },
    { id: `c${i}`, text, kind: cls },
  ]);
  const station = join(REPO_ROOT, 'calibration/reference');
  const thresholds = forModel(await readThresholds(join(station, 'thresholds.yaml')), model.id, 'thresholds.yaml');
  const prepared = await prepareSpecs({ specs }, model, thresholds);
  const read = (i: number): string | undefined => prepared.specs.find((s) => s.id === `p${i}`)?.kind;
  const misread = heldout.filter(([cls], i) => read(i) !== undefined && read(i) !== cls);
  const rejected = heldout.filter((_, i) => read(i) === undefined);
  const list = (rows: string[][]): string => rows.map(([c, x]) => `${c}: "${x}"`).join('; ') || 'none';
  // the aim is at most 5% not read as their kind; the shipped model reads 4 of 48 as another kind and rejects 1 as too unsure
  // (README, "Measured with wafer-mm-9"). A misread spec silently checks for the wrong thing, a rejected one is refused with
  // its nearest kinds, so misreads are held apart; the bounds hold the model where it is and catch a regression
  t.ok(misread.length <= heldout.length * 0.1, `read as another kind: ${list(misread)}`);
  t.ok(misread.length + rejected.length <= heldout.length * 0.125, `not read as their kind: ${misread.length + rejected.length}; rejected as unsure: ${list(rejected)}`);
  const inspector = new Inspector(model, prepared.specs);
  const fuser = new Fuser(await loadStation(station), GRID);
  const line = new SyntheticLine({ seed: 777, defectRate: 0.7, poolSize: 0 });
  let pairs = 0;
  let agree = 0;
  for (let i = 0; i < 24; i++) {
    const w = line.renderIndex(i);
    const fused: FusedWafer = { wafer: `w${i}`, seq: i, atMs: 0, arrivedAt: Date.now(), modalities: { visible: 'ok', infrared: 'ok', xray: 'ok' }, problems: [], tensor: fuser.fuse(w.frames), timings: { decodeMs: 0, fuseMs: 0, placesMs: 0 } };
    const { record } = await inspector.inspect(fused);
    const violated = new Set(record.findings.map((f) => f.spec));
    heldout.forEach((_, k) => {
      if (!prepared.specs.some((s) => s.id === `p${k}`)) return;
      pairs++;
      if (violated.has(`p${k}`) === violated.has(`c${k}`)) agree++;
    });
  }
  // a phrasing read as its kind is asked with the kind's query, so only misread phrasings can disagree
  t.ok(agree / pairs >= 0.98, `verdicts agree on ${agree} of ${pairs} (phrasing, wafer) pairs (${((agree / pairs) * 100).toFixed(1)}%)`);
});
