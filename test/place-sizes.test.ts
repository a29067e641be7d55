import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { manifestSchema } from '../src/model/manifest.js';
import { REPO_ROOT, tempDir } from './helpers.js';

/**
 * models/tools/place_sizes.py on a calibration lot's checks: the defects a rim run sized give the fit
 * of true size on arc, those a die place sized the fit on its extent; those the verifier sized, or
 * that were found by no check, do not count.
 */
t.test('true size fitted on the rim arc, from the surest check of each defect that a rim run sized', async (t) => {
  const dir = tempDir(t);
  const model = join(dir, 'model');
  cpSync(join(REPO_ROOT, 'models/wafer-mm-14/model.json'), join(model, 'model.json'), { recursive: true });
  const rows: string[] = [];
  for (let i = 0; i < 20; i++) {
    const size = 1 + i * 0.5;
    // arc reads the size less 0.2 mm, alternately 0.1 mm over and under: true = arc + 0.2, spread 0.1
    const arc = size - 0.2 + (i % 2 ? 0.1 : -0.1);
    const chip = [
      { xMm: 0, yMm: 150, score: 0.5, prob: 0.9, confidence: 0.95, sizeMm: arc, rimMm: -0.5, rimArcMm: arc, sizedBy: 'rim' },
      // a less sure check on the same defect, sized by the verifier far off: not the one counted
      { xMm: 1, yMm: 149, score: 0.5, prob: 0.5, confidence: 0.6, sizeMm: 30 },
    ];
    // a burr the verifier sized: no pair
    const burr = [{ xMm: -150, yMm: 0, score: 0.5, prob: 0.9, confidence: 0.9, sizeMm: 12 }];
    rows.push(JSON.stringify({
      wafer: `D${i}`,
      truth: [{ class: 'edge-chip', xMm: 0, yMm: 150, sizeMm: size }, { class: 'edge-burr', xMm: -150, yMm: 0, sizeMm: 5 }],
      candidates: { 'edge-chip': chip, 'edge-burr': burr },
    }));
  }
  writeFileSync(join(dir, 'checks.jsonl'), rows.join('\n') + '\n');
  const out = execFileSync('/usr/bin/python3', [join(REPO_ROOT, 'models/tools/place_sizes.py'), '--checks', join(dir, 'checks.jsonl'), '--model', model], { encoding: 'utf8' });
  const m = JSON.parse(readFileSync(join(model, 'model.json'), 'utf8'));
  const fit = m.verifier.rimSizeFits['edge-chip'];
  t.ok(Math.abs(fit.slope - 1) < 0.01, `slope ${fit.slope}`);
  t.ok(Math.abs(fit.offset - 0.2) < 0.03, `offset ${fit.offset}`);
  t.ok(Math.abs(fit.spread - 0.1) < 0.02, `spread ${fit.spread}`);
  t.notOk(m.verifier.rimSizeFits['edge-burr'], 'no burr sized by the rim: no fit');
  t.match(out, /edge-burr: 0 defects sized by the rim/);
  t.ok(manifestSchema.safeParse(m).success, 'the manifest it writes is valid');
});

