import * as ort from 'onnxruntime-node';

/**
 * Most crops in one verifier run. A batch of 8 wafers brings up to 192 crops; run at once, their
 * activations grow onnxruntime's arena to hold them: 194 MB resident against 117 MB in runs of 48,
 * the verifier alone on batches of 18 to 192 crops, 2 threads, at the same speed within the noise.
 */
export const CROPS_PER_RUN = 48;

/** The verifier on `n` crops of [3, P, P] at the start of `crops`: per crop and class, probability and size ([n, K] each). */
export async function runVerifier(session: ort.InferenceSession, crops: Float32Array, n: number, P: number, K: number): Promise<{ probs: Float32Array; sizes: Float32Array }> {
  const probs = new Float32Array(n * K);
  const sizes = new Float32Array(n * K);
  const each = 3 * P * P;
  for (let at = 0; at < n; at += CROPS_PER_RUN) {
    const m = Math.min(CROPS_PER_RUN, n - at);
    const r = await session.run({ crops: new ort.Tensor('float32', crops.subarray(at * each, (at + m) * each), [m, 3, P, P]) });
    probs.set(r.probs.data as Float32Array, at * K);
    sizes.set(r.sizes.data as Float32Array, at * K);
  }
  return { probs, sizes };
}
