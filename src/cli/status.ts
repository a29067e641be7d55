import type { Verdict } from '../inspection/result.js';
import type { LineStats } from '../service/line.js';

export type Tally = Record<Verdict, number> & { bySpec: Record<string, number> };

/** One line of what the line is doing, for a terminal; the rate is over the last few seconds. */
export class StatusLine {
  private readonly marks: Array<[number, number]> = [];

  constructor(
    private readonly stats: LineStats,
    private readonly tally: Tally,
  ) {}

  text(): string {
    const s = this.stats;
    const t = this.tally;
    const now = performance.now();
    this.marks.push([now, s.wafersOut]);
    while (this.marks.length > 1 && now - this.marks[0][0] > 5000) this.marks.shift();
    const [t0, n0] = this.marks[0];
    const rate = now > t0 ? ((s.wafersOut - n0) * 1000) / (now - t0) : 0;
    const f = (v: number): string => (Number.isFinite(v) ? v.toFixed(0) : '-');
    const failing = Object.entries(t.bySpec)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k} ${n}`)
      .join(' ');
    return (
      `${s.wafersOut} wafers ${rate.toFixed(1)}/s | pass ${t.pass} fail ${t.fail} not-inspected ${t['not-inspected']}` +
      (failing ? ` (${failing})` : '') +
      ` | latency p50 ${f(s.latencyMs.quantile(0.5))} p99 ${f(s.latencyMs.quantile(0.99))} ms`
    );
  }
}
