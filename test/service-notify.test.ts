import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import t from 'tap';
import { loadConfig } from '../src/config/load.js';
import type { InspectedWafer } from '../src/inspection/inspector.js';
import { Service } from '../src/service/service.js';
import { quietLog, waitFor } from './fixtures/telemetry/broker.js';
import { NotifyListener } from './fixtures/service/notify.js';
import { modelMissing, writeServiceConfig } from './fixtures/service/setup.js';
import { CLI, tempDir } from './helpers.js';

/**
 * The systemd notify protocol against a test NOTIFY_SOCKET: READY once started, WATCHDOG while
 * wafers make progress (and while the line is idle), none while the pipeline is stalled, STOPPING
 * on shutdown.
 */

const missing = modelMissing();
if (missing) t.fail(`service tests need a model: ${missing}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function healthz(port: number): Promise<{ status: number; body: { ok: boolean; why: string; [k: string]: unknown } }> {
  const r = await fetch(`http://127.0.0.1:${port}/healthz`);
  return { status: r.status, body: (await r.json()) as { ok: boolean; why: string } };
}

t.test('wafer-inspect run under a notify socket: READY after start-up, WATCHDOG while running, STOPPING on SIGTERM', { skip: missing ?? false }, async (t) => {
  const dir = tempDir(t, 'wi-svc-notify-');
  const listener = await NotifyListener.start(t, dir);
  const config = writeServiceConfig(dir, { rateHz: 10 });
  const child = spawn(process.execPath, [CLI, 'run', '--config', config], {
    cwd: dir,
    env: { ...process.env, NOTIFY_SOCKET: listener.path, WATCHDOG_USEC: '400000', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const logs: Array<{ msg: string; at: number; [k: string]: unknown }> = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    try {
      logs.push({ ...(JSON.parse(l) as { msg: string }), at: Date.now() });
    } catch {
      // not a log line
    }
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));

  await waitFor('READY=1', () => listener.with('READY').length > 0 || child.exitCode !== null, 120_000);
  t.equal(child.exitCode, null, `still running (stderr: ${stderr.slice(0, 500)})`);
  const ready = listener.with('READY')[0];
  t.equal(ready.fields.READY, '1');
  t.equal(ready.fields.MAINPID, String(child.pid), 'MAINPID is the service, not the helper');
  t.match(ready.fields.STATUS, /wafers\/s/);
  const appliance = logs.find((l) => l.msg === 'appliance ready');
  t.ok(appliance && appliance.at <= ready.at, 'READY only after the model was loaded and the specs prepared');
  t.equal(listener.with('WATCHDOG').length, 0, 'no watchdog ping before READY');

  await sleep(2000);
  const pings = listener.with('WATCHDOG');
  t.ok(pings.length >= 5, `pinged at half of WATCHDOG_USEC (200 ms): ${pings.length} in 2 s`);
  t.ok(pings.every((m) => m.fields.WATCHDOG === '1' && /\d+\.\d wafers\/s, \d+ inspected/.test(m.fields.STATUS)), 'every ping carries STATUS= with wafers/s');
  // the synthetic line renders its looks after READY, which takes seconds on a loaded machine
  const moving = (): boolean => listener.with('WATCHDOG').some((m) => Number(/^([\d.]+) wafers/.exec(m.fields.STATUS)?.[1]) > 0);
  await waitFor('a ping with wafers/s above 0', () => moving() || child.exitCode !== null, 60_000);
  t.ok(moving(), 'wafers/s above 0 while the line runs');

  child.kill('SIGTERM');
  t.equal(await exited, 0, 'exit 0 after SIGTERM');
  const stopping = listener.with('STOPPING');
  t.equal(stopping.length, 1, 'STOPPING=1 sent once');
  t.ok(stopping[0].at >= ready.at);
  const last = listener.messages.indexOf(stopping[0]);
  t.equal(listener.messages.slice(last).filter((m) => 'WATCHDOG' in m.fields).length, 0, 'no watchdog ping after STOPPING');
  t.ok(logs.some((l) => l.msg === 'stopped'), 'orderly stop logged');
});

t.test('watchdog: withheld while the pipeline stalls, resumed when it moves, kept while paused and idle', { skip: missing ?? false }, async (t) => {
  const dir = tempDir(t, 'wi-svc-stall-');
  const listener = await NotifyListener.start(t, dir);
  const config = await loadConfig(writeServiceConfig(dir, { rateHz: 20 }));
  let stalled = false;
  let release: () => void = () => {};
  const held = () => new Promise<void>((r) => (release = r));
  let gate = Promise.resolve();
  const service = await Service.start({
    config,
    log: quietLog,
    env: { ...process.env, NOTIFY_SOCKET: listener.path, WATCHDOG_USEC: '300000' },
    // A stage after fusion that stops answering: wafers pile up in flight and none comes out.
    wrapNext: (next) => async (w): Promise<InspectedWafer> => {
      if (stalled) await gate;
      return next(w);
    },
  });
  let code: number | undefined;
  t.teardown(async () => {
    release();
    if (code === undefined) await service.stop('test teardown');
  });
  await waitFor('READY', () => listener.with('READY').length > 0);
  await waitFor('wafers through', () => service.progress.wafersOut >= 10, 60_000);
  t.equal((await healthz(service.httpPort)).status, 200, '/healthz 200 while progressing');

  gate = held();
  stalled = true;
  await waitFor('stall detected', () => !service.progress.health().ok, 10_000);
  const h = await healthz(service.httpPort);
  t.equal(h.status, 503, '/healthz 503 while stalled');
  t.match(h.body.why, /in flight and none finished/);
  await sleep(2000);
  // Messages reach the socket in the order they were decided (one helper at a time), however late a
  // loaded machine runs the helpers: after the first that says the line is stalled, unwithheld pings
  // would be ten in these 2 s.
  const firstStalled = listener.messages.findIndex((m) => /^stalled: /.test(m.fields.STATUS ?? ''));
  t.ok(firstStalled >= 0, 'STATUS= says the line is stalled');
  const during = listener.messages.slice(firstStalled).filter((m) => m.fields.WATCHDOG !== undefined);
  t.equal(during.length, 0, 'no watchdog ping while stalled');

  stalled = false;
  release();
  const resumedFrom = Date.now();
  await waitFor('pings again', () => listener.with('WATCHDOG').some((m) => m.at > resumedFrom), 5000);
  t.pass('watchdog pings resume once wafers come out again');
  t.equal((await healthz(service.httpPort)).status, 200);

  service.handler!.pause();
  await waitFor('nothing in flight', () => service.progress.inFlight === 0, 10_000);
  const pausedFrom = Date.now();
  await sleep(1000);
  t.ok(listener.with('WATCHDOG').filter((m) => m.at > pausedFrom).length >= 2, 'paused and idle: still pinged (a restart would not help)');
  const hp = await healthz(service.httpPort);
  t.equal(hp.status, 200);
  t.match(hp.body.why, /paused/);
  service.handler!.resume();

  code = await service.stop('test');
  t.equal(code, 0);
  await sleep(300);
  const stopping = listener.with('STOPPING');
  t.equal(stopping.length, 1, 'STOPPING=1 on shutdown');
  t.match(stopping[0].fields.STATUS, /stopping/);
  t.equal(service.progress.wafersIn, service.progress.wafersOut, 'every wafer that entered came out');
});
