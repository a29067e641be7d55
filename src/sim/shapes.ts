/**
 * Defect shapes in wafer millimetres. coverage(x, y, p) is the fraction of a pixel of pitch p (mm),
 * centred at (x, y), that the shape covers, so sub-pixel scratches and cracks keep their true
 * integrated contrast instead of vanishing or turning into whole bright pixels.
 */

export type Box = [number, number, number, number]; // x0, y0, x1, y1

export interface Shape {
  bbox: Box;
  coverage(x: number, y: number, p: number): number;
  /** points on the shape's outline, for its centre and largest extent */
  outline(): Array<[number, number]>;
}

/** Fraction of [d - p/2, d + p/2] inside a solid edge at signed distance d (positive = inside). */
function edgeCover(d: number, p: number): number {
  const c = d / p + 0.5;
  return c <= 0 ? 0 : c >= 1 ? 1 : c;
}

/** Fraction of a pixel of pitch p at distance d from the centre line of a stroke of width w. */
function strokeCover(d: number, w: number, p: number): number {
  const lo = Math.max(d - p / 2, -w / 2);
  const hi = Math.min(d + p / 2, w / 2);
  return hi <= lo ? 0 : (hi - lo) / p;
}

/** An irregular closed blob: radius modulated by a few angular harmonics. soft (mm) blurs its rim. */
export class Blob implements Shape {
  bbox: Box;
  private rmax: number;

  constructor(
    private cx: number,
    private cy: number,
    private r0: number,
    private harmonics: Array<{ k: number; a: number; phase: number }>,
    private aspect = 1,
    private angle = 0,
    private soft = 0,
  ) {
    this.rmax = r0 * (1 + harmonics.reduce((s, h) => s + Math.abs(h.a), 0)) * Math.max(aspect, 1 / aspect) + soft;
    this.bbox = [cx - this.rmax, cy - this.rmax, cx + this.rmax, cy + this.rmax];
  }

  radiusAt(theta: number): number {
    let r = this.r0;
    for (const h of this.harmonics) r += this.r0 * h.a * Math.cos(h.k * theta + h.phase);
    return r;
  }

  private local(x: number, y: number): [number, number] {
    const dx = x - this.cx;
    const dy = y - this.cy;
    const c = Math.cos(this.angle);
    const s = Math.sin(this.angle);
    return [(dx * c + dy * s) / this.aspect, -dx * s + dy * c];
  }

  coverage(x: number, y: number, p: number): number {
    const [u, v] = this.local(x, y);
    const d = Math.hypot(u, v);
    if (d > this.rmax + p) return 0;
    const inside = this.radiusAt(Math.atan2(v, u)) - d;
    return this.soft > 0 ? edgeCover(inside, p + this.soft) : edgeCover(inside, p);
  }

  outline(): Array<[number, number]> {
    const pts: Array<[number, number]> = [];
    const c = Math.cos(this.angle);
    const s = Math.sin(this.angle);
    for (let i = 0; i < 96; i++) {
      const t = (i / 96) * 2 * Math.PI;
      const r = this.radiusAt(t);
      const u = r * Math.cos(t) * this.aspect;
      const v = r * Math.sin(t);
      pts.push([this.cx + u * c - v * s, this.cy + u * s + v * c]);
    }
    return pts;
  }
}

/** A smooth elliptical Gaussian: a warm area. Its outline is the 10%-of-peak contour. */
export class Gaussian implements Shape {
  bbox: Box;
  private static readonly EXTENT = Math.sqrt(2 * Math.log(10));

  constructor(
    private cx: number,
    private cy: number,
    private sx: number,
    private sy: number,
    private angle: number,
  ) {
    const r = 3.2 * Math.max(sx, sy);
    this.bbox = [cx - r, cy - r, cx + r, cy + r];
  }

  coverage(x: number, y: number): number {
    const dx = x - this.cx;
    const dy = y - this.cy;
    const c = Math.cos(this.angle);
    const s = Math.sin(this.angle);
    const u = (dx * c + dy * s) / this.sx;
    const v = (-dx * s + dy * c) / this.sy;
    const q = 0.5 * (u * u + v * v);
    return q > 5 ? 0 : Math.exp(-q);
  }

  outline(): Array<[number, number]> {
    const pts: Array<[number, number]> = [];
    const c = Math.cos(this.angle);
    const s = Math.sin(this.angle);
    for (let i = 0; i < 64; i++) {
      const t = (i / 64) * 2 * Math.PI;
      const u = Gaussian.EXTENT * this.sx * Math.cos(t);
      const v = Gaussian.EXTENT * this.sy * Math.sin(t);
      pts.push([this.cx + u * c - v * s, this.cy + u * s + v * c]);
    }
    return pts;
  }
}

export interface Segment {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  width: number;
}

/** Thin strokes (scratches, cracks and their branches) as segments of given widths. */
export class Strokes implements Shape {
  bbox: Box;

  constructor(private segments: Segment[]) {
    let x0 = Infinity;
    let y0 = Infinity;
    let x1 = -Infinity;
    let y1 = -Infinity;
    for (const s of segments) {
      const w = s.width;
      x0 = Math.min(x0, s.x0 - w, s.x1 - w);
      y0 = Math.min(y0, s.y0 - w, s.y1 - w);
      x1 = Math.max(x1, s.x0 + w, s.x1 + w);
      y1 = Math.max(y1, s.y0 + w, s.y1 + w);
    }
    this.bbox = [x0, y0, x1, y1];
  }

  coverage(x: number, y: number, p: number): number {
    let best = 0;
    for (const s of this.segments) {
      const dx = s.x1 - s.x0;
      const dy = s.y1 - s.y0;
      const len2 = dx * dx + dy * dy;
      let t = len2 > 0 ? ((x - s.x0) * dx + (y - s.y0) * dy) / len2 : 0;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      const d = Math.hypot(x - (s.x0 + t * dx), y - (s.y0 + t * dy));
      if (d > s.width + p) continue;
      const c = strokeCover(d, s.width, p);
      if (c > best) best = c;
    }
    return best;
  }

  outline(): Array<[number, number]> {
    const pts: Array<[number, number]> = [];
    for (const s of this.segments) pts.push([s.x0, s.y0], [s.x1, s.y1]);
    return pts;
  }
}

/** Centre of the bounding box and largest pairwise distance of an outline: contracts §1's place and size. */
export function extentOf(points: Array<[number, number]>): { xMm: number; yMm: number; sizeMm: number } {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  let size = 0;
  for (let i = 0; i < points.length; i++) {
    const [xi, yi] = points[i];
    x0 = Math.min(x0, xi);
    y0 = Math.min(y0, yi);
    x1 = Math.max(x1, xi);
    y1 = Math.max(y1, yi);
    for (let j = i + 1; j < points.length; j++) size = Math.max(size, Math.hypot(xi - points[j][0], yi - points[j][1]));
  }
  return { xMm: (x0 + x1) / 2, yMm: (y0 + y1) / 2, sizeMm: size };
}
