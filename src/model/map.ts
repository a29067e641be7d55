import type { ModelManifest } from './manifest.js';

/** Where a model's score cells lie on the wafer. */
export interface MapGeometry {
  size: number;
  cellMm: number;
  /** x of the left edge and y of the top edge, mm */
  x0: number;
  y0: number;
}

export function scoreMap(m: ModelManifest): MapGeometry {
  const size = m.grid.size / m.outputStride;
  return { size, cellMm: m.grid.fieldMm / size, x0: -m.grid.fieldMm / 2, y0: m.grid.fieldMm / 2 };
}
