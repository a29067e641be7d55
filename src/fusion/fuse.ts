import { centredAffine, type Affine } from '../common/affine.js';
import { MODALITIES, type Modality } from '../common/modality.js';
import type { RawFrame } from '../frames/frame.js';
import type { PixelCorrection, Station } from '../station/load.js';
import { CHANNEL, makeGrid, TENSOR_CHANNELS, type Grid, type GridSpec } from './grid.js';
import { buildGridTable, LEN_SHIFT, SKIP, type GridTable } from './table.js';

/**
 * Maps decoded frames onto the wafer grid: per cell, the mean of the (dark/flat corrected) pixels
 * that fall in it, so a defect smaller than a cell still moves the cell's value by its area share.
 */
export class Fuser {
  readonly grid: Grid;
  private readonly tables = new Map<string, GridTable>();
  /** how many frames were fused without dark/flat because their size differs from the calibration */
  uncorrected = 0;

  constructor(
    readonly station: Station,
    spec: GridSpec,
  ) {
    this.grid = makeGrid(spec);
  }

  get tensorLength(): number {
    return TENSOR_CHANNELS.length * this.grid.size * this.grid.size;
  }

  /** Geometry of a frame: the lot's own, else the station's when the size matches, else centred (contracts §2). */
  geometryFor(m: Modality, f: RawFrame, lotGeometry?: Affine): Affine {
    if (lotGeometry) return lotGeometry;
    const cam = this.station.cameras[m];
    if (cam && cam.width === f.width && cam.height === f.height) return cam.pxToMm;
    return centredAffine(f.width, f.height, this.station.waferDiameterMm);
  }

  table(m: Modality, f: Pick<RawFrame, 'width' | 'height'>, pxToMm: Affine): GridTable {
    const key = `${m}:${f.width}x${f.height}:${pxToMm.flat().join(',')}`;
    let t = this.tables.get(key);
    if (!t) {
      if (this.tables.size > 32) this.tables.clear();
      t = buildGridTable(f.width, f.height, pxToMm, this.grid);
      this.tables.set(key, t);
    }
    return t;
  }

  /** Builds the grid tables for the station's own cameras now rather than on the first wafer. */
  warm(): void {
    for (const m of MODALITIES) {
      const cam = this.station.cameras[m];
      if (!cam) continue;
      const t = this.table(m, cam, cam.pxToMm);
      if (cam.correction) darkTerm(t, cam.correction, this.grid.size * this.grid.size);
    }
  }

  /** Fills `out` (length tensorLength) from the frames present; absent modalities stay zero with mask zero. */
  fuse(frames: Partial<Record<Modality, RawFrame>>, geometry: Partial<Record<Modality, Affine>> = {}, out = new Float32Array(this.tensorLength)): Float32Array {
    out.fill(0);
    const G2 = this.grid.size * this.grid.size;
    for (const m of MODALITIES) {
      const f = frames[m];
      if (!f) continue;
      const table = this.table(m, f, this.geometryFor(m, f, geometry[m]));
      const cam = this.station.cameras[m];
      let corr = cam?.correction;
      if (corr && (corr.width !== f.width || corr.height !== f.height)) {
        corr = undefined;
        this.uncorrected++;
      }
      const range = cam?.range ?? (m === 'visible' ? [0, 255] : [0, 65535]);
      const mask = out.subarray(CHANNEL.mask[m] * G2, (CHANNEL.mask[m] + 1) * G2);
      mask.set(table.seen);
      if (m === 'visible') fuseRgb(f.data as Uint8Array, table, corr, range, out, G2);
      else fuseGrey(f.data as Uint16Array, table, corr, range, out.subarray(CHANNEL[m] * G2, (CHANNEL[m] + 1) * G2));
    }
    return out;
  }
}

/** Σ offset·scale over each cell's pixels: the dark term of the correction, constant per station and geometry. */
const darkTerms = new WeakMap<GridTable, WeakMap<PixelCorrection, Float64Array>>();

