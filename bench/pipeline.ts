/**
 * The whole appliance on the reference station (visible 2048² RGB8, infrared 640x512 16-bit, X-ray
 * 1024² 16-bit): capture -> fusion -> model -> verdict -> MQTT (a real broker) -> control of simulated
 * arms over Modbus TCP, through the service's own code path (Service, as `wafer-inspect run` and the
 * line simulation start it). Measures
 *  - throughput at max rate from raw frames and from a recorded TIFF lot, counted as results arrive
 *    at a subscriber of the results topic, with where the time goes per stage;
 *  - at 15 wafers/s: frame arrival to result received from the broker p50/p99, RSS, CPU;
 *  - cold start of `wafer-inspect run` to READY.
 * Medians over runs; the last line is one JSON object.
 *
 *   npm run bench [-- --runs 3 --wafers 400 --paced 240 --warmup 40 --rate 15 --lot-size 48 --mqtt mqtt://127.0.0.1:1883 --config FILE]
 *
 * --config: the model and fusion settings to measure (e.g. model.threads, model.spinWait); the
 * benchmark sets up capture, telemetry and control itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connectAsync } from 'mqtt';
import type { CaptureDriver } from '../src/capture/driver.js';
import { ReplayCapture } from '../src/capture/replay.js';
import { SyntheticCapture } from '../src/capture/synthetic.js';
import { median } from '../src/common/percentiles.js';
import { loadConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import type { ResultRecord } from '../src/inspection/result.js';
import { Service } from '../src/service/service.js';
import { simulationConfig } from '../src/service/simulation.js';
import { SimArmRig } from '../src/sim/arms/rig.js';
import { recordSynthetic } from '../src/sim/record.js';
import { topicsFor } from '../src/telemetry/topics.js';
import { coldStart } from './cold-start.js';
import { benchLog, checkBroker, clearRetained as clearRetainedAt, MB, round, SIM_ARMS } from './harness.js';
import { installProbes, mean, probes, quantile, STAGES, type Stage } from './probes.js';

const { values: a } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    wafers: { type: 'string', default: '400' },
    paced: { type: 'string', default: '240' },
    warmup: { type: 'string', default: '40' },
    rate: { type: 'string', default: '15' },
    'lot-size': { type: 'string', default: '48' },
    mqtt: { type: 'string', default: process.env.MQTT_URL || 'mqtt://127.0.0.1:1883' },
    config: { type: 'string' },
  },
});
const runs = Number(a.runs);
const wafers = Number(a.wafers);
const paced = Number(a.paced);
const warmup = Number(a.warmup);
const rateHz = Number(a.rate);
const lotSize = Number(a['lot-size']);
const brokerUrl = a.mqtt!;
for (const [k, v] of Object.entries({ runs, wafers, paced, warmup, rateHz, lotSize })) if (!(v > 0)) throw new Error(`--${k}: not a positive number`);

const base: Config = await loadConfig(a.config);
const root = mkdtempSync(join(tmpdir(), 'wi-bench-pipeline-'));
let runNo = 0;
installProbes();
const log = benchLog;
const clearRetained = (prefix: string, station: string): Promise<void> => clearRetainedAt(brokerUrl, prefix, station);

interface RunFigures {
  wafersPerS: number;
  /** wafers whose result did not come back from the broker */
  missing: number;
  moves: number;
  stages: Record<Stage, { p50: number; p99: number; mean: number; n: number }>;
  cpuCores: number;
  rssMaxMb: number;
  rssAfterWarmupMb: number;
  rssBeforeStartMb: number;
  rssEndMb: number;
}

/**
 * One service from start to stop with its own topic prefix, arms and state folder. Only the wafers
 * after the first `warm` results count: that leaves out worker start, JIT and the first batches.
 */
