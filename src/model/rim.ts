import { rayAngle, type RimProfile } from '../fusion/rim.js';

/**
 * Where the rim traced by fusion (src/fusion/rim.ts) stands off its circle: places a crop verifier
 * must look at whatever the model's map says, and the arc of rim each spans.
 */
export interface RimPlace {
  xMm: number;
  yMm: number;
  /** how far the rim stands out of its circle there, mm: negative inside (a bite), positive outside */
  deviationMm: number;
  /** the arc, mm, of the run of rays around it standing off on the same side (ARC_SHARE of it at least) */
  arcMm: number;
}

/** Rim places closer than this would be cut into one crop: the deepest stands for them. */
const APART_MM = 6;

/**
 * The `top` places the rim stands furthest off its circle on one side (`side` -1: inside, +1:
 * outside), at least `minMm`, each at least APART_MM of arc from a deeper one; deepest first. A place
 * is on the rim, where a crop cut there shows both sides of it.
 */
export function rimPlaces(rim: RimProfile, o: { side: -1 | 1; top: number; minMm: number }): RimPlace[] {
  const { off } = rim;
  const rays = off.length;
  const apart = Math.max(1, Math.round(APART_MM / ((2 * Math.PI * rim.radiusMm) / rays)));
  const order: number[] = [];
  for (let i = 0; i < rays; i++) if (Number.isFinite(off[i]) && off[i] * o.side >= o.minMm) order.push(i);
  order.sort((a, b) => off[b] * o.side - off[a] * o.side);
  const taken: number[] = [];
  for (const i of order) {
    if (taken.length >= o.top) break;
    if (taken.some((j) => ringGap(i, j, rays) < apart)) continue;
    taken.push(i);
  }
  return taken.map((i) => {
    const a = rayAngle(i, rays);
    return { xMm: rim.radiusMm * Math.cos(a), yMm: rim.radiusMm * Math.sin(a), deviationMm: off[i], arcMm: arcAt(rim, i, o.side) };
  });
}

/**
 * A run of rays belongs to the place while each stands off on its side by this share of the place's
 * own deviation, and at least ARC_FLOOR_MM (above a good rim's noise): a burr's jagged top and a
 * chip's rounded bite stay in the run, the circle's noise beside them does not.
 */
const ARC_SHARE = 0.25;
const ARC_FLOOR_MM = 0.06;
/** Rays under that inside a run that goes on beyond them: a burr's jagged top dips. */
const ARC_GAP = 6;

/**
 * The arc length, mm, of the run of rays around ray `i` standing off on `side`: a ray in the frame that
 * could not be read stays in it, the notch or the frame's border ends it.
 */
function arcAt(rim: RimProfile, i: number, side: -1 | 1): number {
  const { off, usable } = rim;
  const rays = off.length;
  const least = Math.max(ARC_FLOOR_MM, ARC_SHARE * off[i] * side);
  let n = 1;
  for (const step of [-1, 1]) {
    let gap = 0;
    for (let k = 1; k < rays / 2; k++) {
      const r = (i + step * k + rays) % rays;
      const v = off[r];
      // a ray in the frame that could not be read has the rim beyond its samples: a deep bite's middle
      if (v * side >= least || (usable[r] && Number.isNaN(v))) {
        n += gap + 1;
        gap = 0;
      } else if (!usable[r] || ++gap > ARC_GAP) break;
    }
  }
  return (n * 2 * Math.PI * rim.radiusMm) / rays;
}

function ringGap(i: number, j: number, n: number): number {
  const d = Math.abs(i - j);
  return Math.min(d, n - d);
}
