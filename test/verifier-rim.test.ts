import t from 'tap';
import type { Affine } from '../src/common/affine.js';
import { NOTCH_DEG, traceRim, type RimProfile } from '../src/fusion/rim.js';
import { manifestSchema } from '../src/model/manifest.js';
import { rimPlaces } from '../src/model/rim.js';
import type { DefectRequest } from '../src/sim/defects.js';
import { SyntheticLine } from '../src/sim/line.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './helpers.js';

/**
 * The rim traced round the visible frame: an edge chip of a millimetre is a bite the trace finds
 * first among the places the rim stands in, a burr the first it stands out, wherever the wafer sits
 * on the chuck, and a good wafer's rim (notch and all) stands off its circle by the frame's noise only.
 */
const line = new SyntheticLine({ seed: 4242, defectRate: 0, maxDefects: 1, poolSize: 0 });
const cam = line.station.cameras.visible;
const R = line.station.waferDiameterMm / 2;

/** A rendered wafer's rim, traced as fusion traces it. */
function rimOf(index: number, defects: DefectRequest[], shiftMm: [number, number] = [0, 0]): { rim: RimProfile; truth: Array<{ class: string; xMm: number; yMm: number; sizeMm: number }> } {
  const w = line.render(line.plan(index, defects));
  const f = w.frames.visible;
  // the geometry the appliance believes: the wafer off the chuck's centre by shiftMm
  const [[a, b, c], [d, e, g]] = cam.pxToMm;
  const pxToMm: Affine = [[a, b, c - shiftMm[0]], [d, e, g - shiftMm[1]]];
  return { rim: traceRim({ width: f.width, height: f.height, data: f.data as Uint8Array, pxToMm }, R), truth: w.truth };
}

const PLACES = { top: 2, minMm: 0.15 };

t.test('a good wafer: the rim follows its circle within the noise, the notch left out, on the chuck or off it', async (t) => {
  for (const shift of [[0, 0], [0.8, -0.6]] as Array<[number, number]>) {
    const { rim } = rimOf(1, [], shift);
    const rays = rim.off.length;
    const read = Array.from(rim.off).filter(Number.isFinite);
    t.ok(read.length > 0.95 * rays, `most rays read (${read.length} of ${rays})`);
    const worst = Math.max(...read.map(Math.abs));
    t.ok(worst < 0.15, `shift ${shift}: worst ray ${worst.toFixed(3)} mm off the circle`);
    t.same(rimPlaces(rim, { side: -1, ...PLACES }), [], 'no bite');
    t.same(rimPlaces(rim, { side: 1, ...PLACES }), [], 'nothing beyond the rim');
    const notch = (NOTCH_DEG * Math.PI) / 180;
    const ray = Math.round(((notch + Math.PI) / (2 * Math.PI)) * rays);
    t.notOk(rim.usable[ray], 'the notch is not read as a bite');
  }
});

t.test('an edge chip of a millimetre is the deepest bite, a burr the furthest out, at their places, each spanning its size of rim', async (t) => {
  const cases: Array<{ req: DefectRequest; side: -1 | 1 }> = [
    { req: { class: 'edge-chip', xMm: R * Math.cos(0.7), yMm: R * Math.sin(0.7), sizeMm: 1 }, side: -1 },
    { req: { class: 'edge-chip', xMm: R * Math.cos(2.9), yMm: R * Math.sin(2.9), sizeMm: 1.3 }, side: -1 },
    { req: { class: 'edge-burr', xMm: R * Math.cos(-0.4), yMm: R * Math.sin(-0.4), sizeMm: 2 }, side: 1 },
    // deeper than the rays reach: its middle cannot be read, and still belongs to its run
    { req: { class: 'edge-chip', xMm: R * Math.cos(1.9), yMm: R * Math.sin(1.9), sizeMm: 8 }, side: -1 },
    // a long burr's jagged top dips between its teeth
    { req: { class: 'edge-burr', xMm: R * Math.cos(-2.2), yMm: R * Math.sin(-2.2), sizeMm: 20 }, side: 1 },
  ];
  for (const [i, c] of cases.entries()) {
    const { rim, truth } = rimOf(10 + i, [c.req], [0.8, 0.6]);
    const places = rimPlaces(rim, { side: c.side, ...PLACES });
    t.ok(places.length >= 1, `${c.req.class} ${c.req.sizeMm} mm: found`);
    const p = places[0];
    const d = truth[0];
    const apart = Math.hypot(p.xMm - d.xMm, p.yMm - d.yMm);
    t.ok(apart < d.sizeMm / 2 + 1.5, `${c.req.class}: ${apart.toFixed(2)} mm from the truth`);
    t.ok(p.deviationMm * c.side > 0.2, `${c.req.class}: stands ${p.deviationMm.toFixed(2)} mm off`);
    t.ok(Math.abs(p.arcMm - d.sizeMm) <= Math.max(0.8, 0.1 * d.sizeMm), `${c.req.class} of ${d.sizeMm.toFixed(2)} mm: spans ${p.arcMm.toFixed(2)} mm of rim`);
    const other = rimPlaces(rim, { side: c.side === -1 ? 1 : -1, ...PLACES });
    t.ok(other.every((q) => Math.hypot(q.xMm - d.xMm, q.yMm - d.yMm) > 3 || Math.abs(q.deviationMm) < 0.3), 'not read the other way round');
  }
});

t.test('a manifest refuses rim places for a class its verifier does not check', async (t) => {
  const m = JSON.parse(readFileSync(join(REPO_ROOT, 'models/wafer-mm-14/model.json'), 'utf8'));
  t.ok(manifestSchema.safeParse(m).success, 'the shipped manifest is valid');
  m.verifier.rim.void = { side: 'inside', top: 2, minMm: 0.15 };
  const r = manifestSchema.safeParse(m);
  t.notOk(r.success);
  t.match(JSON.stringify(r.error?.issues), /rim places for a class the verifier does not check/);
  delete m.verifier.rim.void;
  m.verifier.rimSizeFits = { scratch: { slope: 1, offset: 0, spread: 0.5 } };
  const f = manifestSchema.safeParse(m);
  t.notOk(f.success);
  t.match(JSON.stringify(f.error?.issues), /a rim size fit for a class without rim places/);
});
