import { invertAffine, pitchOf, type Affine } from '../common/affine.js';
import type { FramePixels } from '../fusion/result.js';

/** How much coarser than the verifier's own pitch a visible frame may be before its crops cannot show what it learnt to see. */
export const MAX_COARSER = 1.5;

/** Why a verifier that reads crops at `mmPerPx` cannot read a visible camera of this geometry; null when it can. */
export function pitchProblem(pxToMm: Affine, mmPerPx: number): string | null {
  const pitch = pitchOf(pxToMm);
  if (pitch <= mmPerPx * MAX_COARSER) return null;
  return `visible frame at ${pitch.toFixed(4)} mm/px is too coarse for the verifier, which reads crops at ${mmPerPx} mm/px (at most ${MAX_COARSER} times coarser)`;
}

/**
 * Verifier input for places on a wafer: per place a [3, P, P] crop of the visible frame centred on the
 * pixel the place falls on (black outside the frame), each channel less its median and / 255, which
 * takes out the film's colour (it varies from wafer to wafer) and keeps the defect's contrast. Written
 * into `out` from crop `at`. The same as models/tools/crops.py's, which trained the verifier, on
 * frames of the pitch it was trained on (`mmPerPx`); another station's frames are resampled to that
 * pitch (bilinear, averaged over the frame pixels a crop pixel spans), so a defect shows at the size
 * the verifier knows. A frame much coarser than that is refused: enlarging it adds no detail, and
 * the verifier reads the blur as defects.
 */
export function cutCrops(frame: FramePixels, places: ReadonlyArray<{ xMm: number; yMm: number }>, crop: { px: number; mmPerPx: number }, out: Float32Array, at = 0): void {
  const inv = invertAffine(frame.pxToMm);
  const { width: W, height: H, data } = frame;
  const P = crop.px;
  const half = P >> 1;
  const plane = P * P;
  const problem = pitchProblem(frame.pxToMm, crop.mmPerPx);
  if (problem) throw new Error(problem);
  // frame pixels per crop pixel
  const s = crop.mmPerPx / pitchOf(frame.pxToMm);
  const exact = Math.abs(s - 1) < 0.01;
  const k = Math.ceil(s);
  const hists = [new Int32Array(256), new Int32Array(256), new Int32Array(256)];
  // torch's median of an even count: the lower of the two middle values
  const middle = (plane - 1) >> 1;
  const pixel = (r: number, q: number, c: number): number => (r >= 0 && r < H && q >= 0 && q < W ? data[(r * W + q) * 3 + c] : 0);
  const bilinear = (y: number, x: number, c: number): number => {
    const r = Math.floor(y);
    const q = Math.floor(x);
    const fy = y - r;
    const fx = x - q;
    return (1 - fy) * ((1 - fx) * pixel(r, q, c) + fx * pixel(r, q + 1, c)) + fy * ((1 - fx) * pixel(r + 1, q, c) + fx * pixel(r + 1, q + 1, c));
  };
  places.forEach((p, n) => {
    const x = inv[0][0] * p.xMm + inv[0][1] * p.yMm + inv[0][2];
    const y = inv[1][0] * p.xMm + inv[1][1] * p.yMm + inv[1][2];
    const col = Math.min(W - 1, Math.max(0, Math.round(x)));
    const row = Math.min(H - 1, Math.max(0, Math.round(y)));
    const base = (at + n) * 3 * plane;
    for (const h of hists) h.fill(0);
    const r0 = row - half;
    const c0 = col - half;
    if (exact && r0 >= 0 && c0 >= 0 && r0 + P <= H && c0 + P <= W) {
      // wholly inside the frame at its own pitch, the common case: the three channels in one pass, no bounds to check
      const [hr, hg, hb] = hists;
      for (let i = 0; i < P; i++) {
        let src = ((r0 + i) * W + c0) * 3;
        const o = base + i * P;
        for (let j = 0; j < P; j++, src += 3) {
          const r = data[src];
          const g = data[src + 1];
          const b = data[src + 2];
          out[o + j] = r;
          out[o + plane + j] = g;
          out[o + 2 * plane + j] = b;
          hr[r]++;
          hg[g]++;
          hb[b]++;
        }
      }
    } else {
      for (let c = 0; c < 3; c++) {
        const o = base + c * plane;
        const hist = hists[c];
        for (let i = 0; i < P; i++) {
          for (let j = 0; j < P; j++) {
            let v: number;
            if (exact) v = pixel(r0 + i, c0 + j, c);
            else {
              let sum = 0;
              for (let u = 0; u < k; u++) for (let w = 0; w < k; w++) sum += bilinear(y + (i - half + (u + 0.5) / k - 0.5) * s, x + (j - half + (w + 0.5) / k - 0.5) * s, c);
              v = Math.round(sum / (k * k));
            }
            out[o + i * P + j] = v;
            hist[v]++;
          }
        }
      }
    }
    for (let c = 0; c < 3; c++) {
      const hist = hists[c];
      let med = 0;
      for (let seen = 0; med < 256; med++) {
        seen += hist[med];
        if (seen > middle) break;
      }
      const o = base + c * plane;
      for (let q = 0; q < plane; q++) out[o + q] = (out[o + q] - med) / 255;
    }
  });
}
