import { siblingModule, WorkerPool } from '../common/worker-pool.js';
import type { ImageBatch, ImageScores } from './image-worker.js';
import type { ModelManifest } from './manifest.js';
import type { SessionOptions } from './session.js';

export interface ImageOptions extends SessionOptions {
  /** most wafers per inference */
  maxBatch: number;
  /** which image model of the manifest: the INT8 one (default) or the float one */
  variant: 'image' | 'imageFloat';
}

/** Spec embeddings to score against, [specs x embedding]; one object per recipe, compared by identity. */
export interface Queries {
  data: Float32Array;
  specs: number;
}

interface Waiting {
  tensor: Float32Array;
  queries: Queries;
  resolve: (r: { scores: Float32Array; tensor: Float32Array; batch: number; runMs: number }) => void;
  reject: (e: Error) => void;
}

/**
 * Scores fused wafers against spec queries. Batching is driven by load: a wafer that finds the
 * model idle runs at once, alone; wafers that arrive while it is busy wait and go together in the
 * next batch (up to maxBatch, all with the same queries, so a recipe change never mixes). Nobody
 * waits for a batch to fill.
 */
export class ImageModelStage {
  private readonly pool: WorkerPool<ImageBatch, ImageScores>;
  private readonly queue: Waiting[] = [];
  private busy = false;
  readonly grid: number;
  readonly cells: number;

  constructor(
    dir: string,
    readonly manifest: ModelManifest,
    readonly options: ImageOptions,
  ) {
    this.pool = new WorkerPool(siblingModule(import.meta.url, 'image-worker'), 1, { dir, manifest, session: options, file: options.variant });
    this.grid = manifest.grid.size / manifest.outputStride;
    this.cells = this.grid * this.grid;
  }

  ready(): Promise<void> {
    return this.pool.ready();
  }

  /** Queries from spec embeddings, checked against the model's embedding size. */
  queries(embeddings: Float32Array[]): Queries {
    const D = this.manifest.embedding;
    const data = new Float32Array(embeddings.length * D);
    embeddings.forEach((e, i) => {
      if (e.length !== D) throw new Error(`query ${i} has ${e.length} values, the model embeds in ${D}`);
      data.set(e, i * D);
    });
    return { data, specs: embeddings.length };
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Scores [specs, grid, grid] for one fused tensor; the tensor is handed back with them for reuse. */
  score(tensor: Float32Array, queries: Queries): Promise<{ scores: Float32Array; tensor: Float32Array; batch: number; runMs: number }> {
    return new Promise((resolve, reject) => {
      this.queue.push({ tensor, queries, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.busy || this.queue.length === 0) return;
    const q = this.queue[0].queries;
    let n = 1;
    while (n < this.queue.length && n < this.options.maxBatch && this.queue[n].queries === q) n++;
    const batch = this.queue.splice(0, n);
    this.busy = true;
    const tensors = batch.map((w) => w.tensor);
    this.pool
      .run({ tensors, queries: q.data, specs: q.specs }, tensors.map((t) => t.buffer as ArrayBuffer))
      .then(
        (r) => {
          // idle again before anyone hears back, so a wafer sent in reply finds the model free
          this.busy = false;
          batch.forEach((w, i) => w.resolve({ scores: r.scores[i], tensor: r.tensors[i], batch: batch.length, runMs: r.runMs }));
          this.pump();
        },
        (e: Error) => {
          this.busy = false;
          batch.forEach((w) => w.reject(e));
          this.pump();
        },
      );
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
