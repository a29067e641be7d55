import { applyAffine, invertAffine } from '../common/affine.js';
import type { Modality } from '../common/modality.js';
import { allocPixels, type PixelMemory, type RawFrame } from '../frames/frame.js';
import type { Defect } from './defects.js';
import type { WaferLook } from './look.js';
import { GAUSS_TABLE, xorshift } from './rng.js';
import type { SimCamera, SimStation } from './station.js';

/**
 * Pixel renderers. Each evaluates the wafer at the wafer-mm position of every pixel centre of a
 * camera, so every camera's own pose (offset, rotation, scale) is honoured exactly, then passes the
 * scene through that camera's sensor (fixed-pattern dark and gain, noise).
 */

const LUT_BINS = 4096;
const BEVEL_MM = 0.6;
const NOTCH_DEPTH_MM = 1.0;

interface Geometry {
  a: number;
  b: number;
  c0: number;
  d: number;
  e: number;
  f0: number;
  R: number;
  R2: number;
  pitch: number;
}

function geometry(cam: SimCamera, station: SimStation): Geometry {
  const [[a, b, c0], [d, e, f0]] = cam.pxToMm;
  const R = station.waferDiameterMm / 2;
  return { a, b, c0, d, e, f0, R, R2: R * R, pitch: cam.pitchMm };
}

/** Fraction of the pixel at (x, y) that lies on the wafer (rim anti-aliased, notch cut out). */
function onWafer(x: number, y: number, r2: number, g: Geometry): number {
  const near = g.R + g.pitch;
  if (r2 > near * near) return 0;
  let w = 1;
  const inner = g.R - g.pitch;
  if (r2 > inner * inner) {
    const c = (g.R - Math.sqrt(r2)) / g.pitch + 0.5;
    w = c <= 0 ? 0 : c >= 1 ? 1 : c;
  }
  const apex = -(g.R - NOTCH_DEPTH_MM);
  if (y < apex + g.pitch) {
    // V notch, 90° opening, apex NOTCH_DEPTH_MM inside the rim at 6 o'clock
    const inside = (Math.abs(x) - (apex - y)) / (Math.SQRT2 * g.pitch) + 0.5;
    w *= inside <= 0 ? 0 : inside >= 1 ? 1 : inside;
  }
  return w;
}

/** Where (x, y) falls in the die pattern. Dies are printed only where all their corners are inside the edge exclusion. */
export enum DieRegion {
  None = 0,
  Die = 1,
  Street = 2,
  BlockA = 3,
  BlockB = 4,
}

export function dieRegion(look: WaferLook, x: number, y: number, R: number): DieRegion {
  const px = look.diePitchX;
  const py = look.diePitchY;
  const u = x - look.dieOriginX;
  const v = y - look.dieOriginY;
  const iu = Math.floor(u / px);
  const iv = Math.floor(v / py);
  const ex = Math.abs(look.dieOriginX + (iu + 0.5) * px) + px / 2;
  const ey = Math.abs(look.dieOriginY + (iv + 0.5) * py) + py / 2;
  const lim = R - look.edgeExclusion;
  if (ex * ex + ey * ey > lim * lim) return DieRegion.None;
  const fu = u - iu * px;
  const fv = v - iv * py;
  if (fu < look.streetWidth || fv < look.streetWidth) return DieRegion.Street;
  const su = fu / px;
  const sv = fv / py;
  const A = look.blockA;
  if (su >= A[0] && su < A[2] && sv >= A[1] && sv < A[3]) return DieRegion.BlockA;
  const B = look.blockB;
  if (su >= B[0] && su < B[2] && sv >= B[1] && sv < B[3]) return DieRegion.BlockB;
  return DieRegion.Die;
}

/**
 * dieRegion along a row of pixels without a division or floor per pixel: the position inside the
 * die pitch is stepped by the camera's per-column increment and wrapped.
 */
export class DieWalker {
  region: DieRegion = DieRegion.None;
  private iu = 0;
  private iv = 0;
  private fu = 0;
  private fv = 0;
  private printed = false;

