import { join } from 'node:path';
import t from 'tap';
import { loadProfiles } from '../src/hardware/load.js';
import type { ResultRecord } from '../src/inspection/result.js';
import type { CommandReply } from '../src/telemetry/commands/index.js';
import { TelemetryPublisher } from '../src/telemetry/publisher.js';
import type { AlarmRecord } from '../src/telemetry/records.js';
import { StatsCollector, type StatsPayload } from '../src/telemetry/stats.js';
import { topicsFor } from '../src/telemetry/topics.js';
import { quietLog, result, SHARED_URL, stationId, Subscriber, telemetryConfig, waitFor } from './fixtures/telemetry/broker.js';
import { EVENT, FakeService, MOVE } from './fixtures/telemetry/service.js';
import { tempDir } from './helpers.js';

// The shared broker of these machines (CI starts it if it is down).
t.test('a plain MQTT.js subscriber receives every topic with the documented payloads', async (t) => {
  const station = stationId('topics');
  const topics = topicsFor('wafer-inspect', station);
  const live = await Subscriber.open(t, SHARED_URL, [`${topics.base}/#`]);
  const profiles = await loadProfiles();
  const links = new Map([['burr-feed', { arm: 'sim-grinder', parameter: 'feedRate' }]]);
  const service = new FakeService(profiles, links);
  const stats = new StatsCollector();
  const pub = new TelemetryPublisher({
    config: telemetryConfig({ url: SHARED_URL }),
    station,
    log: quietLog,
    outboxPath: join(tempDir(t, 'wi-tel-'), 'outbox.sqlite'),
    handler: service,
    profiles,
    links,
    stats: (s) => stats.payload({ queueDepth: 2, telemetry: s }),
  });
  t.teardown(() => pub.close({ drainMs: 0 }));
  t.match(pub.clientId, new RegExp(`^wafer-inspect-${station}-`), 'client id derived from the station');

  pub.setState('model', { id: 'wafer-mm-1', variant: 'int8', sha256: 'ab12' });
  pub.setState('recipe', service.recipe);
  pub.setState('control', service.control);
  pub.setState('run', service.run);
  const results: ResultRecord[] = [];
  for (let i = 0; i < 20; i++) {
    const r = result(i);
    results.push(r);
    stats.taken();
    stats.inferenceMs(4 + (i % 5));
    stats.result(r);
    pub.result(r);
  }
  const alarm: AlarmRecord = { at: '2026-11-29T10:07:00.000Z', code: 'arm-link-lost', severity: 'critical', active: true, source: 'sim-grinder', message: 'no heartbeat from sim-grinder for 3 s' };
  pub.alarm(alarm);
  pub.move(MOVE);
  pub.event(EVENT);

  await waitFor('results, alarm, move, event and stats', () => live.on(topics.channel('results')).length === 20 && live.on(topics.stats).length > 0 && live.on(topics.channel('events')).length === 1);
  t.same(live.on(topics.available).map((m) => m.payload), ['online']);
  t.same(live.json(topics.channel('results')), results, 'results are the contract §5 records, in order');
  const seqs = live.on(topics.channel('results')).map((m) => Number(m.seq));
  t.ok(seqs.every((s, k) => Number.isInteger(s) && (k === 0 || s > seqs[k - 1])), 'each carries the outbox sequence number as user property seq');
  t.same(live.json(topics.channel('alarms')), [alarm]);
  t.same(live.json(topics.channel('moves')), [MOVE]);
  t.same(live.json(topics.channel('events')), [EVENT]);
  const s = live.json<StatsPayload>(topics.stats).at(-1) as StatsPayload;
  t.match(s, { wafers: { in: 20, out: 20 }, verdicts: { pass: 15, fail: 3, 'not-inspected': 2 }, notInspected: 2, specs: { burr: { failed: 3, findings: 3 } }, queueDepth: 2, broker: { connected: true, disconnects: 0 } });
  t.equal(s.inferenceMs.p50, 6);
  t.equal(s.inferenceMs.p99, 8);
  t.equal(s.outbox.highWater, false);
  t.type(s.uptimeS, 'number');
  t.same(Object.keys(s).sort(), ['at', 'broker', 'inferenceMs', 'latencyMs', 'notInspected', 'outbox', 'queueDepth', 'specs', 'uptimeS', 'verdicts', 'wafers']);

  // A dashboard that subscribes later sees the present from retained messages alone.
  const late = await Subscriber.open(t, SHARED_URL, [`${topics.base}/available`, `${topics.base}/state/+`]);
  await waitFor('retained state', () => late.seen.length >= 5);
  t.ok(late.seen.every((m) => m.retain), 'all retained');
  t.equal(late.on(topics.available)[0].payload, 'online');
  t.same(late.json(topics.state('model')), [{ id: 'wafer-mm-1', variant: 'int8', sha256: 'ab12' }]);
  t.same(late.json(topics.state('recipe')), [service.recipe]);
  t.same(late.json(topics.state('control')), [service.control]);
  t.same(late.json(topics.state('run')), [service.run]);

  // Commands, applied: echoed on their state topic, answered on the reply topic.
  await live.client.publishAsync(topics.command('run'), JSON.stringify({ id: 'c1', action: 'pause' }), { qos: 1 });
  await live.client.publishAsync(topics.command('mode'), JSON.stringify({ id: 'c2', link: 'burr-feed', mode: 'manual' }), { qos: 1 });
  await live.client.publishAsync(topics.command('setpoint'), JSON.stringify({ id: 'c3', arm: 'sim-grinder', parameter: 'feedRate', value: 2.75 }), { qos: 1 });
  await live.client.publishAsync(topics.command('recipe'), JSON.stringify({ id: 'c4', yaml: 'specs:\n  - id: burr\n    text: edge burr longer than 3 mm\n' }), { qos: 1 });
  await waitFor('four replies', () => live.on(topics.reply('run')).length + live.on(topics.reply('mode')).length + live.on(topics.reply('setpoint')).length + live.on(topics.reply('recipe')).length === 4);
  for (const [name, id, state] of [['run', 'c1', 'run'], ['mode', 'c2', 'control'], ['setpoint', 'c3', 'control'], ['recipe', 'c4', 'recipe']]) {
    t.match(live.json<CommandReply>(topics.reply(name))[0], { command: name, id, ok: true, state }, `${name} applied`);
  }
  t.same(service.calls, ['pause', 'mode {"link":"burr-feed"} manual', 'setpoint sim-grinder.feedRate=2.75', 'recipe']);
  t.match(live.json(topics.state('run')).at(-1), { state: 'paused' }, 'run state echoed');
  t.match(live.json(topics.state('control')).at(-1), { arms: { 'sim-grinder': { mode: 'mixed', parameters: { feedRate: { value: 2.75, mode: 'manual', link: 'burr-feed' } } } }, links: { 'burr-feed': { mode: 'manual' } } });
  t.match(live.json(topics.state('recipe')).at(-1), { name: 'from-mqtt', source: 'mqtt' });

  await pub.close();
  await waitFor('stopped', () => live.on(topics.available).length === 2);
  t.equal(live.on(topics.available)[1].payload, 'stopped', 'orderly close says stopped');
  // Leave the shared broker clean of this test's retained topics.
  for (const topic of [topics.available, ...(['run', 'recipe', 'control', 'model'] as const).map((n) => topics.state(n))]) await live.client.publishAsync(topic, '', { retain: true, qos: 1 });
});
