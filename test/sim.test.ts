import { createHash } from 'node:crypto';
import t from 'tap';
import { applyAffine, invertAffine } from '../src/common/affine.js';
import { DEFECT_CLASSES, type DefectClass } from '../src/common/defects.js';
import { MODALITIES, type Modality } from '../src/common/modality.js';
import type { RawFrame } from '../src/frames/frame.js';
import { SIZE_RANGE_MM } from '../src/sim/defects.js';
import { SyntheticLine } from '../src/sim/line.js';
import { DieWalker, dieRegion } from '../src/sim/render.js';
import { SMALL_STATION } from './helpers.js';

const digest = (f: RawFrame): string => createHash('sha256').update(f.data).digest('hex');

t.test('a wafer is a pure function of seed and index', async (t) => {
  const a = new SyntheticLine({ seed: 5, station: SMALL_STATION, defectRate: 1 });
  const b = new SyntheticLine({ seed: 5, station: SMALL_STATION, defectRate: 1 });
  const c = new SyntheticLine({ seed: 6, station: SMALL_STATION, defectRate: 1 });
  const wa = a.renderIndex(3);
  b.renderIndex(0); // order of rendering must not matter
  const wb = b.renderIndex(3);
  for (const m of MODALITIES) t.equal(digest(wa.frames[m]), digest(wb.frames[m]), `${m} identical`);
  t.same(wa.truth, wb.truth);
  t.not(digest(c.renderIndex(3).frames.visible), digest(wa.frames.visible), 'another seed, another wafer');
});

t.test('frames have the reference formats: RGB8 visible, 16-bit infrared and X-ray', async (t) => {
  const w = new SyntheticLine({ seed: 1, station: SMALL_STATION }).renderIndex(0);
  t.match(w.frames.visible, { width: 512, height: 512, channels: 3, depth: 8 });
  t.match(w.frames.infrared, { width: 320, height: 256, channels: 1, depth: 16 });
  t.match(w.frames.xray, { width: 384, height: 384, channels: 1, depth: 16 });
  t.ok(w.frames.infrared.data instanceof Uint16Array && w.frames.xray.data instanceof Uint16Array);
});

/** Sum of absolute per-pixel change of each modality when a defect is added to an otherwise identical wafer. */
function change(line: SyntheticLine, cls: DefectClass, at: [number, number]): Record<Modality, number> {
  const clean = line.render({ ...line.plan(9, []), defects: [] });
  const snapshot = Object.fromEntries(MODALITIES.map((m) => [m, Float64Array.from(clean.frames[m].data)])) as Record<Modality, Float64Array>;
  const dirty = line.render(line.plan(9, [{ class: cls, xMm: at[0], yMm: at[1], sizeMm: 8 }]));
  const out = {} as Record<Modality, number>;
  for (const m of MODALITIES) {
    let s = 0;
    const d = dirty.frames[m].data;
    for (let i = 0; i < d.length; i++) s += Math.abs(d[i] - snapshot[m][i]);
    out[m] = s;
  }
  return out;
}

t.test('each class shows in the modalities of contracts §3 and nowhere else', async (t) => {
  const line = new SyntheticLine({ seed: 2, station: SMALL_STATION, poolSize: 0 });
  const shows: Record<DefectClass, Modality[]> = {
    'edge-burr': ['visible', 'xray'],
    'edge-chip': ['visible', 'infrared', 'xray'],
    scratch: ['visible'],
    particle: ['visible'],
    stain: ['visible', 'infrared'],
    crack: ['visible', 'infrared', 'xray'],
    void: ['xray', 'infrared'],
    hotspot: ['infrared'],
  };
  for (const cls of DEFECT_CLASSES) {
    const edge = cls.startsWith('edge');
    const c = change(line, cls, edge ? [0, 150] : [30, -40]);
    for (const m of MODALITIES) {
      if (shows[cls].includes(m)) t.ok(c[m] > 0, `${cls} changes ${m}`);
      else t.equal(c[m], 0, `${cls} leaves ${m} untouched`);
    }
  }
});

