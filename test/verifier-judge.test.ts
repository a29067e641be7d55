import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { Modality } from '../src/common/modality.js';
import type { ModalityStatus, FramePixels } from '../src/fusion/result.js';
import { ThresholdCalibration } from '../src/inspection/calibrate.js';
import { judge, normalise, SAME_DEFECT_MM, type JudgedSpec } from '../src/inspection/judge.js';
import { explain } from '../src/inspection/setup.js';
import { cutCrops } from '../src/model/crops.js';
import type { Check } from '../src/model/image.js';
import { modelId } from '../src/model/load.js';
import { readManifest } from '../src/model/manifest.js';
import type { MapGeometry } from '../src/model/map.js';
import { REPO_ROOT, tempDir } from './helpers.js';

const G: MapGeometry = { size: 64, cellMm: 5, x0: -160, y0: 160 };
const OK: Record<Modality, ModalityStatus> = { visible: 'ok', infrared: 'ok', xray: 'ok' };

function spec(id: string, kind: string, extra: Partial<JudgedSpec> = {}): JudgedSpec {
  return { id, text: id, kind, confidence: 1, nearest: [], modalities: ['visible'], query: new Float32Array(32), threshold: 0.6, by: 'crops', ...extra };
}

/** the map a verified spec is not judged by, but which a scored wafer always has */
const MAP = new Float32Array(4 * 64 * 64);
const check = (xMm: number, yMm: number, confidence: number, sizeMm = 1): Check => ({ xMm, yMm, score: 0.05, prob: confidence, confidence, sizeMm });

t.test('crops: centred on the place\'s pixel, black outside the frame, each channel less its lower median', async (t) => {
  // 10 x 8 pixels, 0.5 mm each, wafer (0, 0) at column 5, row 4; y up, rows down
  const W = 10;
  const H = 8;
  const data = new Uint8Array(W * H * 3);
  for (let r = 0; r < H; r++) for (let k = 0; k < W; k++) data.set([10 * k, 10 * r, 100], (r * W + k) * 3);
  data.set([250, 250, 250], (4 * W + 5) * 3);
  const frame: FramePixels = { width: W, height: H, data, pxToMm: [[0.5, 0, -2.5], [0, -0.5, 2]] };
  const out = new Float32Array(2 * 3 * 16).fill(NaN);
  cutCrops(frame, [{ xMm: 0, yMm: 0 }, { xMm: -2.5, yMm: 2 }], { px: 4, mmPerPx: 0.5 }, out, 0);
  const px = (n: number, c: number, i: number, j: number): number => Math.round(out[n * 48 + c * 16 + i * 4 + j] * 255);
  // crop 0 covers columns 3..6 and rows 2..5; the bright pixel sits at (2, 2), the crop's centre
  t.equal(px(0, 0, 2, 2), 250 - 40, 'red: the centre pixel less the median of 30, 40, 50, 60 (each four times) and 250, the lower middle one');
  t.equal(px(0, 0, 0, 0), 30 - 40);
  t.equal(px(0, 1, 3, 0), 50 - 30, 'green runs with the row: rows 2..5, median 30');
  t.equal(px(0, 2, 1, 1), 0, 'blue is flat: median 100, nothing left');
  // crop 1 at pixel (0, 0): two rows and two columns fall outside, twelve of sixteen pixels
  t.equal(px(1, 0, 0, 0), 0, 'outside the frame is black');
  t.equal(px(1, 2, 3, 3), 100, 'blue: four inside at 100, twelve black outside: the median is black');
  t.notOk(out.some(Number.isNaN), 'every value written');
});

