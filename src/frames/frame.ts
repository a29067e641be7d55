import type { Affine } from '../common/affine.js';
import type { TruthDefect } from '../common/defects.js';
import type { Modality } from '../common/modality.js';
import type { PixelAllocator } from './pixel-pool.js';

export type PixelData = Uint8Array | Uint16Array;

/** Decoded pixels, row-major, channels interleaved. */
export interface RawFrame {
  width: number;
  height: number;
  channels: 1 | 3;
  depth: 8 | 16;
  data: PixelData;
}

/**
 * How a modality arrives for one wafer. Decoding is left to fusion (it runs off the event loop),
 * so capture hands over pixels it already has, or bytes / a path it has not decoded.
 */
export type FrameInput =
  | { kind: 'raw'; frame: RawFrame }
  | { kind: 'file'; path: string }
  | { kind: 'bytes'; bytes: Uint8Array; name: string }
  | { kind: 'missing'; reason?: string }
  | { kind: 'error'; error: string };

/** One wafer's frames as delivered by a capture driver. */
export interface FrameSet {
  wafer: string;
  lot?: string;
  /** position in the capture stream, from 0 */
  seq: number;
  /** arrival at the station, ms from the start of the lot (contracts §2) */
  atMs: number;
  /** wall-clock arrival at the appliance, epoch ms */
  arrivedAt: number;
  frames: Record<Modality, FrameInput>;
  /** per-modality pxToMm that overrides the station's (a lot's own geometry) */
  geometry?: Partial<Record<Modality, Affine>>;
  /** defects really present, when known (replay of a labelled lot, synthetic line) */
  truth?: TruthDefect[];
  /** a problem with the wafer as a whole (e.g. an unreadable manifest line) */
  error?: string;
}

export function bytesPerFrame(f: { width: number; height: number; channels: number; depth: number }): number {
  return f.width * f.height * f.channels * (f.depth / 8);
}

/** Plain memory (false), shared memory (true), or shared memory from an allocator that recycles it. */
export type PixelMemory = boolean | PixelAllocator;

/** `shared`: in shared memory (worker threads read it without a copy), from `shared` itself when it is an allocator. */
export function allocPixels(width: number, height: number, channels: 1 | 3, depth: 8 | 16, shared: PixelMemory = false): PixelData {
  const n = width * height * channels;
  const bytes = n * (depth / 8);
  const buf = typeof shared === 'function' ? shared(bytes) : shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
  return depth === 8 ? new Uint8Array(buf) : new Uint16Array(buf);
}
