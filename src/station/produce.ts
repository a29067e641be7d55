import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { pixelPitchMm } from '../common/affine.js';
import type { Modality } from '../common/modality.js';
import { encodeFrame } from '../frames/encode.js';
import type { RawFrame } from '../frames/frame.js';
import { findMarks, register, type Registration } from './registration.js';
import type { StationCalibration } from './schema.js';

/** Where calibration frames come from: a live station, or the simulator's. */
export interface CalibrationSource {
  station: string;
  waferDiameterMm: number;
  modalities: Modality[];
  frame(m: Modality, scene: 'dark' | 'flat' | 'target', take: number): RawFrame | Promise<RawFrame>;
  /** modalities with dark and flat fields, and the flat source's scene level (1: transmission) */
  fields: Partial<Record<Modality, { flatLevel: number; range?: [number, number] }>>;
  /** the target's marks in wafer mm, their pitch and radius, and whether they read brighter (+1) or darker (−1) per modality */
  target: { marks: Array<[number, number]>; pitchMm: number; markRadiusMm: number; sign: Record<Modality, 1 | -1> };
  producedBy: string;
}

export interface CameraReport {
  modality: Modality;
  registration: Registration;
  pitchMm: number;
  marksFound: number;
}

function average(frames: RawFrame[]): Float32Array {
  const f0 = frames[0];
  const n = f0.width * f0.height;
  const out = new Float32Array(n);
  for (const f of frames) {
    const d = f.data;
    if (f.channels === 3) for (let i = 0; i < n; i++) out[i] += (d[3 * i] + d[3 * i + 1] + d[3 * i + 2]) / 3;
    else for (let i = 0; i < n; i++) out[i] += d[i];
  }
  for (let i = 0; i < n; i++) out[i] /= frames.length;
  return out;
}

function toU16(v: Float32Array, width: number, height: number): RawFrame {
  const data = new Uint16Array(v.length);
  for (let i = 0; i < v.length; i++) data[i] = Math.max(0, Math.min(65535, Math.round(v[i])));
  return { width, height, channels: 1, depth: 16, data };
}

/**
 * Measures a station: dark and flat fields averaged over `takes` frames, and each camera's
 * registration from target frames. Writes station.yaml and the field images into `out`.
 */
export async function calibrateStation(src: CalibrationSource, out: string, takes: number): Promise<CameraReport[]> {
  await mkdir(out, { recursive: true });
  const cal: StationCalibration = { station: src.station, waferDiameterMm: src.waferDiameterMm, producedBy: src.producedBy, modalities: {} };
  const reports: CameraReport[] = [];
  for (const m of src.modalities) {
    const grab = async (scene: 'dark' | 'flat' | 'target', k: number): Promise<RawFrame[]> => {
      const frames: RawFrame[] = [];
      for (let i = 0; i < k; i++) frames.push(await src.frame(m, scene, i));
      return frames;
    };
    const targets = await grab('target', Math.max(1, Math.round(takes / 4)));
    const { width, height } = targets[0];
    let values = average(targets);
    const fields = src.fields[m];
    let entry: NonNullable<StationCalibration['modalities'][Modality]>;
    if (fields) {
      const dark = average(await grab('dark', takes));
      const flat = average(await grab('flat', takes));
      await writeFile(join(out, `${m}-dark.png`), await encodeFrame(toU16(dark, width, height), 'png'));
      await writeFile(join(out, `${m}-flat.png`), await encodeFrame(toU16(flat, width, height), 'png'));
      values = values.map((v, i) => (v - dark[i]) / Math.max(1e-3, flat[i] - dark[i]));
      entry = { width, height, pxToMm: [[0, 0, 0], [0, 0, 0]], dark: `${m}-dark.png`, flat: `${m}-flat.png`, flatLevel: fields.flatLevel, ...(fields.range ? { range: fields.range } : {}) };
    } else {
      entry = { width, height, pxToMm: [[0, 0, 0], [0, 0, 0]] };
    }
    const pitchGuess = src.waferDiameterMm / Math.min(width, height);
    const markArea = (Math.PI * src.target.markRadiusMm ** 2) / pitchGuess ** 2;
    const marks = findMarks(values, width, height, src.target.sign[m], Math.max(2, markArea * 0.25), markArea * 4);
    const reg = register(marks, src.target.marks, width, height, src.waferDiameterMm, src.target.pitchMm);
    if (reg.matched < src.target.marks.length * 0.6) {
      throw new Error(`${m}: registration matched ${reg.matched} of ${src.target.marks.length} target marks (${marks.length} found in the image)`);
    }
    const round = (v: number): number => Number(v.toPrecision(9));
    entry.pxToMm = reg.pxToMm.map((r) => r.map(round)) as typeof entry.pxToMm;
    cal.modalities[m] = entry;
    reports.push({ modality: m, registration: reg, pitchMm: pixelPitchMm(reg.pxToMm), marksFound: marks.length });
  }
  const header = [
    `# Station calibration, written by: ${src.producedBy}`,
    ...reports.map((r) => `# ${r.modality}: ${r.registration.matched} marks matched, residual ${r.registration.rmsMm.toFixed(3)} mm rms, pitch ${r.pitchMm.toFixed(4)} mm/px`),
  ].join('\n');
  await writeFile(join(out, 'station.yaml'), header + '\n' + stringify(cal, { lineWidth: 0 }));
  return reports;
}