t.test('truth is in wafer mm, on the wafer, and sizes follow each class range', async (t) => {
  const line = new SyntheticLine({ seed: 3, station: SMALL_STATION, defectRate: 1, maxDefects: 4 });
  let n = 0;
  for (let i = 0; i < 400; i++) {
    for (const d of line.defects(line.plan(i))) {
      n++;
      const r = Math.hypot(d.truth.xMm, d.truth.yMm);
      const [lo, hi] = SIZE_RANGE_MM[d.class];
      if (d.class.startsWith('edge')) t.ok(r > 140 && r < 153, `${d.class} sits at the rim (r=${r.toFixed(1)})`);
      else t.ok(r < 150, `${d.class} is on the wafer`);
      t.ok(d.truth.sizeMm > lo * 0.4 && d.truth.sizeMm < hi * 1.6, `${d.class} size ${d.truth.sizeMm} near [${lo}, ${hi}]`);
    }
  }
  t.ok(n > 400, 'several defects per defective wafer happen');
});

t.test('the defect rate and class weights are honoured', async (t) => {
  const line = new SyntheticLine({ seed: 4, station: SMALL_STATION, defectRate: 0.25, classWeights: { scratch: 3 } });
  let defective = 0;
  const counts: Record<string, number> = {};
  const N = 4000;
  for (let i = 0; i < N; i++) {
    const p = line.plan(i);
    if (p.defects.length) defective++;
    for (const d of p.defects) counts[d.class] = (counts[d.class] ?? 0) + 1;
  }
  t.ok(Math.abs(defective / N - 0.25) < 0.03, `defective share ${defective / N}`);
  t.ok(counts.scratch > 2 * counts.particle, 'a class weighed 3 is about three times as common');
  const none = new SyntheticLine({ seed: 4, station: SMALL_STATION, defectRate: 0 });
  t.equal(Array.from({ length: 200 }, (_, i) => none.plan(i).defects.length).reduce((a, b) => a + b), 0);
});

t.test('a planted defect lands where its truth says in every camera', async (t) => {
  const line = new SyntheticLine({ seed: 8, station: SMALL_STATION, poolSize: 0 });
  const w = line.render(line.plan(1, [{ class: 'void', xMm: -60, yMm: 45, sizeMm: 12 }]));
  const clean = line.render(line.plan(1, []));
  const cam = line.station.cameras.xray;
  let sx = 0;
  let sy = 0;
  let sw = 0;
  const d = w.frames.xray.data;
  const c = clean.frames.xray.data;
  for (let i = 0; i < d.length; i++) {
    const diff = d[i] - c[i];
    if (diff <= 0) continue;
    const [x, y] = applyAffine(cam.pxToMm, i % cam.width, Math.floor(i / cam.width));
    sx += x * diff;
    sy += y * diff;
    sw += diff;
  }
  t.ok(Math.hypot(sx / sw - w.truth[0].xMm, sy / sw - w.truth[0].yMm) < 1, 'X-ray change is centred on the truth');
  const [col] = applyAffine(invertAffine(cam.pxToMm), w.truth[0].xMm, w.truth[0].yMm);
  t.ok(col > 0 && col < cam.width);
});

t.test('pooled looks reuse backgrounds but draw each wafer its own defects', async (t) => {
  const line = new SyntheticLine({ seed: 9, station: SMALL_STATION, poolSize: 2, defectRate: 0.5 });
  const plans = Array.from({ length: 40 }, (_, i) => line.plan(i));
  t.ok(plans.every((p) => p.lookKey === 0 || p.lookKey === 1));
  const good = plans.filter((p) => p.defects.length === 0);
  const bad = plans.find((p) => p.defects.length > 0)!;
  const g1 = line.render(good[0]);
  const wb = line.render({ ...bad, lookKey: good[0].lookKey });
  t.not(digest(wb.frames.visible), digest(g1.frames.visible));
  t.equal(digest(line.render(good[0]).frames.visible), digest(g1.frames.visible), 'the pool background is left untouched');
});

t.test('the die walker used by the visible renderer agrees with dieRegion pixel by pixel', async (t) => {
  const line = new SyntheticLine({ seed: 10 });
  const cam = line.station.cameras.visible;
  const [[a, b, c0], [d, e, f0]] = cam.pxToMm;
  let mismatches = 0;
  let checked = 0;
  for (let k = 0; k < 6; k++) {
    const look = line.look(k);
    const walker = new DieWalker(look, 150, a, d);
    for (const row of [3, 400, 1023, 1500, 2040]) {
      walker.start(b * row + c0, e * row + f0);
      for (let col = 0; col < cam.width; col++) {
        if (col > 0) walker.step();
        const x = a * col + b * row + c0;
        const y = d * col + e * row + f0;
        checked++;
        // positions within 1e-9 mm of a boundary may round either way
        if (walker.region !== dieRegion(look, x, y, 150)) mismatches++;
      }
    }
  }
  t.ok(mismatches <= checked * 1e-4, `${mismatches} of ${checked} pixels differ`);
});
