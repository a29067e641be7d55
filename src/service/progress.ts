/**
 * Whether the line is making progress, for the watchdog and /healthz. A line with nothing in flight
 * is idle, which is healthy (no wafers arriving, or paused by an operator: a restart would fix
 * nothing). A line with wafers in flight must finish one within `stallAfterMs`, or it is stalled.
 */
export type Phase = 'starting' | 'running' | 'stopping' | 'stopped';

export interface Health {
  ok: boolean;
  why: string;
}

export class Progress {
  phase: Phase = 'starting';
  paused = false;
  wafersIn = 0;
  wafersOut = 0;
  private lastOutAt: number;
  private lastInAt: number;
  /** wafers out at the last rate sample, and when */
  private sample: { out: number; at: number };
  private rate = 0;

  constructor(
    private readonly stallAfterMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.lastOutAt = this.lastInAt = now();
    this.sample = { out: 0, at: now() };
  }

  get inFlight(): number {
    return this.wafersIn - this.wafersOut;
  }

  taken(): void {
    // Measured from the moment work appeared, so a long idle spell before it does not count as a stall.
    if (this.inFlight === 0) this.lastOutAt = this.now();
    this.wafersIn++;
    this.lastInAt = this.now();
  }

  done(): void {
    this.wafersOut++;
    this.lastOutAt = this.now();
  }

  /** Wafers per second since the previous call (called on the status period). */
  wafersPerSecond(): number {
    const t = this.now();
    if (t - this.sample.at >= 500) {
      this.rate = ((this.wafersOut - this.sample.out) * 1000) / (t - this.sample.at);
      this.sample = { out: this.wafersOut, at: t };
    }
    return this.rate;
  }

  health(): Health {
    if (this.phase !== 'running') return { ok: false, why: this.phase };
    if (this.inFlight === 0) return { ok: true, why: this.paused ? 'paused by an operator, nothing in flight' : 'idle: no wafers in flight' };
    const since = this.now() - this.lastOutAt;
    if (since > this.stallAfterMs) return { ok: false, why: `${this.inFlight} wafers in flight and none finished for ${(since / 1000).toFixed(1)} s` };
    return { ok: true, why: this.paused ? 'paused by an operator, finishing wafers in flight' : 'wafers are progressing' };
  }

  /** Seconds since the last wafer entered, for /healthz. */
  idleForS(): number {
    return Math.round((this.now() - this.lastInAt) / 100) / 10;
  }
}
