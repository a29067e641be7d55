/** The last `size` samples of a measure, for p50/p99 over a recent window. */
export class RecentSamples {
  private readonly buf: Float64Array;
  private n = 0;

  constructor(size = 2048) {
    this.buf = new Float64Array(size);
  }

  add(v: number): void {
    this.buf[this.n++ % this.buf.length] = v;
  }

  get count(): number {
    return this.n;
  }

  quantile(q: number): number {
    const k = Math.min(this.n, this.buf.length);
    if (k === 0) return NaN;
    const s = this.buf.slice(0, k).sort();
    return s[Math.min(k - 1, Math.floor(q * k))];
  }
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
