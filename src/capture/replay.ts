import { isAbsolute, join } from 'node:path';
import type { Affine } from '../common/affine.js';
import { MODALITIES, type Modality } from '../common/modality.js';
import type { FrameInput, FrameSet } from '../frames/frame.js';
import { readLotMeta, readManifest } from '../lot/read.js';
import type { LotMeta } from '../lot/schema.js';
import { Pacer, type CaptureDriver } from './driver.js';

export interface ReplayOptions {
  lot: string;
  /** recorded: keep the lot's arrival gaps; max: as fast as the consumer takes them */
  pace: 'recorded' | 'max';
  /** play the lot this many times (soak tests, benchmarks) */
  loops?: number;
  /** stop after this many wafers */
  count?: number;
}

/** Replays a recorded lot (contracts §2). A broken manifest line becomes a wafer with an error, and the lot goes on. */
export class ReplayCapture implements CaptureDriver {
  readonly name = 'replay';
  private readonly abort = new AbortController();
  meta: LotMeta | undefined;
  private metaRead: Promise<LotMeta> | undefined;

  constructor(private readonly o: ReplayOptions) {}

  /** lot.json, read once: the start-time pitch check and the first wafer both need it */
  private lotMeta(): Promise<LotMeta> {
    return (this.metaRead ??= readLotMeta(this.o.lot));
  }

  async visibleGeometry(): Promise<Affine | undefined> {
    return (await this.lotMeta()).geometry?.visible?.pxToMm;
  }

  async *frames(): AsyncGenerator<FrameSet> {
    const meta = (this.meta = await this.lotMeta());
    const geometry: Partial<Record<Modality, Affine>> = {};
    for (const m of MODALITIES) {
      const g = meta.geometry?.[m]?.pxToMm;
      if (g) geometry[m] = g;
    }
    const period = 1000 / (meta.rateHz ?? 15);
    const pacer = new Pacer(this.abort.signal);
    let seq = 0;
    let lastAt = 0;
    for (let loop = 0; loop < (this.o.loops ?? 1); loop++) {
      const offset = loop === 0 ? 0 : lastAt + period;
      let index = 0;
      for await (const item of readManifest(this.o.lot)) {
        if (this.abort.signal.aborted || seq === this.o.count) return;
        const atMs = offset + ('entry' in item && item.entry.atMs !== undefined ? item.entry.atMs : index * period);
        index++;
        lastAt = atMs;
        if (this.o.pace === 'recorded') await pacer.until(atMs);
        if (this.abort.signal.aborted) return;
        const base = { lot: meta.lot, seq: seq++, atMs, arrivedAt: Date.now(), geometry };
        if ('error' in item) {
          const frames = Object.fromEntries(MODALITIES.map((m) => [m, { kind: 'error', error: 'manifest line unreadable' }])) as Record<Modality, FrameInput>;
          yield { ...base, wafer: item.wafer ?? `${meta.lot ?? 'lot'}:line-${item.line}`, frames, error: item.error };
          continue;
        }
        const e = item.entry;
        const frames = {} as Record<Modality, FrameInput>;
        for (const m of MODALITIES) {
          const rel = e.frames[m];
          frames[m] = rel ? { kind: 'file', path: isAbsolute(rel) ? rel : join(this.o.lot, rel) } : { kind: 'missing' };
        }
        yield { ...base, wafer: e.wafer, frames, ...(e.truth ? { truth: e.truth } : {}) };
      }
    }
  }

  stop(): void {
    this.abort.abort();
  }
}
