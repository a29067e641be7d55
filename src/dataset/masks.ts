import { DEFECT_CLASSES, type TruthDefect } from '../common/defects.js';
import type { Grid } from '../fusion/grid.js';
import type { Shape } from '../sim/shapes.js';

/**
 * A class is present in a cell when some sub-square (a quarter of the cell's side) is covered at
 * least this much: a 0.08 mm scratch covers 25% of a 0.31 mm sub-square; a hot spot reaches it
 * a little outside its 10%-of-peak extent.
 */
const PRESENT = 0.05;

const SUB = 4;

/** Largest coverage among SUB x SUB sub-squares of the cell. */
function cellCover(shape: Shape, x: number, y: number, cell: number): number {
  const p = cell / SUB;
  let best = 0;
  for (let i = 0; i < SUB; i++) for (let j = 0; j < SUB; j++) best = Math.max(best, shape.coverage(x + (i + 0.5 - SUB / 2) * p, y + (j + 0.5 - SUB / 2) * p, p));
  return best;
}

/**
 * Per-cell class masks, one byte per cell with bit k set where class k (DEFECT_CLASSES order) is
 * present. Exact shapes when the lot was rendered by the synthetic line; otherwise discs of the
 * truth's size around its centre.
 */
export function rasterise(grid: Grid, defects: Array<{ class: string; shape?: Shape; truth: TruthDefect }>, out = new Uint8Array(grid.size * grid.size)): Uint8Array {
  out.fill(0);
  const G = grid.size;
  const cell = grid.mmPerCell;
  for (const d of defects) {
    const k = (DEFECT_CLASSES as readonly string[]).indexOf(d.class);
    if (k < 0) continue;
    const bit = 1 << k;
    const r = Math.max(d.truth.sizeMm / 2, cell / 2);
    const box = d.shape?.bbox ?? [d.truth.xMm - r, d.truth.yMm - r, d.truth.xMm + r, d.truth.yMm + r];
    const c0 = Math.max(0, Math.floor((box[0] - grid.x0) / cell));
    const c1 = Math.min(G - 1, Math.floor((box[2] - grid.x0) / cell));
    const r0 = Math.max(0, Math.floor((grid.y0 - box[3]) / cell));
    const r1 = Math.min(G - 1, Math.floor((grid.y0 - box[1]) / cell));
    for (let row = r0; row <= r1; row++) {
      const y = grid.y0 - (row + 0.5) * cell;
      for (let col = c0; col <= c1; col++) {
        const x = grid.x0 + (col + 0.5) * cell;
        const cover = d.shape ? cellCover(d.shape, x, y, cell) : Math.hypot(x - d.truth.xMm, y - d.truth.yMm) <= r ? 1 : 0;
        if (cover >= PRESENT) out[row * G + col] |= bit;
      }
    }
  }
  return out;
}