t.test('judge by crops: checks over the threshold are findings, one per defect, sized by the verifier\'s fit', async (t) => {
  const s = spec('P1', 'particle', { sizeFit: { slope: 1, offset: 0.5, spread: 0 } });
  const checks = [[check(10, 10, 0.9, 1.5), check(12, 11, 0.7, 1.2), check(-50, 0, 0.65, 2), check(80, 80, 0.55, 9)]];
  const j = judge([s], MAP, G, OK, [], checks);
  t.equal(j.verdict, 'fail');
  t.same(
    j.findings.map((f) => [f.xMm, f.yMm, f.sizeMm]),
    [
      [10, 10, 2],
      [-50, 0, 2.5],
    ],
    `the check ${Math.hypot(2, 1).toFixed(1)} mm from a surer one (under ${SAME_DEFECT_MM}) is the same defect; under the threshold is none`,
  );
  t.equal(j.findings[0].score, Math.round(normalise(0.9, 0.6) * 1000) / 1000, 'scores normalised with the threshold at 0.5');
  t.equal(judge([s], MAP, G, OK, [], [[check(10, 10, 0.59)]]).verdict, 'pass', 'all checks under the threshold: pass');
  const limited = judge([spec('P2', 'particle', { size: { mm: 3, inclusive: false, words: 'over 3 mm' } })], MAP, G, OK, [], [[check(0, 0, 0.9, 2), check(40, 0, 0.9, 4)]]);
  t.same(limited.findings.map((f) => f.xMm), [40], 'a size limit reads the verifier\'s size');
  const zoned = judge([spec('P3', 'particle', { zone: { minRadiusMm: 100, maxRadiusMm: 150, words: 'near the edge' } })], MAP, G, OK, [], [[check(0, 0, 0.9)]]);
  t.equal(zoned.verdict, 'pass', 'a check outside the zone is not a finding');
});

t.test('judge by crops: a finding on a rim run is sized by the rim\'s fit, the others by the verifier\'s', async (t) => {
  // the verifier's size of a burr is many mm out (spread 9): a 2 mm limit is within its margin
  const s = spec('B1', 'edge-burr', {
    size: { mm: 2, inclusive: false, words: 'longer than 2 mm' },
    sizeFit: { slope: 1, offset: 4.5, spread: 9 },
    placeSizeFits: { rim: { slope: 1, offset: 0.5, spread: 0.3 } },
  });
  const onRim = { ...check(150, 0, 0.9, 0.8), sizedBy: 'rim' as const };
  const j = judge([s], MAP, G, OK, [], [[onRim]]);
  t.equal(j.verdict, 'pass', `a 0.8 mm arc reads 1.3 mm, at most ${(1.3 + 1.645 * 0.3).toFixed(1)}: within the limit`);
  const long = judge([s], MAP, G, OK, [], [[{ ...onRim, sizeMm: 3 }]]);
  t.same(long.findings.map((f) => [f.sizeMm, f.sizeMaxMm]), [[3.5, 4]], 'a 3 mm arc breaks it, its largest size from the rim fit\'s spread');
  const off = judge([s], MAP, G, OK, [], [[check(150, 0, 0.9, 0.8)]]);
  t.equal(off.verdict, 'fail', 'the same size from the verifier is within its fit\'s margin of the limit: it breaks it');
  t.same(off.findings.map((f) => f.sizeMm), [5.3]);
  t.match(explain(s, 'class'), /on the rim: 1 x the arc it stands off \+ 0\.5 mm, give or take 0\.3 mm: passes only below 1\.5 mm; elsewhere: /);
});

