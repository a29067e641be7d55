/**
 * Seeded randomness. Every wafer's content is a pure function of (seed, wafer index), so a lot
 * rendered in parallel, or twice, is byte-identical.
 */

/** 32-bit mix of any number of integers (splitmix-style finaliser). */
export function hash32(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** sfc32: small, fast, good enough for images and sampling. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = seed >>> 0;
    this.b = hash32(seed, 1);
    this.c = hash32(seed, 2);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** uniform in [0, 1) */
  next(): number {
    return this.u32() / 4294967296;
  }

  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** log-uniform in [lo, hi]: sizes spread evenly over decades */
  logRange(lo: number, hi: number): number {
    return Math.exp(this.range(Math.log(lo), Math.log(hi)));
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  sign(): number {
    return this.next() < 0.5 ? -1 : 1;
  }

  gauss(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  pick<T>(items: readonly T[], weights?: readonly number[]): T {
    if (!weights) return items[this.int(items.length)];
    const total = weights.reduce((s, w) => s + w, 0);
    let r = this.next() * total;
    for (let i = 0; i < items.length; i++) {
      r -= weights[i];
      if (r < 0) return items[i];
    }
    return items[items.length - 1];
  }
}

/** 65,536 standard normal samples; pixel noise indexes it with a cheap xorshift instead of calling log/cos per pixel. */
export const GAUSS_TABLE: Float32Array = (() => {
  const rng = new Rng(0x6a09e667);
  const t = new Float32Array(65536);
  for (let i = 0; i < t.length; i++) t[i] = rng.gauss();
  return t;
})();

/** One xorshift32 step; pixel loops keep the state in a local and call this inline. */
export function xorshift(s: number): number {
  s ^= s << 13;
  s ^= s >>> 17;
  s ^= s << 5;
  return s | 0;
}
