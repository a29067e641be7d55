import { RecentSamples } from '../common/percentiles.js';
import type { ResultRecord, Verdict } from '../inspection/result.js';

/** The payload on `<base>/stats`. Counters run from the start of the process; times are over recent wafers. */
export interface StatsPayload {
  at: string;
  uptimeS: number;
  wafers: { in: number; out: number };
  verdicts: Record<Verdict, number>;
  notInspected: number;
  /** per spec: wafers failed by it and findings it produced */
  specs: Record<string, { failed: number; findings: number }>;
  inferenceMs: { p50: number | null; p99: number | null };
  latencyMs: { p50: number | null; p99: number | null };
  queueDepth: number;
  outbox: { depth: number; bytes: number; highWater: boolean; refused: number };
  broker: { connected: boolean; disconnects: number };
}

/** What the publisher knows about itself, passed to the stats source on every tick. */
export interface TelemetryStatus {
  connected: boolean;
  disconnects: number;
  outbox: { depth: number; bytes: number; highWater: boolean; refused: number };
}

/**
 * Counts what the line did, for the stats topic. Fed by the service (wafer taken, result made,
 * inference timed); holds no per-wafer data beyond a window of recent times.
 */
export class StatsCollector {
  private readonly started: number;
  private waferIn = 0;
  private waferOut = 0;
  private readonly verdicts: Record<Verdict, number> = { pass: 0, fail: 0, 'not-inspected': 0 };
  private readonly specs: Record<string, { failed: number; findings: number }> = {};
  private readonly inference = new RecentSamples(1024);
  private readonly latency = new RecentSamples(1024);

  constructor(private readonly now: () => number = Date.now) {
    this.started = now();
  }

  /** A wafer entered the line. */
  taken(): void {
    this.waferIn++;
  }

  /** Time of one model run per wafer in it (a batch of n: its time / n for each). */
  inferenceMs(ms: number): void {
    if (Number.isFinite(ms)) this.inference.add(ms);
  }

  result(r: ResultRecord): void {
    this.waferOut++;
    this.verdicts[r.verdict]++;
    if (Number.isFinite(r.latencyMs)) this.latency.add(r.latencyMs);
    const failedBy = new Set<string>();
    for (const f of r.findings) {
      (this.specs[f.spec] ??= { failed: 0, findings: 0 }).findings++;
      failedBy.add(f.spec);
    }
    for (const s of failedBy) this.specs[s].failed++;
  }

  payload(o: { queueDepth: number; telemetry: TelemetryStatus }): StatsPayload {
    const q = (s: RecentSamples, p: number) => (s.count === 0 ? null : round(s.quantile(p)));
    return {
      at: new Date(this.now()).toISOString(),
      uptimeS: Math.round((this.now() - this.started) / 100) / 10,
      wafers: { in: this.waferIn, out: this.waferOut },
      verdicts: { ...this.verdicts },
      notInspected: this.verdicts['not-inspected'],
      specs: structuredClone(this.specs),
      inferenceMs: { p50: q(this.inference, 0.5), p99: q(this.inference, 0.99) },
      latencyMs: { p50: q(this.latency, 0.5), p99: q(this.latency, 0.99) },
      queueDepth: o.queueDepth,
      outbox: { ...o.telemetry.outbox },
      broker: { connected: o.telemetry.connected, disconnects: o.telemetry.disconnects },
    };
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
