import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { Affine } from '../common/affine.js';
import { formatIssues } from '../common/issues.js';
import { MODALITIES, type Modality } from '../common/modality.js';
import { decodeFrame } from '../frames/decode.js';
import { stationCalibrationSchema, type StationCalibration } from './schema.js';

/** Per-pixel correction: value = (raw − offset[p]) · scale[p] + bias. */
export interface PixelCorrection {
  width: number;
  height: number;
  offset: Float32Array;
  scale: Float32Array;
  bias: number;
}

export interface StationCamera {
  width: number;
  height: number;
  pxToMm: Affine;
  /** absent when the station has no dark/flat for this camera: only the range scaling applies */
  correction?: PixelCorrection;
  /** raw (or corrected scene) values mapped to 0..1 */
  range: [number, number];
}

export interface Station {
  id: string;
  dir: string;
  waferDiameterMm: number;
  cameras: Partial<Record<Modality, StationCamera>>;
}

export class StationError extends Error {
  override name = 'StationError';
}

const DEFAULT_RANGE: Record<Modality, [number, number]> = { visible: [0, 255], infrared: [0, 65535], xray: [0, 65535] };

export async function readStationCalibration(dir: string): Promise<StationCalibration> {
  const path = join(dir, 'station.yaml');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new StationError(`station calibration ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (e as Error).message}`);
  }
  const r = stationCalibrationSchema.safeParse(parse(text), { reportInput: true });
  if (!r.success) throw new StationError(`${path}: ${formatIssues(r.error.issues).join('; ')}`);
  return r.data;
}

/** The pxToMm of a station's visible camera, null when it has none. */
export async function visibleGeometry(dir: string): Promise<Affine | null> {
  return (await readStationCalibration(dir)).modalities.visible?.pxToMm ?? null;
}

/** Loads a station's calibration folder: geometry per camera and dark/flat fields turned into per-pixel corrections. */
export async function loadStation(dir: string): Promise<Station> {
  const cal = await readStationCalibration(dir);
  const cameras: Partial<Record<Modality, StationCamera>> = {};
  for (const m of MODALITIES) {
    const c = cal.modalities[m];
    if (!c) continue;
    // with a flat field, scene counts equal to the flat source's level read as 1
    const range = c.range ?? (c.flat ? [0, c.flatLevel ?? 1] : DEFAULT_RANGE[m]);
    const cam: StationCamera = { width: c.width, height: c.height, pxToMm: c.pxToMm, range: range as [number, number] };
    if (c.dark || c.flat) cam.correction = await buildCorrection(dir, m, c.width, c.height, c.dark, c.flat, c.flatLevel ?? 1, cam.range);
    cameras[m] = cam;
  }
  return { id: cal.station, dir, waferDiameterMm: cal.waferDiameterMm, cameras };
}

async function field(dir: string, m: Modality, file: string, width: number, height: number): Promise<Uint16Array> {
  const f = await decodeFrame(m, { kind: 'file', path: join(dir, file) }).catch((e: Error) => {
    throw new StationError(`station calibration: ${e.message}`);
  });
  if (f.width !== width || f.height !== height || f.channels !== 1) {
    throw new StationError(`station calibration: ${file} is ${f.width}x${f.height}x${f.channels}, expected ${width}x${height}x1`);
  }
  return f.data as Uint16Array;
}

async function buildCorrection(
  dir: string,
  m: Modality,
  width: number,
  height: number,
  darkFile: string | undefined,
  flatFile: string | undefined,
  flatLevel: number,
  range: [number, number],
): Promise<PixelCorrection> {
  const n = width * height;
  const dark = darkFile ? await field(dir, m, darkFile, width, height) : new Uint16Array(n);
  const flat = flatFile ? await field(dir, m, flatFile, width, height) : undefined;
  const span = range[1] - range[0];
  const offset = Float32Array.from(dark);
  const scale = new Float32Array(n);
  let dead = 0;
  for (let i = 0; i < n; i++) {
    if (!flat) {
      scale[i] = 1 / span;
      continue;
    }
    const g = flat[i] - dark[i];
    // a pixel that does not respond to light carries no information: it reads as the range's floor
    if (g <= 0) dead++;
    scale[i] = g > 0 ? flatLevel / g / span : 0;
  }
  if (dead > n / 100) throw new StationError(`station calibration: ${m} flat field has ${dead} pixels not brighter than dark`);
  return { width, height, offset, scale, bias: -range[0] / span };
}
