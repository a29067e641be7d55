/**
 * Soak: the whole appliance (as bench/pipeline.ts runs it: capture -> fusion -> model -> verdict ->
 * MQTT on a real broker -> control of simulated arms over Modbus TCP) fed as fast as it takes wafers,
 * for a long run. Reports whether memory stays bounded and whether every wafer got a result:
 *  - RSS of the whole process (main thread and workers), sampled every few seconds: the median over
 *    the first tenth of the wafers after warm-up against the median over the last tenth;
 *  - results received from the broker against wafers captured, and how many were not inspected.
 * The last line is one JSON object.
 *
 *   npm run soak [-- --wafers 100000 --source lot|synthetic --warmup 0.1 --lot-size 48 --mqtt mqtt://127.0.0.1:1883]
 *
 * `lot` replays a recorded TIFF lot in loops (the decode path); `synthetic` renders every wafer
 * afresh (the demo's path, where frame memory is recycled between wafers).
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
import type { ResultRecord } from '../src/inspection/result.js';
import { Service } from '../src/service/service.js';
import { simulationConfig } from '../src/service/simulation.js';
import { SimArmRig } from '../src/sim/arms/rig.js';
import { recordSynthetic } from '../src/sim/record.js';
import { topicsFor } from '../src/telemetry/topics.js';
import { benchLog, checkBroker, clearRetained, MB, round, SIM_ARMS } from './harness.js';

const { values: a } = parseArgs({
  options: {
    wafers: { type: 'string', default: '100000' },
    source: { type: 'string', default: 'lot' },
    warmup: { type: 'string', default: '0.1' },
    'lot-size': { type: 'string', default: '48' },
    'sample-s': { type: 'string', default: '5' },
    mqtt: { type: 'string', default: process.env.MQTT_URL || 'mqtt://127.0.0.1:1883' },
  },
});
const total = Number(a.wafers);
const warmFrac = Number(a.warmup);
const lotSize = Number(a['lot-size']);
const sampleMs = Number(a['sample-s']) * 1000;
const brokerUrl = a.mqtt!;
if (!(total >= 100)) throw new Error('--wafers: at least 100');
if (!(warmFrac > 0 && warmFrac < 0.8)) throw new Error('--warmup: a fraction of the run, between 0 and 0.8');
if (a.source !== 'lot' && a.source !== 'synthetic') throw new Error(`--source: lot or synthetic, not ${a.source}`);

await checkBroker(brokerUrl);
const root = mkdtempSync(join(tmpdir(), 'wi-soak-'));
const base = await loadConfig();
let makeCapture: () => CaptureDriver;
if (a.source === 'lot') {
  const lotDir = join(root, 'lot');
  await recordSynthetic({ count: lotSize, out: lotDir, format: 'tiff', rateHz: 15, line: { seed: 2, defectRate: 0.3 } });
  makeCapture = () => new ReplayCapture({ lot: lotDir, pace: 'max', loops: Math.ceil(total / lotSize), count: total });
} else {
  makeCapture = () => new SyntheticCapture({ line: { seed: 4, defectRate: 0.3 }, rateHz: 0, count: total });
}

const prefix = `wi-soak-${process.pid}`;
const rig = await SimArmRig.start({ arms: SIM_ARMS, dir: join(root, 'arms'), seed: 1, driftScale: 1 });
const config = simulationConfig(base, { brokerUrl, armFiles: rig.profileFiles, stateDir: join(root, 'state') });
config.telemetry.prefix = prefix;
// its own client id: another service of the same station on this broker would otherwise take over the session
config.telemetry.clientId = prefix;
const sub = await connectAsync(brokerUrl, { clientId: `wi-soak-sub-${process.pid}`, reconnectPeriod: 0 });
await sub.subscribeAsync(topicsFor(prefix, config.station).channel('results'), { qos: 1 });

let received = 0;
let notInspected = 0;
let failed = 0;
// a looped lot repeats its wafer ids, so results are counted; their order is the capture order (QoS 1, one outbox)
sub.on('message', (_t, payload) => {
  const r = JSON.parse(payload.toString()) as ResultRecord;
  received++;
  if (r.verdict === 'not-inspected') notInspected++;
  else if (r.verdict === 'fail') failed++;
});

const samples: { wafers: number; rssMb: number; s: number }[] = [];
const t0 = performance.now();
const sample = (): void => {
  const s = { wafers: received, rssMb: process.memoryUsage.rss() / MB, s: (performance.now() - t0) / 1000 };
  samples.push(s);
  if (samples.length % Math.max(1, Math.round(60_000 / sampleMs)) === 0) {
    process.stderr.write(`${s.s.toFixed(0)} s: ${received} results, RSS ${s.rssMb.toFixed(0)} MB\n`);
  }
};
const timer = setInterval(sample, sampleMs);
const service = await Service.start({ config, log: benchLog, capture: makeCapture() });
let captured = 0;
try {
  await service.ended;
  const deadline = performance.now() + 60_000;
  while (received < total && performance.now() < deadline) await new Promise((r) => setTimeout(r, 200));
} finally {
  clearInterval(timer);
  captured = (service.healthReport().wafers as { in: number }).in;
  await service.stop('soak done');
  await rig.stop();
  await sub.endAsync();
  await clearRetained(brokerUrl, prefix, config.station);
  rmSync(root, { recursive: true, force: true });
}
const secs = (performance.now() - t0) / 1000;
const window = (from: number, to: number): number => round(median(samples.filter((s) => s.wafers >= from * total && s.wafers < to * total).map((s) => s.rssMb)), 0);
const rssAfterWarmupMb = window(warmFrac, warmFrac + 0.1);
const rssEndMb = window(0.9, 1.01);
const growthPct = round(((rssEndMb - rssAfterWarmupMb) / rssAfterWarmupMb) * 100, 1);
const rssMaxMb = round(Math.max(...samples.map((s) => s.rssMb)), 0);
console.log(
  `soak, ${a.source === 'lot' ? `recorded ${lotSize}-wafer TIFF lot in loops` : 'synthetic line rendering every wafer'}, ${availableParallelism()} cores: ` +
    `${total} wafers in ${round(secs / 60, 1)} min (${round(total / secs, 1)} wafers/s); ${received} results received, ${notInspected} not inspected, ${failed} failed\n` +
    `  RSS after warm-up (median over wafers ${warmFrac * 100}-${(warmFrac + 0.1) * 100}%) ${rssAfterWarmupMb} MB, at the end (last 10%) ${rssEndMb} MB: growth ${growthPct}%; max ${rssMaxMb} MB`,
);
console.log(
  JSON.stringify({ bench: 'soak', source: a.source, wafers: total, captured, received, withoutResult: captured - received, notInspected, failed, minutes: round(secs / 60, 1), wafersPerS: round(total / secs, 1), rssAfterWarmupMb, rssEndMb, rssGrowthPct: growthPct, rssMaxMb, samples: samples.length }),
);
process.exit(0);
