import type { MapGeometry } from '../model/map.js';

export type { MapGeometry };

/**
 * Connected regions of a score map at or above a level (8-connected): where a spec's defect kind is,
 * how big and how sure. The map is the model's output grid in wafer mm (row 0 at the top).
 */
export interface Region {
  /** score-weighted centre, wafer mm */
  xMm: number;
  yMm: number;
  /**
   * largest extent: the farthest-apart cells' centres plus one cell, over the cells connected to the
   * region at the measuring level (its own level unless one is given)
   */
  sizeMm: number;
  /** highest score in the region */
  score: number;
  cells: number;
}


/**
 * A spec's defects in its normalised map (threshold 0.5), as the judge and the size calibration both
 * take them: found where the score reaches the threshold, measured where it stays above half of it.
 * The model often scores a long scratch above the threshold along a fragment only, and the cells
 * beside it, a little lower, carry the rest of its length: measured so, scratch lengths on the sizes
 * lot spread 5.8 mm around their size fit instead of 12.1 (README, "Sizes").
 */
export function defectRegions(normalised: Float32Array, g: MapGeometry): Region[] {
  return regions(normalised, g, 0.5, 0, 0.25);
}

/** The cells 8-connected to `start` at or above `level`, marked in `seen` as they are taken. */
function component(map: Float32Array, N: number, offset: number, start: number, level: number, seen: Uint8Array): number[] {
  const stack = [start];
  seen[start] = 1;
  const members: number[] = [];
  while (stack.length) {
    const c = stack.pop()!;
    members.push(c);
    const r = Math.floor(c / N);
    const k = c - r * N;
    for (let dr = -1; dr <= 1; dr++) {
      for (let dk = -1; dk <= 1; dk++) {
        const rr = r + dr;
        const kk = k + dk;
        if (rr < 0 || kk < 0 || rr >= N || kk >= N) continue;
        const n = rr * N + kk;
        if (!seen[n] && map[offset + n] >= level) {
          seen[n] = 1;
          stack.push(n);
        }
      }
    }
  }
  return members;
}

/**
 * Largest distance between the centres of the cells, plus one cell, mm. The farthest pair lies on the
 * cells' convex hull, whose corners are each row's leftmost or rightmost cell: pairs of those (at most
 * two a row) instead of all pairs, since a component measured at half the threshold can be large.
 */
function extent(cells: number[], g: MapGeometry): number {
  const N = g.size;
  const lo = new Int32Array(N).fill(N);
  const hi = new Int32Array(N).fill(-1);
  for (const c of cells) {
    const r = Math.floor(c / N);
    const k = c - r * N;
    if (k < lo[r]) lo[r] = k;
    if (k > hi[r]) hi[r] = k;
  }
  const pts: Array<[number, number]> = [];
  for (let r = 0; r < N; r++) if (hi[r] >= 0) pts.push([r, lo[r]], [r, hi[r]]);
  let far = 0;
  for (let i = 0; i < pts.length; i++) for (let j = i + 1; j < pts.length; j++) far = Math.max(far, Math.hypot(pts[i][0] - pts[j][0], pts[i][1] - pts[j][1]));
  return far * g.cellMm + g.cellMm;
}

/**
 * Regions at or above `level`; each one's size is measured over the cells connected to it at or
 * above `measureLevel` (at most `level`), so regions that touch there share their size.
 */
export function regions(map: Float32Array, g: MapGeometry, level: number, offset = 0, measureLevel = level): Region[] {
  const N = g.size;
  const seen = new Uint8Array(N * N);
  const grown = measureLevel < level ? new Uint8Array(N * N) : null;
  const sizes = new Map<number, number>();
  const out: Region[] = [];
  for (let start = 0; start < N * N; start++) {
    if (seen[start] || map[offset + start] < level) continue;
    const members = component(map, N, offset, start, level, seen);
    let sw = 0;
    let sx = 0;
    let sy = 0;
    let best = 0;
    for (const c of members) {
      const r = Math.floor(c / N);
      const k = c - r * N;
      const w = map[offset + c] - level + 1e-6;
      sw += w;
      sx += w * (g.x0 + (k + 0.5) * g.cellMm);
      sy += w * (g.y0 - (r + 0.5) * g.cellMm);
      best = Math.max(best, map[offset + c]);
    }
    // regions inside one measuring component share it: measured once, looked up by any of its cells
    if (grown && !grown[members[0]]) {
      const cells = component(map, N, offset, members[0], measureLevel, grown);
      const size = extent(cells, g);
      for (const c of cells) sizes.set(c, size);
    }
    const sizeMm = grown ? sizes.get(members[0])! : extent(members, g);
    out.push({ xMm: sx / sw, yMm: sy / sw, sizeMm, score: best, cells: members.length });
  }
  return out.sort((a, b) => b.score - a.score);
}