async function runOnce(makeCapture: (count: number) => CaptureDriver, total: number, warm: number): Promise<RunFigures> {
  const dir = join(root, `run-${++runNo}`);
  const prefix = `wi-bench-${process.pid}-${runNo}`;
  const rig = await SimArmRig.start({ arms: SIM_ARMS, dir: join(dir, 'arms'), seed: 1, driftScale: 3 });
  const config = simulationConfig(base, { brokerUrl, armFiles: rig.profileFiles, stateDir: dir });
  config.telemetry.prefix = prefix;
  // its own client id: another service of the same station on this broker would otherwise take over the session
  config.telemetry.clientId = prefix;
  const results = topicsFor(prefix, config.station).channel('results');
  const sub = await connectAsync(brokerUrl, { clientId: `wi-bench-sub-${process.pid}-${runNo}`, reconnectPeriod: 0 });
  await sub.subscribeAsync(results, { qos: 1 });

  probes.reset();
  let rssMax = 0;
  const sampleRss = (): number => {
    const r = process.memoryUsage.rss();
    rssMax = Math.max(rssMax, r);
    return r;
  };
  const rssBeforeStart = sampleRss();
  const rssTimer = setInterval(sampleRss, 50);
  // results leave the service in capture order, and QoS 1 from one outbox keeps that order at the subscriber
  const handedOn: { wafer: string; t: number }[] = [];
  let received = 0;
  let tWarm = 0;
  let tEnd = 0;
  let cpu0 = process.cpuUsage();
  let rssAfterWarmup = 0;
  let moves = 0;
  const cpu = { user: 0, system: 0 };
  let allIn!: () => void;
  const allReceived = new Promise<void>((r) => (allIn = r));
  sub.on('message', (_topic, payload) => {
    const now = performance.now();
    const wall = Date.now();
    const r = JSON.parse(payload.toString()) as ResultRecord;
    const head = handedOn.shift();
    if (head?.wafer === r.wafer) probes.add('brokerMs', now - head.t);
    probes.add('latencyMs', wall - Date.parse(r.at));
    probes.add('serviceLatencyMs', r.latencyMs);
    if (++received === warm) {
      tWarm = now;
      cpu0 = process.cpuUsage();
      rssAfterWarmup = sampleRss();
      probes.on = true;
    }
    if (received === total) {
      tEnd = now;
      const used = process.cpuUsage(cpu0);
      cpu.user = used.user;
      cpu.system = used.system;
      allIn();
    }
  });

  const service = await Service.start({
    config,
    log,
    capture: makeCapture(total),
    wrapNext: (next) => async (w) => {
      probes.add('decodeMs', w.timings.decodeMs);
      probes.add('fuseMs', w.timings.fuseMs);
      probes.add('placesMs', w.timings.placesMs);
      const tensor = w.tensor;
      const out = await next(w);
      const scored = tensor && probes.scoredAt.get(tensor);
      if (scored) probes.add('postMs', performance.now() - scored);
      return out;
    },
    observer: {
      result: (r) => handedOn.push({ wafer: r.wafer, t: performance.now() }),
      move: () => moves++,
    },
  });
  try {
    await service.ended;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([allReceived, new Promise((r) => (timer = setTimeout(r, 60_000)))]);
    clearTimeout(timer);
  } finally {
    clearInterval(rssTimer);
    await service.stop('benchmark run done');
    await rig.stop();
    await sub.endAsync();
    await clearRetained(prefix, config.station);
    rmSync(dir, { recursive: true, force: true });
  }
  const wallMs = (tEnd || performance.now()) - tWarm;
  const stages = Object.fromEntries(
    STAGES.map((s) => {
      const xs = probes.samples[s];
      return [s, { p50: round(quantile(xs, 0.5)), p99: round(quantile(xs, 0.99)), mean: round(mean(xs)), n: xs.length }];
    }),
  ) as RunFigures['stages'];
  probes.reset();
  return {
    wafersPerS: tWarm > 0 && tEnd > 0 ? ((total - warm) / wallMs) * 1000 : NaN,
    missing: total - received,
    moves,
    stages,
    cpuCores: (cpu.user + cpu.system) / 1000 / wallMs,
    rssMaxMb: rssMax / MB,
    rssAfterWarmupMb: rssAfterWarmup / MB,
    rssBeforeStartMb: rssBeforeStart / MB,
    rssEndMb: process.memoryUsage.rss() / MB,
  };
}

