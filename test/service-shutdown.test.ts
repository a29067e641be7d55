import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import type { ResultRecord } from '../src/inspection/result.js';
import { Outbox } from '../src/telemetry/outbox.js';
import { topicsFor } from '../src/telemetry/topics.js';
import { Broker, stationId, Subscriber, waitFor } from './fixtures/telemetry/broker.js';
import { modelMissing, writeServiceConfig } from './fixtures/service/setup.js';
import { CLI, tempDir } from './helpers.js';

const missing = modelMissing();
if (missing) t.fail(`service tests need a model: ${missing}`);

t.test('SIGTERM mid-run loses nothing: every wafer that entered has a result record, then `stopped`', { skip: missing ?? false }, async (t) => {
  const dir = tempDir(t, 'wi-svc-stop-');
  const broker = await Broker.start(t, dir);
  // The station names the calibration, so the topics are kept apart by a prefix of the test's own.
  const prefix = stationId('wi-stop');
  const topics = topicsFor(prefix, 'reference');
  const sub = await Subscriber.open(t, broker.url, [topics.channel('results'), topics.available, topics.state('model'), topics.state('recipe'), topics.state('run')]);
  // As fast as wafers are taken, so that several are in flight when the signal comes.
  const config = writeServiceConfig(dir, {
    rateHz: 0,
    extra: ['telemetry:', '  enabled: true', `  url: ${broker.url}`, `  prefix: ${prefix}`, '  reconnectMs: 200', '  statsIntervalMs: 500'].join('\n'),
  });
  const child = spawn(process.execPath, [CLI, 'run', '--config', config], { cwd: dir, env: { ...process.env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const logs: Array<{ msg: string; [k: string]: unknown }> = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    try {
      logs.push(JSON.parse(l) as { msg: string });
    } catch {
      // not a log line
    }
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));

  await waitFor('results arriving', () => sub.on(topics.channel('results')).length >= 20 || child.exitCode !== null, 120_000);
  t.equal(child.exitCode, null, `running (stderr: ${stderr.slice(0, 800)})`);
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'exit 0');

  const stopping = logs.find((l) => l.msg.startsWith('stopping'));
  const stopped = logs.find((l) => l.msg === 'stopped') as { wafersIn: number; wafersOut: number } | undefined;
  t.ok(stopping && stopped, 'stopping and stopped logged');
  t.ok((stopping?.inFlight as number) > 0, `wafers were in flight at SIGTERM (${String(stopping?.inFlight)})`);
  t.equal(stopped?.wafersOut, stopped?.wafersIn, 'every wafer taken was finished');

  // Delivered, or else still in the outbox for the next start: either way recorded.
  const left = new Outbox(join(dir, 'state/telemetry-outbox.sqlite'), { maxBytes: 1 << 24, highWater: 0.8, synchronous: 'normal' });
  const leftover = left.next(1_000_000).filter((r) => r.channel === 'results').length;
  left.close();
  await waitFor('available: stopped', () => sub.on(topics.available).some((m) => m.payload === 'stopped'), 5000);
  const bySeq = new Map<string, ResultRecord>();
  for (const m of sub.on(topics.channel('results'))) bySeq.set(m.seq!, JSON.parse(m.payload) as ResultRecord);
  const wafers = [...bySeq.values()].map((r) => r.wafer);
  t.equal(new Set(wafers).size, wafers.length, 'one record per wafer');
  t.equal(wafers.length + leftover, stopped?.wafersIn, `${wafers.length} delivered + ${leftover} kept in the outbox = every wafer that entered`);
  t.equal(leftover, 0, 'with the broker up, the outbox was flushed before exit');
  const index = wafers.map((w) => Number(/(\d+)$/.exec(w)?.[1]));
  t.same(index, [...index].sort((a, b) => a - b), 'in capture order');
  t.equal(index[index.length - 1] - index[0] + 1, index.length, 'no wafer missing in the sequence');

  const available = sub.on(topics.available).map((m) => m.payload);
  t.equal(available[available.length - 1], 'stopped', '`stopped` is the last word on availability (no will)');
  t.ok(sub.on(topics.state('model')).length > 0 && sub.on(topics.state('recipe')).length > 0 && sub.on(topics.state('run')).length > 0, 'retained state: model, recipe, run');
  const recipe = JSON.parse(sub.on(topics.state('recipe'))[0].payload) as { name: string; specs: Array<{ id: string }> };
  t.equal(recipe.name, 'service-test');
  t.same(recipe.specs.map((s) => s.id), ['burr', 'particle', 'voids']);
});
