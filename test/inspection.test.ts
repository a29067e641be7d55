import t from 'tap';
import type { Modality } from '../src/common/modality.js';
import type { ModalityStatus } from '../src/fusion/result.js';
import { ThresholdCalibration, withoutEntry } from '../src/inspection/calibrate.js';
import { judge, normalise, sizeOf, SIZE_SURE, uncalibratedWithout, unresolvedSizeLimits, type JudgedSpec } from '../src/inspection/judge.js';
import { regions, type MapGeometry } from '../src/inspection/regions.js';
import { scoreReplay } from '../src/inspection/score.js';
import { explain } from '../src/inspection/setup.js';
import type { InspectedWafer } from '../src/inspection/inspector.js';

const G: MapGeometry = { size: 64, cellMm: 5, x0: -160, y0: 160 };
const OK: Record<Modality, ModalityStatus> = { visible: 'ok', infrared: 'ok', xray: 'ok' };

/** A score map with rectangles of score v painted on cells (row, col, rows, cols). */
function map(specs: number, paint: Array<[number, number, number, number, number, number]>): Float32Array {
  const m = new Float32Array(specs * 64 * 64).fill(0.01);
  for (const [s, r0, c0, h, w, v] of paint) for (let r = r0; r < r0 + h; r++) for (let c = c0; c < c0 + w; c++) m[s * 4096 + r * 64 + c] = v;
  return m;
}

function spec(id: string, kind: string, extra: Partial<JudgedSpec> = {}): JudgedSpec {
  return { id, text: id, kind, confidence: 1, nearest: [], modalities: ['visible'], query: new Float32Array(32), threshold: 0.4, ...extra };
}

t.test('regions: connected cells, centre in wafer mm, extent', async (t) => {
  const m = map(1, [[0, 10, 20, 1, 6, 0.9], [0, 40, 40, 2, 2, 0.7]]);
  const rs = regions(m, G, 0.5);
  t.equal(rs.length, 2);
  const line = rs[0];
  t.equal(line.cells, 6);
  t.ok(Math.abs(line.xMm - (-160 + 22.5 * 5 + 2.5)) < 1e-6 && Math.abs(line.yMm - (160 - 10.5 * 5)) < 1e-6, `centre (${line.xMm}, ${line.yMm})`);
  t.equal(line.sizeMm, 30, 'six cells in a row: 25 mm between end centres plus one cell');
  t.equal(rs[1].cells, 4);
  t.ok(Math.abs(rs[1].sizeMm - (Math.hypot(5, 5) + 5)) < 1e-9);
});

t.test('regions are found at one level and measured at a lower one', async (t) => {
  // a scratch above the threshold along two cells, a little lower along eight more; a second fragment of it further on
  const m = map(1, [[0, 20, 10, 1, 12, 0.35], [0, 20, 12, 1, 2, 0.8], [0, 20, 19, 1, 1, 0.7], [0, 40, 40, 1, 1, 0.9]]);
  const found = regions(m, G, 0.5);
  t.same(found.map((r) => r.sizeMm).sort((a, b) => a - b), [5, 5, 10], 'measured at their own level: the fragments alone');
  const measured = regions(m, G, 0.5, 0, 0.25);
  t.equal(measured.length, 3, 'as many regions: found at the same level');
  const bySize = measured.map((r) => r.sizeMm).sort((a, b) => a - b);
  t.same(bySize, [5, 60, 60], 'both fragments measured over the whole scratch (12 cells), the lone speck as itself');
  t.ok(Math.abs(measured.find((r) => r.cells === 2)!.xMm - (-160 + 13 * 5)) < 1e-6, 'positions still from the cells found');
});

