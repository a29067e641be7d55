import type { Affine } from '../common/affine.js';
import { sumRgbRuns } from './fuse.js';
import { makeGrid, type Grid } from './grid.js';
import type { FramePixels } from './result.js';
import { buildGridTable, type GridTable } from './table.js';

/**
 * Places where the visible frame differs from its neighbouring dies. Dies repeat and a scratch does
 * not: the frame is averaged into CELL_MM cells along the wafer's axes (as fusion's grid, finer), the
 * die pitch along each axis is found from the cells themselves, and each cell is compared with the
 * same place one and two pitches away either way along both axes (eight neighbours, bilinear). A
 * cell stands out where it differs from their median by STANDOUT times the wafer's noise and by
 * SPREAD times the range of its four nearest: where those disagree with each other (the edge of the
 * printed dies, the rim's shading) nothing is read. The places are the blocks of BLOCK x BLOCK cells
 * where most cells stand out, for a crop verifier to judge, as the rim's places are (models/README.md,
 * "Scratches the map does not reach").
 */
export interface DiePlace {
  xMm: number;
  yMm: number;
  /** cells standing out in the 3 x 3 blocks around the place */
  count: number;
}

const FIELD_MM = 320;
const CELLS = 512;
const STANDOUT = 4.2;
const SPREAD = 1.5;
const BLOCK = 2;
const APART_MM = 6;
const RIM_MARGIN_MM = 1;
/** die pitches looked for, mm */
const PITCH_MM: [number, number] = [5.5, 23];
/** a shorter lag whose autocorrelation comes this close to the highest is the pitch, the highest a multiple of it */
const FIRST_PEAK = 0.7;
/** cells of chuck round the grid: two of the longest pitch and one more */
const PAD = Math.ceil((2 * PITCH_MM[1]) / (FIELD_MM / CELLS)) + 2;

export class DieCompare {
  readonly grid: Grid;
  private readonly table: GridTable;
  private readonly inside: Uint8Array;
  private readonly r: Float32Array;
  private readonly g: Float32Array;
  private readonly b: Float32Array;
  private readonly grey: Float32Array;
  private readonly residual: Float32Array;
  private readonly range: Float32Array;
  private readonly padded: Float32Array;
  private readonly spans: Int32Array;

  constructor(
    readonly pxToMm: Affine,
    readonly width: number,
    readonly height: number,
    readonly radiusMm: number,
  ) {
    this.grid = makeGrid({ size: CELLS, fieldMm: FIELD_MM, roiRadiusMm: radiusMm });
    this.table = buildGridTable(width, height, pxToMm, this.grid);
    const n = CELLS * CELLS;
    this.inside = new Uint8Array(n);
    const lim = (radiusMm - RIM_MARGIN_MM) ** 2;
    for (let i = 0; i < n; i++) {
      const [x, y] = this.centre(i);
      this.inside[i] = this.table.invCount[i] > 0 && x * x + y * y < lim ? 1 : 0;
    }
    this.r = new Float32Array(n);
    this.g = new Float32Array(n);
    this.b = new Float32Array(n);
    this.grey = new Float32Array(n);
    this.residual = new Float32Array(n);
    this.range = new Float32Array(n);
    this.padded = new Float32Array((CELLS + 2 * PAD) ** 2);
    this.spans = new Int32Array(2 * CELLS);
    for (let row = 0; row < CELLS; row++) {
      let first = CELLS;
      let last = -1;
      for (let col = 0; col < CELLS; col++) {
        if (!this.inside[row * CELLS + col]) continue;
        first = Math.min(first, col);
        last = col;
      }
      this.spans[2 * row] = first;
      this.spans[2 * row + 1] = last + 1;
    }
  }

  private centre(i: number): [number, number] {
    const c = this.grid.mmPerCell;
    return [this.grid.x0 + ((i % CELLS) + 0.5) * c, this.grid.y0 - (Math.floor(i / CELLS) + 0.5) * c];
  }

  /** The frame's die pitch along the wafer's x and y, mm, and its `top` places, most standing out first. */
  places(frame: FramePixels, top: number): { diePitchMm: [number, number]; places: DiePlace[] } {
    const { r, g, b, grey, table } = this;
    r.fill(0);
    g.fill(0);
    b.fill(0);
    sumRgbRuns(frame.data, table.runs, r, g, b);
    for (let i = 0; i < grey.length; i++) grey[i] = (r[i] + g[i] + b[i]) * table.invCount[i];
    const diePitchMm: [number, number] = [this.diePitch(0), this.diePitch(1)];
    if (!(diePitchMm[0] > 0 && diePitchMm[1] > 0)) return { diePitchMm, places: [] };
    this.standOut(diePitchMm);
    return { diePitchMm, places: this.blocks(top) };
  }