t.test('judge by crops: a scratch found where it differs from its dies is sized by the dies\' fit', async (t) => {
  // the verifier's size of a scratch is centimetres out (spread 15): a 5 mm limit is within its margin
  const s = spec('S1', 'scratch', {
    size: { mm: 5, inclusive: false, words: 'longer than 5 mm' },
    sizeFit: { slope: 1, offset: 8, spread: 15 },
    placeSizeFits: { dies: { slope: 1, offset: -0.5, spread: 0.8 } },
  });
  const atDies = { ...check(40, 30, 0.9, 2.5), sizedBy: 'dies' as const };
  t.equal(judge([s], MAP, G, OK, [], [[atDies]]).verdict, 'pass', `a 2.5 mm extent reads 2 mm, at most ${(2 + 1.645 * 0.8).toFixed(1)}: within the limit`);
  const long = judge([s], MAP, G, OK, [], [[{ ...atDies, sizeMm: 9 }]]);
  t.same(long.findings.map((f) => [f.sizeMm, f.sizeMaxMm]), [[8.5, 9.8]], 'a 9 mm extent breaks it');
  t.equal(judge([s], MAP, G, OK, [], [[check(40, 30, 0.9, 2.5)]]).verdict, 'fail', 'sized by the verifier, the same scratch may be over the limit: it breaks it');
  t.match(explain(s, 'class'), /where it differs from its dies: 1 x the extent differing - 0\.5 mm, give or take 0\.8 mm: passes only below 3\.7 mm; elsewhere: /);
  // a spread that grows with the size: 0.2 mm and a tenth of it
  const growing = { ...s, placeSizeFits: { dies: { slope: 1, offset: -0.5, spread: 0.2, spreadPerMm: 0.1 } } };
  const short = judge([growing], MAP, G, OK, [], [[{ ...atDies, sizeMm: 3.5 }]]);
  t.equal(short.verdict, 'pass', `a 3.5 mm extent reads 3 mm, at most ${(3 + 1.645 * (0.2 + 0.3)).toFixed(2)}`);
  t.equal(judge([growing], MAP, G, OK, [], [[{ ...atDies, sizeMm: 4.3 }]]).verdict, 'pass', `a 4.3 mm one reads 3.8 mm, at most ${(3.8 + 1.645 * 0.58).toFixed(2)}: within it`);
  const fails = judge([growing], MAP, G, OK, [], [[{ ...atDies, sizeMm: 5 }]]);
  t.same(fails.findings.map((f) => [f.sizeMm, f.sizeMaxMm]), [[4.5, 5.6]], 'a 5 mm one may be over: it breaks it');
  t.match(explain(growing, 'class'), /give or take 0\.2 mm and 10% of its size: passes only below 4\.0 mm/);
});

