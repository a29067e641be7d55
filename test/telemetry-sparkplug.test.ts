import { readFileSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import t, { type Test } from 'tap';
import { loadProfiles } from '../src/hardware/load.js';
import { StatsCollector } from '../src/telemetry/stats.js';
import { TelemetryPublisher } from '../src/telemetry/publisher.js';
import { BdSeq } from '../src/telemetry/sparkplug/bdseq.js';
import { decode, encode, type Decoded } from '../src/telemetry/sparkplug/codec.js';
import { sparkplugPathsFor } from '../src/telemetry/sparkplug/edge-node.js';
import { Broker, quietLog, result, stationId, telemetryConfig, waitFor } from './fixtures/telemetry/broker.js';
import { FakeService } from './fixtures/telemetry/service.js';
import { tempDir } from './helpers.js';

const links = new Map([['burr-feed', { arm: 'sim-grinder', parameter: 'feedRate' }]]);

interface SpMsg {
  topic: string;
  type: string;
  device?: string;
  p: Decoded;
}

/** What a SCADA host sees of the group: every Sparkplug message, decoded with the codec. */
class Host {
  readonly msgs: SpMsg[] = [];
  private constructor(readonly client: MqttClient) {}

  static async open(t: Test, url: string, group: string): Promise<Host> {
    const client = connect(url, { clientId: `test-host-${process.pid}-${Math.random().toString(16).slice(2, 8)}`, protocolVersion: 5, reconnectPeriod: 100 });
    const h = new Host(client);
    client.on('error', () => undefined);
    client.on('message', (topic, payload) => {
      const [, , type, , device] = topic.split('/');
      h.msgs.push({ topic, type, ...(device !== undefined ? { device } : {}), p: decode(payload) });
    });
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    await client.subscribeAsync(`spBv1.0/${group}/#`, { qos: 1 });
    t.teardown(() => client.endAsync());
    return h;
  }

  of(type: string, device?: string): SpMsg[] {
    return this.msgs.filter((m) => m.type === type && (device === undefined || m.device === device));
  }

  async state(host: string, online: boolean, timestamp = Date.now()): Promise<void> {
    await this.client.publishAsync(`spBv1.0/STATE/${host}`, JSON.stringify({ online, timestamp }), { qos: 1, retain: true });
  }
}

const metric = (m: SpMsg | undefined, name: string) => m?.p.metrics.find((x) => x.name === name);
const value = (m: SpMsg | undefined, name: string) => metric(m, name)?.value;

async function setup(t: Test, o: { host?: string } = {}) {
  const dir = tempDir(t, 'wi-spb-');
  const broker = await Broker.start(t, dir);
  const group = stationId('fab2');
  const station = stationId('spb');
  const profiles = await loadProfiles();
  const service = new FakeService(profiles, links);
  const host = await Host.open(t, broker.url, group);
  const stats = new StatsCollector();
  const outboxPath = join(dir, 'o.sqlite');
  const start = () => {
    const pub = new TelemetryPublisher({
      config: telemetryConfig({ url: broker.url, sparkplug: { enabled: true, groupId: group, ...(o.host ? { primaryHostId: o.host } : {}) } }),
      station,
      log: quietLog,
      outboxPath,
      handler: service,
      profiles,
      links,
      stats: (s) => stats.payload({ queueDepth: 0, telemetry: s }),
    });
    t.teardown(() => pub.close({ drainMs: 0 }));
    pub.setState('run', service.run);
    pub.setState('recipe', service.recipe);
    pub.setState('control', service.control);
    pub.setState('model', { id: 'wafer-mm-1', variant: 'int8' });
    return pub;
  };
  return { dir, broker, group, station, service, host, stats, outboxPath, start };
}

const FROM_NODE = new Set(['NBIRTH', 'DBIRTH', 'NDATA', 'DDATA']);

/** Every message of the node since its latest NBIRTH carries the next seq, 0..255. */
function checkSeq(t: Test, host: Host, from: number): void {
  const seqs = host.msgs.slice(from).filter((m) => FROM_NODE.has(m.type)).map((m) => m.p.seq);
  t.equal(seqs[0], 0, 'NBIRTH has seq 0');
  t.ok(seqs.length > 3, `${seqs.length} messages`);
  t.same(seqs, seqs.map((_, i) => i % 256), 'seq runs up by one per message');
}

t.test('births wait for the primary host; records made meanwhile follow as historical DDATA; commands', async (t) => {
  const s = await setup(t, { host: 'scada' });
  await s.host.state('scada', false);
  const pub = s.start();
  const node = pub.sparkplug!;
  await waitFor('plain connection', () => pub.connected);
  for (let i = 0; i < 3; i++) {
    s.stats.result(result(i));
    pub.result(result(i));
  }
  pub.alarm({ at: new Date().toISOString(), code: 'camera-stale', severity: 'warning', active: true, message: 'visible camera silent for 2 s', source: 'visible' });
  await new Promise((r) => setTimeout(r, 1000));
  t.equal(s.host.msgs.length, 0, 'nothing while the host is offline');
  t.equal(node.online, false);

  await s.host.state('scada', true);
  await waitFor('historical records', () => s.host.of('DDATA', 'inspection').length >= 4);
  const birthAt = s.host.msgs.findIndex((m) => m.type === 'NBIRTH');
  t.equal(birthAt, 0, 'NBIRTH first');
  const nbirth = s.host.msgs[0];
  t.equal(value(nbirth, 'bdSeq'), node.currentBdSeq);
  t.equal(metric(nbirth, 'bdSeq')?.type, 'UInt64');
  t.match(metric(nbirth, 'Node Control/Rebirth'), { type: 'Boolean', value: false });
  t.equal(value(nbirth, 'Stats/Wafers Out'), 3);
  t.equal(value(nbirth, 'Stats/Verdicts/Pass'), 3);
  t.equal(value(nbirth, 'Stats/Queue Depth'), 0);
  const insp = s.host.of('DBIRTH', 'inspection')[0];
  t.equal(value(insp, 'Model/Id'), 'wafer-mm-1');
  t.equal(value(insp, 'Recipe/Name'), 'example');
  t.equal(value(insp, 'Run/State'), 'running');
  t.equal(value(insp, 'Result/Wafer'), result(2).wafer, 'the birth has the latest result');
  t.equal(value(insp, 'Alarm/Code'), 'camera-stale');
  const arm = s.host.of('DBIRTH', 'sim-grinder')[0];
  t.match(metric(arm, 'Parameters/feedRate/Setpoint'), { type: 'Double' });
  t.equal(value(arm, 'Parameters/feedRate/Link'), 'burr-feed');
  t.equal(value(arm, 'Links/burr-feed/Mode'), 'auto');

  const records = s.host.of('DDATA', 'inspection').filter((m) => metric(m, 'Result/Record') || metric(m, 'Alarm/Record'));
  t.same(
    records.slice(0, 4).map((m) => value(m, 'Result/Wafer') ?? value(m, 'Alarm/Code')),
    [result(0).wafer, result(1).wafer, result(2).wafer, 'camera-stale'],
    'kept records, in order',
  );
  t.ok(
    records.slice(0, 4).every((m) => m.p.metrics.every((x) => x.isHistorical === true)),
    'flagged historical',
  );
  t.equal(metric(records[0], 'Result/Wafer')?.timestamp, Date.parse(result(0).at), 'stamped with the record time');
  t.same(JSON.parse(value(records[0], 'Result/Record') as string), result(0));

  pub.result(result(3));
  await waitFor('live result', () => s.host.of('DDATA', 'inspection').some((m) => value(m, 'Result/Wafer') === result(3).wafer));
  const live = s.host.of('DDATA', 'inspection').find((m) => value(m, 'Result/Wafer') === result(3).wafer);
  t.equal(metric(live, 'Result/Wafer')?.isHistorical, undefined, 'a live record is not historical');
  await waitFor('stats NDATA', () => s.host.of('NDATA').some((m) => metric(m, 'Stats/Uptime s')));
  checkSeq(t, s.host, 0);

  // DCMD: the same validation as set/<command>
  const dcmd = (device: string, name: string, type: 'Double' | 'String', v: number | string) =>
    s.host.client.publishAsync(`spBv1.0/${s.group}/DCMD/${node.edgeNodeId}/${device}`, encode({ metrics: [{ name, type, value: v }] }), { qos: 0 });
  const replies = () => s.host.of('DDATA', 'sim-grinder').filter((m) => metric(m, 'Command/Last Reply')).map((m) => JSON.parse(value(m, 'Command/Last Reply') as string) as { ok: boolean; error?: string; metric: string });
  await dcmd('sim-grinder', 'Parameters/feedRate/Setpoint', 'Double', 9);
  await dcmd('sim-grinder', 'Parameters/feedRate/Setpoint', 'String', '3');
  await dcmd('sim-grinder', 'Parameters/wheelWear/Setpoint', 'Double', 3);
  await dcmd('sim-grinder', 'Move/To', 'Double', 3);
  await waitFor('four refusals', () => replies().length === 4);
  t.match(replies(), [
    { ok: false, metric: 'Parameters/feedRate/Setpoint', error: /expected <= 6 mm\/s \(sim-grinder.feedRate max\), found 9/ },
    { ok: false, error: /value: expected number, found "3"/ },
    { ok: false, error: /no parameter "wheelWear"|not writable/ },
    { ok: false, error: /Move\/To cannot be written/ },
  ]);
  t.same(s.service.calls, [], 'the service saw none of them');
  t.notOk(
    s.host.of('DDATA', 'sim-grinder').some((m) => metric(m, 'Parameters/feedRate/Setpoint')),
    'the setpoint did not change',
  );

  await dcmd('sim-grinder', 'Links/burr-feed/Mode', 'String', 'manual');
  await dcmd('sim-grinder', 'Parameters/feedRate/Setpoint', 'Double', 3);
  await waitFor('setpoint applied', () => s.host.of('DDATA', 'sim-grinder').some((m) => value(m, 'Parameters/feedRate/Setpoint') === 3));
  t.same(s.service.calls, ['mode {"link":"burr-feed"} manual', 'setpoint sim-grinder.feedRate=3']);
  t.ok(s.host.of('DDATA', 'sim-grinder').some((m) => value(m, 'Parameters/feedRate/Mode') === 'manual'));

  // NCMD rebirth: NBIRTH again with seq 0 and the same bdSeq
  const before = s.host.msgs.length;
  const bd = node.currentBdSeq;
  await s.host.client.publishAsync(`spBv1.0/${s.group}/NCMD/${node.edgeNodeId}`, encode({ metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }] }), { qos: 0 });
  await waitFor('rebirth', () => s.host.msgs.slice(before).filter((m) => m.type === 'DBIRTH').length >= 2);
  const reborn = s.host.msgs.slice(before).filter((m) => m.type === 'NBIRTH' || m.type === 'DBIRTH').slice(0, 3);
  t.match(reborn.map((m) => [m.type, m.p.seq]), [['NBIRTH', 0], ['DBIRTH', 1], ['DBIRTH', 2]]);
  t.equal(value(reborn[0], 'bdSeq'), bd, 'same session, same bdSeq');
  t.equal(value(s.host.of('DBIRTH', 'sim-grinder').at(-1), 'Parameters/feedRate/Setpoint'), 3, 'births carry current values');

  // The host goes offline: the session ends with NDEATH, and the next one waits for the host
  await s.host.state('scada', false);
  await waitFor('NDEATH', () => s.host.of('NDEATH').length === 1);
  t.equal(value(s.host.of('NDEATH')[0], 'bdSeq'), bd);
  await waitFor('reconnected', () => node.currentBdSeq === (bd + 1) % 256);
  pub.result(result(4));
  await new Promise((r) => setTimeout(r, 500));
  t.equal(s.host.of('NBIRTH').length, 2, 'no birth while the host is offline');
  const n = s.host.msgs.length;
  await s.host.state('scada', true);
  await waitFor('births again', () => s.host.of('NBIRTH').length === 3 && s.host.of('DDATA', 'inspection').some((m) => value(m, 'Result/Wafer') === result(4).wafer));
  t.equal(value(s.host.of('NBIRTH')[2], 'bdSeq'), (bd + 1) % 256);
  t.ok(metric(s.host.of('DDATA', 'inspection').find((m) => value(m, 'Result/Wafer') === result(4).wafer), 'Result/Wafer')?.isHistorical);
  checkSeq(t, s.host, n);
  await pub.close();
});

