import type { DefectClass, TruthDefect } from '../common/defects.js';
import { Burr, Chip } from './edge-shapes.js';
import type { LookName } from './look.js';
import type { Rng } from './rng.js';
import { Blob, extentOf, Gaussian, Strokes, type Segment, type Shape } from './shapes.js';

/**
 * How a defect changes each modality where it covers a pixel (coverage c in 0..1):
 * - visible `scale`: RGB × (1 + c·(f − 1)); `paint`: blend towards a colour; `outside`: blend towards the chuck;
 * - infrared `add`: scene counts + c·amount; `outside`: blend towards the chuck's counts;
 * - X-ray `scale`: transmission × (1 + c·(f − 1)); `outside`: open beam; `material`: blend towards transmission t.
 * A modality with no effect does not show the defect at all (contracts §3).
 */
export type VisibleEffect = { op: 'scale'; f: [number, number, number] } | { op: 'paint'; rgb: [number, number, number]; opacity: number } | { op: 'outside' };
export type InfraredEffect = { op: 'add'; amount: number } | { op: 'outside' };
export type XrayEffect = { op: 'scale'; f: number } | { op: 'outside' } | { op: 'material'; t: number };

export interface Defect {
  class: DefectClass;
  shape: Shape;
  visible?: VisibleEffect;
  infrared?: InfraredEffect;
  xray?: XrayEffect;
  truth: TruthDefect;
}

/**
 * Size range per class (largest extent, mm), sampled log-uniformly so small and large defects are
 * equally common per decade. Together they span about 1 to 70 mm.
 */
export const SIZE_RANGE_MM: Record<DefectClass, [number, number]> = {
  'edge-burr': [2, 40],
  'edge-chip': [1, 12],
  scratch: [2, 70],
  particle: [1, 5],
  stain: [4, 60],
  crack: [3, 50],
  void: [1, 20],
  hotspot: [2, 40],
};

/** A wanted defect: class and, optionally, where and how big; the rest is sampled. */
export interface DefectRequest {
  class: DefectClass;
  xMm?: number;
  yMm?: number;
  sizeMm?: number;
}

const NOTCH_ANGLE = -Math.PI / 2;

function rimAngle(rng: Rng, req: DefectRequest): number {
  if (req.xMm !== undefined && req.yMm !== undefined) return Math.atan2(req.yMm, req.xMm);
  for (;;) {
    const t = rng.range(-Math.PI, Math.PI);
    let d = t - NOTCH_ANGLE;
    d -= 2 * Math.PI * Math.round(d / (2 * Math.PI));
    if (Math.abs(d) > 0.18) return t;
  }
}

/** A centre uniformly distributed over the disc, far enough in that a defect of this reach stays on the wafer. */
function surfacePlace(rng: Rng, req: DefectRequest, radius: number, reach: number): [number, number] {
  if (req.xMm !== undefined && req.yMm !== undefined) return [req.xMm, req.yMm];
  const rmax = Math.max(5, radius - 4 - reach);
  const r = rmax * Math.sqrt(rng.next());
  const t = rng.range(-Math.PI, Math.PI);
  return [r * Math.cos(t), r * Math.sin(t)];
}

function harmonics(rng: Rng, strength: number): Array<{ k: number; a: number; phase: number }> {
  return [2, 3, 5].map((k, i) => ({ k, a: (rng.next() * strength) / (1 + i), phase: rng.range(0, 6.283) }));
}

/** Polyline through a gently curved or jagged path, `n` segments, centred on (cx, cy). */
function path(rng: Rng, cx: number, cy: number, length: number, n: number, jitter: number, bend: number, width: number): Segment[] {
  const pts: Array<[number, number]> = [[0, 0]];
  let a = rng.range(-Math.PI, Math.PI);
  const step = length / n;
  for (let i = 0; i < n; i++) {
    a += bend + rng.gauss() * jitter;
    const [x, y] = pts[pts.length - 1];
    pts.push([x + step * Math.cos(a), y + step * Math.sin(a)]);
  }
  const [mx, my] = [(pts[0][0] + pts[n][0]) / 2, (pts[0][1] + pts[n][1]) / 2];
  const segs: Segment[] = [];
  for (let i = 0; i < n; i++) {
    segs.push({ x0: pts[i][0] - mx + cx, y0: pts[i][1] - my + cy, x1: pts[i + 1][0] - mx + cx, y1: pts[i + 1][1] - my + cy, width });
  }
  return segs;
}

function finish(cls: DefectClass, shape: Shape, effects: Omit<Defect, 'class' | 'shape' | 'truth'>): Defect {
  const e = extentOf(shape.outline());
  const round = (v: number): number => Math.round(v * 100) / 100;
  return { class: cls, shape, ...effects, truth: { class: cls, xMm: round(e.xMm), yMm: round(e.yMm), sizeMm: round(e.sizeMm) } };
}

/**
 * `look` changes how some classes appear: at the `plant` look particles are organic residue,
 * translucent and near the film's colour in the visible, but absorbing in the infrared.
 */
