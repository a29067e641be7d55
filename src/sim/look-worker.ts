import { workerData } from 'node:worker_threads';
import { serveTasks } from '../common/worker-pool.js';
import type { Modality } from '../common/modality.js';
import type { RawFrame } from '../frames/frame.js';
import { SyntheticLine, type LineOptions } from './line.js';

/** Renders a pooled line's defect-free looks into shared memory, so the thread that asked is not blocked for seconds. */
const line = new SyntheticLine({ ...(workerData as { line: Partial<LineOptions> }).line, shared: true });

serveTasks<{ lookKey: number }, Record<Modality, RawFrame>>(async ({ lookKey }) => ({ result: line.background(lookKey) }));
