import type { CaptureDriver } from '../capture/index.js';
import { MODALITIES, type Modality } from '../common/modality.js';
import { RecentSamples } from '../common/percentiles.js';
import { unusableWafer, type FusedWafer } from '../fusion/result.js';
import type { FusionStage } from '../fusion/stage.js';

export interface LineStats {
  startedAt: number;
  wafersIn: number;
  wafersOut: number;
  /** wafers with at least one modality missing or corrupt, or unusable as a whole */
  incomplete: number;
  modalities: Record<Modality, { ok: number; missing: number; corrupt: number }>;
  decodeMs: RecentSamples;
  fuseMs: RecentSamples;
  /** arrival at the appliance to the end of the last stage, ms */
  latencyMs: RecentSamples;
}

export function newStats(): LineStats {
  return {
    startedAt: performance.now(),
    wafersIn: 0,
    wafersOut: 0,
    incomplete: 0,
    modalities: Object.fromEntries(MODALITIES.map((m) => [m, { ok: 0, missing: 0, corrupt: 0 }])) as LineStats['modalities'],
    decodeMs: new RecentSamples(),
    fuseMs: new RecentSamples(),
    latencyMs: new RecentSamples(),
  };
}

export interface LineRun<T> {
  capture: CaptureDriver;
  fusion: FusionStage;
  /** wafers between capture and output at once; capture waits while it is full */
  maxInFlight: number;
  /** the work after fusion (inspection); it must settle every wafer it is given, with a result, never a rejection */
  next: (w: FusedWafer) => Promise<T>;
  /** every wafer's result, in capture order */
  onWafer?: (out: T) => void;
  stats?: LineStats;
}

/** The line without a stage after fusion: fused wafers come out as they are. */
export const fusedOnly = (w: FusedWafer): Promise<FusedWafer> => Promise.resolve(w);

/**
 * Moves wafers from capture through fusion and the next stage, several at a time, and hands them on
 * in capture order. A wafer whose fusion fails outright still goes on, with the reason, so none goes missing.
 */
export async function runLine<T>(run: LineRun<T>): Promise<LineStats> {
  const stats = run.stats ?? newStats();
  const done = new Map<number, T>();
  let nextOut = -1;
  let inFlight = 0;
  let wake: (() => void) | null = null;
  const emit = (): void => {
    while (done.has(nextOut)) {
      const w = done.get(nextOut)!;
      done.delete(nextOut++);
      stats.wafersOut++;
      run.onWafer?.(w);
    }
  };
  const settle = (w: FusedWafer): void => {
    for (const m of MODALITIES) stats.modalities[m][w.modalities[m]]++;
    if (!w.tensor || MODALITIES.some((m) => w.modalities[m] !== 'ok') || w.problems.length > 0) stats.incomplete++;
    stats.decodeMs.add(w.timings.decodeMs);
    stats.fuseMs.add(w.timings.fuseMs);
    void run.next(w).then((out) => {
      stats.latencyMs.add(Date.now() - w.arrivedAt);
      done.set(w.seq, out);
      inFlight--;
      emit();
      wake?.();
    });
  };
  for await (const set of run.capture.frames()) {
    if (nextOut < 0) nextOut = set.seq;
    stats.wafersIn++;
    inFlight++;
    run.fusion
      .fuse(set)
      .then(settle, (e: Error) => settle(unusableWafer(set, `fusion failed: ${e.message}`)))
      .finally(() => run.capture.release?.(set));
    while (inFlight >= run.maxInFlight) await new Promise<void>((r) => (wake = r));
  }
  while (inFlight > 0) await new Promise<void>((r) => (wake = r));
  return stats;
}
