/**
 * Image model speed on this machine: ms per wafer at batch 1, 4 and 8, INT8 and float, with the
 * session settings the appliance uses (2 threads) and the alternatives it was chosen over; for a model
 * with a verifier, its run on a wafer's crops too.
 * Medians over repeated runs; the last line is one JSON object.
 *
 *   npm run bench:model [-- --model models/wafer-mm-9 --runs 30]
 */
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { median } from '../src/common/percentiles.js';
import { DEFAULT_MODEL } from '../src/model/load.js';
import { lookAt } from '../src/model/around.js';
import { readManifest, readVerified, verifiedClasses } from '../src/model/manifest.js';
import { runVerifier } from '../src/model/verify.js';
import { rimPlaces } from '../src/model/rim.js';
import { traceRim } from '../src/fusion/rim.js';
import { SyntheticLine } from '../src/sim/line.js';

const { values: a } = parseArgs({ options: { model: { type: 'string', default: DEFAULT_MODEL }, runs: { type: 'string', default: '30' }, specs: { type: 'string', default: '8' } } });
const runs = Number(a.runs);
const dir = a.model!;
const manifest = await readManifest(dir);
const G = manifest.grid.size;
const C = manifest.inputChannels.length;
const Q = Number(a.specs);
const queries = new ort.Tensor('float32', Float32Array.from({ length: Q * manifest.embedding }, (_, i) => Math.sin(i)), [Q, manifest.embedding]);

/** A plausible fused wafer: mid-grey values with full masks, so no path of the graph is skipped. */
function batch(B: number): ort.Tensor {
  const x = new Float32Array(B * C * G * G);
  for (let i = 0; i < x.length; i++) x[i] = 0.3 + 0.4 * Math.abs(Math.sin(i * 0.001));
  return new ort.Tensor('float32', x, [B, C, G, G]);
}

async function time(file: 'image' | 'imageFloat', threads: number, level: 'all' | 'basic', B: number): Promise<number> {
  const bytes = await readVerified(dir, manifest.files[file]!);
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: level });
  const x = batch(B);
  for (let i = 0; i < 3; i++) await s.run({ image: x, queries });
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await s.run({ image: x, queries });
    ts.push((performance.now() - t0) / B);
  }
  await s.release();
  return Math.round(median(ts) * 100) / 100;
}

const figures: Record<string, number> = {};
console.log(`image model ${manifest.id}, ${G}² grid, ${Q} specs, ms per wafer (median of ${runs} runs)`);
for (const [file, name] of [['image', 'int8'], ['imageFloat', 'fp32']] as const) {
  for (const B of [1, 4, 8]) {
    const ms = await time(file, 2, 'all', B);
    figures[`${name}_b${B}_ms`] = ms;
    console.log(`  ${name} batch ${B}: ${ms} ms/wafer`);
  }
}
figures.int8_b8_1thread_ms = await time('image', 1, 'all', 8);
figures.int8_b8_basicopt_ms = await time('image', 2, 'basic', 8);
console.log(`  int8 batch 8 with 1 thread: ${figures.int8_b8_1thread_ms} ms/wafer; with basic graph optimisation: ${figures.int8_b8_basicopt_ms} ms/wafer`);
if (manifest.verifier && manifest.files.verifier) {
  // what the verifier adds per wafer: its crops of every class it judges (one spec each), with the
  // eight more around each place it looks around, run as the image model's thread runs them
  const v = manifest.verifier;
  const places = Array.from({ length: v.perClass }, () => ({ xMm: 0, yMm: 0 }));
  const crops = verifiedClasses(manifest).reduce((n, c) => n + lookAt(places, v.around[c]).length + (v.rim[c]?.top ?? 0), 0);
  const s = await ort.InferenceSession.create(await readVerified(dir, manifest.files.verifier), { intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
  for (const B of [1, 8]) {
    const x = new Float32Array(B * crops * 3 * v.cropPx * v.cropPx);
    for (let i = 0; i < x.length; i++) x[i] = 0.1 * Math.sin(i * 0.01);
    const K = v.classes.length;
    for (let i = 0; i < 3; i++) await runVerifier(s, x, B * crops, v.cropPx, K);
    const ts: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await runVerifier(s, x, B * crops, v.cropPx, K);
      ts.push((performance.now() - t0) / B);
    }
    figures[`verifier_b${B}_ms`] = Math.round(median(ts) * 100) / 100;
    console.log(`  verifier, ${crops} crops a wafer, batch ${B}: ${figures[`verifier_b${B}_ms`]} ms/wafer`);
  }
  await s.release();
  const rims = verifiedClasses(manifest).filter((c) => v.rim[c]);
  if (rims.length) {
    // the rim traced round a rendered wafer's visible frame (by a fusion worker, once a wafer whatever
    // the classes that use it) and the places the judge reads off it
    const line = new SyntheticLine({ seed: 5, poolSize: 0 });
    const cam = line.station.cameras.visible;
    const f = line.render(line.plan(0, [{ class: 'edge-chip', sizeMm: 1 }])).frames.visible;
    const pixels = { width: f.width, height: f.height, data: f.data as Uint8Array, pxToMm: cam.pxToMm };
    const ts: number[] = [];
    let rays = 0;
    for (let i = 0; i < runs + 3; i++) {
      const t0 = performance.now();
      const rim = traceRim(pixels, line.station.waferDiameterMm / 2);
      for (const c of rims) rimPlaces(rim, { side: v.rim[c].side === 'inside' ? -1 : 1, top: v.rim[c].top, minMm: v.rim[c].minMm });
      if (i >= 3) ts.push(performance.now() - t0);
      rays = rim.off.length;
    }
    figures.rim_ms = Math.round(median(ts) * 100) / 100;
    console.log(`  the rim traced (${rays} rays, in a fusion worker) and read for ${rims.join(', ')}: ${figures.rim_ms} ms/wafer`);
  }
}
console.log(JSON.stringify({ bench: 'model', model: manifest.id, grid: G, specs: Q, runs, ...figures }));
