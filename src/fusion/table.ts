import { applyAffine, invertAffine, type Affine } from '../common/affine.js';
import type { Grid } from './grid.js';

/**
 * Where each pixel of a camera lands on the grid, computed once per (camera size, geometry, grid)
 * and reused for every wafer. Pixels are walked in memory order as runs that fall in one cell,
 * each run packed into one word (length << 21 | cell, at most MAX_LEN pixels), with SKIP runs over pixels outside the
 * region of interest, so the per-wafer pass is a tight sum with one table read per run.
 */
export const SKIP = 0x1fffff;
export const LEN_SHIFT = 21;
/**
 * Longest run: 127 groups of 4 pixels, so that the visible sums' 16-bit lanes (fuse.ts) cannot
 * overflow within a run. Only cells wider than that many pixels, on very coarse grids, are split.
 */
export const MAX_LEN = 508;

export interface GridTable {
  width: number;
  height: number;
  /** packed runs covering pixels 0 .. end of the last run, in order */
  runs: Uint32Array;
  /** 1 / (pixels in cell), 0 for cells no pixel reaches */
  invCount: Float32Array;
  /** cells inside the region but too small to hold a pixel: cell index and nearest pixel index */
  gather: Int32Array;
  /** 1 where the camera sees the cell inside the region of interest */
  seen: Uint8Array;
}

export function buildGridTable(width: number, height: number, pxToMm: Affine, grid: Grid): GridTable {
  const [[a, b, c0], [d, e, f0]] = pxToMm;
  const G = grid.size;
  const inv = 1 / grid.mmPerCell;
  const inRoi = roiMask(grid);
  const counts = new Uint32Array(G * G);
  const runs: number[] = [];
  let pending = 0; // pixels not yet covered by a run
  const push = (len: number, cell: number): void => {
    while (len > 0) {
      const n = Math.min(len, MAX_LEN);
      runs.push(n * 2 ** LEN_SHIFT + cell);
      len -= n;
    }
  };
  for (let row = 0; row < height; row++) {
    let cur = -2;
    let len = 0;
    for (let col = 0; col <= width; col++) {
      let cell = -1;
      if (col < width) {
        const x = a * col + b * row + c0;
        const y = d * col + e * row + f0;
        const gc = Math.floor((x - grid.x0) * inv);
        const gr = Math.floor((grid.y0 - y) * inv);
        if (gc >= 0 && gr >= 0 && gc < G && gr < G && inRoi[gr * G + gc]) cell = gr * G + gc;
      } else cell = -3; // flush at the end of each row
      if (cell !== cur) {
        if (cur >= 0) {
          if (pending > 0) push(pending, SKIP);
          pending = 0;
          push(len, cur);
        } else if (cur === -1) pending += len;
        cur = cell;
        len = 0;
      }
      len++;
      if (cell >= 0) counts[cell]++;
    }
  }
  const invCount = new Float32Array(G * G);
  const seen = new Uint8Array(G * G);
  const gather: number[] = [];
  const mmToPx = invertAffine(pxToMm);
  for (let cell = 0; cell < G * G; cell++) {
    if (counts[cell] > 0) {
      invCount[cell] = 1 / counts[cell];
      seen[cell] = 1;
      continue;
    }
    if (!inRoi[cell]) continue;
    const r = Math.floor(cell / G);
    const c = cell % G;
    const [px, py] = applyAffine(mmToPx, grid.x0 + (c + 0.5) * grid.mmPerCell, grid.y0 - (r + 0.5) * grid.mmPerCell);
    const col = Math.round(px);
    const row = Math.round(py);
    if (col >= 0 && row >= 0 && col < width && row < height) {
      gather.push(cell, row * width + col);
      seen[cell] = 1;
    }
  }
  return { width, height, runs: Uint32Array.from(runs), invCount, gather: Int32Array.from(gather), seen };
}

/** Cells whose nearest point lies within the region-of-interest radius of the wafer centre. */
function roiMask(grid: Grid): Uint8Array {
  const G = grid.size;
  const m = new Uint8Array(G * G);
  const r = grid.roiRadiusMm ?? Infinity;
  const h = grid.mmPerCell / 2;
  for (let row = 0; row < G; row++) {
    for (let col = 0; col < G; col++) {
      const x = Math.max(0, Math.abs(grid.x0 + (col + 0.5) * grid.mmPerCell) - h);
      const y = Math.max(0, Math.abs(grid.y0 - (row + 0.5) * grid.mmPerCell) - h);
      m[row * G + col] = x * x + y * y <= r * r ? 1 : 0;
    }
  }
  return m;
}
