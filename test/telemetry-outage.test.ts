import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import type { ResultRecord } from '../src/inspection/result.js';
import { TelemetryPublisher } from '../src/telemetry/publisher.js';
import { topicsFor } from '../src/telemetry/topics.js';
import { Broker, quietLog, result, stationId, Subscriber, telemetryConfig, waitFor, type Seen } from './fixtures/telemetry/broker.js';
import { PublisherChild } from './fixtures/telemetry/child.js';
import { tempDir } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wafer indices in arrival order with repeats of at-least-once delivery removed (by outbox seq), and how many repeats there were. */
function delivered(seen: Seen[]): { wafers: number[]; repeats: number } {
  const bySeq = new Set<string>();
  const wafers: number[] = [];
  let repeats = 0;
  for (const m of seen) {
    if (bySeq.has(m.seq as string)) {
      repeats++;
      continue;
    }
    bySeq.add(m.seq as string);
    wafers.push(Number((JSON.parse(m.payload) as ResultRecord).wafer.split('-W')[1]));
  }
  return { wafers, repeats };
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

t.test('broker stopped for 30 s during a run at 200 wafers/s: every result delivered after it is back, in order', async (t) => {
  const dir = tempDir(t, 'wi-tel-outage-');
  const broker = await Broker.start(t, dir);
  const station = stationId('outage');
  const topics = topicsFor('wafer-inspect', station);
  const sub = await Subscriber.open(t, broker.url, [topics.channel('results'), topics.available], { clientId: `sub-${station}`, persistent: true });
  const lines: Array<{ msg: string; level: number }> = [];
  const log = pino({ level: 'info' }, new Writable({ write: (c, _e, cb) => (lines.push(JSON.parse(c.toString())), cb()) }));
  const pub = new TelemetryPublisher({ config: telemetryConfig({ url: broker.url }), station, log, outboxPath: join(dir, 'outbox.sqlite') });
  t.teardown(() => pub.close({ drainMs: 0 }));
  await waitFor('connected', () => pub.connected);

  const N = 7200;
  const rateHz = 200;
  const t0 = Date.now();
  let refused = 0;
  let downing: Promise<void> | null = null;
  let upping: Promise<void> | null = null;
  for (let i = 0; i < N; i++) {
    if (!pub.result(result(i)).kept) refused++;
    const elapsed = Date.now() - t0;
    if (!downing && elapsed > 2000) downing = broker.down();
    if (downing && !upping && elapsed > 32_000) upping = downing.then(() => broker.up());
    const ahead = t0 + ((i + 1) * 1000) / rateHz - Date.now();
    if (ahead > 0) await sleep(ahead);
  }
  t.equal(refused, 0, 'every result kept');
  t.ok(downing && upping, 'the broker went down and came back during the run');
  await upping;
  await waitFor('every result at the subscriber', () => new Set(sub.on(topics.channel('results')).map((m) => m.seq)).size >= N, 60_000).catch((e) => {
    const w = delivered(sub.on(topics.channel('results'))).wafers;
    const have = new Set(w);
    const missing = range(0, N).filter((i) => !have.has(i));
    t.comment(JSON.stringify({ sessions: sub.sessions, available: sub.on(topics.available), status: pub.status(), got: w.length, missing: missing.length, firstMissing: missing.slice(0, 5), lastMissing: missing.slice(-5) }));
    throw e;
  });
  const d = delivered(sub.on(topics.channel('results')));
  t.same(d.wafers, range(0, N), `all ${N} results, in order (${d.repeats} repeated by at-least-once delivery)`);
  await waitFor('outbox empty', () => pub.outbox.depth === 0);
  t.match(pub.status(), { connected: true, disconnects: 1, outbox: { depth: 0, refused: 0 } });

  const lost = lines.filter((l) => /lost the connection/.test(l.msg));
  const back = lines.filter((l) => /connection to the broker is back/.test(l.msg));
  t.equal(lost.length, 1, 'the disconnect is logged once');
  t.equal(back.length, 1, 'and the return once, with counters');
  t.match(back[0], { attempts: Number, downForS: Number, queued: Number });
  t.equal(lines.filter((l) => /refused a record/.test(l.msg)).length, 0, 'a lost connection is not mistaken for a refusal');
  t.ok(lines.length < 10, `a handful of log lines for the whole outage (${lines.length})`);
  t.same(sub.sessions, [false, true], 'the subscriber kept its session across the broker restart');
  // Mosquitto sends the will of connected clients when it shuts down, so offline may show in between.
  const avail = sub.on(topics.available).map((m) => m.payload);
  t.ok(avail[0] === 'online' && avail.at(-1) === 'online' && avail.every((a) => a === 'online' || a === 'offline'), `online again after the reconnect (${avail.join(', ')})`);
});

t.test('publisher killed with SIGKILL while the broker is down: after restart everything is delivered', async (t) => {
  const dir = tempDir(t, 'wi-tel-kill-');
  const broker = await Broker.start(t, dir);
  const station = stationId('kill');
  const topics = topicsFor('wafer-inspect', station);
  const outboxPath = join(dir, 'outbox.sqlite');
  const sub = await Subscriber.open(t, broker.url, [topics.channel('results')], { clientId: `sub-${station}`, persistent: true });

  const first = new PublisherChild(t, { url: broker.url, station, outboxPath, from: 0, count: 300, intervalMs: 10 });
  await waitFor('some results out', () => first.kept.length >= 50, 60_000);
  await broker.down();
  await first.waitDone();
  t.same(first.kept, range(0, 300), 'the first process kept all it was given');
  await first.kill('SIGKILL');
  t.ok(first.exited, 'killed');
  await broker.up();
  await sleep(500);
  t.ok(new Set(sub.on(topics.channel('results')).map((m) => m.seq)).size < 300, 'the rest was still in the outbox when it died');

  const second = new PublisherChild(t, { url: broker.url, station, outboxPath, from: 300, count: 50, intervalMs: 5 });
  await second.waitDone();
  await waitFor('every result of both processes', () => new Set(sub.on(topics.channel('results')).map((m) => m.seq)).size >= 350, 60_000);
  const d = delivered(sub.on(topics.channel('results')));
  t.same(d.wafers, range(0, 350), `all 350, in order (${d.repeats} repeated)`);

  // The will: the broker says offline for a client that vanished without a word.
  await second.kill('SIGKILL');
  const late = await Subscriber.open(t, broker.url, [topics.available]);
  await waitFor('retained availability', () => late.seen.length > 0 && late.seen.at(-1)?.payload === 'offline', 10_000);
  t.match(late.seen.at(-1), { payload: 'offline', retain: true }, 'offline, retained, after SIGKILL');
});

t.test('availability: a dropped socket gives the retained last will offline, a reconnect online again', async (t) => {
  const dir = tempDir(t, 'wi-tel-lwt-');
  const broker = await Broker.start(t, dir);
  const station = stationId('lwt');
  const topics = topicsFor('wafer-inspect', station);
  const sub = await Subscriber.open(t, broker.url, [topics.available]);
  const pub = new TelemetryPublisher({ config: telemetryConfig({ url: broker.url, reconnectMs: 1500 }), station, log: quietLog, outboxPath: join(dir, 'o.sqlite') });
  t.teardown(() => pub.close({ drainMs: 0 }));
  await waitFor('online', () => sub.seen.some((m) => m.payload === 'online'));
  // Cut the TCP connection under the client, as a pulled cable or a crashed process would.
  (pub as unknown as { client: { stream: { destroy(): void } } }).client.stream.destroy();
  await waitFor('offline', () => sub.seen.some((m) => m.payload === 'offline'), 10_000);
  const late = await Subscriber.open(t, broker.url, [topics.available]);
  await waitFor('retained', () => late.seen.length > 0);
  t.match(late.seen[0], { payload: 'offline', retain: true }, 'offline is retained while it is away');
  await waitFor('online again', () => sub.seen.filter((m) => m.payload === 'online').length === 2, 10_000);
  t.same(
    sub.seen.map((m) => m.payload),
    ['online', 'offline', 'online'],
  );
  await pub.close();
  await waitFor('stopped', () => sub.seen.length === 4);
  t.equal(sub.seen[3].payload, 'stopped');
});

t.test('starts, accepts results and stops with no broker at all', async (t) => {
  const dir = tempDir(t, 'wi-tel-none-');
  const lines: Array<{ msg: string }> = [];
  const log = pino({ level: 'info' }, new Writable({ write: (c, _e, cb) => (lines.push(JSON.parse(c.toString())), cb()) }));
  const pub = new TelemetryPublisher({ config: telemetryConfig({ url: 'mqtt://127.0.0.1:9' }), station: stationId('none'), log, outboxPath: join(dir, 'o.sqlite') });
  let kept = 0;
  for (let i = 0; i < 100; i++) if (pub.result(result(i)).kept) kept++;
  t.equal(kept, 100, 'accepted while the broker is unreachable');
  await sleep(1500);
  t.equal(pub.outbox.depth, 100, 'kept for later');
  t.equal(lines.filter((l) => /not reachable/.test(l.msg)).length, 1, 'unreachable broker logged once, not per attempt');
  await pub.close();
  t.pass('closed without a broker');
});
