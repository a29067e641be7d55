/**
 * Capture + fusion throughput on the reference station (visible 2048² RGB8, infrared 640x512 16-bit,
 * X-ray 1024² 16-bit), from raw frames and from a recorded lot in the project's own format (TIFF).
 * Prints per-run figures, then medians; the last line is one JSON object.
 *
 *   npm run bench:fusion [-- --wafers 600 --runs 3 --grid 256 --workers 2 --lot DIR]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { CaptureDriver } from '../src/capture/driver.js';
import { ReplayCapture } from '../src/capture/replay.js';
import { SyntheticCapture } from '../src/capture/synthetic.js';
import { median } from '../src/common/percentiles.js';
import { PACKAGE_ROOT } from '../src/common/paths.js';
import type { FusedWafer } from '../src/fusion/result.js';
import { DieCompare } from '../src/fusion/die-places.js';
import { FusionStage } from '../src/fusion/stage.js';
import { fusedOnly, newStats, runLine } from '../src/service/line.js';
import { recordSynthetic } from '../src/sim/record.js';

const { values: a } = parseArgs({
  options: {
    wafers: { type: 'string', default: '600' },
    runs: { type: 'string', default: '3' },
    grid: { type: 'string', default: '256' },
    workers: { type: 'string', default: String(availableParallelism()) },
    lot: { type: 'string' },
    'lot-size': { type: 'string', default: '48' },
  },
});
const wafers = Number(a.wafers);
const runs = Number(a.runs);
const workers = Number(a.workers);
const grid = { size: Number(a.grid), fieldMm: 320, roiRadiusMm: 158 };
const stationDir = join(PACKAGE_ROOT, 'calibration/reference');

interface RunFigures {
  wafersPerS: number;
  decodeMs: number;
  fuseMs: number;
  latencyP50Ms: number;
}

async function measure(makeCapture: (n: number) => CaptureDriver): Promise<RunFigures> {
  const fusion = new FusionStage({ stationDir, grid, workers });
  try {
    // warm-up: worker start, station load, geometry tables, JIT
    const onWafer = (w: FusedWafer): void => fusion.recycle(w.tensor);
    await runLine({ capture: makeCapture(workers * 8), fusion, maxInFlight: workers * 2, next: fusedOnly, onWafer });
    const stats = newStats();
    await runLine({ capture: makeCapture(wafers), fusion, maxInFlight: workers * 2, stats, next: fusedOnly, onWafer });
    const secs = (performance.now() - stats.startedAt) / 1000;
    if (stats.incomplete > 0) throw new Error(`${stats.incomplete} wafers incomplete in a benchmark run`);
    return { wafersPerS: stats.wafersOut / secs, decodeMs: stats.decodeMs.quantile(0.5), fuseMs: stats.fuseMs.quantile(0.5), latencyP50Ms: stats.latencyMs.quantile(0.5) };
  } finally {
    await fusion.close();
  }
}

function summarise(label: string, rs: RunFigures[]): RunFigures {
  const m = (k: keyof RunFigures): number => Math.round(median(rs.map((r) => r[k])) * 100) / 100;
  const s = { wafersPerS: m('wafersPerS'), decodeMs: m('decodeMs'), fuseMs: m('fuseMs'), latencyP50Ms: m('latencyP50Ms') };
  console.log(`${label}: median of ${rs.length} runs: ${s.wafersPerS} wafers/s; per wafer in a worker: decode ${s.decodeMs} ms, fuse ${s.fuseMs} ms; capture-to-fused p50 ${s.latencyP50Ms} ms`);
  return s;
}

console.log(`capture+fusion, reference station, grid ${grid.size}² over ${grid.fieldMm} mm, ${workers} workers, ${wafers} wafers per run, ${availableParallelism()} cores`);

const synthetic = new SyntheticCapture({ line: { seed: 1, defectRate: 0.3 }, rateHz: 0, cycle: 16 });
await synthetic.prepare();
const raw: RunFigures[] = [];
for (let r = 0; r < runs; r++) {
  raw.push(
    // the pre-rendered cycle is shared: raw frames then cost nothing to produce, as from a camera's buffers
    await measure((n) => new SyntheticCapture({ line: {}, rateHz: 0, cycle: 16, count: n }, synthetic)),
  );
  console.log(`  raw run ${r + 1}: ${raw[r].wafersPerS.toFixed(1)} wafers/s`);
}
const rawS = summarise('raw frames', raw);

let lotDir = a.lot;
let cleanup = (): void => {};
if (!lotDir) {
  const root = mkdtempSync(join(tmpdir(), 'wi-bench-'));
  cleanup = () => rmSync(root, { recursive: true, force: true });
  lotDir = join(root, 'lot');
  const n = Number(a['lot-size']);
  await recordSynthetic({ count: n, out: lotDir, format: 'tiff', rateHz: 15, line: { seed: 2, defectRate: 0.3 } });
  console.log(`recorded ${n} wafers (TIFF) to ${lotDir}; replayed in loops`);
}
const lot: RunFigures[] = [];
try {
  for (let r = 0; r < runs; r++) {
    lot.push(await measure((n) => new ReplayCapture({ lot: lotDir!, pace: 'max', loops: 1000, count: n })));
    console.log(`  lot run ${r + 1}: ${lot[r].wafersPerS.toFixed(1)} wafers/s`);
  }
} finally {
  cleanup();
}
const lotS = summarise('recorded lot', lot);

// the visible frame against its neighbouring dies (src/fusion/die-places.ts), one thread, one
// rendered frame: what it adds to a fusion worker's time a wafer where the frame is kept for a
// model's verifier (the workers above keep none; npm run bench times the whole of it as placesMs)
const cam = synthetic.line.station.cameras.visible;
const vf = synthetic.line.renderIndex(0).frames.visible;
const pixels = { width: vf.width, height: vf.height, data: vf.data as Uint8Array, pxToMm: cam.pxToMm };
const compare = new DieCompare(cam.pxToMm, vf.width, vf.height, synthetic.line.station.waferDiameterMm / 2);
const dieTimes: number[] = [];
for (let i = 0; i < 23; i++) {
  const t0 = performance.now();
  compare.places(pixels, 8);
  if (i >= 3) dieTimes.push(performance.now() - t0);
}
const dieCompareMs = Math.round(median(dieTimes) * 100) / 100;
console.log(`die comparison of the visible frame (one thread): ${dieCompareMs} ms a wafer`);

console.log(
  JSON.stringify({
    bench: 'fusion',
    grid: grid.size,
    workers,
    wafers,
    runs,
    dieCompareMs,
    rawWafersPerS: rawS.wafersPerS,
    lotWafersPerS: lotS.wafersPerS,
    raw: rawS,
    lot: lotS,
  }),
);
