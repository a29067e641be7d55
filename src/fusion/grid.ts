import type { Modality } from '../common/modality.js';

/**
 * The wafer-mm grid every modality is mapped onto: size x size square cells covering fieldMm x fieldMm
 * centred on the wafer. Row 0 is the top (largest y), column 0 the left (smallest x), so the tensor
 * looks like the visible camera's view with the notch at the bottom.
 */
export interface GridSpec {
  size: number;
  fieldMm: number;
  /**
   * Only cells within this distance of the wafer centre are computed; the rest stay zero with mask 0.
   * The square's corners hold only chuck, so leaving them out saves a fifth of the pixel work.
   */
  roiRadiusMm?: number;
}

export interface Grid extends GridSpec {
  mmPerCell: number;
  /** x of the left edge, y of the top edge */
  x0: number;
  y0: number;
}

export function makeGrid(spec: GridSpec): Grid {
  return { ...spec, mmPerCell: spec.fieldMm / spec.size, x0: -spec.fieldMm / 2, y0: spec.fieldMm / 2 };
}

/** Cell (row, col) containing wafer point (x, y), or null when outside the grid. */
export function cellOf(grid: Grid, x: number, y: number): [number, number] | null {
  const col = Math.floor((x - grid.x0) / grid.mmPerCell);
  const row = Math.floor((grid.y0 - y) / grid.mmPerCell);
  return col < 0 || row < 0 || col >= grid.size || row >= grid.size ? null : [row, col];
}

export function cellCentre(grid: Grid, row: number, col: number): [number, number] {
  return [grid.x0 + (col + 0.5) * grid.mmPerCell, grid.y0 - (row + 0.5) * grid.mmPerCell];
}

/**
 * The fused tensor's channels, planar (channel, row, col), float32, grouped by modality so a model
 * can take each modality as one contiguous slice: visible RGB 0..1 and its mask, infrared
 * (normalised by the station's calibration) and its mask, X-ray transmission and its mask. A mask is
 * 1 where the modality's camera sees the cell and its frame was usable, 0 elsewhere.
 */
export const TENSOR_CHANNELS = ['visible-r', 'visible-g', 'visible-b', 'mask-visible', 'infrared', 'mask-infrared', 'xray', 'mask-xray'] as const;
export const CHANNEL = { visible: 0, infrared: 4, xray: 6, mask: { visible: 3, infrared: 5, xray: 7 } } as const;

/** Leaves a modality out of a fused tensor as fusion leaves a missing frame: values and mask zero. */
export function blankModality(tensor: Float32Array, cells: number, m: Modality): void {
  tensor.fill(0, CHANNEL[m] * cells, (CHANNEL.mask[m] + 1) * cells);
}
