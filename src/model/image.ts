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

interface Waiting {
  tensor: Float32Array;
  resolve: (r: { scores: Float32Array; tensor: Float32Array; batch: number; runMs: number }) => void;
  reject: (e: Error) => void;
}

/**
 * Scores fused wafers against the current queries. Batching is driven by load: a wafer that finds the
 * model idle runs at once, alone; wafers that arrive while it is busy wait and go together in the
 * next batch (up to maxBatch). Nobody waits for a batch to fill.
 */
export class ImageModelStage {
  private readonly pool: WorkerPool<ImageBatch, ImageScores>;
  private readonly queue: Waiting[] = [];
  private busy = false;
  private queries: { data: Float32Array; specs: number } | null = null;
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

  /** The spec embeddings every following wafer is scored against, [specs x embedding]. */
  setQueries(data: Float32Array, specs: number): void {
    if (data.length !== specs * this.manifest.embedding) throw new Error(`queries: ${data.length} values for ${specs} specs of ${this.manifest.embedding}`);
    this.queries = { data, specs };
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Scores [specs, grid, grid] for one fused tensor; the tensor is handed back with them for reuse. */
  score(tensor: Float32Array): Promise<{ scores: Float32Array; tensor: Float32Array; batch: number; runMs: number }> {
    return new Promise((resolve, reject) => {
      this.queue.push({ tensor, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.busy || this.queue.length === 0) return;
    const q = this.queries;
    if (!q) {
      for (const w of this.queue.splice(0)) w.reject(new Error('no specs to score against'));
      return;
    }
    const batch = this.queue.splice(0, this.options.maxBatch);
    this.busy = true;
    const tensors = batch.map((w) => w.tensor);
    this.pool
      .run({ tensors, queries: q.data, specs: q.specs }, tensors.map((t) => t.buffer as ArrayBuffer))
      .then(
        (r) => batch.forEach((w, i) => w.resolve({ scores: r.scores[i], tensor: r.tensors[i], batch: batch.length, runMs: r.runMs })),
        (e: Error) => batch.forEach((w) => w.reject(e)),
      )
      .finally(() => {
        this.busy = false;
        this.pump();
      });
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
