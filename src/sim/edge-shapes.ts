import { Blob, type Box, type Shape } from './shapes.js';

/** Ragged protrusions beyond the rim along an arc: height varies along the arc like torn material. */
export class Burr implements Shape {
  bbox: Box;
  private readonly waves: Array<{ f: number; a: number; p: number }>;

  constructor(
    private radius: number,
    private theta0: number,
    private arcMm: number,
    private heightMm: number,
    rnd: () => number,
  ) {
    this.waves = [0, 1, 2, 3, 4].map((i) => ({ f: (2 * Math.PI) / (0.4 + 2.2 * rnd()) , a: 1 / (1 + i * 0.5), p: rnd() * 6.283 }));
    const half = arcMm / 2 / radius;
    const r = radius + heightMm + 0.5;
    const pts = [-1, -0.5, 0, 0.5, 1].map((k) => theta0 + k * half);
    const xs = pts.flatMap((t) => [Math.cos(t) * r, Math.cos(t) * (radius - 0.5)]);
    const ys = pts.flatMap((t) => [Math.sin(t) * r, Math.sin(t) * (radius - 0.5)]);
    this.bbox = [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
  }

  /** protrusion height at arc position s (mm from the arc centre), 0 outside the arc */
  heightAt(s: number): number {
    const half = this.arcMm / 2;
    if (s < -half || s > half) return 0;
    let v = 0;
    let norm = 0;
    for (const w of this.waves) {
      v += w.a * Math.sin(w.f * s + w.p);
      norm += w.a;
    }
    const taper = Math.min(1, (half - Math.abs(s)) / Math.min(1, half));
    return this.heightMm * taper * Math.pow(Math.abs(v) / norm, 0.6);
  }

  coverage(x: number, y: number, p: number): number {
    const d = Math.hypot(x, y);
    if (d < this.radius - p) return 0;
    let dt = Math.atan2(y, x) - this.theta0;
    dt -= 2 * Math.PI * Math.round(dt / (2 * Math.PI));
    const h = this.heightAt(dt * this.radius);
    if (h <= 0) return 0;
    const outer = (this.radius + h - d) / p + 0.5;
    const inner = (d - this.radius) / p + 0.5;
    const c = Math.min(outer, inner);
    return c <= 0 ? 0 : c >= 1 ? 1 : c;
  }

  outline(): Array<[number, number]> {
    const pts: Array<[number, number]> = [];
    const n = 64;
    for (let i = 0; i <= n; i++) {
      const s = (i / n - 0.5) * this.arcMm;
      const h = this.heightAt(s);
      if (h < 0.05) continue;
      const t = this.theta0 + s / this.radius;
      pts.push([Math.cos(t) * this.radius, Math.sin(t) * this.radius], [Math.cos(t) * (this.radius + h), Math.sin(t) * (this.radius + h)]);
    }
    return pts;
  }
}

/** A bite out of the rim: an irregular blob intersected with the wafer disc. */
export class Chip implements Shape {
  bbox: Box;

  constructor(
    private radius: number,
    private bite: Blob,
  ) {
    this.bbox = bite.bbox;
  }

  coverage(x: number, y: number, p: number): number {
    const c = this.bite.coverage(x, y, p);
    if (c === 0) return 0;
    const inside = (this.radius - Math.hypot(x, y)) / p + 0.5;
    return c * (inside <= 0 ? 0 : inside >= 1 ? 1 : inside);
  }

  outline(): Array<[number, number]> {
    const pts = this.bite.outline().filter(([x, y]) => Math.hypot(x, y) <= this.radius);
    const [x0, y0, x1, y1] = this.bbox;
    const t0 = Math.atan2((y0 + y1) / 2, (x0 + x1) / 2);
    for (let i = -200; i <= 200; i++) {
      const t = t0 + (i / 200) * 0.5;
      const x = Math.cos(t) * this.radius;
      const y = Math.sin(t) * this.radius;
      if (this.bite.coverage(x, y, 1e-6) > 0.5) pts.push([x, y]);
    }
    return pts;
  }
}
