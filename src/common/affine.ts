/**
 * 2x3 affine matrices as in contracts §2: [x, y] = M · [col, row, 1].
 * pxToMm maps a pixel centre of a camera to wafer millimetres (x right, y up, origin at the wafer centre).
 */
export type Affine = [[number, number, number], [number, number, number]];

export function applyAffine(m: Affine, u: number, v: number): [number, number] {
  return [m[0][0] * u + m[0][1] * v + m[0][2], m[1][0] * u + m[1][1] * v + m[1][2]];
}

export function invertAffine(m: Affine): Affine {
  const [[a, b, c], [d, e, f]] = m;
  const det = a * e - b * d;
  if (!Number.isFinite(det) || Math.abs(det) < 1e-12) throw new Error('affine matrix is singular');
  const ia = e / det;
  const ib = -b / det;
  const id = -d / det;
  const ie = a / det;
  return [
    [ia, ib, -(ia * c + ib * f)],
    [id, ie, -(id * c + ie * f)],
  ];
}

/** a ∘ b: first b, then a. */
export function composeAffine(a: Affine, b: Affine): Affine {
  return [
    [
      a[0][0] * b[0][0] + a[0][1] * b[1][0],
      a[0][0] * b[0][1] + a[0][1] * b[1][1],
      a[0][0] * b[0][2] + a[0][1] * b[1][2] + a[0][2],
    ],
    [
      a[1][0] * b[0][0] + a[1][1] * b[1][0],
      a[1][0] * b[0][1] + a[1][1] * b[1][1],
      a[1][0] * b[0][2] + a[1][1] * b[1][2] + a[1][2],
    ],
  ];
}

/** Millimetres per pixel along columns (mean of both axes' scale), for anti-aliasing and sampling decisions. */
export function pixelPitchMm(m: Affine): number {
  const sx = Math.hypot(m[0][0], m[1][0]);
  const sy = Math.hypot(m[0][1], m[1][1]);
  return Math.sqrt(sx * sy);
}

export interface CameraPose {
  /** mm per pixel */
  pitchMm: number;
  /** rotation of the image axes against the wafer axes, degrees, counter-clockwise */
  rotationDeg: number;
  /** wafer position (mm) seen at the image centre */
  centreMm: [number, number];
  /** true when the image is mirrored left-right (e.g. a detector read from behind) */
  mirrored?: boolean;
}

/** pxToMm of a camera of the given size and pose: rows grow downwards, so y is flipped. */
export function poseToAffine(width: number, height: number, pose: CameraPose): Affine {
  const t = (pose.rotationDeg * Math.PI) / 180;
  const s = pose.pitchMm;
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  const m = pose.mirrored ? -1 : 1;
  // column axis -> (cos t, sin t); row axis -> (sin t, -cos t)
  const a = s * Math.cos(t) * m;
  const d = s * Math.sin(t) * m;
  const b = s * Math.sin(t);
  const e = -s * Math.cos(t);
  return [
    [a, b, pose.centreMm[0] - a * cx - b * cy],
    [d, e, pose.centreMm[1] - d * cx - e * cy],
  ];
}

/** Contracts §2 default: a modality without geometry is centred, the wafer diameter filling the shorter side. */
export function centredAffine(width: number, height: number, diameterMm: number): Affine {
  return poseToAffine(width, height, { pitchMm: diameterMm / Math.min(width, height), rotationDeg: 0, centreMm: [0, 0] });
}

/** A camera's pixel pitch in mm (the length a pixel's step along a row spans on the wafer). */
export function pitchOf(pxToMm: Affine): number {
  return Math.hypot(pxToMm[0][0], pxToMm[1][0]);
}

/**
 * Solves the 3 x 3 system m x = b (row-major m) by Cramer's rule, as least-squares fits of an affine's
 * row or of a circle take; null where it is singular.
 */
export function solve3(m: ArrayLike<number>, b: ArrayLike<number>): [number, number, number] | null {
  const det = (a: ArrayLike<number>): number => a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) + a[2] * (a[3] * a[7] - a[4] * a[6]);
  const d = det(m);
  if (Math.abs(d) < 1e-12) return null;
  const out: number[] = [];
  for (let k = 0; k < 3; k++) {
    const a = Array.from(m);
    for (let i = 0; i < 3; i++) a[i * 3 + k] = b[i];
    out.push(det(a) / d);
  }
  return out as [number, number, number];
}
