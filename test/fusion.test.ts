import t from 'tap';
import type { Affine } from '../src/common/affine.js';
import type { DefectClass } from '../src/common/defects.js';
import { MODALITIES, type Modality } from '../src/common/modality.js';
import { Fuser, sumRgbRuns } from '../src/fusion/fuse.js';
import { CHANNEL, cellOf, TENSOR_CHANNELS } from '../src/fusion/grid.js';
import { LEN_SHIFT, MAX_LEN, SKIP } from '../src/fusion/table.js';
import { renderCalibrationFrame } from '../src/sim/calibration-scenes.js';
import { SyntheticLine } from '../src/sim/line.js';
import type { SimStationSpec } from '../src/sim/station.js';
import { loadStation, type Station } from '../src/station/load.js';
import { REPO_ROOT, SMALL_STATION } from './helpers.js';

/** Cameras turned and shifted well beyond the reference station's, one of them mirrored. */
const SKEWED: SimStationSpec = {
  id: 'skewed',
  seed: 5,
  waferDiameterMm: 300,
  cameras: {
    visible: { width: 640, height: 600, pose: { pitchMm: 0.6, rotationDeg: 8, centreMm: [6, -4] } },
    infrared: { width: 320, height: 256, pose: { pitchMm: 1.45, rotationDeg: -12, centreMm: [-5, 3] } },
    xray: { width: 400, height: 400, pose: { pitchMm: 0.9, rotationDeg: 23, centreMm: [3, 7], mirrored: true } },
  },
};

const bare: Station = { id: 'none', dir: '', waferDiameterMm: 300, cameras: {} };
const SHOWS: Record<Modality, DefectClass> = { visible: 'particle', infrared: 'hotspot', xray: 'void' };
const CH: Record<Modality, number> = { visible: CHANNEL.visible, infrared: CHANNEL.infrared, xray: CHANNEL.xray };

/** Cell (row, col) where the defect changed the fused channel the most (centroid of the change). */
function peakCell(a: Float32Array, b: Float32Array, ch: number, G: number): [number, number] {
  let best = 0;
  let at = 0;
  for (let i = 0; i < G * G; i++) {
    const d = Math.abs(a[ch * G * G + i] - b[ch * G * G + i]);
    if (d > best) (best = d), (at = i);
  }
  return [Math.floor(at / G), at % G];
}

for (const [name, spec] of [['skewed cameras (lot geometry)', SKEWED], ['small station', SMALL_STATION]] as const) {
  t.test(`a defect planted at (x, y) mm lands on the same cell in every modality: ${name}`, async (t) => {
    const line = new SyntheticLine({ seed: 11, station: spec, poolSize: 0 });
    const geometry = Object.fromEntries(MODALITIES.map((m) => [m, line.station.cameras[m].pxToMm])) as Record<Modality, Affine>;
    const fuser = new Fuser(bare, { size: 256, fieldMm: 320 });
    const clean = fuser.fuse(line.render(line.plan(2, [])).frames, geometry);
    for (const [x, y] of [[0, 0], [-72.3, 41.8], [95.1, -88.4], [-20, -125]]) {
      const expected = cellOf(fuser.grid, x, y)!;
      for (const m of MODALITIES) {
        const w = line.render(line.plan(2, [{ class: SHOWS[m], xMm: x, yMm: y, sizeMm: 3 }]));
        const fused = fuser.fuse(w.frames, geometry);
        const [r, c] = peakCell(fused, clean, CH[m], 256);
        t.ok(Math.abs(r - expected[0]) <= 1 && Math.abs(c - expected[1]) <= 1, `${m} ${SHOWS[m]} at (${x}, ${y}): cell ${r},${c}, expected ${expected}`);
      }
    }
  });
}

t.test('the reference station: calibrated registration puts every modality on the same cells', async (t) => {
  const station = await loadStation(`${REPO_ROOT}calibration/reference`);
  const line = new SyntheticLine({ seed: 12, poolSize: 0 });
  const fuser = new Fuser(station, { size: 256, fieldMm: 320 });
  const clean = fuser.fuse(line.render(line.plan(0, [])).frames);
  const [x, y] = [57.4, -33.9];
  const expected = cellOf(fuser.grid, x, y)!;
  for (const m of MODALITIES) {
    const fused = fuser.fuse(line.render(line.plan(0, [{ class: SHOWS[m], xMm: x, yMm: y, sizeMm: 3 }])).frames);
    const [r, c] = peakCell(fused, clean, CH[m], 256);
    t.ok(Math.abs(r - expected[0]) <= 1 && Math.abs(c - expected[1]) <= 1, `${m}: cell ${r},${c}, expected ${expected}`);
  }
});

