import { applyAffine, centredAffine, invertAffine, solve3, type Affine } from '../common/affine.js';

/**
 * Registration from a target image: find the marks (blobs that stand out from the plate), match them
 * to the target's known mark positions starting at the centre and growing outwards, and fit the
 * pixel -> mm affine by least squares. Starts from the centred default, so it handles offsets of a
 * few mm, rotations of a few degrees and scale errors of ~10%; not mirrored cameras.
 */

export interface Blob {
  col: number;
  row: number;
  area: number;
}

/**
 * Centroids of connected groups of pixels that differ from the plate level by more than half the
 * mark contrast. `values` is one value per pixel (already dark/flat corrected); `sign` is +1 for
 * marks brighter than the plate and −1 for darker.
 */
export function findMarks(values: Float32Array, width: number, height: number, sign: 1 | -1, minArea: number, maxArea: number): Blob[] {
  const sorted = Float32Array.from(values.filter((_, i) => i % 7 === 0)).sort();
  const median = sorted[Math.floor(sorted.length / 2)];
  const extreme = sign > 0 ? sorted[Math.floor(sorted.length * 0.998)] : sorted[Math.floor(sorted.length * 0.002)];
  const threshold = median + 0.5 * (extreme - median);
  const on = new Uint8Array(width * height);
  for (let i = 0; i < on.length; i++) on[i] = sign * (values[i] - threshold) > 0 ? 1 : 0;
  const blobs: Blob[] = [];
  const stack: number[] = [];
  for (let start = 0; start < on.length; start++) {
    if (on[start] !== 1) continue;
    on[start] = 2;
    stack.push(start);
    let sw = 0;
    let sc = 0;
    let sr = 0;
    let area = 0;
    while (stack.length) {
      const p = stack.pop()!;
      const r = Math.floor(p / width);
      const c = p - r * width;
      const w = Math.abs(values[p] - median);
      sw += w;
      sc += w * c;
      sr += w * r;
      area++;
      if (c > 0 && on[p - 1] === 1) (on[p - 1] = 2), stack.push(p - 1);
      if (c < width - 1 && on[p + 1] === 1) (on[p + 1] = 2), stack.push(p + 1);
      if (r > 0 && on[p - width] === 1) (on[p - width] = 2), stack.push(p - width);
      if (r < height - 1 && on[p + width] === 1) (on[p + width] = 2), stack.push(p + width);
    }
    if (area >= minArea && area <= maxArea) blobs.push({ col: sc / sw, row: sr / sw, area });
  }
  return blobs;
}

/** Least-squares affine taking (col, row) to (x, y) over matched pairs. */
export function fitAffine(pairs: Array<{ px: [number, number]; mm: [number, number] }>): Affine {
  if (pairs.length < 3) throw new Error(`registration needs at least 3 matched marks, found ${pairs.length}`);
  const M = [0, 0, 0, 0, 0, 0, 0, 0, 0];
  const bx = [0, 0, 0];
  const by = [0, 0, 0];
  for (const { px, mm } of pairs) {
    const v = [px[0], px[1], 1];
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) M[i * 3 + j] += v[i] * v[j];
      bx[i] += v[i] * mm[0];
      by[i] += v[i] * mm[1];
    }
  }
  const x = solve3(M, bx);
  const y = solve3(M, by);
  if (!x || !y) throw new Error('registration: marks are degenerate (collinear)');
  return [x, y];
}

export interface Registration {
  pxToMm: Affine;
  matched: number;
  /** root-mean-square distance between fitted and true mark positions, mm */
  rmsMm: number;
}

export function register(blobs: Blob[], targets: Array<[number, number]>, width: number, height: number, diameterMm: number, pitchMm: number): Registration {
  let A = centredAffine(width, height, diameterMm);
  let pairs: Array<{ px: [number, number]; mm: [number, number] }> = [];
  for (const radius of [30, 50, 80, 110, 140, Infinity]) {
    const inv = invertAffine(A);
    const pxPerMm = 1 / Math.hypot(A[0][0], A[1][0]);
    const tol = 0.45 * pitchMm * pxPerMm;
    pairs = [];
    for (const t of targets) {
      if (Math.hypot(t[0], t[1]) > radius) continue;
      const [pc, pr] = applyAffine(inv, t[0], t[1]);
      let best: Blob | null = null;
      let bestD = tol;
      for (const b of blobs) {
        const dd = Math.hypot(b.col - pc, b.row - pr);
        if (dd < bestD) (bestD = dd), (best = b);
      }
      if (best) pairs.push({ px: [best.col, best.row], mm: t });
    }
    if (pairs.length >= 3) A = fitAffine(pairs);
  }
  let sq = 0;
  for (const p of pairs) {
    const [x, y] = applyAffine(A, p.px[0], p.px[1]);
    sq += (x - p.mm[0]) ** 2 + (y - p.mm[1]) ** 2;
  }
  return { pxToMm: A, matched: pairs.length, rmsMm: Math.sqrt(sq / Math.max(1, pairs.length)) };
}
