import { invertAffine, pitchOf, solve3, type Affine } from '../common/affine.js';
import type { FramePixels } from './result.js';

/**
 * The wafer's rim in the visible frame, traced all the way round: a bite out of it (an edge chip) or
 * material beyond it (a burr) shows as the rim standing in or out of the circle the rest of it
 * follows. A defect of a millimetre moves the rim several pixels, far more than the frame's noise,
 * while the model's 1.25 mm cells hardly show it. Traced in the fusion workers, beside the rest of a
 * wafer's pixel work, so that the model's single worker only reads the result.
 */
export interface RimProfile {
  /** the station's wafer radius, mm: the nominal circle the rays cross */
  radiusMm: number;
  /** per ray, ray i at angle 2 pi i / rays - pi: how far the rim stands off its fitted circle, mm (negative inside; NaN where it could not be read) */
  off: Float64Array;
  /** per ray: 0 where the notch is, or the ray leaves the frame */
  usable: Uint8Array;
}

/** The angle, radians, of ray i of n. */
export function rayAngle(i: number, n: number): number {
  return (2 * Math.PI * i) / n - Math.PI;
}

/** Where the notch is, by the grid's convention (fusion/grid.ts): at the bottom, 6 o'clock. */
export const NOTCH_DEG = -90;
/** Arc either side of the notch left out: the notch is a bite the wafer is made with. */
const NOTCH_HALF_MM = 4;
/**
 * Samples along each ray, from INNER_MM inside the nominal rim to OUTER_MM outside it: room for a
 * wafer a millimetre off the centre its registration gives, and for a bite or a burr beyond that.
 */
const INNER_MM = 2;
const OUTER_MM = 2;
/** Samples at each end of a ray taken as the film's and the chuck's level. */
const ENDS = 3;
/** Least contrast between film and chuck (sum of the three channels) for a ray to count. */
const MIN_CONTRAST = 30;

/**
 * The rays of one camera geometry: per ray its angle and, per sample, the frame pixel and bilinear
 * weights. Built once per geometry; a wafer's trace then reads only the frame.
 */
export class RimTable {
  readonly rays: number;
  readonly samples: number;
  readonly stepMm: number;
  readonly cos: Float64Array;
  readonly sin: Float64Array;
  /** per ray: false where the notch is, or any sample falls outside the frame */
  readonly usable: Uint8Array;
  /** per sample: index of the top-left pixel's first channel, and the fractional offsets */
  private readonly at: Int32Array;
  private readonly fx: Float32Array;
  private readonly fy: Float32Array;
  /** a wafer's trace, written afresh by each `standOff` */
  private readonly edge: Float64Array;

  constructor(
    readonly pxToMm: Affine,
    readonly width: number,
    readonly height: number,
    readonly radiusMm: number,
  ) {
    const pitch = pitchOf(pxToMm);
    // two pixels of arc between rays: a chip of a millimetre spans three
    this.rays = Math.round((2 * Math.PI * radiusMm) / (2 * pitch));
    this.stepMm = pitch;
    this.samples = Math.round((INNER_MM + OUTER_MM) / pitch) + 1;
    const inv = invertAffine(pxToMm);
    const n = this.rays * this.samples;
    this.cos = new Float64Array(this.rays);
    this.sin = new Float64Array(this.rays);
    this.usable = new Uint8Array(this.rays);
    this.at = new Int32Array(n);
    this.fx = new Float32Array(n);
    this.fy = new Float32Array(n);
    this.edge = new Float64Array(this.rays);
    const notch = (NOTCH_DEG * Math.PI) / 180;
    for (let i = 0; i < this.rays; i++) {
      const t = rayAngle(i, this.rays);
      const c = Math.cos(t);
      const s = Math.sin(t);
      this.cos[i] = c;
      this.sin[i] = s;
      let d = t - notch;
      d -= 2 * Math.PI * Math.round(d / (2 * Math.PI));
      let ok = Math.abs(d) * radiusMm > NOTCH_HALF_MM;
      for (let j = 0; j < this.samples; j++) {
        const r = radiusMm - INNER_MM + j * pitch;
        const x = inv[0][0] * r * c + inv[0][1] * r * s + inv[0][2];
        const y = inv[1][0] * r * c + inv[1][1] * r * s + inv[1][2];
        const q = Math.floor(x);
        const p = Math.floor(y);
        if (q < 0 || p < 0 || q + 1 >= width || p + 1 >= height) ok = false;
        const k = i * this.samples + j;
        this.at[k] = ok ? (p * width + q) * 3 : 0;
        this.fx[k] = x - q;
        this.fy[k] = y - p;
      }
      this.usable[i] = ok ? 1 : 0;
    }
  }