t.test('dark and flat fields take out the sensor pattern', async (t) => {
  const station = await loadStation(`${REPO_ROOT}calibration/reference`);
  const sim = new SyntheticLine({ seed: 1 }).station;
  const spread = (s: Station): number => {
    const fuser = new Fuser(s, { size: 128, fieldMm: 320 });
    const out = fuser.fuse({ infrared: renderCalibrationFrame(sim, 'infrared', 'flat', 99) });
    const G2 = 128 * 128;
    const v: number[] = [];
    for (let i = 0; i < G2; i++) if (out[CHANNEL.mask.infrared * G2 + i]) v.push(out[CHANNEL.infrared * G2 + i]);
    const mean = v.reduce((a, b) => a + b) / v.length;
    return Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length) / mean;
  };
  const corrected = spread(station);
  const raw = spread({ ...station, cameras: { infrared: { ...station.cameras.infrared!, correction: undefined } } });
  t.ok(corrected < 0.002, `a uniform black body reads flat after correction (relative spread ${corrected.toFixed(5)})`);
  t.ok(raw > 10 * corrected, `and not without it (${raw.toFixed(4)})`);
});

t.test('tensor layout: planar channels, masks 0 where a modality is absent or unseen', async (t) => {
  const line = new SyntheticLine({ seed: 3, station: SMALL_STATION, poolSize: 0 });
  const w = line.render(line.plan(0, []));
  const geometry = Object.fromEntries(MODALITIES.map((m) => [m, line.station.cameras[m].pxToMm]));
  const fuser = new Fuser(bare, { size: 64, fieldMm: 320 });
  t.equal(fuser.tensorLength, TENSOR_CHANNELS.length * 64 * 64);
  const out = fuser.fuse({ visible: w.frames.visible }, geometry);
  const G2 = 64 * 64;
  const sum = (ch: number): number => out.subarray(ch * G2, (ch + 1) * G2).reduce((a, b) => a + Math.abs(b), 0);
  t.ok(sum(CHANNEL.visible) > 0 && sum(CHANNEL.mask.visible) > G2 * 0.9);
  for (const ch of [CHANNEL.infrared, CHANNEL.xray, CHANNEL.mask.infrared, CHANNEL.mask.xray]) t.equal(sum(ch), 0, `${TENSOR_CHANNELS[ch]} is zero`);
  const centre = 32 * 64 + 32;
  t.ok(out[centre] > 0.1 && out[centre] < 1, 'visible values are 0..1');
  t.equal(out[CHANNEL.mask.visible * G2 + centre], 1);
  const narrow = new Fuser(bare, { size: 64, fieldMm: 1000 }).fuse({ visible: w.frames.visible }, geometry);
  t.equal(narrow[CHANNEL.mask.visible * G2], 0, 'a cell the camera does not see is masked out');
});

t.test('a grid finer than a camera still fills every cell it sees', async (t) => {
  const line = new SyntheticLine({ seed: 3, station: SMALL_STATION, poolSize: 0 });
  const w = line.render(line.plan(0, []));
  const fuser = new Fuser(bare, { size: 512, fieldMm: 320 });
  const out = fuser.fuse({ infrared: w.frames.infrared }, { infrared: line.station.cameras.infrared.pxToMm });
  const G2 = 512 * 512;
  let holes = 0;
  for (let i = 0; i < G2; i++) if (out[CHANNEL.mask.infrared * G2 + i] && out[CHANNEL.infrared * G2 + i] === 0) holes++;
  t.equal(holes, 0);
});

