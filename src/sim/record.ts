import { availableParallelism } from 'node:os';
import { siblingModule, WorkerPool } from '../common/worker-pool.js';
import { MODALITIES } from '../common/modality.js';
import type { FrameFormat } from '../frames/encode.js';
import type { LotMeta, ManifestLine } from '../lot/schema.js';
import { LotWriter } from '../lot/write.js';
import { hash32 } from './rng.js';
import { SyntheticLine, type LineOptions } from './line.js';
import { REFERENCE_STATION } from './station.js';

export interface RecordOptions {
  count: number;
  out: string;
  line: Partial<LineOptions>;
  format: FrameFormat;
  /** nominal line rate written as arrival times; conveyor jitter is ±10% of the period */
  rateHz: number;
  workers?: number;
  onProgress?: (done: number) => void;
}

/** Arrival of wafer `index` at the station, ms from the lot's start. */
export function arrivalMs(seed: number, index: number, rateHz: number): number {
  const period = 1000 / rateHz;
  const jitter = (hash32(seed, index, 0x71) / 4294967296 - 0.5) * 0.2 * period;
  return Math.max(0, index * period + jitter);
}

/** Renders a synthetic lot in worker threads and writes it in the recorded-lot format with geometry and truth. */
export async function recordSynthetic(o: RecordOptions): Promise<{ lot: string; wafers: number }> {
  const line = new SyntheticLine({ ...o.line, poolSize: 0 });
  const seed = line.options.seed;
  const geometry = Object.fromEntries(MODALITIES.map((m) => [m, { pxToMm: line.station.cameras[m].pxToMm }]));
  const { seed: s, defectRate, maxDefects, classWeights, look } = line.options;
  // the look is written only when it is not the default, so default lots stay as they were
  const synthetic = { seed: s, defectRate, maxDefects, classWeights, station: line.options.station ?? REFERENCE_STATION, ...(look && look !== 'default' ? { look } : {}) };
  const meta: LotMeta = { lot: line.lot, station: line.station.id, waferDiameterMm: line.station.waferDiameterMm, rateHz: o.rateHz, geometry, synthetic };
  const writer = await LotWriter.create(o.out, meta, o.format);
  const size = Math.max(1, Math.min(o.workers ?? availableParallelism(), o.count));
  const pool = new WorkerPool<{ index: number }, Pick<ManifestLine, 'wafer' | 'frames' | 'truth'>>(siblingModule(import.meta.url, 'record-worker'), size, {
    line: line.options,
    dir: o.out,
    format: o.format,
  });
  let next = 0;
  let done = 0;
  const lane = async (): Promise<void> => {
    while (next < o.count) {
      const index = next++;
      const ticket = writer.reserve();
      try {
        const r = await pool.run({ index });
        await writer.commit(ticket, { ...r, atMs: arrivalMs(seed, index, o.rateHz), sim: { index } });
      } catch (e) {
        await writer.commit(ticket, null);
        throw e;
      }
      o.onProgress?.(++done);
    }
  };
  try {
    await Promise.all(Array.from({ length: size * 2 }, lane));
  } finally {
    await pool.close();
    await writer.close();
  }
  return { lot: line.lot, wafers: writer.count };
}