function darkTerm(t: GridTable, corr: PixelCorrection, cells: number): Float64Array {
  let byCorr = darkTerms.get(t);
  if (!byCorr) darkTerms.set(t, (byCorr = new WeakMap()));
  let term = byCorr.get(corr);
  if (term) return term;
  term = new Float64Array(cells);
  const runs = t.runs;
  let p = 0;
  for (let k = 0; k < runs.length; k++) {
    const end = p + (runs[k] >>> LEN_SHIFT);
    const cell = runs[k] & SKIP;
    if (cell === SKIP) {
      p = end;
      continue;
    }
    let acc = 0;
    for (; p < end; p++) acc += corr.offset[p] * corr.scale[p];
    term[cell] += acc;
  }
  byCorr.set(corr, term);
  return term;
}

/**
 * How summed pixel values become cell values: cell = (Σ − dark) · invCount · k + bias, where the sum
 * already carries the per-pixel scale when there is one. A camera without dark/flat is scaled by its range.
 */
interface Normalise {
  scale?: Float32Array;
  offset?: Float32Array;
  dark?: Float64Array;
  k: number;
  bias: number;
}

function normaliseFor(t: GridTable, corr: PixelCorrection | undefined, range: readonly number[], cells: number): Normalise {
  if (corr) return { scale: corr.scale, offset: corr.offset, dark: darkTerm(t, corr, cells), k: 1, bias: corr.bias };
  const span = range[1] - range[0];
  return { k: 1 / span, bias: -range[0] / span };
}

/**
 * Cell values are what the training and calibration arrays store (dataset/export.ts): within 0..1
 * (the open beam beside the wafer reads an X-ray transmission just above 1 through noise and
 * flat-field error) and on the 16-bit steps of 1/65535. A model then sees a live wafer as it saw the
 * same wafer in the arrays its thresholds were calibrated on: the INT8 model's highest scores on the
 * good wafers of a lot differed by up to 0.07 between the two without this, 0.009 with it.
 */
const unit = (v: number): number => (v <= 0 ? 0 : v >= 1 ? 1 : Math.round(v * 65535) / 65535);

/** Cell value of one pixel, for cells smaller than a pixel. */
function pixelValue(v: number, p: number, n: Normalise): number {
  return unit(n.scale ? (v - n.offset![p]) * n.scale[p] + n.bias : v * n.k + n.bias);
}

function finish(out: Float32Array, t: GridTable, n: Normalise): void {
  for (let c = 0; c < out.length; c++) {
    const ic = t.invCount[c];
    if (ic > 0) out[c] = unit((out[c] - (n.dark ? n.dark[c] : 0)) * ic * n.k + n.bias);
  }
}

function fuseGrey(d: Uint16Array, t: GridTable, corr: PixelCorrection | undefined, range: readonly number[], out: Float32Array): void {
  const n = normaliseFor(t, corr, range, out.length);
  const runs = t.runs;
  const sc = n.scale;
  for (let k = 0, p = 0; k < runs.length; k++) {
    const end = p + (runs[k] >>> LEN_SHIFT);
    const cell = runs[k] & SKIP;
    if (cell === SKIP) {
      p = end;
      continue;
    }
    let acc = 0;
    // Σ (raw − dark)·scale = Σ raw·scale − Σ dark·scale; the second sum is fixed per cell (n.dark)
    if (sc) for (; p < end; p++) acc += d[p] * sc[p];
    else for (; p < end; p++) acc += d[p];
    out[cell] += acc;
  }
  finish(out, t, n);
  for (let k = 0; k < t.gather.length; k += 2) out[t.gather[k]] = pixelValue(d[t.gather[k + 1]], t.gather[k + 1], n);
}