t.test('true size fitted on the die place\'s extent, and only the places asked for', async (t) => {
  const dir = tempDir(t);
  const model = join(dir, 'model');
  cpSync(join(REPO_ROOT, 'models/wafer-mm-15/model.json'), join(model, 'model.json'), { recursive: true });
  const rim = JSON.parse(readFileSync(join(model, 'model.json'), 'utf8')).verifier.rimSizeFits;
  const rows: string[] = [];
  for (let i = 0; i < 30; i++) {
    const size = 2 + i;
    // the extent reads 1.1 x the size, alternately 0.5 mm over and under: true = extent / 1.1
    const extent = 1.1 * size + (i % 2 ? 0.5 : -0.5);
    const scratch = [{ xMm: 30, yMm: 20, score: 0.2, prob: 0.95, confidence: 0.9, sizeMm: extent, dieCount: 8, dieExtentMm: extent, sizedBy: 'dies' }];
    rows.push(JSON.stringify({ wafer: `S${i}`, truth: [{ class: 'scratch', xMm: 30, yMm: 20, sizeMm: size }], candidates: { scratch } }));
  }
  writeFileSync(join(dir, 'checks.jsonl'), rows.join('\n') + '\n');
  execFileSync('/usr/bin/python3', [join(REPO_ROOT, 'models/tools/place_sizes.py'), '--checks', join(dir, 'checks.jsonl'), '--model', model, '--by', 'dies'], { encoding: 'utf8' });
  const m = JSON.parse(readFileSync(join(model, 'model.json'), 'utf8'));
  const fit = m.verifier.dieSizeFits.scratch;
  t.ok(Math.abs(fit.slope - 1 / 1.1) < 0.01, `slope ${fit.slope}`);
  t.ok(Math.abs(fit.offset) < 0.2, `offset ${fit.offset}`);
  t.ok(fit.spread > 0.3 && fit.spread < 0.6, `spread ${fit.spread}`);
  t.same(m.verifier.rimSizeFits, rim, 'the rim fits, not asked for, are kept');
  t.ok(manifestSchema.safeParse(m).success, 'the manifest it writes is valid');
});

t.test('with --growing-spread the spread grows with the size where the measure\'s error does', async (t) => {
  const dir = tempDir(t);
  const model = join(dir, 'model');
  cpSync(join(REPO_ROOT, 'models/wafer-mm-15/model.json'), join(model, 'model.json'), { recursive: true });
  const rows: string[] = [];
  for (let i = 0; i < 40; i++) {
    const size = 2 + i;
    // a tenth of the size out, alternately over and under: the residuals' size is 0.1 x the size
    const extent = size * (i % 2 ? 1.1 : 0.9);
    const scratch = [{ xMm: 30, yMm: 20, score: 0.2, prob: 0.95, confidence: 0.9, sizeMm: extent, dieCount: 8, dieExtentMm: extent, sizedBy: 'dies' }];
    rows.push(JSON.stringify({ wafer: `S${i}`, truth: [{ class: 'scratch', xMm: 30, yMm: 20, sizeMm: size }], candidates: { scratch } }));
  }
  writeFileSync(join(dir, 'checks.jsonl'), rows.join('\n') + '\n');
  const args = [join(REPO_ROOT, 'models/tools/place_sizes.py'), '--checks', join(dir, 'checks.jsonl'), '--model', model, '--by', 'dies'];
  execFileSync('/usr/bin/python3', args, { encoding: 'utf8' });
  const flat = JSON.parse(readFileSync(join(model, 'model.json'), 'utf8')).verifier.dieSizeFits.scratch;
  t.notOk('spreadPerMm' in flat, 'by default one spread for all sizes');
  execFileSync('/usr/bin/python3', [...args, '--growing-spread'], { encoding: 'utf8' });
  const m = JSON.parse(readFileSync(join(model, 'model.json'), 'utf8'));
  const fit = m.verifier.dieSizeFits.scratch;
  t.ok(fit.spreadPerMm > 0.07 && fit.spreadPerMm < 0.16, `per mm ${fit.spreadPerMm}, about a tenth`);
  t.ok(fit.spread < 0.6, `spread at 0 mm ${fit.spread}`);
  t.ok(fit.spread + fit.spreadPerMm * 3 < flat.spread / 2, `at 3 mm ${(fit.spread + fit.spreadPerMm * 3).toFixed(2)} mm, against ${flat.spread} for all sizes`);
  t.ok(fit.spread + fit.spreadPerMm * 40 > flat.spread, `at 40 mm ${(fit.spread + fit.spreadPerMm * 40).toFixed(2)} mm: more`);
  t.ok(manifestSchema.safeParse(m).success, 'the manifest it writes is valid');
});
