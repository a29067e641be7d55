import t from 'tap';
import { ThresholdCalibration } from '../src/inspection/calibrate.js';
import type { MapGeometry } from '../src/inspection/regions.js';
import { allocateRanks } from '../src/inspection/ranks.js';
import { Rng } from '../src/sim/rng.js';

const desc = (xs: number[]): number[] => [...xs].sort((a, b) => b - a);

t.test('ranks keep the false-reject rate on new good wafers within the target; a quantile of the calibration wafers does not', (t) => {
  // three specs whose good scores are uniform on 0..1, so a new good wafer exceeds threshold x with
  // probability 1 - x exactly, and fails one of three independent specs with 1 - product(x)
  const rng = new Rng(7);
  const n = 999;
  const target = 0.01;
  let ranked = 0;
  let quantile = 0;
  const trials = 2000;
  for (let i = 0; i < trials; i++) {
    const good = [0, 1, 2].map(() => desc(Array.from({ length: n }, () => rng.next())));
    const { ranks } = allocateRanks(good, null, target);
    ranked += 1 - good.reduce((p, g, j) => p * g[ranks[j] - 1], 1);
    // each spec's (1 - target/3) quantile of the calibration wafers' scores
    const q = Math.ceil(n * (1 - target / 3)) - 1;
    quantile += 1 - good.reduce((p, g) => p * [...g].reverse()[q], 1);
  }
  const a = allocateRanks([[3, 2, 1]], null, target);
  t.same(a.ranks, [1], 'three good wafers cannot measure 1%: the highest score');
  t.equal(a.meetsTarget, false);
  const { ranks, expectedFrr, meetsTarget } = allocateRanks([0, 1, 2].map(() => desc(Array.from({ length: n }, (_, k) => k))), null, target);
  t.same(ranks, [3, 3, 3], 'budget floor(0.01 x 1000) = 10 ranks, 3 each, one left');
  t.equal(expectedFrr, 9 / 1000);
  t.ok(meetsTarget);
  t.ok(Math.abs(ranked / trials - 0.00897) < 0.0006, `ranked thresholds fail ${((ranked / trials) * 100).toFixed(3)}% of new good wafers (1 - (1 - 3/1000)^3 = 0.897%)`);
  t.ok(quantile / trials > target * 1.15, `calibration-wafer quantiles fail ${((quantile / trials) * 100).toFixed(3)}% of new good wafers, over the 1% target`);
  t.end();
});

t.test('ranks beyond the first go where known defects are caught, and none where nothing is', (t) => {
  const good = desc(Array.from({ length: 999 }, (_, k) => k / 1000)); // 0.998, 0.997, ...
  // spec 0's defects score just under its top good scores; spec 1's far above (caught at rank 1); spec 2 has none
  const defects = [[0.9975, 0.9965, 0.9955, 0.9945, 0.9935, 0.9925, 0.9915], [5, 6, 7], []];
  const r = allocateRanks([good, good, good], defects, 0.01);
  t.same(r.ranks, [8, 1, 1], '7 ranks to spec 0, which catch its 7 defects; 10 - 1 - 1 - 8 = 0 left');
  const few = allocateRanks([good, good, good], [[0.9975], [5], []], 0.01);
  t.same(few.ranks, [2, 1, 1], 'one rank catches spec 0\'s only defect; the rest of the budget is not spent');
  t.equal(few.expectedFrr, 4 / 1000);
  t.end();
});

t.test('calibration: a zoned spec goes as far down as its class; thresholds calibrated without a modality can take the same ranks', (t) => {
  const G: MapGeometry = { size: 8, cellMm: 40, x0: -160, y0: 160 };
  const specs = [{ text: 'void', kind: 'void' }, { text: 'crack', kind: 'crack' }, { text: 'void in the centre', kind: 'void', zone: { minRadiusMm: 0, maxRadiusMm: 60, words: 'within 60 mm of the centre' } }];
  const cal = new ThresholdCalibration(specs, G);
  const centre = 3 * 8 + 3; // cell (3, 3), 20 mm from the centre
  const rim = 0; // a corner cell, outside the zone
  for (let i = 0; i < 999; i++) {
    const scores = new Float32Array(3 * 64);
    scores[centre] = i / 2000; // void, in the zone
    scores[rim] = i / 1000; // void, outside it
    scores[2 * 64 + centre] = i / 2000;
    scores[2 * 64 + rim] = i / 1000;
    scores[64 + centre] = i / 1000;
    cal.add({ wafer: `g${i}`, truth: [], scores });
  }
  // voids that score between the void spec's highest good scores (0.998 ... 0.994)
  for (const s of [0.9975, 0.9965, 0.9955, 0.9945]) {
    const scores = new Float32Array(3 * 64);
    scores[rim] = s;
    scores[2 * 64 + rim] = s;
    cal.add({ wafer: `v${s}`, truth: [{ class: 'void', xMm: -140, yMm: 140, sizeMm: 3 }], scores });
  }
  const r = cal.result(0.01);
  t.same(r.specs.map((s) => s.rank), [5, 1, 5], 'void takes 4 ranks beyond the first, the zoned void spec follows it');
  t.equal(r.specs[0].threshold, Math.fround(0.994));
  t.equal(r.specs[2].threshold, Math.fround(0.497), 'the zoned spec: the 5th highest of its own zone\'s scores');
  t.same(r.specs[0].recall, 1);
  t.equal(r.expectedFrr, 6 / 1000, 'the zoned spec is not counted twice');
  const same = cal.result(0.01, [1, 2, 1]);
  t.same(same.specs.map((s) => s.threshold), [0.998, 0.997, 0.499].map(Math.fround), 'ranks given: thresholds at them');
  t.end();
});
