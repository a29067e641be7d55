import { siblingModule, WorkerPool } from '../common/worker-pool.js';
import type { VisibleFrame } from '../fusion/result.js';
import type { Check, ImageBatch, ImageScores } from './image-worker.js';
import { verifiedClasses, type ModelManifest } from './manifest.js';
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
  /** per spec, the verifier's class index (-1: judged on the map alone) */
  verify: Int32Array;
}

export type { Check };

/** What the model made of one wafer. */
export interface Scored {
  /** [specs, grid, grid] raw scores */
  scores: Float32Array;
  /** the fused tensor, handed back for reuse */
  tensor: Float32Array;
  /** per spec, the verifier's checks: null where the spec is not verified or the wafer came without its visible frame */
  checks: Array<Check[] | null>;
  batch: number;
  runMs: number;
  /** of runMs, the verifier's part */
  verifyMs: number;
}

interface Waiting {
  tensor: Float32Array;
  visible: VisibleFrame | null;
  queries: Queries;
  resolve: (r: Scored) => void;
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

  /**
   * Queries from spec embeddings, checked against the model's embedding size. With the specs' kinds,
   * those of a class the model judges by its verifier are verified (their wafers need the visible
   * frame); `all`: every class the verifier has an output for (to study it, `model candidates`).
   */
  queries(embeddings: Float32Array[], kinds?: string[], all = false): Queries {
    const D = this.manifest.embedding;
    const data = new Float32Array(embeddings.length * D);
    embeddings.forEach((e, i) => {
      if (e.length !== D) throw new Error(`query ${i} has ${e.length} values, the model embeds in ${D}`);
      data.set(e, i * D);
    });
    const classes = this.manifest.verifier?.classes ?? [];
    const judged = all ? classes : verifiedClasses(this.manifest);
    const verify = Int32Array.from(embeddings, (_, i) => (kinds && judged.includes(kinds[i]) ? classes.indexOf(kinds[i]) : -1));
    return { data, specs: embeddings.length, verify };
  }

  /** Whether wafers scored with these queries must come with their visible frame. */
  needsVisible(q: Queries): boolean {
    return q.verify.some((v) => v >= 0);
  }

  get queued(): number {
    return this.queue.length;
  }

  /**
   * Scores [specs, grid, grid] for one fused tensor; the tensor is handed back with them for reuse.
   * A visible frame given is moved to the model's thread (the caller must not read it again) and
   * cropped there for the verified specs.
   */
  score(tensor: Float32Array, queries: Queries, visible?: VisibleFrame): Promise<Scored> {
    return new Promise((resolve, reject) => {
      this.queue.push({ tensor, visible: visible ?? null, queries, resolve, reject });
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
    const visible = batch.map((w) => w.visible);
    const moved = [...tensors, ...visible.map((v) => v?.data)].filter((a) => a !== undefined && a.buffer instanceof ArrayBuffer).map((a) => a!.buffer as ArrayBuffer);
    this.pool
      .run({ tensors, visible, queries: q.data, specs: q.specs, verify: q.verify }, moved)
      .then(
        (r) => {
          // idle again before anyone hears back, so a wafer sent in reply finds the model free
          this.busy = false;
          batch.forEach((w, i) => w.resolve({ scores: r.scores[i], tensor: r.tensors[i], checks: r.checks[i], batch: batch.length, runMs: r.runMs, verifyMs: r.verifyMs }));
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