t.test('RGB sums four pixels a word at a time, exactly: any start, any length, runs past the lane limit', async (t) => {
  const d = new Uint8Array(3 * 5000 + 7);
  let x = 12345;
  for (let i = 0; i < d.length; i++) d[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  d.fill(255, 3000, 3 * 2000); // a long bright stretch: the largest lane sums
  const at = d.subarray(5);
  // runs as the grid table packs them: pixels before `from` skipped, then runs of at most MAX_LEN into cell 0
  const runsFor = (from: number, to: number): Uint32Array => {
    const runs = [];
    for (let p = 0; p < from; p += MAX_LEN) runs.push(Math.min(MAX_LEN, from - p) * 2 ** LEN_SHIFT + SKIP);
    for (let p = from; p < to; p += MAX_LEN) runs.push(Math.min(MAX_LEN, to - p) * 2 ** LEN_SHIFT);
    return Uint32Array.from(runs);
  };
  const cases = [[0, 0], [0, 1], [1, 4], [3, 11], [7, 8], [13, 100], [0, 508], [1, 509], [500, 2047], [999, 4999]];
  for (const [from, to] of cases) {
    const want = [0, 0, 0];
    for (let p = from; p < to; p++) for (let c = 0; c < 3; c++) want[c] += at[p * 3 + c];
    const sums = [new Float32Array(1), new Float32Array(1), new Float32Array(1)] as const;
    sumRgbRuns(at, runsFor(from, to), ...sums);
    t.same(sums.map((s) => s[0]), want, `pixels ${from}..${to}`);
  }
});

t.test('visible cells are the exact means of their pixels, on a fine grid (short runs) and a coarse one (cells wider than a run)', async (t) => {
  const line = new SyntheticLine({ seed: 5, poolSize: 0 });
  const w = line.render(line.plan(0, [{ class: 'particle' }, { class: 'scratch' }]));
  const f = w.frames.visible;
  const pxToMm = line.station.cameras.visible.pxToMm;
  for (const size of [256, 3]) {
    const fuser = new Fuser(bare, { size, fieldMm: 320, roiRadiusMm: 158 });
    const out = fuser.fuse({ visible: f }, { visible: pxToMm });
    const table = fuser.table('visible', f, pxToMm);
    const G2 = size * size;
    let run = 0;
    let split = 0; // runs that carry on the cell of the run before: a cell row wider than MAX_LEN
    table.runs.forEach((r, k) => {
      if ((r & SKIP) === SKIP) return;
      run = Math.max(run, r >>> LEN_SHIFT);
      if (k > 0 && (table.runs[k - 1] & SKIP) === (r & SKIP)) split++;
    });
    t.ok(size > 16 ? run <= 16 : run === MAX_LEN && split > 0, `grid ${size}: longest run ${run} pixels, ${split} runs continuing a cell`);
    const sums = new Float64Array(3 * G2);
    for (let k = 0, p = 0; k < table.runs.length; k++) {
      const end = p + (table.runs[k] >>> LEN_SHIFT);
      const cell = table.runs[k] & SKIP;
      for (; p < end; p++) if (cell !== SKIP) for (let c = 0; c < 3; c++) sums[c * G2 + cell] += f.data[p * 3 + c];
    }
    let worst = 0;
    let cells = 0;
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < G2; i++) {
        if (!table.invCount[i]) continue;
        cells++;
        worst = Math.max(worst, Math.abs(out[c * G2 + i] - sums[c * G2 + i] * table.invCount[i] / 255));
      }
    }
    // exact to within half of the 16-bit step fused cells are kept on (fuse.ts)
    t.ok(cells > 0 && worst < 0.5 / 65535 + 1e-6, `grid ${size}: ${cells} cells, largest difference ${worst}`);
  }
});

t.test('fused values are what the training arrays store: within 0..1 (the open beam beside the wafer reads no more than 1) and on 16-bit steps', async (t) => {
  const station = await loadStation(`${REPO_ROOT}calibration/reference`);
  const line = new SyntheticLine({ seed: 12, poolSize: 0 });
  const fuser = new Fuser(station, { size: 256, fieldMm: 320 });
  const out = fuser.fuse(line.render(line.plan(0, [])).frames);
  const G2 = 256 * 256;
  let atOne = 0;
  for (const m of MODALITIES) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < G2; i++) {
      if (!out[CHANNEL.mask[m] * G2 + i]) continue;
      const v = out[CH[m] * G2 + i];
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
      if (m === 'xray' && v === 1) atOne++;
    }
    t.ok(lo >= 0 && hi <= 1, `${m}: ${lo.toFixed(4)} .. ${hi.toFixed(4)}`);
  }
  // beside the wafer the beam is open: transmission 1, which noise and flat-field error push above 1 in some cells
  t.ok(atOne > 1000, `${atOne} X-ray cells at exactly 1: the open beam, clipped`);
  let offStep = 0;
  for (let i = 0; i < out.length; i++) if (Math.abs(Math.round(out[i] * 65535) - out[i] * 65535) > 0.01) offStep++; // float32 holds k / 65535 to ~0.004 of a step
  t.equal(offStep, 0, 'every value on a 16-bit step, as the arrays store it');
});