/** Medians over runs, figure by figure (a stage's p99 is the median of the runs' p99s). */
function medians(rs: RunFigures[]): RunFigures {
  const m = (f: (r: RunFigures) => number): number => round(median(rs.map(f)));
  const stages = Object.fromEntries(
    STAGES.map((s) => [s, { p50: m((r) => r.stages[s].p50), p99: m((r) => r.stages[s].p99), mean: m((r) => r.stages[s].mean), n: m((r) => r.stages[s].n) }]),
  ) as RunFigures['stages'];
  return {
    wafersPerS: m((r) => r.wafersPerS),
    missing: rs.reduce((s, r) => s + r.missing, 0),
    moves: m((r) => r.moves),
    stages,
    cpuCores: m((r) => r.cpuCores),
    rssMaxMb: m((r) => r.rssMaxMb),
    rssAfterWarmupMb: m((r) => r.rssAfterWarmupMb),
    rssBeforeStartMb: m((r) => r.rssBeforeStartMb),
    rssEndMb: m((r) => r.rssEndMb),
  };
}

function stageLine(f: RunFigures): string {
  const s = f.stages;
  return (
    `    per wafer in a fusion worker: decode ${s.decodeMs.p50} ms, fuse ${s.fuseMs.p50} ms, rim and dies ${s.placesMs.p50} ms\n` +
    `    model: ${s.modelRunMs.p50} ms per batch (p99 ${s.modelRunMs.p99}), batch mean ${s.batch.mean} (p50 ${s.batch.p50}, max seen p99 ${s.batch.p99}), ${round(s.modelRunMs.mean / s.batch.mean)} ms per wafer (the verifier's crops and run ${round(s.verifyMs.mean / s.batch.mean)}); queue+run+transfer per wafer ${s.modelWaitMs.p50} ms\n` +
    `    post-processing (judge, record): ${s.postMs.p50} ms per wafer (p99 ${s.postMs.p99}); outbox append ${s.outboxMs.p50} ms; control ${s.controlMs.p50} ms\n` +
    `    result handed on -> received from the broker: p50 ${s.brokerMs.p50} ms, p99 ${s.brokerMs.p99} ms`
  );
}

async function series(label: string, makeCapture: (count: number) => CaptureDriver, total: number): Promise<RunFigures> {
  const rs: RunFigures[] = [];
  for (let r = 0; r < runs; r++) {
    rs.push(await runOnce(makeCapture, total, warmup));
    const f = rs[r];
    console.log(`  ${label} run ${r + 1}: ${f.wafersPerS.toFixed(1)} wafers/s, latency p50 ${f.stages.latencyMs.p50} ms p99 ${f.stages.latencyMs.p99} ms, ${f.missing} missing`);
  }
  const m = medians(rs);
  console.log(`${label}: median of ${runs} runs: ${m.wafersPerS} wafers/s`);
  console.log(stageLine(m));
  return m;
}

