import { MODALITIES, type Modality } from '../common/modality.js';
import type { FrameInput, FrameSet } from '../frames/frame.js';
import { SharedPixelPool } from '../frames/pixel-pool.js';
import { arrivalMs } from '../sim/record.js';
import { SyntheticLine, type LineOptions, type RenderedWafer } from '../sim/line.js';
import { Pacer, type CaptureDriver } from './driver.js';

export interface SyntheticCaptureOptions {
  line: Partial<LineOptions>;
  /** wafers per second; 0 delivers as fast as they are consumed */
  rateHz: number;
  /** stop after this many wafers; unbounded when absent */
  count?: number;
  /**
   * Render this many wafers once and deliver them in turn under new ids: frames then cost nothing
   * to produce, which is what a benchmark of the stages after capture wants.
   */
  cycle?: number;
}

/** wafers whose frame memory may be out at once before the oldest is left to the garbage collector */
const MAX_LENT = 256;

/**
 * The synthetic line as a set of cameras: renders each wafer (pooled looks) in shared memory and paces it
 * at the line rate. Like live cameras it carries no geometry: fusion takes it from the station's calibration.
 */
export class SyntheticCapture implements CaptureDriver {
  readonly name = 'synthetic';
  readonly line: SyntheticLine;
  private readonly abort = new AbortController();
  private cached: RenderedWafer[] = [];
  /** frame memory of wafers rendered afresh, reused once fusion has read them */
  readonly memory: SharedPixelPool;
  private readonly lent = new Map<number, SharedArrayBuffer[]>();

  constructor(
    private readonly o: SyntheticCaptureOptions,
    /** another capture whose line and pre-rendered cycle this one reuses */
    from?: SyntheticCapture,
  ) {
    this.memory = from?.memory ?? new SharedPixelPool();
    this.line = from?.line ?? new SyntheticLine({ poolSize: 8, ...o.line, shared: this.memory.alloc });
    if (from) this.cached = from.cached;
  }

  private preparing?: Promise<void>;

  /**
   * Renders the pool's looks (on a worker thread) and the cycle up front, so the first wafers are not
   * slower than the rest.
   */
  prepare(): Promise<void> {
    this.preparing ??= (async () => {
      await this.line.warmPoolOffThread();
      for (let i = this.cached.length; i < (this.o.cycle ?? 0); i++) this.cached.push(this.line.renderIndex(i));
    })();
    return this.preparing;
  }

  private wafer(index: number): RenderedWafer {
    return this.o.cycle ? this.cached[index % this.o.cycle] : this.line.renderIndex(index);
  }

  async *frames(): AsyncGenerator<FrameSet> {
    await this.prepare();
    const pacer = new Pacer(this.abort.signal);
    const rate = this.o.rateHz;
    for (let i = 0; this.o.count === undefined || i < this.o.count; i++) {
      if (this.abort.signal.aborted) return;
      const atMs = rate > 0 ? arrivalMs(this.line.options.seed, i, rate) : 0;
      if (rate > 0) await pacer.until(atMs);
      else if (i % 64 === 63) await new Promise((r) => setImmediate(r));
      if (this.abort.signal.aborted) return;
      this.memory.open();
      const w = this.wafer(i);
      const taken = this.memory.close();
      if (taken.length > 0) this.lent.set(i, taken);
      // a consumer that never hands frames back must not make this capture hold every wafer it rendered
      if (this.lent.size > MAX_LENT) this.lent.delete(this.lent.keys().next().value!);
      const frames = {} as Record<Modality, FrameInput>;
      for (const m of MODALITIES) frames[m] = { kind: 'raw', frame: w.frames[m] };
      yield {
        wafer: this.line.waferId(i),
        lot: this.line.lot,
        seq: i,
        atMs,
        arrivedAt: Date.now(),
        frames,
        truth: w.truth,
      };
    }
  }

  stop(): void {
    this.abort.abort();
  }

  release(set: FrameSet): void {
    const taken = this.lent.get(set.seq);
    if (!taken) return;
    this.lent.delete(set.seq);
    this.memory.release(taken);
  }
}
