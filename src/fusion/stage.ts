import { availableParallelism } from 'node:os';
import type { Transferable } from 'node:worker_threads';
import { MODALITIES } from '../common/modality.js';
import { siblingModule, WorkerPool } from '../common/worker-pool.js';
import type { FrameSet } from '../frames/frame.js';
import type { GridSpec } from './grid.js';
import type { FusedWafer } from './result.js';

export interface FusionOptions {
  stationDir: string;
  grid: GridSpec;
  workers?: number;
  /** hand on each wafer's decoded visible frame (a model that crops it needs it) */
  keepVisible?: boolean;
  /** compare each kept visible frame with its dies (a model whose verifier checks die places needs them); default: as keepVisible */
  comparesDies?: boolean;
}

/** A wafer's frames as a fusion worker gets them, with what it is to do with the visible frame beyond fusing. */
export type FusionTask = FrameSet & { comparesDies: boolean };

/** Decoding and fusion in worker threads; frames in shared memory cross without a copy, owned byte buffers are moved. */
export class FusionStage {
  private readonly pool: WorkerPool<FusionTask, FusedWafer>;
  /**
   * Whether the wafers fused from now on have their visible frame compared with its dies (30 ms a
   * wafer on one core, models/README.md): set from the model in use, whose verifier may check die
   * places or not.
   */
  comparesDies: boolean;

  constructor(readonly options: FusionOptions) {
    const size = options.workers ?? Math.max(1, availableParallelism());
    this.pool = new WorkerPool(siblingModule(import.meta.url, 'worker'), size, { stationDir: options.stationDir, grid: options.grid, keepVisible: options.keepVisible ?? false });
    this.comparesDies = options.comparesDies ?? options.keepVisible ?? false;
  }

  /** Resolves when every worker has loaded the station; rejects with the reason (e.g. a missing calibration) otherwise. */
  ready(): Promise<void> {
    return this.pool.ready();
  }

  get workers(): number {
    return this.pool.size;
  }

  get inFlight(): number {
    return this.pool.inFlight;
  }

  fuse(set: FrameSet): Promise<FusedWafer> {
    const transfer: Transferable[] = [];
    for (const m of MODALITIES) {
      const f = set.frames[m];
      const view = f.kind === 'bytes' ? f.bytes : f.kind === 'raw' ? f.frame.data : null;
      if (view && view.buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength) transfer.push(view.buffer);
    }
    return this.pool.run({ ...set, comparesDies: this.comparesDies }, transfer);
  }

  /** Hands a fused tensor's memory back for reuse once nothing reads it any more. */
  recycle(tensor: Float32Array | null): void {
    if (tensor && tensor.buffer instanceof ArrayBuffer && tensor.byteOffset === 0) this.pool.post({ recycle: tensor.buffer }, [tensor.buffer]);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
