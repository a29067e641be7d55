import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { manifestSchema } from '../src/model/manifest.js';
import { REPO_ROOT, tempDir } from './helpers.js';

/**
 * models/tools/rim_sizes.py on a calibration lot's checks: the defects a rim run sized give the fit of
 * true size on arc; those the verifier sized, or that were found by no check, do not count.
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
      { xMm: 0, yMm: 150, score: 0.5, prob: 0.9, confidence: 0.95, sizeMm: arc, rimMm: -0.5, rimArcMm: arc, sizedByRim: true },
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
  const out = execFileSync('/usr/bin/python3', [join(REPO_ROOT, 'models/tools/rim_sizes.py'), '--checks', join(dir, 'checks.jsonl'), '--model', model], { encoding: 'utf8' });
  const m = JSON.parse(readFileSync(join(model, 'model.json'), 'utf8'));
  const fit = m.verifier.rimSizeFits['edge-chip'];
  t.ok(Math.abs(fit.slope - 1) < 0.01, `slope ${fit.slope}`);
  t.ok(Math.abs(fit.offset - 0.2) < 0.03, `offset ${fit.offset}`);
  t.ok(Math.abs(fit.spread - 0.1) < 0.02, `spread ${fit.spread}`);
  t.notOk(m.verifier.rimSizeFits['edge-burr'], 'no burr sized by the rim: no fit');
  t.match(out, /edge-burr: 0 defects sized by the rim/);
  t.ok(manifestSchema.safeParse(m).success, 'the manifest it writes is valid');
});
