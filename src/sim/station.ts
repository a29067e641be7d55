import { poseToAffine, type Affine, type CameraPose } from '../common/affine.js';
import { MODALITIES, MODALITY_FORMAT, type Modality } from '../common/modality.js';
import { hash32, Rng } from './rng.js';

/**
 * The simulated station: where each camera looks (its true geometry) and how its sensor distorts
 * counts (fixed-pattern dark offset and gain). Calibration measures these from dark and flat
 * frames; fusion corrects with what calibration measured, never with these true values.
 */
export interface SimCameraSpec {
  width: number;
  height: number;
  pose: CameraPose;
}

export interface SimStationSpec {
  id: string;
  seed: number;
  waferDiameterMm: number;
  cameras: Record<Modality, SimCameraSpec>;
}

/** The reference station of the brief: 2048² RGB8 visible, 640x512 16-bit infrared, 1024² 16-bit X-ray, each with its own pose. */
export const REFERENCE_STATION: SimStationSpec = {
  id: 'reference',
  seed: 20261129,
  waferDiameterMm: 300,
  cameras: {
    visible: { width: 2048, height: 2048, pose: { pitchMm: 0.158, rotationDeg: 0.6, centreMm: [1.8, -1.2] } },
    infrared: { width: 640, height: 512, pose: { pitchMm: 0.62, rotationDeg: -1.4, centreMm: [-2.5, 1.5] } },
    xray: { width: 1024, height: 1024, pose: { pitchMm: 0.312, rotationDeg: 2.1, centreMm: [0.8, 2.2] } },
  },
};

/** X-ray open-beam counts at the detector centre, before the detector's own gain pattern. */
export const XRAY_OPEN_BEAM = 52000;

export interface SimCamera {
  modality: Modality;
  width: number;
  height: number;
  channels: 1 | 3;
  depth: 8 | 16;
  pxToMm: Affine;
  pitchMm: number;
  /** raw = dark + gain · scene (16-bit modalities only) */
  dark?: Float32Array;
  gain?: Float32Array;
}

export interface SimStation {
  id: string;
  waferDiameterMm: number;
  cameras: Record<Modality, SimCamera>;
}

export function buildStation(spec: SimStationSpec): SimStation {
  const cameras = {} as Record<Modality, SimCamera>;
  for (const m of MODALITIES) {
    const c = spec.cameras[m];
    const cam: SimCamera = {
      modality: m,
      width: c.width,
      height: c.height,
      ...MODALITY_FORMAT[m],
      pxToMm: poseToAffine(c.width, c.height, c.pose),
      pitchMm: c.pose.pitchMm,
    };
    if (m === 'infrared') Object.assign(cam, infraredPattern(c.width, c.height, new Rng(hash32(spec.seed, 11))));
    if (m === 'xray') Object.assign(cam, xrayPattern(c.width, c.height, new Rng(hash32(spec.seed, 12))));
    cameras[m] = cam;
  }
  return { id: spec.id, waferDiameterMm: spec.waferDiameterMm, cameras };
}

/** Microbolometer: per-column offset and gain (readout amplifiers), vignetting, a slow dark ramp. */
function infraredPattern(w: number, h: number, rng: Rng): { dark: Float32Array; gain: Float32Array } {
  const colOffset = Float32Array.from({ length: w }, () => rng.gauss() * 35);
  const colGain = Float32Array.from({ length: w }, () => 1 + rng.gauss() * 0.015);
  const ramp = rng.range(-0.4, 0.4);
  const vig = rng.range(0.1, 0.18);
  const dark = new Float32Array(w * h);
  const gain = new Float32Array(w * h);
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  const rr = Math.hypot(cx, cy);
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      const i = r * w + c;
      const q = ((c - cx) ** 2 + (r - cy) ** 2) / (rr * rr);
      dark[i] = 1100 + colOffset[c] + ramp * r;
      gain[i] = colGain[c] * (1 - vig * q) * (1 + rng.gauss() * 0.004);
    }
  }
  return { dark, gain };
}

/** Flat-panel detector: four tiles with their own offset and gain, heel effect along rows, vignetting. */
function xrayPattern(w: number, h: number, rng: Rng): { dark: Float32Array; gain: Float32Array } {
  const tileOffset = [0, 1, 2, 3].map(() => 600 + rng.gauss() * 25);
  const tileGain = [0, 1, 2, 3].map(() => 1 + rng.gauss() * 0.02);
  const heel = rng.range(0.06, 0.1);
  const vig = rng.range(0.08, 0.14);
  const dark = new Float32Array(w * h);
  const gain = new Float32Array(w * h);
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  const rr = Math.hypot(cx, cy);
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      const i = r * w + c;
      const tile = (r < h / 2 ? 0 : 2) + (c < w / 2 ? 0 : 1);
      const q = ((c - cx) ** 2 + (r - cy) ** 2) / (rr * rr);
      dark[i] = tileOffset[tile] + rng.gauss() * 3;
      gain[i] = XRAY_OPEN_BEAM * tileGain[tile] * (1 + heel * ((r - cy) / h)) * (1 - vig * q) * (1 + rng.gauss() * 0.006);
    }
  }
  return { dark, gain };
}