  /**
   * Along the wafer's x (axis 0) or y (1): the cells' means across the other axis over the wafer's
   * middle fifth, less their running mean; the first lag in PITCH_MM whose autocorrelation peak comes
   * within FIRST_PEAK of the highest, then the furthest multiple of it still a peak, over its order.
   */
  private diePitch(axis: 0 | 1): number {
    const { grey } = this;
    const cell = this.grid.mmPerCell;
    const band = Math.round(CELLS / 10);
    const mid = CELLS / 2;
    // the profile across the wafer's middle, where the cells hold wafer: 0.8 of the radius either way
    const half = Math.floor((0.8 * this.radiusMm) / cell);
    const prof = new Float64Array(2 * half);
    for (let i = 0; i < prof.length; i++) {
      const at = mid - half + i;
      let s = 0;
      for (let k = mid - band; k < mid + band; k++) s += axis === 0 ? grey[k * CELLS + at] : grey[at * CELLS + k];
      prof[i] = s;
    }
    const win = Math.round(20 / cell);
    const d = new Float64Array(prof.length - 2 * win);
    let run = 0;
    for (let k = 0; k <= 2 * win; k++) run += prof[k];
    for (let i = win; i < prof.length - win; i++) {
      d[i - win] = prof[i] - run / (2 * win + 1);
      if (i + win + 1 < prof.length) run += prof[i + win + 1] - prof[i - win];
    }
    const lo = Math.floor(PITCH_MM[0] / cell);
    const hi = Math.ceil(PITCH_MM[1] / cell);
    const ac = new Float64Array(Math.max(hi + 2, d.length >> 1));
    for (let lag = 0; lag < ac.length; lag++) {
      let s = 0;
      for (let i = 0; i + lag < d.length; i++) s += d[i] * d[i + lag];
      ac[lag] = s / (d.length - lag);
    }
    // peaks only: the profile's slow drift keeps the shortest lags highest
    const peak = (j: number): boolean => ac[j] >= ac[j - 1] && ac[j] >= ac[j + 1];
    let k = -1;
    for (let j = lo; j <= hi; j++) if (peak(j) && (k < 0 || ac[j] > ac[k])) k = j;
    if (k < 0) return NaN;
    for (let j = lo; j < k; j++) {
      if (peak(j) && ac[j] >= FIRST_PEAK * ac[k]) {
        k = j;
        break;
      }
    }
    let pitch = refine(ac, k);
    for (let m = 2; (m + 0.5) * pitch < ac.length - 1; m++) {
      const c = Math.round(m * pitch);
      let j = c;
      for (const t of [c - 1, c + 1]) if (ac[t] > ac[j]) j = t;
      if (!peak(j)) break;
      pitch = refine(ac, j) / m;
    }
    return pitch * cell;
  }

  /** Each cell's difference from its dies (residual) and its four nearest dies' range. */
  private standOut([px, py]: [number, number]): void {
    const { grey, residual, range, inside, padded } = this;
    const cell = this.grid.mmPerCell;
    const W = CELLS + 2 * PAD;
    // the grey cells inside a border of chuck (zeros) wider than two of the longest pitch: a cell near
    // the rim or the edge of the printed dies then has nearest neighbours that disagree, and is not read
    for (let row = 0; row < CELLS; row++) padded.set(grey.subarray(row * CELLS, (row + 1) * CELLS), (row + PAD) * W + PAD);
    // the eight neighbours, one and two pitches either way along x, then along y (rows run down): each
    // lies between two cells along its own axis, the wafer's axes being the grid's
    const at = new Int32Array(8);
    const step = new Int32Array(8);
    const a = new Float64Array(8);
    [-2 * px, -px, px, 2 * px, 2 * py, py, -py, -2 * py].forEach((mm, k) => {
      const along = k < 4 ? mm / cell : -mm / cell;
      const whole = Math.floor(along);
      a[k] = 1 - (along - whole);
      step[k] = k < 4 ? 1 : W;
      at[k] = whole * step[k];
    });
    const nb = new Float64Array(8);
    residual.fill(0);
    range.fill(Infinity);
    for (let row = 0; row < CELLS; row++) {
      const [c0, c1] = this.span(row);
      for (let col = c0; col < c1; col++) {
        const i = row * CELLS + col;
        if (!inside[i]) continue;
        const p = (row + PAD) * W + col + PAD;
        for (let k = 0; k < 8; k++) {
          const j = p + at[k];
          nb[k] = a[k] * padded[j] + (1 - a[k]) * padded[j + step[k]];
        }
        const lo = Math.min(nb[1], nb[2], nb[5], nb[6]);
        const hi = Math.max(nb[1], nb[2], nb[5], nb[6]);
        range[i] = hi - lo;
        residual[i] = grey[i] - median8(nb);
      }
    }
  }

