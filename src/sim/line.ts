import { DEFECT_CLASSES, type DefectClass, type TruthDefect } from '../common/defects.js';
import { MODALITIES, type Modality } from '../common/modality.js';
import { siblingModule, WorkerPool } from '../common/worker-pool.js';
import { allocPixels, type PixelMemory, type RawFrame } from '../frames/frame.js';
import { sampleDefect, type Defect, type DefectRequest } from './defects.js';
import { sampleLook, type LookName, type WaferLook } from './look.js';
import { applyDefects, blurVisible, renderBackground } from './render.js';
import { hash32, Rng } from './rng.js';
import { buildStation, REFERENCE_STATION, type SimStation, type SimStationSpec } from './station.js';

/** Parameters of the synthetic line (documented in README, "Synthetic line"). */
export interface LineOptions {
  /** everything rendered is a pure function of the seed and the wafer's index */
  seed: number;
  /** lot id used in wafer ids; default SIM-<seed> */
  lot?: string;
  /** probability that a wafer carries at least one defect */
  defectRate: number;
  /** relative frequency of each class on defective wafers; missing classes weigh 1 */
  classWeights?: Partial<Record<DefectClass, number>>;
  /** most defects on one wafer (1 + geometric, p = 0.35, capped) */
  maxDefects: number;
  /**
   * 0: every wafer gets its own look and noise (training data, recordings).
   * N > 0: wafers reuse N pre-rendered defect-free looks and only their defects are drawn per wafer,
   * fast enough for line rate in the demo and benchmarks.
   */
  poolSize: number;
  /** allocate frames in SharedArrayBuffers so worker threads read them without a copy, from an allocator that recycles them if given */
  shared?: PixelMemory;
  station?: SimStationSpec;
  /**
   * When given, decides what each wafer carries instead of defectRate and classWeights (a process
   * model driving the line, src/sim/process.ts). A function: not for recordings rendered in workers.
   */
  defectsFor?: (index: number) => DefectRequest[];
  /** which ranges looks and defect appearances are drawn from (look.ts); default 'default' */
  look?: LookName;
}

export const DEFAULT_LINE: LineOptions = { seed: 1, defectRate: 0.3, maxDefects: 3, poolSize: 0 };

export interface WaferPlan {
  index: number;
  wafer: string;
  /** which look: the wafer's own (pool 0) or one of the pool's */
  lookKey: number;
  defects: DefectRequest[];
  /** per-wafer seed for defect shapes and noise */
  seed: number;
}

export interface RenderedWafer {
  plan: WaferPlan;
  frames: Record<Modality, RawFrame>;
  truth: TruthDefect[];
  look: WaferLook;
}

export class SyntheticLine {
  readonly station: SimStation;
  readonly options: LineOptions;
  readonly lot: string;
  private readonly pool = new Map<number, Record<Modality, RawFrame>>();
  private readonly weights: number[];

  constructor(options: Partial<LineOptions> = {}, station?: SimStation) {
    this.options = { ...DEFAULT_LINE, ...options };
    this.station = station ?? buildStation(this.options.station ?? REFERENCE_STATION);
    this.lot = this.options.lot ?? `SIM-${this.options.seed}`;
    this.weights = DEFECT_CLASSES.map((c) => this.options.classWeights?.[c] ?? 1);
  }

  waferId(index: number): string {
    return `${this.lot}-W${String(index).padStart(5, '0')}`;
  }

  /** What wafer `index` will carry; `defects` overrides the sampled list (tests plant defects this way). */
  plan(index: number, defects?: DefectRequest[]): WaferPlan {
    const o = this.options;
    const seed = hash32(o.seed, index, 0x5eed);
    const rng = new Rng(seed);
    const lookKey = o.poolSize > 0 ? rng.int(o.poolSize) : index;
    let list = defects ?? o.defectsFor?.(index);
    if (!list) {
      list = [];
      if (rng.next() < o.defectRate) {
        let n = 1;
        while (n < o.maxDefects && rng.next() < 0.35) n++;
        for (let k = 0; k < n; k++) list.push({ class: rng.pick(DEFECT_CLASSES, this.weights) });
      }
    }
    return { index, wafer: this.waferId(index), lookKey, defects: list, seed };
  }

  look(lookKey: number): WaferLook {
    return sampleLook(new Rng(hash32(this.options.seed, lookKey, 0x100c)), this.options.look);
  }

  /** Defect-free frames of a look: cached when pooled, rendered afresh otherwise. */
  background(lookKey: number): Record<Modality, RawFrame> {
    const cached = this.pool.get(lookKey);
    if (cached) return cached;
    const frames = renderBackground(this.station, this.look(lookKey), hash32(this.options.seed, lookKey, 0xb9), this.options.shared ?? false);
    if (this.options.poolSize > 0) this.pool.set(lookKey, frames);
    return frames;
  }

  /** Renders every pooled look now, so no wafer waits for one later. */
  warmPool(): void {
    for (let k = 0; k < this.options.poolSize; k++) this.background(k);
  }

  /**
   * warmPool() on a worker thread: about 0.2 s of rendering per look that would otherwise block this
   * thread (a service's watchdog, its HTTP endpoints). The looks are the same pixels either way.
   */
  async warmPoolOffThread(): Promise<void> {
    const keys = Array.from({ length: this.options.poolSize }, (_, k) => k).filter((k) => !this.pool.has(k));
    if (keys.length === 0) return;
    // functions and allocators stay here: the worker needs only what decides the pixels
    const { defectsFor: _d, shared: _s, ...line } = this.options;
    const pool = new WorkerPool<{ lookKey: number }, Record<Modality, RawFrame>>(siblingModule(import.meta.url, 'look-worker'), 1, { line });
    try {
      await Promise.all(keys.map(async (k) => this.pool.set(k, await pool.run({ lookKey: k }))));
    } finally {
      await pool.close();
    }
  }

  defects(plan: WaferPlan): Defect[] {
    const rng = new Rng(hash32(plan.seed, 0xdef));
    return plan.defects.map((req) => sampleDefect(rng, req, this.station.waferDiameterMm / 2, this.options.look));
  }

  /**
   * Frames of one wafer. Pooled defect-free wafers share the pool's buffers, so frames must be
   * treated as read-only by whoever receives them.
   */
  render(plan: WaferPlan): RenderedWafer {
    const look = this.look(plan.lookKey);
    const defects = this.defects(plan);
    const bg = this.background(plan.lookKey);
    let frames = bg;
    if (defects.length > 0 && this.options.poolSize > 0) frames = copyFrames(bg, this.options.shared ?? false);
    if (defects.length > 0) applyDefects(frames, this.station, look, defects, hash32(plan.seed, 0xa11));
    // the lens blurs defects with the wafer, so after them; into a new buffer, since pooled frames are shared
    if (look.visibleBlurMm) frames = { ...frames, visible: blurVisible(frames.visible, this.station.cameras.visible.pitchMm, look.visibleBlurMm, this.options.shared ?? false) };
    return { plan, frames, truth: defects.map((d) => d.truth), look };
  }

  renderIndex(index: number): RenderedWafer {
    return this.render(this.plan(index));
  }
}

function copyFrames(src: Record<Modality, RawFrame>, shared: PixelMemory): Record<Modality, RawFrame> {
  const out = {} as Record<Modality, RawFrame>;
  for (const m of MODALITIES) {
    const f = src[m];
    const data = allocPixels(f.width, f.height, f.channels, f.depth, shared);
    data.set(f.data as never);
    out[m] = { ...f, data };
  }
  return out;
}
