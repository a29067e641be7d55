/**
 * Stage timings for bench/pipeline.ts. The service keeps its stages to itself, so the model, the
 * outbox and the controller are timed by wrapping their public methods here: the code path stays the
 * service's own, and nothing in src/ pays for a measurement only the benchmark wants.
 */
import { ImageModelStage } from '../src/model/image.js';
import { ControlRig } from '../src/service/arms.js';
import { TelemetryPublisher } from '../src/telemetry/publisher.js';

export const STAGES = ['decodeMs', 'fuseMs', 'placesMs', 'modelRunMs', 'verifyMs', 'modelWaitMs', 'batch', 'postMs', 'outboxMs', 'controlMs', 'brokerMs', 'latencyMs', 'serviceLatencyMs'] as const;
export type Stage = (typeof STAGES)[number];

/** Samples per stage; `on` is false during warm-up so that only the steady state is kept. */
export const probes = {
  on: false,
  samples: Object.fromEntries(STAGES.map((s) => [s, [] as number[]])) as Record<Stage, number[]>,
  /** when the model's scores for a fused tensor came back: the inspection's post-processing starts there */
  scoredAt: new WeakMap<Float32Array, number>(),
  add(stage: Stage, v: number): void {
    if (this.on) this.samples[stage].push(v);
  },
  reset(): void {
    for (const s of STAGES) this.samples[s] = [];
    this.on = false;
  },
};

export function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

export function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

let installed = false;

export function installProbes(): void {
  if (installed) return;
  installed = true;
  const score = ImageModelStage.prototype.score;
  let batchLeft = 0;
  ImageModelStage.prototype.score = function (this: ImageModelStage, ...args: Parameters<typeof score>) {
    const t0 = performance.now();
    return score.apply(this, args).then((r) => {
      const now = performance.now();
      probes.scoredAt.set(args[0], now);
      probes.add('modelWaitMs', now - t0);
      // the wafers of a batch settle one after the other and all report the same run: count it once
      if (batchLeft === 0) {
        probes.add('modelRunMs', r.runMs);
        probes.add('verifyMs', r.verifyMs);
        probes.add('batch', r.batch);
        batchLeft = r.batch;
      }
      batchLeft--;
      return r;
    });
  };
  const result = TelemetryPublisher.prototype.result;
  TelemetryPublisher.prototype.result = function (this: TelemetryPublisher, ...args: Parameters<typeof result>) {
    const t0 = performance.now();
    const r = result.apply(this, args);
    probes.add('outboxMs', performance.now() - t0);
    return r;
  };
  const control = ControlRig.prototype.result;
  ControlRig.prototype.result = function (this: ControlRig, ...args: Parameters<typeof control>) {
    const t0 = performance.now();
    control.apply(this, args);
    probes.add('controlMs', performance.now() - t0);
  };
}