export function sampleDefect(rng: Rng, req: DefectRequest, radius: number, look: LookName = 'default'): Defect {
  const [lo, hi] = SIZE_RANGE_MM[req.class];
  const size = req.sizeMm ?? rng.logRange(lo, hi);
  switch (req.class) {
    case 'edge-burr': {
      const t = rimAngle(rng, req);
      const shape = new Burr(radius, t, size, rng.range(0.35, 1.5), () => rng.next());
      const level = rng.range(120, 210);
      return finish('edge-burr', shape, {
        visible: { op: 'paint', rgb: [level, level * rng.range(0.95, 1.02), level * rng.range(0.92, 1.02)], opacity: rng.range(0.8, 1) },
        xray: { op: 'material', t: rng.range(0.72, 0.88) },
      });
    }
    case 'edge-chip': {
      const t = rimAngle(rng, req);
      const rb = size / 2;
      const at = radius + rb * rng.range(-0.2, 0.45);
      const bite = new Blob(at * Math.cos(t), at * Math.sin(t), rb, harmonics(rng, 0.18), 1, 0);
      return finish('edge-chip', new Chip(radius, bite), { visible: { op: 'outside' }, infrared: { op: 'outside' }, xray: { op: 'outside' } });
    }
    case 'scratch': {
      const [cx, cy] = surfacePlace(rng, req, radius, size / 2);
      const n = 16;
      const shape = new Strokes(path(rng, cx, cy, size, n, 0.004, rng.range(-0.35, 0.35) / n, rng.range(0.08, 0.35)));
      const f = rng.next() < 0.6 ? 1 + rng.range(0.4, 0.9) : 1 - rng.range(0.4, 0.75);
      return finish('scratch', shape, { visible: { op: 'scale', f: [f, f, f] } });
    }
    case 'particle': {
      const [cx, cy] = surfacePlace(rng, req, radius, size / 2);
      const shape = new Blob(cx, cy, size / 2 / 1.25, harmonics(rng, 0.25), rng.range(0.8, 1.25), rng.range(0, 3.14));
      if (look === 'plant') {
        const v = rng.range(110, 170);
        return finish('particle', shape, {
          visible: { op: 'paint', rgb: [v, v * rng.range(0.95, 1.05), v * rng.range(0.9, 1.0)], opacity: rng.range(0.2, 0.45) },
          infrared: { op: 'add', amount: -rng.range(150, 400) },
        });
      }
      const v = rng.next() < 0.7 ? rng.range(15, 70) : rng.range(200, 250);
      return finish('particle', shape, { visible: { op: 'paint', rgb: [v, v * rng.range(0.9, 1.1), v * rng.range(0.85, 1.1)], opacity: rng.range(0.75, 1) } });
    }
    case 'stain': {
      const [cx, cy] = surfacePlace(rng, req, radius, size / 2);
      const soft = rng.range(0.5, Math.max(0.6, size / 12));
      const shape = new Blob(cx, cy, size / 2 / 1.4, harmonics(rng, 0.5), rng.range(0.7, 1.4), rng.range(0, 3.14), soft);
      const a = rng.range(0.08, 0.2);
      const f: [number, number, number] = [1 - a * rng.range(0.2, 1), 1 - a * rng.range(0.2, 1), 1 - a * rng.range(0.2, 1)];
      return finish('stain', shape, { visible: { op: 'scale', f }, infrared: { op: 'add', amount: rng.sign() * rng.range(40, 110) } });
    }
    case 'crack': {
      const [cx, cy] = surfacePlace(rng, req, radius, size / 2);
      const n = Math.max(4, Math.round(size / 1.6));
      const w = rng.range(0.1, 0.35);
      const main = path(rng, cx, cy, size, n, 0.35, 0, w);
      const segs = [...main];
      const branches = 1 + rng.int(3);
      for (let b = 0; b < branches; b++) {
        const from = main[1 + rng.int(n - 2)];
        const len = size * rng.range(0.15, 0.4);
        const nb = Math.max(2, Math.round(len / 1.6));
        const br = path(rng, 0, 0, len, nb, 0.35, 0, w * 0.6);
        const [ox, oy] = [from.x1 - br[0].x0, from.y1 - br[0].y0];
        for (const s of br) segs.push({ ...s, x0: s.x0 + ox, y0: s.y0 + oy, x1: s.x1 + ox, y1: s.y1 + oy });
      }
      const shape = new Strokes(segs);
      const fv = 1 - rng.range(0.1, 0.22);
      return finish('crack', shape, {
        visible: { op: 'scale', f: [fv, fv, fv] },
        infrared: { op: 'add', amount: -rng.range(900, 2200) },
        xray: { op: 'scale', f: 1 + rng.range(0.12, 0.3) },
      });
    }
    case 'void': {
      const [cx, cy] = surfacePlace(rng, req, radius, size / 2);
      const shape = new Blob(cx, cy, size / 2 / 1.1, harmonics(rng, 0.06), rng.range(0.85, 1.18), rng.range(0, 3.14));
      return finish('void', shape, { xray: { op: 'scale', f: 1 + rng.range(0.18, 0.45) }, infrared: { op: 'add', amount: -rng.range(40, 120) } });
    }
    case 'hotspot': {
      const [cx, cy] = surfacePlace(rng, req, radius, size / 2);
      const aspect = rng.range(0.7, 1.4);
      const sigma = size / (2 * Math.sqrt(2 * Math.log(10))) / Math.max(aspect, 1);
      const shape = new Gaussian(cx, cy, sigma * aspect, sigma, rng.range(0, 3.14));
      return finish('hotspot', shape, { infrared: { op: 'add', amount: rng.range(250, 1500) } });
    }
  }
}
