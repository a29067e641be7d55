import t from 'tap';
import { DIE_PLACES, DieCompare } from '../src/fusion/die-places.js';
import type { DefectRequest } from '../src/sim/defects.js';
import { SyntheticLine } from '../src/sim/line.js';

/**
 * The visible frame against its neighbouring dies: the die pitch the wafer was printed with is found
 * from its pixels, and a short scratch the model's map does not reach, in the middle of the wafer or
 * near its rim, is among the first places where the frame differs from its dies.
 */
const line = new SyntheticLine({ seed: 7117, defectRate: 0, maxDefects: 1, poolSize: 0 });
const cam = line.station.cameras.visible;
const R = line.station.waferDiameterMm / 2;
let compare: DieCompare | undefined;

function placesOf(index: number, defects: DefectRequest[], top = 3) {
  const w = line.render(line.plan(index, defects));
  const f = w.frames.visible;
  compare ??= new DieCompare(cam.pxToMm, f.width, f.height, R);
  const frame = { width: f.width, height: f.height, data: f.data as Uint8Array, pxToMm: cam.pxToMm };
  return { ...compare.places(frame, top), truth: w.truth, look: w.look };
}

t.test('the die pitch along each axis is the one the wafer was printed with', async (t) => {
  for (const index of [1, 2, 3]) {
    const { diePitchMm, look } = placesOf(index, []);
    t.ok(Math.abs(diePitchMm[0] - look.diePitchX) < 0.05, `x: ${diePitchMm[0].toFixed(3)} mm found, ${look.diePitchX.toFixed(3)} printed`);
    t.ok(Math.abs(diePitchMm[1] - look.diePitchY) < 0.05, `y: ${diePitchMm[1].toFixed(3)} mm found, ${look.diePitchY.toFixed(3)} printed`);
  }
});

t.test('a short scratch is among the first three places, in the middle or in the outer ring', async (t) => {
  const cases: DefectRequest[] = [
    { class: 'scratch', xMm: 20, yMm: -35, sizeMm: 4 },
    { class: 'scratch', xMm: -60, yMm: 70, sizeMm: 3 },
    { class: 'scratch', xMm: 95, yMm: -85, sizeMm: 6 },
  ];
  for (const [i, req] of cases.entries()) {
    const { places, truth } = placesOf(20 + i, [req]);
    const d = truth[0];
    const near = places.findIndex((p) => Math.hypot(p.xMm - d.xMm, p.yMm - d.yMm) <= d.sizeMm / 2 + 2.5);
    t.ok(near >= 0, `scratch of ${d.sizeMm.toFixed(1)} mm at (${d.xMm.toFixed(0)}, ${d.yMm.toFixed(0)}): place ${near} of ${JSON.stringify(places.map((p) => [Math.round(p.xMm), Math.round(p.yMm), p.count]))}`);
  }
});

t.test("a scratch's place measures its length, short or crossing the printed dies' edges", async (t) => {
  const cases: DefectRequest[] = [
    { class: 'scratch', xMm: 20, yMm: -35, sizeMm: 4 },
    { class: 'scratch', xMm: -60, yMm: 70, sizeMm: 10 },
    { class: 'scratch', xMm: 95, yMm: -85, sizeMm: 18 },
    { class: 'scratch', xMm: 40, yMm: 30, sizeMm: 35 },
  ];
  for (const [i, req] of cases.entries()) {
    const { places, truth } = placesOf(40 + i, [req], DIE_PLACES);
    const d = truth[0];
    const near = places.filter((p) => Math.hypot(p.xMm - d.xMm, p.yMm - d.yMm) <= d.sizeMm / 2 + 2.5);
    const longest = Math.max(0, ...near.map((p) => p.extentMm));
    t.ok(Math.abs(longest - d.sizeMm) <= 1.5 + 0.1 * d.sizeMm, `scratch of ${d.sizeMm.toFixed(1)} mm: ${longest.toFixed(1)} mm measured at ${near.length} places`);
  }
  const good = placesOf(60, [], DIE_PLACES).places;
  t.ok(good.every((p) => p.extentMm < 12), `a good wafer's places are small: ${good.map((p) => p.extentMm.toFixed(1)).join(', ')} mm`);
});