  /** The columns of a row that hold cells on the wafer, [first, past the last). */
  private span(row: number): [number, number] {
    return [this.spans[2 * row], this.spans[2 * row + 1]];
  }

  /** The blocks where most cells stand out (summed over 3 x 3 blocks), APART_MM apart, highest first. */
  private blocks(top: number): DiePlace[] {
    const { residual, range, inside } = this;
    const noise = 1.4826 * medianAbs(residual, inside) + 1e-6;
    const cw = CELLS / BLOCK;
    const cnt = new Float64Array(cw * cw);
    for (let i = 0; i < residual.length; i++) {
      const a = Math.abs(residual[i]);
      if (a > STANDOUT * noise && a > SPREAD * range[i]) cnt[Math.floor(i / CELLS / BLOCK) * cw + Math.floor((i % CELLS) / BLOCK)]++;
    }
    const sum = new Float64Array(cw * cw);
    for (let r = 1; r < cw - 1; r++) {
      for (let q = 1; q < cw - 1; q++) {
        let s = 0;
        for (let dr = -1; dr <= 1; dr++) for (let dq = -1; dq <= 1; dq++) s += cnt[(r + dr) * cw + q + dq];
        sum[r * cw + q] = s;
      }
    }
    const size = BLOCK * this.grid.mmPerCell;
    const apart = Math.ceil(APART_MM / size);
    const found: DiePlace[] = [];
    while (found.length < top) {
      let best = -1;
      for (let i = 0; i < sum.length; i++) if (sum[i] > 0 && (best < 0 || sum[i] > sum[best])) best = i;
      if (best < 0) break;
      const r = Math.floor(best / cw);
      const q = best % cw;
      found.push({ xMm: this.grid.x0 + (q + 0.5) * size, yMm: this.grid.y0 - (r + 0.5) * size, count: sum[best] });
      for (let dr = -apart; dr <= apart; dr++) {
        for (let dq = -apart; dq <= apart; dq++) {
          const rr = r + dr;
          const qq = q + dq;
          if (rr >= 0 && qq >= 0 && rr < cw && qq < cw) sum[rr * cw + qq] = 0;
        }
      }
    }
    return found;
  }
}

/** A peak's place to a fraction of a lag: the parabola through it and its neighbours. */
function refine(ac: Float64Array, k: number): number {
  const [a, b, c] = [ac[k - 1], ac[k], ac[k + 1]];
  const den = a - 2 * b + c;
  return k + (den < 0 ? (0.5 * (a - c)) / den : 0);
}

/**
 * The median of eight values (the mean of the middle two): the two middle ones of a 19-comparator
 * sorting network, on locals.
 */
function median8(v: Float64Array): number {
  let a = v[0], b = v[1], c = v[2], d = v[3], e = v[4], f = v[5], g = v[6], h = v[7], t: number;
  if (a > c) (t = a), (a = c), (c = t);
  if (b > d) (t = b), (b = d), (d = t);
  if (e > g) (t = e), (e = g), (g = t);
  if (f > h) (t = f), (f = h), (h = t);
  if (a > e) (t = a), (a = e), (e = t);
  if (b > f) (t = b), (b = f), (f = t);
  if (c > g) (t = c), (c = g), (g = t);
  if (d > h) (t = d), (d = h), (h = t);
  if (a > b) (t = a), (a = b), (b = t);
  if (c > d) (t = c), (c = d), (d = t);
  if (e > f) (t = e), (e = f), (f = t);
  if (g > h) (t = g), (g = h), (h = t);
  if (c > e) (t = c), (c = e), (e = t);
  if (d > f) (t = d), (d = f), (f = t);
  if (b > e) (t = b), (b = e), (e = t);
  if (d > g) (t = d), (d = g), (g = t);
  if (b > c) (t = b), (b = c), (c = t);
  if (d > e) (t = d), (d = e), (e = t);
  if (f > g) (t = f), (f = g), (g = t);
  return (d + e) / 2;
}

/** The median of |a| over the cells in use, from every fourth of them: the wafer's noise, not an exact figure. */
function medianAbs(a: Float32Array, use: Uint8Array): number {
  const v = new Float32Array(Math.ceil(a.length / 4));
  let n = 0;
  for (let i = 0; i < a.length; i += 4) if (use[i]) v[n++] = Math.abs(a[i]);
  if (!n) return 0;
  return v.subarray(0, n).sort()[n >> 1];
}