  constructor(
    private look: WaferLook,
    private R: number,
    private du: number,
    private dv: number,
  ) {}

  start(x: number, y: number): void {
    const l = this.look;
    const u = x - l.dieOriginX;
    const v = y - l.dieOriginY;
    this.iu = Math.floor(u / l.diePitchX);
    this.iv = Math.floor(v / l.diePitchY);
    this.fu = u - this.iu * l.diePitchX;
    this.fv = v - this.iv * l.diePitchY;
    this.die();
    this.classify();
  }

  step(): void {
    const l = this.look;
    this.fu += this.du;
    this.fv += this.dv;
    let moved = false;
    while (this.fu >= l.diePitchX) (this.fu -= l.diePitchX), this.iu++, (moved = true);
    while (this.fu < 0) (this.fu += l.diePitchX), this.iu--, (moved = true);
    while (this.fv >= l.diePitchY) (this.fv -= l.diePitchY), this.iv++, (moved = true);
    while (this.fv < 0) (this.fv += l.diePitchY), this.iv--, (moved = true);
    if (moved) this.die();
    this.classify();
  }

  private die(): void {
    const l = this.look;
    const ex = Math.abs(l.dieOriginX + (this.iu + 0.5) * l.diePitchX) + l.diePitchX / 2;
    const ey = Math.abs(l.dieOriginY + (this.iv + 0.5) * l.diePitchY) + l.diePitchY / 2;
    const lim = this.R - l.edgeExclusion;
    this.printed = ex * ex + ey * ey <= lim * lim;
  }

  private classify(): void {
    const l = this.look;
    if (!this.printed) this.region = DieRegion.None;
    else if (this.fu < l.streetWidth || this.fv < l.streetWidth) this.region = DieRegion.Street;
    else {
      const su = this.fu / l.diePitchX;
      const sv = this.fv / l.diePitchY;
      const A = l.blockA;
      const B = l.blockB;
      if (su >= A[0] && su < A[2] && sv >= A[1] && sv < A[3]) this.region = DieRegion.BlockA;
      else if (su >= B[0] && su < B[2] && sv >= B[1] && sv < B[3]) this.region = DieRegion.BlockB;
      else this.region = DieRegion.Die;
    }
  }
}

/** Visible brightness factor of each die region. */
function dieFactors(look: WaferLook): Float64Array {
  return Float64Array.from([1, 1, look.streetFactor, look.blockA[4], look.blockB[4]]);
}

/** Film colour against radius: a thin-film palette whose phase drifts with thickness from centre to rim. */
function tintLut(look: WaferLook, R: number): Float32Array {
  const lut = new Float32Array(LUT_BINS * 3);
  for (let i = 0; i < LUT_BINS; i++) {
    const q = (i + 0.5) / LUT_BINS; // r² / R²
    const r = Math.sqrt(q) * R;
    const phase = look.tintPhase + look.tintRadial * q;
    const ring = 1 + look.lightRing * q * q;
    const bevel = r > R - BEVEL_MM ? 0.55 + 0.45 * ((R - r) / BEVEL_MM) : 1;
    for (let c = 0; c < 3; c++) {
      lut[i * 3 + c] = (140 + look.tintAmplitude * Math.cos(2 * Math.PI * (phase + c / 3))) * ring * bevel;
    }
  }
  return lut;
}

export function chuckVisible(look: WaferLook, x: number, y: number): number {
  return look.chuckLevel * (look.lightGain + look.lightGx * x + look.lightGy * y);
}

