import type { Modality } from '../common/modality.js';
import { allocPixels, type RawFrame } from '../frames/frame.js';
import { GAUSS_TABLE, hash32, xorshift } from './rng.js';
import type { SimCamera, SimStation } from './station.js';

/**
 * What a station's cameras see during calibration: a dark frame (shutter closed / beam off), a flat
 * frame (uniform black body for infrared, open beam for X-ray), and a registration target: a
 * 300 mm plate with round marks on a square grid that show in every modality.
 */
export const TARGET = {
  plateRadiusMm: 150,
  pitchMm: 20,
  dotRadiusMm: 1.5,
  /** marks only inside this radius, clear of the plate's rim */
  fieldRadiusMm: 141,
} as const;

/** Scene counts of the infrared black body used for flat frames. */
export const IR_FLAT_LEVEL = 10000;

export function targetDots(): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const n = Math.ceil(TARGET.fieldRadiusMm / TARGET.pitchMm);
  for (let i = -n; i <= n; i++) {
    for (let j = -n; j <= n; j++) {
      const x = i * TARGET.pitchMm;
      const y = j * TARGET.pitchMm;
      if (Math.hypot(x, y) <= TARGET.fieldRadiusMm) out.push([x, y]);
    }
  }
  return out;
}

/** Coverage of the mark nearest (x, y), sampled 4x4 inside the pixel. */
function dotCover(x: number, y: number, pitch: number): number {
  const p = TARGET.pitchMm;
  let hit = 0;
  for (let sy = 0; sy < 4; sy++) {
    for (let sx = 0; sx < 4; sx++) {
      const u = x + ((sx + 0.5) / 4 - 0.5) * pitch;
      const v = y + ((sy + 0.5) / 4 - 0.5) * pitch;
      if (Math.hypot(u, v) > TARGET.fieldRadiusMm + TARGET.dotRadiusMm) continue;
      const du = u - p * Math.round(u / p);
      const dv = v - p * Math.round(v / p);
      if (du * du + dv * dv < TARGET.dotRadiusMm ** 2) hit++;
    }
  }
  return hit / 16;
}

export type CalibrationScene = 'dark' | 'flat' | 'target';

/** One calibration frame of a camera; `take` varies the noise between repeated frames. */
export function renderCalibrationFrame(station: SimStation, m: Modality, scene: CalibrationScene, take: number): RawFrame {
  const cam: SimCamera = station.cameras[m];
  const { width: W, height: H } = cam;
  const [[a, b, c0], [d, e, f0]] = cam.pxToMm;
  const data = allocPixels(W, H, cam.channels, cam.depth);
  let s = hash32(take, scene.length, m.length) | 1;
  const G = GAUSS_TABLE;
  for (let row = 0, i = 0; row < H; row++) {
    for (let col = 0; col < W; col++, i++) {
      const x = a * col + b * row + c0;
      const y = d * col + e * row + f0;
      const onPlate = Math.hypot(x, y) <= TARGET.plateRadiusMm;
      const dot = scene === 'target' && onPlate ? dotCover(x, y, cam.pitchMm) : 0;
      s = xorshift(s);
      const n = G[s & 0xffff];
      if (m === 'visible') {
        const v = scene === 'target' ? (onPlate ? 205 - 165 * dot : 35) : 0;
        const out = data as Uint8Array;
        for (let k = 0; k < 3; k++) out[i * 3 + k] = Math.max(0, Math.min(255, Math.round(v + 2 * n)));
        continue;
      }
      const out = data as Uint16Array;
      let counts: number;
      if (m === 'infrared') {
        const scene_ = scene === 'dark' ? 0 : scene === 'flat' ? IR_FLAT_LEVEL : onPlate ? 9000 + 2500 * dot : 7000;
        counts = cam.dark![i] + cam.gain![i] * scene_ + 15 * n;
      } else {
        const t = scene === 'dark' ? 0 : scene === 'flat' ? 1 : onPlate ? 0.85 - 0.6 * dot : 1;
        const c = cam.gain![i] * t;
        counts = cam.dark![i] + c + 0.8 * Math.sqrt(c + 16) * n;
      }
      out[i] = Math.max(0, Math.min(65535, Math.round(counts)));
    }
  }
  return { width: W, height: H, channels: cam.channels, depth: cam.depth, data };
}
