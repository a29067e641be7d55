import { workerData } from 'node:worker_threads';
import { serveTasks } from '../common/worker-pool.js';
import type { FrameFormat } from '../frames/encode.js';
import { writeWaferFrames } from '../lot/write.js';
import type { ManifestLine } from '../lot/schema.js';
import { SyntheticLine, type LineOptions } from './line.js';

/** Renders and writes wafers of a synthetic lot; the main thread keeps the manifest in order. */
const { line: options, dir, format } = workerData as { line: Partial<LineOptions>; dir: string; format: FrameFormat };
const line = new SyntheticLine(options);

serveTasks<{ index: number }, Pick<ManifestLine, 'wafer' | 'frames' | 'truth'>>(async ({ index }) => {
  const w = line.renderIndex(index);
  const frames = await writeWaferFrames(dir, w.plan.wafer, w.frames, format);
  return { result: { wafer: w.plan.wafer, frames, truth: w.truth } };
});