export function renderVisible(cam: SimCamera, station: SimStation, look: WaferLook, seed: number, shared: PixelMemory): RawFrame {
  const g = geometry(cam, station);
  const { width: W, height: H } = cam;
  const data = allocPixels(W, H, 3, 8, shared) as Uint8Array;
  const out = new Uint8ClampedArray(data.buffer, data.byteOffset, data.length);
  const lut = tintLut(look, g.R);
  const factor = dieFactors(look);
  const lutScale = LUT_BINS / g.R2;
  const G = GAUSS_TABLE;
  const sigma = look.visibleNoise;
  const inner2 = (g.R - g.pitch) * (g.R - g.pitch);
  const notchGuard = -(g.R - 2);
  const walker = new DieWalker(look, g.R, g.a, g.d);
  let s = seed | 1;
  let i = 0;
  for (let row = 0; row < H; row++) {
    const xr = g.b * row + g.c0;
    const yr = g.e * row + g.f0;
    walker.start(xr, yr);
    for (let col = 0; col < W; col++, i += 3) {
      if (col > 0) walker.step();
      const x = g.a * col + xr;
      const y = g.d * col + yr;
      const r2 = x * x + y * y;
      const light = look.lightGain + look.lightGx * x + look.lightGy * y;
      s = xorshift(s);
      const n = sigma * G[s & 0xffff];
      const w = r2 < inner2 && y > notchGuard ? 1 : onWafer(x, y, r2, g);
      const bg = look.chuckLevel * light;
      if (w === 0) {
        out[i] = bg + n;
        out[i + 1] = bg + n;
        out[i + 2] = bg * 1.04 + n;
        continue;
      }
      const bin = Math.min(LUT_BINS - 1, (r2 * lutScale) | 0) * 3;
      const k = light * factor[walker.region];
      const vr = lut[bin] * k;
      const vg = lut[bin + 1] * k;
      const vb = lut[bin + 2] * k;
      if (w === 1) {
        out[i] = vr + n;
        out[i + 1] = vg + n;
        out[i + 2] = vb + n;
      } else {
        out[i] = bg + w * (vr - bg) + n;
        out[i + 1] = bg + w * (vg - bg) + n;
        out[i + 2] = bg * 1.04 + w * (vb - bg * 1.04) + n;
      }
    }
  }
  return { width: W, height: H, channels: 3, depth: 8, data };
}

function clamp16(v: number): number {
  return v <= 0 ? 0 : v >= 65535 ? 65535 : Math.round(v);
}

export function infraredScene(look: WaferLook, factor: Float64Array, x: number, y: number, R: number): number {
  const q = (x * x + y * y) / (R * R);
  const die = factor[dieRegion(look, x, y, R)];
  return look.irWafer + look.irGx * x + look.irGy * y + look.irRadial * q + look.irDie * (die - 1) * 4;
}

export function renderInfrared(cam: SimCamera, station: SimStation, look: WaferLook, seed: number, shared: PixelMemory): RawFrame {
  const g = geometry(cam, station);
  const { width: W, height: H } = cam;
  const data = allocPixels(W, H, 1, 16, shared) as Uint16Array;
  const dark = cam.dark!;
  const gain = cam.gain!;
  const factor = dieFactors(look);
  const G = GAUSS_TABLE;
  let s = seed | 1;
  let i = 0;
  for (let row = 0; row < H; row++) {
    for (let col = 0; col < W; col++, i++) {
      const x = g.a * col + g.b * row + g.c0;
      const y = g.d * col + g.e * row + g.f0;
      const r2 = x * x + y * y;
      const w = onWafer(x, y, r2, g);
      const chuck = look.irChuck + 0.5 * look.irGx * x;
      const scene = w === 0 ? chuck : chuck + w * (infraredScene(look, factor, x, y, g.R) - chuck);
      s = xorshift(s);
      data[i] = clamp16(dark[i] + gain[i] * scene + look.irNoise * G[s & 0xffff]);
    }
  }
  return { width: W, height: H, channels: 1, depth: 16, data };
}

