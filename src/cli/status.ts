import type { LineStats } from '../service/line.js';

/** One line of what the line is doing, for a terminal; the rate is over the last few seconds. */
export class StatusLine {
  private readonly marks: Array<[number, number]> = [];

  constructor(private readonly stats: LineStats) {}

  text(): string {
    const s = this.stats;
    const now = performance.now();
    this.marks.push([now, s.wafersOut]);
    while (this.marks.length > 1 && now - this.marks[0][0] > 5000) this.marks.shift();
    const [t0, n0] = this.marks[0];
    const rate = now > t0 ? ((s.wafersOut - n0) * 1000) / (now - t0) : 0;
    const f = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '-');
    const miss = s.modalities.visible.missing + s.modalities.infrared.missing + s.modalities.xray.missing;
    const bad = s.modalities.visible.corrupt + s.modalities.infrared.corrupt + s.modalities.xray.corrupt;
    return (
      `${s.wafersOut} wafers, ${rate.toFixed(1)}/s | incomplete ${s.incomplete} (frames missing ${miss}, corrupt ${bad})` +
      ` | decode p50 ${f(s.decodeMs.quantile(0.5))} ms, fuse p50 ${f(s.fuseMs.quantile(0.5))} ms` +
      ` | latency p50 ${f(s.latencyMs.quantile(0.5))} p99 ${f(s.latencyMs.quantile(0.99))} ms`
    );
  }
}