try {
  await checkBroker(brokerUrl);
  console.log(
    `pipeline, reference station, grid ${base.fusion.gridSize}², model ${base.model.variant}, ${availableParallelism()} cores; broker ${brokerUrl}; ${runs} runs each, first ${warmup} results of a run not counted`,
  );

  // Frames as from the cameras' buffers: rendered once, handed out under new ids, so that producing them
  // costs nothing. Two wafers from one look: the RSS measured here should be the service's, not the camera's.
  const paceCapture = new SyntheticCapture({ line: { seed: 1, defectRate: 0.3, poolSize: 1 }, rateHz: 0, cycle: 2 });
  await paceCapture.prepare();
  const pacedRuns = await series(`${rateHz} wafers/s paced (${paced} wafers)`, (n) => new SyntheticCapture({ line: {}, rateHz, cycle: 2, count: n }, paceCapture), paced);
  console.log(
    `    frame arrival -> result received from the broker: p50 ${pacedRuns.stages.latencyMs.p50} ms, p99 ${pacedRuns.stages.latencyMs.p99} ms (service's own arrival -> verdict p50 ${pacedRuns.stages.serviceLatencyMs.p50} ms, p99 ${pacedRuns.stages.serviceLatencyMs.p99} ms)\n` +
      `    CPU ${pacedRuns.cpuCores} cores of ${availableParallelism()}; RSS ${pacedRuns.rssAfterWarmupMb} MB after warm-up, ${pacedRuns.rssMaxMb} MB max of the bench process, which also holds 2 pre-rendered wafers' frames, the subscriber and the simulated arms: ${pacedRuns.rssBeforeStartMb} MB before the service started, so the service's share is ${round(pacedRuns.rssAfterWarmupMb - pacedRuns.rssBeforeStartMb)} MB after warm-up`,
  );

  const synthetic = new SyntheticCapture({ line: { seed: 1, defectRate: 0.3 }, rateHz: 0, cycle: 16 });
  await synthetic.prepare();
  const raw = await series(`raw frames, max rate (${wafers} wafers)`, (n) => new SyntheticCapture({ line: {}, rateHz: 0, cycle: 16, count: n }, synthetic), wafers);

  const lotDir = join(root, 'lot');
  await recordSynthetic({ count: lotSize, out: lotDir, format: 'tiff', rateHz, line: { seed: 2, defectRate: 0.3 } });
  console.log(`recorded ${lotSize} wafers (TIFF) to a temporary lot; replayed at max pace in loops`);
  const lot = await series(`recorded lot, max pace (${wafers} wafers)`, (n) => new ReplayCapture({ lot: lotDir, pace: 'max', loops: 1000, count: n }), wafers);

  const cold: number[] = [];
  const rig = await SimArmRig.start({ arms: SIM_ARMS, dir: join(root, 'cold-arms'), seed: 1, driftScale: 3 });
  try {
    for (let r = 0; r < runs; r++) {
      const prefix = `wi-bench-${process.pid}-cold-${r}`;
      const c = simulationConfig(base, { brokerUrl, armFiles: rig.profileFiles, stateDir: join(root, `cold-${r}`) });
      c.telemetry.prefix = prefix;
      // its own client id: another service of the same station on this broker would otherwise take over the session
      c.telemetry.clientId = prefix;
      c.capture.synthetic.rateHz = rateHz;
      cold.push(await coldStart(c, root));
      await clearRetained(prefix, c.station);
      console.log(`  cold start ${r + 1}: ${cold[r].toFixed(0)} ms`);
    }
  } finally {
    await rig.stop();
  }
  const coldMs = round(median(cold), 0);
  console.log(`cold start to READY (wafer-inspect run: spawn -> /healthz 200, model load, arms over Modbus, broker): median ${coldMs} ms`);

  const brief = (f: RunFigures) => ({
    wafersPerS: f.wafersPerS,
    missing: f.missing,
    decodeMs: f.stages.decodeMs.p50,
    fuseMs: f.stages.fuseMs.p50,
    placesMs: f.stages.placesMs.p50,
    modelBatchMs: f.stages.modelRunMs.p50,
    modelBatchMean: f.stages.batch.mean,
    modelMsPerWafer: round(f.stages.modelRunMs.mean / f.stages.batch.mean),
    verifyMsPerWafer: round(f.stages.verifyMs.mean / f.stages.batch.mean),
    modelWaitMs: f.stages.modelWaitMs.p50,
    postMs: f.stages.postMs.p50,
    outboxMs: f.stages.outboxMs.p50,
    controlMs: f.stages.controlMs.p50,
    brokerMs: f.stages.brokerMs.p50,
    latencyP50Ms: f.stages.latencyMs.p50,
    latencyP99Ms: f.stages.latencyMs.p99,
    cpuCores: f.cpuCores,
  });
  console.log(
    JSON.stringify({
      bench: 'pipeline',
      grid: base.fusion.gridSize,
      variant: base.model.variant,
      cores: availableParallelism(),
      runs,
      warmup,
      rawWafersPerS: raw.wafersPerS,
      lotWafersPerS: lot.wafersPerS,
      rateHz,
      latencyP50Ms: pacedRuns.stages.latencyMs.p50,
      latencyP99Ms: pacedRuns.stages.latencyMs.p99,
      rssMaxMb: pacedRuns.rssMaxMb,
      rssAfterWarmupMb: pacedRuns.rssAfterWarmupMb,
      cpuCores: pacedRuns.cpuCores,
      coldStartMs: coldMs,
      coldStartRunsMs: cold.map((x) => round(x, 0)),
      raw: brief(raw),
      lot: brief(lot),
      paced: { ...brief(pacedRuns), wafers: paced, serviceLatencyP50Ms: pacedRuns.stages.serviceLatencyMs.p50, serviceLatencyP99Ms: pacedRuns.stages.serviceLatencyMs.p99, rssBeforeStartMb: pacedRuns.rssBeforeStartMb, rssServiceShareMb: round(pacedRuns.rssAfterWarmupMb - pacedRuns.rssBeforeStartMb) },
    }),
  );
} finally {
  rmSync(root, { recursive: true, force: true });
}
// MQTT reconnect timers and worker handles of stopped services must not keep the benchmark alive.
process.exit(0);
