import * as ort from 'onnxruntime-node';
import { workerData } from 'node:worker_threads';
import { serveTasks } from '../common/worker-pool.js';
import type { ModelManifest } from './manifest.js';
import { openSession, type SessionOptions } from './session.js';

/**
 * The image model in its own thread: onnxruntime's run() holds the thread that calls it, and the
 * event loop (MQTT, Modbus, the watchdog) must not wait on inference.
 */
export interface ImageBatch {
  /** per wafer its fused tensor (moved here, and moved back with the result for reuse) */
  tensors: Float32Array[];
  queries: Float32Array;
  specs: number;
}

export interface ImageScores {
  /** per wafer [specs, H, W] scores 0..1 */
  scores: Float32Array[];
  tensors: Float32Array[];
  runMs: number;
}

const { dir, manifest, session: options, file } = workerData as { dir: string; manifest: ModelManifest; session: SessionOptions; file: 'image' | 'imageFloat' };
let session: ort.InferenceSession;
let batchBuffer = new Float32Array(0);

serveTasks<ImageBatch, ImageScores>(
  async ({ tensors, queries, specs }) => {
    const per = tensors[0].length;
    const B = tensors.length;
    if (batchBuffer.length < B * per) batchBuffer = new Float32Array(B * per);
    tensors.forEach((t, i) => batchBuffer.set(t, i * per));
    const G = manifest.grid.size;
    const C = manifest.inputChannels.length;
    const image = new ort.Tensor('float32', batchBuffer.subarray(0, B * per), [B, C, G, G]);
    const q = new ort.Tensor('float32', queries, [specs, manifest.embedding]);
    const t0 = performance.now();
    const out = await session.run({ image, queries: q });
    const runMs = performance.now() - t0;
    const all = out.scores.data as Float32Array;
    const each = all.length / B;
    const scores = Array.from({ length: B }, (_, i) => all.slice(i * each, (i + 1) * each));
    return { result: { scores, tensors, runMs }, transfer: [...scores, ...tensors].map((a) => a.buffer as ArrayBuffer) };
  },
  {
    init: async () => {
      session = await openSession(dir, manifest.files[file]!, options);
    },
  },
);