t.test('a region\'s extent is its farthest pair of cells, whatever its shape', async (t) => {
  let x = 7;
  const rand = (): number => ((x = (x * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24;
  for (let trial = 0; trial < 20; trial++) {
    // a blob of random cells grown from one, so it is one connected region
    const m = new Float32Array(64 * 64);
    const cells = [32 * 64 + 32];
    m[cells[0]] = 0.9;
    for (let i = 0; i < 200; i++) {
      const c = cells[Math.floor(rand() * cells.length)] + [1, -1, 64, -64, 65, -63][Math.floor(rand() * 6)];
      if (c > 0 && c < 4096 && !m[c]) (m[c] = 0.9), cells.push(c);
    }
    let far = 0;
    for (const a of cells) for (const b of cells) far = Math.max(far, Math.hypot(Math.floor(a / 64) - Math.floor(b / 64), (a % 64) - (b % 64)));
    const [r] = regions(m, G, 0.5);
    t.ok(Math.abs(r.sizeMm - (far * 5 + 5)) < 1e-9, `blob ${trial}: ${r.sizeMm} mm`);
  }
});

t.test('normalised scores put the threshold at 0.5', async (t) => {
  t.equal(normalise(0.4, 0.4), 0.5);
  t.equal(normalise(0.2, 0.4), 0.25);
  t.equal(normalise(1, 0.4), 1);
  t.ok(normalise(0.41, 0.4) > 0.5);
});

t.test('size limits: a 10 mm scratch passes "longer than 20 mm", a 30 mm one fails', async (t) => {
  const s = spec('long-scratch', 'scratch', { size: { mm: 20, inclusive: false, words: 'longer than 20 mm' } });
  t.equal(judge([s], map(1, [[0, 30, 30, 1, 2, 0.9]]), G, OK, []).verdict, 'pass');
  const fail = judge([s], map(1, [[0, 30, 30, 1, 6, 0.9]]), G, OK, []);
  t.equal(fail.verdict, 'fail');
  t.match(fail.findings, [{ spec: 'long-scratch', class: 'scratch', sizeMm: 30 }]);
});

t.test('a region passes a size limit only when its size, with the size fit\'s spread, is surely within it', async (t) => {
  // a burr one map cell across: the fit says 1.9 mm, but burrs that read so were up to several mm on the calibration wafers
  const fit = { slope: 1.024, offset: -3.2, spread: 3.4 };
  const burr = spec('burr', 'edge-burr', { size: { mm: 2, inclusive: false, words: 'longer than 2 mm' }, sizeFit: fit });
  const one = judge([burr], map(1, [[0, 30, 30, 1, 1, 0.9]]), G, OK, []);
  t.equal(one.verdict, 'fail', 'a one-cell burr may be longer than 2 mm');
  t.match(one.findings, [{ spec: 'burr', sizeMm: 1.9, sizeMaxMm: Math.round((1.92 + SIZE_SURE * 3.4) * 10) / 10 }], 'reported at its fitted size, with the largest it may be');
  const { spread: _, ...exact } = fit;
  t.equal(judge([{ ...burr, sizeFit: exact }], map(1, [[0, 30, 30, 1, 1, 0.9]]), G, OK, []).verdict, 'pass', 'a fit without a spread is taken as exact');
  // far below a large limit, the spread does not matter: a 10 mm burr is surely not longer than 30 mm
  const long = { ...burr, size: { mm: 30, inclusive: false, words: 'longer than 30 mm' } };
  t.equal(judge([long], map(1, [[0, 30, 30, 1, 3, 0.9]]), G, OK, []).verdict, 'pass');
  t.equal(judge([long], map(1, [[0, 30, 30, 1, 6, 0.9]]), G, OK, []).verdict, 'fail', '27.5 mm fitted, up to 33.1 mm');
  t.same(sizeOf(5, undefined), { sizeMm: 5, sizeMaxMm: 5 }, 'no fit: the measured extent');
  // and what specs explain shows of it
  t.match(explain(burr, 'class'), /\n {2}sizes {6}1\.024 x the region's extent - 3\.2 mm, give or take 3\.4 mm: the limit is within that, so every region found breaks it\n/);
  t.match(explain(long, 'class'), /passes only below 24\.4 mm\n/);
  t.match(explain({ ...burr, sizeFit: exact }, 'class'), /taken as exact \(no spread calibrated: run calibrate thresholds again\)/);
  t.match(explain({ ...burr, sizeFit: undefined }, 'class'), /sizes {6}the region's extent on the score map, as measured/);
  t.notMatch(explain({ ...burr, size: undefined }, 'class'), /sizes/, 'no size limit, nothing to say');
  // what the service warns about at start: limits within the margin
  t.same(unresolvedSizeLimits([burr, long, { ...burr, id: 'exact', sizeFit: exact }, { ...burr, id: 'any', size: undefined }]), { burr: { limitMm: 2, marginMm: 5.6 } });
});

t.test('zones and counts', async (t) => {
  const centre = spec('centre', 'scratch', { zone: { minRadiusMm: 0, maxRadiusMm: 50, words: 'within 50 mm of the centre' } });
  // a region near the centre (cell 32,32 is at (2.5, -2.5) mm) and one at the rim
  t.equal(judge([centre], map(1, [[0, 3, 32, 1, 1, 0.9]]), G, OK, []).verdict, 'pass', 'outside the zone is not a violation');
  t.equal(judge([centre], map(1, [[0, 32, 32, 1, 1, 0.9]]), G, OK, []).verdict, 'fail');
  const many = spec('many', 'particle', { count: { count: 2, inclusive: false, words: 'more than 2' } });
  t.equal(judge([many], map(1, [[0, 10, 10, 1, 1, 0.9], [0, 20, 20, 1, 1, 0.9]]), G, OK, []).verdict, 'pass');
  const three = judge([many], map(1, [[0, 10, 10, 1, 1, 0.9], [0, 20, 20, 1, 1, 0.9], [0, 30, 30, 1, 1, 0.9]]), G, OK, []);
  t.equal(three.verdict, 'fail');
  t.equal(three.findings.length, 3);
});

t.test('a spec that cannot be checked never lets a wafer pass', async (t) => {
  const hot = spec('hot', 'hotspot', { modalities: ['infrared'] });
  const burr = spec('burr', 'edge-burr');
  const missing: Record<Modality, ModalityStatus> = { ...OK, infrared: 'missing' };
  const r = judge([burr, hot], map(2, []), G, missing, ['infrared: frame missing']);
  t.equal(r.verdict, 'not-inspected');
  t.match(r.reason, /cannot check spec hot \(hotspot\) needs infrared, which is missing/);
  const f = judge([burr, hot], map(2, [[0, 5, 5, 1, 1, 0.95]]), G, missing, []);
  t.equal(f.verdict, 'fail', 'a violation elsewhere still fails the wafer');
  t.match(f.reason, /cannot check spec hot/);
  t.equal(judge([burr], null, G, OK, ['line 7: not JSON']).verdict, 'not-inspected');
  t.equal(judge([burr, hot], map(2, []), G, OK, []).verdict, 'pass');
});

t.test('replay scores: not-inspected wafers are counted apart from both rates', async (t) => {
  const chip = { class: 'edge-chip', xMm: 0, yMm: -149, sizeMm: 3 };
  const wafer = (verdict: 'pass' | 'fail' | 'not-inspected', truth: (typeof chip)[], found = false, modalities = OK): InspectedWafer =>
    ({ record: { verdict, modalities, findings: found ? [{ spec: 'chip', class: 'edge-chip', xMm: 1, yMm: -148, sizeMm: 3, score: 0.9 }] : [] }, truth }) as unknown as InspectedWafer;
  const items = [
    wafer('pass', []),
    wafer('fail', []),
    wafer('not-inspected', []),
    wafer('not-inspected', []),
    wafer('fail', [chip], true),
    wafer('pass', [chip]),
    wafer('not-inspected', [chip], false, { ...OK, visible: 'corrupt' }),
  ];
  const s = scoreReplay(items, [spec('chip', 'edge-chip')]);
  t.equal(s.good, 4);
  t.equal(s.goodJudged, 2, 'good wafers with a pass or fail verdict');
  t.equal(s.falseRejects, 1);
  t.equal(s.falseRejectRate, 0.5, 'one false reject of the two good wafers judged');
  t.equal(s.shouldFail, 2);
  t.equal(s.failed, 1);
  t.equal(s.waferRecall, 0.5);
  t.equal(s.shouldFailNotInspected, 1, 'the defective wafer not inspected is in neither rate, and said');
  t.equal(s.notInspected, 3);
  t.same(s.perClass['edge-chip'], { positives: 2, found: 1, recall: 0.5, bySize: [{ fromMm: 3, toMm: 5, positives: 2, found: 1 }] }, 'the chip on the wafer without visible could not be checked: not a positive');
  // by size: a 1 mm chip missed, a 3 mm one found, a 60 mm one in the open last bin
  const sized = scoreReplay(
    [wafer('pass', [{ ...chip, sizeMm: 1 }]), wafer('fail', [chip], true), wafer('pass', [{ ...chip, sizeMm: 60 }])],
    [spec('chip', 'edge-chip')],
  );
  t.same(sized.perClass['edge-chip'].bySize, [
    { fromMm: 0, toMm: 2, positives: 1, found: 0 },
    { fromMm: 3, toMm: 5, positives: 1, found: 1 },
    { fromMm: 40, toMm: null, positives: 1, found: 0 },
  ]);
});

t.test('a wafer missing a modality is judged with the thresholds calibrated without it', async (t) => {
  const s = spec('particles', 'particle', { threshold: 0.4, thresholdWithout: { xray: 0.8, visible: 0.3 } });
  const scores = map(1, [[0, 30, 30, 2, 2, 0.6]]);
  t.equal(judge([s], scores, G, OK, []).verdict, 'fail', 'all modalities: 0.6 is over 0.4');
  const noXray = judge([s], scores, G, { ...OK, xray: 'missing' }, ['xray: frame missing']);
  t.equal(noXray.verdict, 'pass', 'without X-ray the threshold is 0.8; the spec needs only visible, so the wafer is checked');
  t.equal(judge([s], scores, G, { ...OK, infrared: 'corrupt' }, []).verdict, 'fail', 'no threshold calibrated without infrared: its own');
  const both = judge([s], scores, G, { ...OK, xray: 'missing', infrared: 'missing' }, []);
  t.equal(both.verdict, 'pass', 'several missing: the highest of their thresholds');
  const low = spec('particles', 'particle', { threshold: 0.7, thresholdWithout: { xray: 0.5 } });
  t.equal(judge([low], scores, G, OK, []).verdict, 'pass');
  t.equal(judge([low], scores, G, { ...OK, xray: 'missing' }, []).verdict, 'fail', 'a lower threshold without a modality is used too');
  // what the service warns about at start: modalities a spec could be checked without, with no threshold for that
  const full = spec('voids', 'void', { modalities: ['xray'], threshold: 0.4, thresholdWithout: { visible: 0.5, infrared: 0.45 } });
  const bare = spec('scratches', 'scratch');
  t.same(uncalibratedWithout([s, full, bare]), { particles: ['infrared'], scratches: ['infrared', 'xray'] }, 'by spec id: the modalities it lacks a threshold without; a needed one is never listed');
  // and what specs explain shows of it
  t.match(explain(s, 'class'), /\n {2}without {4}xray missing: 0\.8000; visible missing: 0\.3000; none calibrated without infrared \(run calibrate thresholds again\)\n/);
  t.match(explain(full, 'class'), /\n {2}without {4}visible missing: 0\.5000; infrared missing: 0\.4500\n/);
  t.match(explain(bare, 'class'), /\n {2}without {4}none calibrated without infrared, xray \(run/);
});

t.test('withoutEntry keeps the specs that can be checked without the missing modality, with their thresholds', (t) => {
  const specs = [
    { text: 'edge burr', kind: 'edge-burr' },
    { text: 'void', kind: 'void' },
    { text: 'crack', kind: 'crack' },
    { text: 'scratch within 50 mm of the centre', kind: 'scratch', zone: { minRadiusMm: 0, maxRadiusMm: 50, words: 'within 50 mm of the centre' } },
    { text: 'voids at the edge', kind: 'void', zone: { minRadiusMm: 140, maxRadiusMm: 150, words: 'at the edge' } },
  ];
  const thresholds = [0.612345678, 0.5, 0.7, 0.812345678, 0.4];
  t.same(withoutEntry(specs, 3, thresholds, 'xray'), {
    kinds: { 'edge-burr': { threshold: 0.61235 }, crack: { threshold: 0.7 } },
    specs: [{ text: 'scratch within 50 mm of the centre', threshold: 0.81235 }],
  }, 'without X-ray: no void, neither the class nor the zoned spec; thresholds as the file keeps them');
  t.same(withoutEntry(specs, 3, thresholds, 'infrared'), {
    kinds: { 'edge-burr': { threshold: 0.61235 }, void: { threshold: 0.5 } },
    specs: [{ text: 'scratch within 50 mm of the centre', threshold: 0.81235 }, { text: 'voids at the edge', threshold: 0.4 }],
  }, 'without infrared: no crack');
  t.same(Object.keys(withoutEntry(specs, 3, thresholds, 'visible').kinds), ['void', 'crack'], 'without visible: no edge burr');
  t.end();
});

t.test('calibration fits sizes on the wafers with one defect, and says how far true sizes spread around the fit', (t) => {
  const cal = new ThresholdCalibration([{ text: 'void', kind: 'void' }], G);
  for (let i = 0; i < 40; i++) cal.add({ wafer: `g${i}`, truth: [], scores: map(1, [[0, 10, 10, 1, 1, 0.2 + i / 1000]]) });
  // voids 1 to 6 cells across (measured 5 to 30 mm), truly 2 mm less, give or take 1 mm
  for (let i = 0; i < 24; i++) {
    const n = 1 + (i % 6);
    const truth = [{ class: 'void', xMm: -160 + 30 * 5 + (n * 5) / 2, yMm: 160 - 30.5 * 5, sizeMm: 5 * n - 2 + (Math.floor(i / 6) % 2 ? 1 : -1) }];
    cal.add({ wafer: `d${i}`, truth, scores: map(1, [[0, 30, 30, 1, n, 0.9]]) });
  }
  // a wafer with two defects says nothing about sizes
  cal.add({ wafer: 'two', truth: [{ class: 'void', xMm: 0, yMm: 0, sizeMm: 50 }, { class: 'void', xMm: 0, yMm: 0, sizeMm: 50 }], scores: map(1, [[0, 31, 31, 1, 1, 0.9]]) });
  const r = cal.result(0.05);
  const fit = r.sizeFits.void;
  t.equal(fit.samples, 24);
  t.ok(Math.abs(fit.slope - 1) < 0.05 && Math.abs(fit.offset + 2) < 0.5, `true = ${fit.slope} x measured + ${fit.offset}`);
  t.ok(fit.spread > 0.9 && fit.spread < 1.2, `spread ${fit.spread} mm (true sizes 1 mm off the line)`);
  t.end();
});