  /** Per ray, how far a wafer's rim stands off its circle (trace, then offCircle), mm: an array of its own. */
  standOff(frame: FramePixels): Float64Array {
    this.trace(frame, this.edge);
    const off = new Float64Array(this.rays);
    offCircle(this, this.edge, off);
    return off;
  }

  fits(frame: FramePixels): boolean {
    return frame.width === this.width && frame.height === this.height && frame.pxToMm.every((row, i) => row.every((v, j) => v === this.pxToMm[i][j]));
  }

  /**
   * Per ray, where the rim crosses it, mm from the nominal radius (NaN where it cannot be read): the
   * share of the ray that is film, from the levels at its two ends, which is the edge's place to a
   * fraction of a pixel and needs no threshold of its own.
   */
  trace(frame: FramePixels, out: Float64Array): void {
    const { data, width: W } = frame;
    const S = this.samples;
    const row = 3 * W;
    const v = new Float64Array(S);
    for (let i = 0; i < this.rays; i++) {
      if (!this.usable[i]) {
        out[i] = NaN;
        continue;
      }
      for (let j = 0; j < S; j++) {
        const k = i * S + j;
        const a = this.at[k];
        const fx = this.fx[k];
        const fy = this.fy[k];
        const top = (data[a] + data[a + 1] + data[a + 2]) * (1 - fx) + (data[a + 3] + data[a + 4] + data[a + 5]) * fx;
        const b = a + row;
        const bottom = (data[b] + data[b + 1] + data[b + 2]) * (1 - fx) + (data[b + 3] + data[b + 4] + data[b + 5]) * fx;
        v[j] = top * (1 - fy) + bottom * fy;
      }
      let film = 0;
      let chuck = 0;
      for (let j = 0; j < ENDS; j++) {
        film += v[j];
        chuck += v[S - 1 - j];
      }
      film /= ENDS;
      chuck /= ENDS;
      const span = film - chuck;
      if (Math.abs(span) < MIN_CONTRAST) {
        out[i] = NaN;
        continue;
      }
      let share = 0;
      for (let j = 0; j < S; j++) {
        const f = (v[j] - chuck) / span;
        share += f <= 0 ? 0 : f >= 1 ? 1 : f;
      }
      // the first sample's pixel is wholly film: the edge lies `share` samples out from half a step before it
      out[i] = (share - 0.5) * this.stepMm - INNER_MM;
    }
  }
}

/**
 * The circle the rim follows (the wafer a little off the chuck's centre moves it as a whole), fitted
 * by least squares to the rays that could be read, twice: the second time without the rays the first
 * fit leaves far off, the defects themselves. Returns each ray's standing off it (NaN kept).
 */
export function offCircle(t: RimTable, edge: Float64Array, out: Float64Array): void {
  let cut = Infinity;
  for (let pass = 0; pass < 2; pass++) {
    // normal equations of edge = a + b cos + c sin, over the rays kept
    let n = 0, sc = 0, ss = 0, scc = 0, scs = 0, sss = 0, se = 0, sec = 0, ses = 0;
    for (let i = 0; i < t.rays; i++) {
      const e = edge[i];
      if (!(Math.abs(out[i]) <= cut) && pass > 0) continue;
      if (!Number.isFinite(e)) continue;
      const c = t.cos[i];
      const s = t.sin[i];
      n++;
      sc += c;
      ss += s;
      scc += c * c;
      scs += c * s;
      sss += s * s;
      se += e;
      sec += e * c;
      ses += e * s;
    }
    // too few rays read to fit: the nominal circle (a frame with nothing readable is all NaN anyway)
    const [a, b, c] = solve3([n, sc, ss, sc, scc, scs, ss, scs, sss], [se, sec, ses]) ?? [0, 0, 0];
    for (let i = 0; i < t.rays; i++) out[i] = edge[i] - (a + b * t.cos[i] + c * t.sin[i]);
    cut = Math.max(0.1, 4 * medianAbs(out));
  }
}

function medianAbs(a: Float64Array): number {
  const v = new Float64Array(a.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i])) v[n++] = Math.abs(a[i]);
  if (!n) return 0;
  return v.subarray(0, n).sort()[n >> 1];
}

/** The rays of the camera geometries seen last (a station has one; a lot may bring its own), newest last. */
const tables: RimTable[] = [];
const TABLES = 4;

/** A wafer's rim profile: the rays of its camera geometry are laid out once, then only the frame is read. */
export function traceRim(frame: FramePixels, radiusMm: number): RimProfile {
  let table = tables.find((t) => t.fits(frame) && t.radiusMm === radiusMm);
  if (!table) {
    table = new RimTable(frame.pxToMm, frame.width, frame.height, radiusMm);
    tables.push(table);
    if (tables.length > TABLES) tables.shift();
  }
  return { radiusMm, off: table.standOff(frame), usable: table.usable.slice() };
}
