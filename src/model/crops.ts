import { invertAffine } from '../common/affine.js';
import type { VisibleFrame } from '../fusion/result.js';

/**
 * Verifier input for places on a wafer: per place a [3, P, P] crop of the visible frame centred on the
 * pixel the place falls on (black outside the frame), each channel less its median and / 255, which
 * takes out the film's colour (it varies from wafer to wafer) and keeps the defect's contrast. Written
 * into `out` from crop `at`. The same as models/tools/crops.py's, which trained the verifier.
 */
export function cutCrops(frame: VisibleFrame, places: ReadonlyArray<{ xMm: number; yMm: number }>, P: number, out: Float32Array, at = 0): void {
  const inv = invertAffine(frame.pxToMm);
  const { width: W, height: H, data } = frame;
  const half = P >> 1;
  const plane = P * P;
  const hist = new Int32Array(256);
  // torch's median of an even count: the lower of the two middle values
  const middle = (plane - 1) >> 1;
  places.forEach((p, n) => {
    const col = Math.min(W - 1, Math.max(0, Math.round(inv[0][0] * p.xMm + inv[0][1] * p.yMm + inv[0][2])));
    const row = Math.min(H - 1, Math.max(0, Math.round(inv[1][0] * p.xMm + inv[1][1] * p.yMm + inv[1][2])));
    const base = (at + n) * 3 * plane;
    for (let c = 0; c < 3; c++) {
      hist.fill(0);
      const o = base + c * plane;
      for (let i = 0; i < P; i++) {
        const r = row - half + i;
        for (let j = 0; j < P; j++) {
          const k = col - half + j;
          const v = r >= 0 && r < H && k >= 0 && k < W ? data[(r * W + k) * 3 + c] : 0;
          out[o + i * P + j] = v;
          hist[v]++;
        }
      }
      let med = 0;
      for (let seen = 0; med < 256; med++) {
        seen += hist[med];
        if (seen > middle) break;
      }
      for (let q = 0; q < plane; q++) out[o + q] = (out[o + q] - med) / 255;
    }
  });
}
