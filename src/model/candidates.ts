import type { MapGeometry } from './map.js';

/** A place a spec's map peaks: the centre of the cell, wafer mm, and its raw score. */
export interface Candidate {
  xMm: number;
  yMm: number;
  score: number;
}

/**
 * The `top` highest local maxima of one map (a cell no lower than any of its eight neighbours) at or
 * above `min`, highest first: where a closer look at the wafer would go. Unlike regions at a
 * threshold they include the places a defect scores too low to be found, which is what a second look
 * at finer evidence (the visible frame's own pixels) has to start from.
 */
export function localMaxima(map: Float32Array, g: MapGeometry, opts: { top: number; min: number; offset?: number }): Candidate[] {
  const N = g.size;
  const o = opts.offset ?? 0;
  const out: Candidate[] = [];
  for (let r = 0; r < N; r++) {
    for (let k = 0; k < N; k++) {
      const v = map[o + r * N + k];
      if (v < opts.min) continue;
      let peak = true;
      for (let dr = -1; dr <= 1 && peak; dr++) {
        for (let dk = -1; dk <= 1; dk++) {
          const rr = r + dr;
          const kk = k + dk;
          if ((dr || dk) && rr >= 0 && kk >= 0 && rr < N && kk < N && map[o + rr * N + kk] > v) {
            peak = false;
            break;
          }
        }
      }
      if (peak) out.push({ xMm: g.x0 + (k + 0.5) * g.cellMm, yMm: g.y0 - (r + 0.5) * g.cellMm, score: v });
    }
  }
  return out.sort((a, b) => b.score - a.score).slice(0, opts.top);
}

/** The highest score of one map in the cell a place falls in and the eight around it: the map's evidence near a place found otherwise. */
export function mapNear(map: Float32Array, g: MapGeometry, xMm: number, yMm: number, offset = 0): number {
  const N = g.size;
  const k = Math.floor((xMm - g.x0) / g.cellMm);
  const r = Math.floor((g.y0 - yMm) / g.cellMm);
  let best = 0;
  for (let rr = r - 1; rr <= r + 1; rr++) {
    for (let kk = k - 1; kk <= k + 1; kk++) {
      if (rr >= 0 && kk >= 0 && rr < N && kk < N) best = Math.max(best, map[offset + rr * N + kk]);
    }
  }
  return best;
}