t.test('bdSeq: NDEATH as will on a dropped connection, one more per connect, kept across restarts', async (t) => {
  const s = await setup(t);
  const pub = s.start();
  await waitFor('NBIRTH', () => s.host.of('NBIRTH').length === 1);
  const b0 = value(s.host.of('NBIRTH')[0], 'bdSeq') as number;

  (pub.sparkplug!.client.stream as Socket).destroy();
  await waitFor('NDEATH from the will', () => s.host.of('NDEATH').length === 1);
  t.equal(value(s.host.of('NDEATH')[0], 'bdSeq'), b0, 'NDEATH carries the bdSeq of the NBIRTH it ends');
  t.same(s.host.of('NDEATH')[0].p.metrics.map((m) => m.name), ['bdSeq'], 'and only that');
  await waitFor('NBIRTH after reconnect', () => s.host.of('NBIRTH').length === 2);
  const b1 = value(s.host.of('NBIRTH')[1], 'bdSeq');
  t.equal(b1, (b0 + 1) % 256);
  t.equal(s.host.of('NBIRTH')[1].p.seq, 0);

  await pub.close();
  await waitFor('NDEATH on close', () => s.host.of('NDEATH').length === 2);
  t.equal(value(s.host.of('NDEATH')[1], 'bdSeq'), b1);
  t.same(JSON.parse(readFileSync(sparkplugPathsFor(s.outboxPath).bdSeq as string, 'utf8')), { bdSeq: b1 });

  const again = s.start();
  await waitFor('NBIRTH after restart', () => s.host.of('NBIRTH').length === 3);
  t.equal(value(s.host.of('NBIRTH')[2], 'bdSeq'), (b0 + 2) % 256, 'persisted across a restart');
  await again.close();
});

t.test('bdSeq wraps 255 -> 0 and starts again at 0 from an unreadable file', async (t) => {
  const dir = tempDir(t, 'wi-spb-');
  const f = join(dir, 'bd.json');
  writeFileSync(f, '{"bdSeq":254}');
  const b = new BdSeq(f);
  t.equal(b.next(), 255);
  t.equal(b.next(), 0);
  t.equal(new BdSeq(f).next(), 1);
  writeFileSync(f, 'garbage');
  const bad = new BdSeq(f);
  t.match(bad.problem, /JSON|Unexpected/);
  t.equal(bad.next(), 0);
});
