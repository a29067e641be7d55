import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import t from 'tap';
import { CROPS_PER_RUN, runVerifier } from '../src/model/verify.js';
import { REPO_ROOT } from './helpers.js';

t.test('the verifier over more crops than one run takes: each crop reads as it does alone', async (t) => {
  const session = await ort.InferenceSession.create(readFileSync(join(REPO_ROOT, 'models/wafer-mm-11/verifier.onnx')));
  t.teardown(() => session.release());
  const P = 48;
  const K = 4;
  const n = CROPS_PER_RUN * 2 + 5;
  const crops = new Float32Array(n * 3 * P * P);
  // every crop different: a blob whose place and contrast move with the crop's index
  for (let c = 0; c < n; c++) {
    for (let i = 0; i < P; i++) for (let j = 0; j < P; j++) {
      const v = Math.hypot(i - 10 - (c % 28), j - 24) < 3 + (c % 5) ? -0.3 + 0.005 * c : 0.01 * Math.sin(c + i * j);
      for (let ch = 0; ch < 3; ch++) crops[((c * 3 + ch) * P + i) * P + j] = v;
    }
  }
  const all = await runVerifier(session, crops, n, P, K);
  t.equal(all.probs.length, n * K);
  let worst = 0;
  for (const c of [0, CROPS_PER_RUN - 1, CROPS_PER_RUN, CROPS_PER_RUN + 1, 2 * CROPS_PER_RUN, n - 1]) {
    const one = await runVerifier(session, crops.subarray(c * 3 * P * P), 1, P, K);
    for (let k = 0; k < K; k++) {
      worst = Math.max(worst, Math.abs(one.probs[k] - all.probs[c * K + k]), Math.abs(one.sizes[k] - all.sizes[c * K + k]));
    }
  }
  t.ok(worst < 1e-4, `largest difference ${worst.toExponential(2)}`);
  const read = (c: number): string => [...all.probs.subarray(c * K, (c + 1) * K), ...all.sizes.subarray(c * K, (c + 1) * K)].map((x) => x.toPrecision(6)).join(' ');
  const spread = new Set(Array.from({ length: n }, (_, c) => read(c))).size;
  t.equal(spread, n, 'every crop reads differently, so a crop read at another\'s place would show');
});
