import type { LineStats } from '../service/line.js';

/** One line of what the line is doing, for a terminal. */
export function statusText(s: LineStats): string {
  const secs = (performance.now() - s.startedAt) / 1000;
  const rate = s.wafersOut / Math.max(secs, 1e-3);
  const f = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '-');
  const miss = s.modalities.visible.missing + s.modalities.infrared.missing + s.modalities.xray.missing;
  const bad = s.modalities.visible.corrupt + s.modalities.infrared.corrupt + s.modalities.xray.corrupt;
  return (
    `${s.wafersOut} wafers, ${rate.toFixed(1)}/s | incomplete ${s.incomplete} (frames missing ${miss}, corrupt ${bad})` +
    ` | decode p50 ${f(s.decodeMs.quantile(0.5))} ms, fuse p50 ${f(s.fuseMs.quantile(0.5))} ms` +
    ` | latency p50 ${f(s.latencyMs.quantile(0.5))} p99 ${f(s.latencyMs.quantile(0.99))} ms`
  );
}
