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
  /**
   * the largest extent, mm, of the standing-out cells joined to the place's (cells within GAP of one
   * another are joined): a scratch's length, where the crop verifier's size, read off one crop, is
   * centimetres out (models/wafer-mm-15/MODEL_CARD.md)
   */
  extentMm: number;
}

/** places handed on per wafer: a model's verifier checks the first of them (manifest `verifier.dies`) */
export const DIE_PLACES = 8;
const FIELD_MM = 320;
const CELLS = 512;
const STANDOUT = 4.2;
const SPREAD = 1.5;
const BLOCK = 2;
const APART_MM = 6;
/** standing-out cells this many apart or fewer (along either axis) are one place: a thin scratch leaves gaps */
const GAP = 2;
/** a place's cells joined no further than this many: a wafer whose dies are all off is not measured cell by cell */
const MAX_JOINED = 4096;
/** directions a place's extent is measured along (its largest projection), evenly over half a turn */
const EXTENT_DIRECTIONS = 8;
/** a cell on a line has no more than LINE_CELLS cells differing within LINE_REACH of it (the 5 x 5 cells around) */
const LINE_REACH = 2;
const LINE_CELLS = 12;
/** the standing-out cells are followed along their line where they span this many cells; the cells on it within CORRIDOR cells of it */
const LINE_MIN = 3;
const CORRIDOR = 2;
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
  /** per cell: 1 where it stands out */
  private readonly stands: Uint8Array;
  /** per cell: the last place (1, 2, ...) whose joined cells reached it */
  private readonly seen: Int32Array;
  private readonly stack: Int32Array;
  /** the wafer's least difference from its dies for a cell to stand out */
  private least = 0;

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
    this.stands = new Uint8Array(n);
    this.seen = new Int32Array(n);
    this.stack = new Int32Array(MAX_JOINED);
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
    // the neighbours' offsets and weights as locals: the loop below runs over every cell of the wafer
    const [o0, o1, o2, o3, o4, o5, o6, o7] = at;
    const [s0, s1, s2, s3, s4, s5, s6, s7] = step;
    const [a0, a1, a2, a3, a4, a5, a6, a7] = a;
    residual.fill(0);
    range.fill(Infinity);
    for (let row = 0; row < CELLS; row++) {
      const c0 = this.spans[2 * row];
      const c1 = this.spans[2 * row + 1];
      for (let col = c0; col < c1; col++) {
        const i = row * CELLS + col;
        if (!inside[i]) continue;
        const p = (row + PAD) * W + col + PAD;
        const n0 = a0 * padded[p + o0] + (1 - a0) * padded[p + o0 + s0];
        const n1 = a1 * padded[p + o1] + (1 - a1) * padded[p + o1 + s1];
        const n2 = a2 * padded[p + o2] + (1 - a2) * padded[p + o2 + s2];
        const n3 = a3 * padded[p + o3] + (1 - a3) * padded[p + o3 + s3];
        const n4 = a4 * padded[p + o4] + (1 - a4) * padded[p + o4 + s4];
        const n5 = a5 * padded[p + o5] + (1 - a5) * padded[p + o5 + s5];
        const n6 = a6 * padded[p + o6] + (1 - a6) * padded[p + o6 + s6];
        const n7 = a7 * padded[p + o7] + (1 - a7) * padded[p + o7 + s7];
        range[i] = Math.max(n1, n2, n5, n6) - Math.min(n1, n2, n5, n6);
        residual[i] = grey[i] - median8(n0, n1, n2, n3, n4, n5, n6, n7);
      }
    }
  }

  /** The blocks where most cells stand out (summed over 3 x 3 blocks), APART_MM apart, highest first. */
  private blocks(top: number): DiePlace[] {
    const { residual, range, inside, stands } = this;
    stands.fill(0);
    const noise = 1.4826 * medianAbs(residual, inside) + 1e-6;
    this.least = STANDOUT * noise;
    const cw = CELLS / BLOCK;
    const cnt = new Float64Array(cw * cw);
    for (let row = 0; row < CELLS; row++) {
      const to = this.spans[2 * row + 1];
      const base = ((row / BLOCK) | 0) * cw;
      for (let col = this.spans[2 * row], i = row * CELLS + col; col < to; col++, i++) {
        const a = Math.abs(residual[i]);
        if (a > this.least && a > SPREAD * range[i]) {
          cnt[base + ((col / BLOCK) | 0)]++;
          stands[i] = 1;
        }
      }
    }
    // the 3 x 3 sums, along rows then down columns
    const across = new Float64Array(cw * cw);
    for (let i = 1; i < cw * cw - 1; i++) across[i] = cnt[i - 1] + cnt[i] + cnt[i + 1];
    const sum = new Float64Array(cw * cw);
    for (let r = 1; r < cw - 1; r++) {
      for (let q = 1, i = r * cw + 1; q < cw - 1; q++, i++) sum[i] = across[i - cw] + across[i] + across[i + cw];
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
      found.push({ xMm: this.grid.x0 + (q + 0.5) * size, yMm: this.grid.y0 - (r + 0.5) * size, count: sum[best], extentMm: this.extent(r, q, found.length + 1) });
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

  /**
   * Whether the cell at (row, col) differs from its dies by more than `least` and so do few enough of
   * the cells round it to be on a thin line: near the rim and at the printed dies' edge the dies a cell is compared with
   * disagree, and whole patches differ (so no cell there stands out), but a scratch crossing them is
   * still a line.
   */
  private onLine(row: number, col: number): boolean {
    const { residual, least } = this;
    if (Math.abs(residual[row * CELLS + col]) <= least) return false;
    let n = 0;
    for (let r = Math.max(0, row - LINE_REACH); r <= Math.min(CELLS - 1, row + LINE_REACH); r++) {
      for (let c = Math.max(0, col - LINE_REACH), i = r * CELLS + c; c <= Math.min(CELLS - 1, col + LINE_REACH); c++, i++) {
        if (Math.abs(residual[i]) > least) n++;
      }
    }
    return n <= LINE_CELLS;
  }

  /**
   * The largest extent, mm, of the cells joined to the standing-out ones in the 3 x 3 blocks around
   * block (r, q): first the standing-out cells within GAP of one another; then, where those lie along
   * a line, the cells on a line (onLine) within CORRIDOR of it, so a scratch crossing the rim's or the
   * dies' edges, where no cell stands out, is measured whole, and the dies' own outlines, which
   * differ along their length on some wafers, are not followed away from it.
   */
  private extent(r: number, q: number, mark: number): number {
    const { stands, seen, stack } = this;
    if (mark === 1) seen.fill(0);
    let n = 0;
    for (let row = Math.max(0, (r - 1) * BLOCK); row < Math.min(CELLS, (r + 2) * BLOCK); row++) {
      for (let col = Math.max(0, (q - 1) * BLOCK), i = row * CELLS + col; col < Math.min(CELLS, (q + 2) * BLOCK); col++, i++) {
        if (stands[i] && seen[i] !== mark && n < MAX_JOINED) {
          seen[i] = mark;
          stack[n++] = i;
        }
      }
    }
    n = this.join(0, n, mark, null);
    if (!n) return 0;
    const line = this.lineOf(n);
    if (line) n = this.join(0, n, mark, line);
    let widest = 0;
    for (let d = 0; d < EXTENT_DIRECTIONS; d++) {
      const cos = Math.cos((d * Math.PI) / EXTENT_DIRECTIONS);
      const sin = Math.sin((d * Math.PI) / EXTENT_DIRECTIONS);
      let lo = Infinity;
      let hi = -Infinity;
      for (let k = 0; k < n; k++) {
        const v = (stack[k] % CELLS) * cos + ((stack[k] / CELLS) | 0) * sin;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      widest = Math.max(widest, hi - lo);
    }
    return (widest + 1) * this.grid.mmPerCell;
  }

  /**
   * Joins to stack[0, n) the cells within GAP of each of them (from stack[from] on) that stand out,
   * or, given a line, that lie within CORRIDOR of it and stand out or are on a line; the new count.
   */
  private join(from: number, n: number, mark: number, line: Line | null): number {
    const { stands, seen, stack } = this;
    for (let k = from; k < n && n < MAX_JOINED; k++) {
      const row = (stack[k] / CELLS) | 0;
      const col = stack[k] % CELLS;
      for (let rr = Math.max(0, row - GAP); rr <= Math.min(CELLS - 1, row + GAP); rr++) {
        for (let cc = Math.max(0, col - GAP), i = rr * CELLS + cc; cc <= Math.min(CELLS - 1, col + GAP); cc++, i++) {
          if (seen[i] === mark || n >= MAX_JOINED) continue;
          const ok = line ? Math.abs((cc - line.col) * line.sin - (rr - line.row) * line.cos) <= CORRIDOR && (stands[i] || this.onLine(rr, cc)) : stands[i];
          if (ok) {
            seen[i] = mark;
            stack[n++] = i;
          }
        }
      }
    }
    return n;
  }

  /** The line through stack[0, n) (its centre and main axis), where they lie along one at least LINE_MIN cells long. */
  private lineOf(n: number): Line | null {
    const { stack } = this;
    let sc = 0;
    let sr = 0;
    for (let k = 0; k < n; k++) {
      sc += stack[k] % CELLS;
      sr += (stack[k] / CELLS) | 0;
    }
    const col = sc / n;
    const row = sr / n;
    let xx = 0;
    let yy = 0;
    let xy = 0;
    for (let k = 0; k < n; k++) {
      const dc = (stack[k] % CELLS) - col;
      const dr = ((stack[k] / CELLS) | 0) - row;
      xx += dc * dc;
      yy += dr * dr;
      xy += dc * dr;
    }
    const angle = 0.5 * Math.atan2(2 * xy, xx - yy);
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    let lo = Infinity;
    let hi = -Infinity;
    for (let k = 0; k < n; k++) {
      const v = ((stack[k] % CELLS) - col) * cos + (((stack[k] / CELLS) | 0) - row) * sin;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    return hi - lo + 1 >= LINE_MIN ? { col, row, cos, sin } : null;
  }
}

/** A line through the grid: a point on it (col, row) and its direction. */
type Line = { col: number; row: number; cos: number; sin: number };

/** A peak's place to a fraction of a lag: the parabola through it and its neighbours. */
function refine(ac: Float64Array, k: number): number {
  const [a, b, c] = [ac[k - 1], ac[k], ac[k + 1]];
  const den = a - 2 * b + c;
  return k + (den < 0 ? (0.5 * (a - c)) / den : 0);
}

/**
 * The median of eight values (the mean of the middle two): the two middle ones of a 19-comparator
 * sorting network, each comparator a min and a max, on locals; branches on noisy cells would be
 * mispredicted half the time.
 */
function median8(a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number): number {
  let t: number;
  t = Math.min(a, c); c = Math.max(a, c); a = t;
  t = Math.min(b, d); d = Math.max(b, d); b = t;
  t = Math.min(e, g); g = Math.max(e, g); e = t;
  t = Math.min(f, h); h = Math.max(f, h); f = t;
  t = Math.min(a, e); e = Math.max(a, e); a = t;
  t = Math.min(b, f); f = Math.max(b, f); b = t;
  t = Math.min(c, g); g = Math.max(c, g); c = t;
  t = Math.min(d, h); h = Math.max(d, h); d = t;
  t = Math.min(a, b); b = Math.max(a, b); a = t;
  t = Math.min(c, d); d = Math.max(c, d); c = t;
  t = Math.min(e, f); f = Math.max(e, f); e = t;
  t = Math.min(g, h); h = Math.max(g, h); g = t;
  t = Math.min(c, e); e = Math.max(c, e); c = t;
  t = Math.min(d, f); f = Math.max(d, f); d = t;
  t = Math.min(b, e); e = Math.max(b, e); b = t;
  t = Math.min(d, g); g = Math.max(d, g); d = t;
  t = Math.min(b, c); c = Math.max(b, c); b = t;
  t = Math.min(d, e); e = Math.max(d, e); d = t;
  t = Math.min(f, g); g = Math.max(f, g); f = t;
  return (d + e) / 2;
}

/** The median of |a| over the cells in use, from every fourth of them: the wafer's noise, not an exact figure. */
function medianAbs(a: Float32Array, use: Uint8Array): number {
  const v = new Float32Array(Math.ceil(a.length / 4));
  let n = 0;
  for (let i = 0; i < a.length; i += 4) if (use[i]) v[n++] = Math.abs(a[i]);
  if (!n) return 0;
  return select(v, n, n >> 1);
}

/** The k-th smallest of v[0, n) (Hoare's selection, in place): a full sort of the wafer's cells costs ten times as much. */
function select(v: Float32Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const pivot = v[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (v[i] < pivot) i++;
      while (v[j] > pivot) j--;
      if (i <= j) {
        const t = v[i];
        v[i++] = v[j];
        v[j--] = t;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return v[k];
}
