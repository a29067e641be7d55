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

function fuseGrey(d: Uint16Array, t: GridTable, corr: PixelCorrection | undefined, range: readonly number[], out: Float32Array): void {
  const runs = t.runs;
  const n = runs.length;
  if (corr) {
    // Σ (raw − dark)·scale = Σ raw·scale − Σ dark·scale, and the second sum is fixed per cell
    const sc = corr.scale;
    const dark = darkTerm(t, corr, out.length);
    for (let k = 0, p = 0; k < n; k++) {
      const end = p + (runs[k] >>> LEN_SHIFT);
      const cell = runs[k] & SKIP;
      if (cell === SKIP) {
        p = end;
        continue;
      }
      let acc = 0;
      for (; p < end; p++) acc += d[p] * sc[p];
      out[cell] += acc;
    }
    const bias = corr.bias;
    for (let c = 0; c < out.length; c++) if (t.invCount[c] > 0) out[c] = (out[c] - dark[c]) * t.invCount[c] + bias;
    const off = corr.offset;
    for (let k = 0; k < t.gather.length; k += 2) {
      const p = t.gather[k + 1];
      out[t.gather[k]] = (d[p] - off[p]) * sc[p] + bias;
    }
    return;
  }
  for (let k = 0, p = 0; k < n; k++) {
    const end = p + (runs[k] >>> LEN_SHIFT);
    const cell = runs[k] & SKIP;
    if (cell === SKIP) {
      p = end;
      continue;
    }
    let acc = 0;
    for (; p < end; p++) acc += d[p];
    out[cell] += acc;
  }
  const span = range[1] - range[0];
  for (let c = 0; c < out.length; c++) if (t.invCount[c] > 0) out[c] = (out[c] * t.invCount[c] - range[0]) / span;
  for (let k = 0; k < t.gather.length; k += 2) out[t.gather[k]] = (d[t.gather[k + 1]] - range[0]) / span;
}

function fuseRgb(d: Uint8Array, t: GridTable, corr: PixelCorrection | undefined, range: readonly number[], out: Float32Array, G2: number): void {
  const R = out.subarray(0, G2);
  const Gc = out.subarray(G2, 2 * G2);
  const B = out.subarray(2 * G2, 3 * G2);
  const runs = t.runs;
  const n = runs.length;
  const off = corr?.offset;
  const sc = corr?.scale;
  for (let k = 0, p = 0; k < n; k++) {
    const end = p + (runs[k] >>> LEN_SHIFT);
    const cell = runs[k] & SKIP;
    if (cell === SKIP) {
      p = end;
      continue;
    }
    let r = 0;
    let g = 0;
    let b = 0;
    if (off && sc) {
      for (; p < end; p++) {
        const q = p * 3;
        const o = off[p];
        const s = sc[p];
        r += (d[q] - o) * s;
        g += (d[q + 1] - o) * s;
        b += (d[q + 2] - o) * s;
      }
    } else {
      for (let q = p * 3, e = end * 3; q < e; q += 3) {
        r += d[q];
        g += d[q + 1];
        b += d[q + 2];
      }
      p = end;
    }
    R[cell] += r;
    Gc[cell] += g;
    B[cell] += b;
  }
  const span = range[1] - range[0];
  const bias = corr ? corr.bias : -range[0] / span;
  const k0 = corr ? 1 : 1 / span;
  for (let c = 0; c < G2; c++) {
    const ic = t.invCount[c];
    if (ic > 0) {
      R[c] = R[c] * ic * k0 + bias;
      Gc[c] = Gc[c] * ic * k0 + bias;
      B[c] = B[c] * ic * k0 + bias;
    }
  }
  for (let k = 0; k < t.gather.length; k += 2) {
    const c = t.gather[k];
    const p = t.gather[k + 1];
    const o = off ? off[p] : 0;
    const s = sc ? sc[p] : k0;
    R[c] = (d[p * 3] - o) * s + bias;
    Gc[c] = (d[p * 3 + 1] - o) * s + bias;
    B[c] = (d[p * 3 + 2] - o) * s + bias;
  }
}
