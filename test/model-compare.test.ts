import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { copyModel, manifestId, thresholdsWithCopy } from './fixtures/service/models.js';
import { MODEL_DIR, modelMissing, THRESHOLDS } from './fixtures/service/setup.js';
import { CLI, tempDir } from './helpers.js';

const missing = modelMissing();
if (missing) t.fail(`model compare needs a model: ${missing}`);

interface Side {
  id: string;
  variant: string;
  manifestSha256: string;
  thresholds: string | null;
  noThresholds?: string;
  wafers: number;
  modelMsPerWafer: number | null;
  wafersPerS: number | null;
  recall: Record<string, number | null>;
  score: { labelled: number; good: number; falseRejects: number; perClass: Record<string, { positives: number; found: number }> } | null;
}

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [CLI, ...args], { maxBuffer: 1 << 24 }, (e, stdout, stderr) => resolve({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, stdout, stderr })),
  );
}

const last = (stdout: string): { A: Side; B: Side } => JSON.parse(stdout.trim().split('\n').at(-1)!) as { A: Side; B: Side };
const row = (stdout: string, name: string): string => stdout.split('\n').find((l) => l.startsWith(name + ' ')) ?? '';

t.test('model compare: two models over one recorded lot, side by side, each with its own thresholds', { skip: missing ?? false }, async (t) => {
  const dir = tempDir(t, 'wi-compare-');
  const lot = join(dir, 'lot');
  const rec = await run(['record', '--synthetic', '30', '--seed', '4242', '--defect-rate', '0.5', lot]);
  t.equal(rec.code, 0, rec.stderr);
  const truth = readFileSync(join(lot, 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { truth: Array<{ class: string }> }).truth);
  const good = truth.filter((x) => x.length === 0).length;

  t.test('the shipped model, fp32 against int8', async (t) => {
    const out = join(dir, 'fp32-int8.json');
    const r = await run(['model', 'compare', MODEL_DIR, MODEL_DIR, '--lot', lot, '--variant-b', 'int8', '--thresholds', THRESHOLDS, '--out', out]);
    t.equal(r.code, 0, r.stderr);
    const { A, B } = last(r.stdout);
    t.same(JSON.parse(readFileSync(out, 'utf8')), last(r.stdout), '--out holds the same figures');
    t.match(A, { variant: 'fp32', thresholds: 'calibrated', wafers: 30 });
    t.match(B, { variant: 'int8', thresholds: 'calibrated', wafers: 30 });
    t.not(A.id, B.id, 'each variant is its own model id (its own image file and thresholds)');
    t.equal(A.manifestSha256, B.manifestSha256, 'one manifest');
    t.match(r.stdout, `A: ${A.id} (fp32)`);
    t.match(r.stdout, `manifest sha256 ${A.manifestSha256}`);
    for (const s of [A, B]) {
      t.equal(s.score!.labelled, 30, 'every wafer scored against its truth');
      t.equal(s.score!.good, good, 'good wafers as the lot says');
      t.ok(s.modelMsPerWafer! > 0 && s.wafersPerS! > 0, 'speed measured');
    }
    // positives depend only on the lot and the recipe, never on the model
    t.same(
      Object.fromEntries(Object.entries(A.score!.perClass).map(([c, x]) => [c, x.positives])),
      Object.fromEntries(Object.entries(B.score!.perClass).map(([c, x]) => [c, x.positives])),
    );
    const withPositives = Object.keys(A.score!.perClass);
    t.ok(withPositives.length >= 3, `a 30-wafer lot at 50% defects has several classes (${withPositives.join(', ')})`);
    for (const c of withPositives) t.match(row(r.stdout, `recall ${c}`), /^recall \S+\s+\d+\.\d% \(\d+\/\d+\)\s+\d+\.\d% \(\d+\/\d+\)$/, `recall ${c}: both columns`);
    for (const name of ['false rejects (good)', 'localisation, median', 'model ms/wafer', 'wafers/s, end to end']) t.ok(row(r.stdout, name), `${name} row`);
  });

  t.test('a renamed copy that knows one more class, without thresholds: said so, never judged with the other model\'s', async (t) => {
    const id = manifestId();
    const copy = copyModel(join(dir, 'copy'), (m) => {
      m.id = `${id}-x`;
      (m as unknown as { classes: string[] }).classes.push('bump');
      (m as unknown as { canonical: Record<string, string> }).canonical.bump = 'bump';
    });
    const r = await run(['model', 'compare', MODEL_DIR, copy, '--lot', lot, '--thresholds', THRESHOLDS]);
    t.equal(r.code, 1, 'exit 1: the comparison is incomplete');
    t.match(r.stdout, new RegExp(`B: NO CALIBRATED THRESHOLDS: .*has no thresholds for model ${id}-x@`));
    const { A, B } = last(r.stdout);
    t.match(B, { thresholds: null, score: null, noThresholds: /has no thresholds/ });
    t.equal(A.thresholds, 'calibrated');
    t.match(row(r.stdout, 'recall bump'), /^recall bump\s+—\s+n\/a$/, 'a class A does not know is "—" for A');
    t.match(row(r.stdout, 'false rejects (good)'), /\(\d+\/\d+\)\s+n\/a$/);

    const calibrated = thresholdsWithCopy(join(dir, 'thresholds.yaml'), `${id}-x`);
    const again = await run(['model', 'compare', MODEL_DIR, copy, '--lot', lot, '--thresholds', calibrated]);
    t.equal(again.code, 0, again.stderr);
    const both = last(again.stdout);
    t.same(both.B.score!.perClass, both.A.score!.perClass, 'the same weights with the same thresholds find the same defects');
    t.equal(both.B.score!.falseRejects, both.A.score!.falseRejects);
    t.match(row(again.stdout, 'recall bump'), /^recall bump\s+—\s+no spec$/, 'known to B, but no spec of the recipe asks for it');
  });
});