export function xrayTransmission(look: WaferLook, x: number, y: number, R: number): number {
  const r = Math.sqrt(x * x + y * y);
  let t = look.xrWafer * (1 + look.xrGx * x + look.xrGy * y);
  if (r > R - 1.2) t += (1 - t) * 0.45 * ((r - (R - 1.2)) / 1.2); // bevel: thinner stack at the rim
  const region = dieRegion(look, x, y, R);
  if (region === DieRegion.Street) return t * look.xrStreet;
  if (region === DieRegion.BlockA) {
    const p = look.xrTsvPitch;
    const u = x - p * Math.round(x / p);
    const v = y - p * Math.round(y / p);
    if (u * u + v * v < look.xrTsvRadius * look.xrTsvRadius) return t * look.xrTsv;
  }
  return t;
}

export function renderXray(cam: SimCamera, station: SimStation, look: WaferLook, seed: number, shared: PixelMemory): RawFrame {
  const g = geometry(cam, station);
  const { width: W, height: H } = cam;
  const data = allocPixels(W, H, 1, 16, shared) as Uint16Array;
  const dark = cam.dark!;
  const gain = cam.gain!;
  const G = GAUSS_TABLE;
  let s = seed | 1;
  let i = 0;
  for (let row = 0; row < H; row++) {
    for (let col = 0; col < W; col++, i++) {
      const x = g.a * col + g.b * row + g.c0;
      const y = g.d * col + g.e * row + g.f0;
      const r2 = x * x + y * y;
      const w = onWafer(x, y, r2, g);
      const t = w === 0 ? 1 : 1 + w * (xrayTransmission(look, x, y, g.R) - 1);
      const counts = gain[i] * t;
      s = xorshift(s);
      data[i] = clamp16(dark[i] + counts + look.xrNoise * Math.sqrt(counts) * G[s & 0xffff]);
    }
  }
  return { width: W, height: H, channels: 1, depth: 16, data };
}

export function renderBackground(station: SimStation, look: WaferLook, seed: number, shared: PixelMemory = false): Record<Modality, RawFrame> {
  return {
    visible: renderVisible(station.cameras.visible, station, look, seed ^ 0x1234567, shared),
    infrared: renderInfrared(station.cameras.infrared, station, look, seed ^ 0x2345678, shared),
    xray: renderXray(station.cameras.xray, station, look, seed ^ 0x3456789, shared),
  };
}

/**
 * A soft lens: two passes of a box filter of radius `mm` (about a Gaussian), along rows then
 * columns, edges clamped. Returns a new frame.
 */
export function blurVisible(src: RawFrame, pitchMm: number, mm: number, shared: PixelMemory): RawFrame {
  const r = Math.max(1, Math.round(mm / pitchMm));
  const { width: W, height: H } = src;
  const a = Float32Array.from(src.data as Uint8Array);
  const b = new Float32Array(a.length);
  const pass = (from: Float32Array, to: Float32Array, n: number, lines: number, step: number, next: number): void => {
    const norm = 1 / (2 * r + 1);
    for (let line = 0; line < lines; line++) {
      for (let c = 0; c < 3; c++) {
        const base = line * next + c;
        let sum = 0;
        for (let k = -r; k <= r; k++) sum += from[base + Math.min(n - 1, Math.max(0, k)) * step];
        for (let i = 0; i < n; i++) {
          to[base + i * step] = sum * norm;
          sum += from[base + Math.min(n - 1, i + r + 1) * step] - from[base + Math.max(0, i - r) * step];
        }
      }
    }
  };
  for (let k = 0; k < 2; k++) {
    pass(a, b, W, H, 3, W * 3);
    pass(b, a, H, W, W * 3, 3);
  }
  const data = allocPixels(W, H, 3, 8, shared) as Uint8Array;
  for (let i = 0; i < a.length; i++) data[i] = a[i] <= 0 ? 0 : a[i] >= 255 ? 255 : Math.round(a[i]);
  return { ...src, data };
}