t.test('judge by crops: a wafer without the verifier\'s checks is not inspected, never passed', async (t) => {
  const j = judge([spec('P1', 'particle')], new Float32Array(64 * 64), G, OK, [], [null]);
  t.equal(j.verdict, 'not-inspected');
  t.match(j.reason, /P1 \(particle\) needs the verifier's look at the visible frame/);
  const map = judge([spec('S1', 'stain', { by: undefined, threshold: 0.4 })], new Float32Array(64 * 64).fill(0.01), G, OK, [], [null]);
  t.equal(map.verdict, 'pass', 'a spec judged on the map needs no checks');
});

t.test('calibration by crops: each good wafer\'s statistic is its highest check in the zone', async (t) => {
  const specs = [
    { text: 'particle', kind: 'particle', by: 'crops' as const },
    { text: 'particle near the edge', kind: 'particle', by: 'crops' as const, zone: { minRadiusMm: 100, maxRadiusMm: 150, words: 'near the edge' } },
  ];
  const cal = new ThresholdCalibration(specs, G);
  const scores = new Float32Array(2 * 64 * 64);
  for (let i = 0; i < 2000; i++) {
    const inner = 0.1 + (i % 100) / 1000;
    const rim = 0.05 + (i % 50) / 1000;
    const cs = [check(0, 0, inner), check(120, 0, rim)];
    cal.add({ wafer: `g${i}`, truth: [], scores, checks: [cs, cs] });
  }
  const r = cal.result(0.003);
  t.ok(Math.abs(r.specs[0].goodMax - 0.199) < 1e-9, `the whole wafer: the inner checks are the highest (${r.specs[0].goodMax})`);
  t.ok(Math.abs(r.specs[1].goodMax - 0.099) < 1e-9, `the zone sees only the rim check (${r.specs[1].goodMax})`);
  t.throws(() => cal.add({ wafer: 'bare', truth: [], scores }), /bare: spec "particle" is judged by the verifier, and the wafer was scored without its checks/);
});

t.test('explain names what a verified spec is judged and sized by', async (t) => {
  const text = explain(spec('P1', 'particle', { size: { mm: 2, inclusive: false, words: 'over 2 mm' }, sizeFit: { slope: 1.1, offset: -0.2, spread: 0.3 } }), 'class');
  t.match(text, /threshold {2}0\.6000 verifier confidence, on crops of the visible frame where the map peaks/);
  t.match(text, /sizes {6}1\.1 x the verifier's size - 0\.2 mm, give or take 0\.3 mm/);
});

t.test('a model manifest with a verifier section and no verifier file is refused on load', async (t) => {
  const dir = tempDir(t);
  const src = join(REPO_ROOT, 'models/wafer-mm-10');
  const m = JSON.parse(readFileSync(join(src, 'model.json'), 'utf8'));
  t.ok(m.verifier && m.files.verifier, 'the shipped wafer-mm-10 has both');
  delete m.files.verifier;
  writeFileSync(join(dir, 'model.json'), JSON.stringify(m));
  copyFileSync(join(src, 'verifier.onnx'), join(dir, 'verifier.onnx'));
  await t.rejects(readManifest(dir), /verifier: a verifier section and a verifier file go together/);
  const m2 = JSON.parse(readFileSync(join(src, 'model.json'), 'utf8'));
  m2.verifier.classes = ['particle', 'scuff'];
  writeFileSync(join(dir, 'model.json'), JSON.stringify(m2));
  await t.rejects(readManifest(dir), /the verifier checks classes the model does not have/);
  const m3 = JSON.parse(readFileSync(join(src, 'model.json'), 'utf8'));
  m3.verifier.mapWeights = { stain: 1 };
  writeFileSync(join(dir, 'model.json'), JSON.stringify(m3));
  await t.rejects(readManifest(dir), /a map weight for a class the verifier does not check/);
  const m4 = JSON.parse(readFileSync(join(src, 'model.json'), 'utf8'));
  m4.verifier.around = { void: { top: 2, stepMm: 3 } };
  writeFileSync(join(dir, 'model.json'), JSON.stringify(m4));
  await t.rejects(readManifest(dir), /a look around for a class the verifier does not check/);
});

t.test('what thresholds name a verifier model by changes with every judge setting that moves its confidences', async (t) => {
  const m = await readManifest(join(REPO_ROOT, 'models/wafer-mm-11'));
  const sha = m.files.image.sha256;
  const id = modelId(m, sha);
  t.match(id, /^wafer-mm-11@[0-9a-f]{12}\+[0-9a-f]{12}$/);
  const changed = (edit: (v: NonNullable<typeof m.verifier>) => void): string => {
    const c = structuredClone(m);
    edit(c.verifier!);
    return modelId(c, sha);
  };
  t.not(changed((v) => (v.perClass = 12)), id, 'more places cropped per class: a wafer\'s highest confidence can only rise');
  t.not(changed((v) => (v.minScore = 0.001)), id, 'a lower score to crop from');
  t.not(changed((v) => (v.mapWeights['edge-chip'] = 1)), id, 'a map weight');
  t.not(changed((v) => (v.cropPx = 64)), id, 'the crop size');
  t.not(changed((v) => (v.around = { particle: { top: 2, stepMm: 3 } })), id, 'a look around a class\'s places');
  const rim = changed((v) => (v.rim = { 'edge-chip': { side: 'inside', top: 2, minMm: 0.15, weight: 12 } }));
  t.not(rim, id, 'rim places');
  t.not(changed((v) => (v.rim = { 'edge-chip': { side: 'inside', top: 2, minMm: 0.15, weight: 8 } })), rim, "the rim's weight");
  t.not(changed((v) => (v.rim = { 'edge-chip': { side: 'inside', top: 2, minMm: 0.2, weight: 12 } })), rim, 'the least the rim stands off');
  t.equal(changed(() => {}), id, 'the same settings, the same name');
  t.equal(id, 'wafer-mm-11@ff451bc2a1ff+279bf6a54bab', "the name wafer-mm-11's thresholds were calibrated under");
});