function fuseRgb(d: Uint8Array, t: GridTable, corr: PixelCorrection | undefined, range: readonly number[], out: Float32Array, G2: number): void {
  const n = normaliseFor(t, corr, range, G2);
  const R = out.subarray(0, G2);
  const Gc = out.subarray(G2, 2 * G2);
  const B = out.subarray(2 * G2, 3 * G2);
  if (n.scale) sumScaledRgb(d, t.runs, n.scale, R, Gc, B);
  else sumRgbRuns(d, t.runs, R, Gc, B);
  for (const ch of [R, Gc, B]) finish(ch, t, n);
  for (let k = 0; k < t.gather.length; k += 2) {
    const c = t.gather[k];
    const p = t.gather[k + 1];
    R[c] = pixelValue(d[p * 3], p, n);
    Gc[c] = pixelValue(d[p * 3 + 1], p, n);
    B[c] = pixelValue(d[p * 3 + 2], p, n);
  }
}

function sumScaledRgb(d: Uint8Array, runs: Uint32Array, sc: Float32Array, R: Float32Array, Gc: Float32Array, B: Float32Array): void {
  for (let k = 0, p = 0; k < runs.length; k++) {
    const end = p + (runs[k] >>> LEN_SHIFT);
    const cell = runs[k] & SKIP;
    if (cell === SKIP) {
      p = end;
      continue;
    }
    let r = 0;
    let g = 0;
    let b = 0;
    for (; p < end; p++) {
      const s = sc[p];
      r += d[p * 3] * s;
      g += d[p * 3 + 1] * s;
      b += d[p * 3 + 2] * s;
    }
    R[cell] += r;
    Gc[cell] += g;
    B[cell] += b;
  }
}

const LANES = 0x00ff00ff;

/**
 * Σ R, Σ G, Σ B of each run's interleaved pixels into its cell: the hottest loop of the appliance.
 * Four pixels are three 32-bit words read at once; masking every other byte puts two bytes in the two
 * 16-bit lanes of one integer, so six additions sum twelve bytes. Little-endian words of R0 G0 B0 R1 |
 * G1 B1 R2 G2 | B2 R3 G3 B3: even bytes of the first word are R0 and B0, odd ones G0 and R1, and so on.
 * A run is at most MAX_LEN pixels (table.ts): 127 groups, 127 · 255 in the upper lane, within an int32.
 */
export function sumRgbRuns(d: Uint8Array, runs: Uint32Array, R: Float32Array, Gc: Float32Array, B: Float32Array): void {
  const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
  for (let k = 0, p = 0; k < runs.length; k++) {
    const end = p + (runs[k] >>> LEN_SHIFT);
    const cell = runs[k] & SKIP;
    if (cell === SKIP) {
      p = end;
      continue;
    }
    let q = p * 3;
    const e = end * 3;
    p = end;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    let a4 = 0;
    let a5 = 0;
    for (; q + 12 <= e; q += 12) {
      const w0 = dv.getUint32(q, true);
      const w1 = dv.getUint32(q + 4, true);
      const w2 = dv.getUint32(q + 8, true);
      a0 = (a0 + (w0 & LANES)) | 0;
      a1 = (a1 + ((w0 >>> 8) & LANES)) | 0;
      a2 = (a2 + (w1 & LANES)) | 0;
      a3 = (a3 + ((w1 >>> 8) & LANES)) | 0;
      a4 = (a4 + (w2 & LANES)) | 0;
      a5 = (a5 + ((w2 >>> 8) & LANES)) | 0;
    }
    let r = (a0 & 0xffff) + (a1 >>> 16) + (a2 >>> 16) + (a5 & 0xffff);
    let g = (a1 & 0xffff) + (a2 & 0xffff) + (a3 >>> 16) + (a4 >>> 16);
    let b = (a0 >>> 16) + (a3 & 0xffff) + (a4 & 0xffff) + (a5 >>> 16);
    for (; q < e; q += 3) {
      r += d[q];
      g += d[q + 1];
      b += d[q + 2];
    }
    R[cell] += r;
    Gc[cell] += g;
    B[cell] += b;
  }
}
