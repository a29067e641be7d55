import { open, mkdir, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { TruthDefect } from '../common/defects.js';
import { MODALITIES, type Modality } from '../common/modality.js';
import { encodeFrame, type FrameFormat } from '../frames/encode.js';
import type { RawFrame } from '../frames/frame.js';
import type { LotMeta, ManifestLine } from './schema.js';

export interface LotEntry {
  wafer: string;
  atMs: number;
  /** a modality left out (or null) is recorded as absent, never filled in */
  frames: Partial<Record<Modality, RawFrame | null>>;
  truth?: TruthDefect[];
}

/** Encodes and writes one wafer's frames under <wafer>/<modality>.<ext>; returns the manifest's frames object. */
export async function writeWaferFrames(dir: string, wafer: string, src: Partial<Record<Modality, RawFrame | null>>, format: FrameFormat): Promise<ManifestLine['frames']> {
  const frames: ManifestLine['frames'] = {};
  const safe = wafer.replace(/[^A-Za-z0-9._-]/g, '_');
  await mkdir(join(dir, safe), { recursive: true });
  await Promise.all(
    MODALITIES.map(async (m) => {
      const f = src[m];
      if (!f) {
        frames[m] = null;
        return;
      }
      const rel = `${safe}/${m}.${format}`;
      await writeFile(join(dir, rel), await encodeFrame(f, format));
      frames[m] = rel;
    }),
  );
  return frames;
}

/**
 * Writes a lot (contracts §2). Each wafer's manifest
 * line is appended only after its frames are on disk, and lines keep the order of write() calls
 * even when frames are encoded concurrently, so a crash never leaves a line that names a missing file.
 */
export class LotWriter {
  private nextTicket = 0;
  private nextToFlush = 0;
  private readonly ready = new Map<number, string>();
  private flushing: Promise<void> = Promise.resolve();
  count = 0;

  private constructor(
    readonly dir: string,
    private readonly manifest: FileHandle,
    private readonly format: FrameFormat,
  ) {}

  static async create(dir: string, meta: LotMeta, format: FrameFormat = 'tiff'): Promise<LotWriter> {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'lot.json'), JSON.stringify(meta, null, 2) + '\n');
    const manifest = await open(join(dir, 'manifest.jsonl'), 'w');
    return new LotWriter(dir, manifest, format);
  }

  async write(entry: LotEntry): Promise<void> {
    const ticket = this.reserve();
    let frames: ManifestLine['frames'];
    try {
      frames = await writeWaferFrames(this.dir, entry.wafer, entry.frames, this.format);
    } catch (e) {
      await this.commit(ticket, null);
      throw e;
    }
    await this.commit(ticket, { wafer: entry.wafer, atMs: entry.atMs, frames, ...(entry.truth ? { truth: entry.truth } : {}) });
  }

  /** A place in the manifest's order, for frames written elsewhere (e.g. by a worker thread). */
  reserve(): number {
    return this.nextTicket++;
  }

  /** The manifest line for a reserved place; null gives the place up (its frames failed to write). */
  commit(ticket: number, line: ManifestLine | null): Promise<void> {
    const text = line ? JSON.stringify({ ...line, atMs: Math.round((line.atMs ?? 0) * 10) / 10 }) + '\n' : '';
    this.ready.set(ticket, text);
    return this.flush();
  }

  private flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      let text = '';
      while (this.ready.has(this.nextToFlush)) {
        const line = this.ready.get(this.nextToFlush)!;
        this.ready.delete(this.nextToFlush++);
        if (line) {
          text += line;
          this.count++;
        }
      }
      if (text) await this.manifest.write(text);
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    await this.flushing;
    await this.manifest.sync();
    await this.manifest.close();
  }
}