/** Pixel window (inclusive) of a camera that covers a box in wafer mm, clipped to the frame. */
function pixelWindow(cam: SimCamera, box: [number, number, number, number]): [number, number, number, number] | null {
  const inv = invertAffine(cam.pxToMm);
  const corners = [
    applyAffine(inv, box[0], box[1]),
    applyAffine(inv, box[0], box[3]),
    applyAffine(inv, box[2], box[1]),
    applyAffine(inv, box[2], box[3]),
  ];
  const c0 = Math.max(0, Math.floor(Math.min(...corners.map((p) => p[0]))) - 2);
  const c1 = Math.min(cam.width - 1, Math.ceil(Math.max(...corners.map((p) => p[0]))) + 2);
  const r0 = Math.max(0, Math.floor(Math.min(...corners.map((p) => p[1]))) - 2);
  const r1 = Math.min(cam.height - 1, Math.ceil(Math.max(...corners.map((p) => p[1]))) + 2);
  return c0 > c1 || r0 > r1 ? null : [c0, r0, c1, r1];
}

/** Calls fn(index, x, y, coverage) for every pixel of the camera the defect touches. */
function forCovered(cam: SimCamera, defect: Defect, fn: (i: number, x: number, y: number, c: number) => void): void {
  const win = pixelWindow(cam, defect.shape.bbox);
  if (!win) return;
  const [[a, b, c0], [d, e, f0]] = cam.pxToMm;
  for (let row = win[1]; row <= win[3]; row++) {
    for (let col = win[0]; col <= win[2]; col++) {
      const x = a * col + b * row + c0;
      const y = d * col + e * row + f0;
      const c = defect.shape.coverage(x, y, cam.pitchMm);
      if (c > 0) fn(row * cam.width + col, x, y, c);
    }
  }
}

/** Draws defects into frames in place. */
export function applyDefects(frames: Record<Modality, RawFrame>, station: SimStation, look: WaferLook, defects: Defect[], seed: number): void {
  const G = GAUSS_TABLE;
  let s = seed | 1;
  const noise = (): number => {
    s = xorshift(s);
    return G[s & 0xffff];
  };
  for (const defect of defects) {
    const ve = defect.visible;
    if (ve) {
      const cam = station.cameras.visible;
      const px = frames.visible.data as Uint8Array;
      const out = new Uint8ClampedArray(px.buffer, px.byteOffset, px.length);
      forCovered(cam, defect, (i, x, y, c) => {
        const p = i * 3;
        if (ve.op === 'scale') {
          for (let k = 0; k < 3; k++) out[p + k] = px[p + k] * (1 + c * (ve.f[k] - 1));
        } else {
          const n = look.visibleNoise * noise();
          const bg = chuckVisible(look, x, y);
          const target = ve.op === 'paint' ? ve.rgb : [bg, bg, bg * 1.04];
          const o = ve.op === 'paint' ? c * ve.opacity : c;
          for (let k = 0; k < 3; k++) out[p + k] = px[p + k] + o * (target[k] + n - px[p + k]);
        }
      });
    }
    const ie = defect.infrared;
    if (ie) {
      const cam = station.cameras.infrared;
      const px = frames.infrared.data as Uint16Array;
      forCovered(cam, defect, (i, x, _y, c) => {
        if (ie.op === 'add') px[i] = clamp16(px[i] + cam.gain![i] * c * ie.amount);
        else {
          const target = cam.dark![i] + cam.gain![i] * (look.irChuck + 0.5 * look.irGx * x) + look.irNoise * noise();
          px[i] = clamp16(px[i] + c * (target - px[i]));
        }
      });
    }
    const xe = defect.xray;
    if (xe) {
      const cam = station.cameras.xray;
      const px = frames.xray.data as Uint16Array;
      forCovered(cam, defect, (i, _x, _y, c) => {
        const dark = cam.dark![i];
        if (xe.op === 'scale') px[i] = clamp16(dark + (px[i] - dark) * (1 + c * (xe.f - 1)));
        else {
          const t = xe.op === 'outside' ? 1 : xe.t;
          const counts = cam.gain![i] * t;
          const target = dark + counts + look.xrNoise * Math.sqrt(counts) * noise();
          px[i] = clamp16(px[i] + c * (target - px[i]));
        }
      });
    }
  }
}
