import { basename, dirname, join } from 'node:path';
import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { ProblemCounter, type Logger } from '../../common/log.js';
import type { HardwareProfile } from '../../hardware/profile-schema.js';
import type { CommandOutcome } from '../commands/index.js';
import { clientIdFor, type TelemetryConfig } from '../config.js';
import { connectOptions, TelemetryConfigError } from '../connect-options.js';
import { Outbox, type OutboxRow } from '../outbox.js';
import { gapAlarm, type ChannelRecord } from '../records.js';
import type { StateValues } from '../state.js';
import type { Channel, StateName } from '../topics.js';
import { BdSeq } from './bdseq.js';
import { decode, encode, type Metric } from './codec.js';
import { dcmdCommand } from './commands.js';
import { DeviceMap } from './devices.js';
import { alarmMetrics, LAST_REPLY, REBIRTH, statsMetrics } from './mapping.js';
import { MetricStore, type MetricSet } from './metrics.js';
import { sparkplugTopics, type SparkplugTopics } from './topics.js';

export interface EdgeNodeOptions {
  config: TelemetryConfig;
  station: string;
  log: Logger;
  /** the plain outbox file; the node's buffer and bdSeq live beside it */
  outboxPath: string;
  profiles?: ReadonlyMap<string, HardwareProfile>;
  links?: ReadonlyMap<string, { arm: string; parameter: string }>;
  /** the stats payload (StatsPayload), read on every stats tick and at each birth */
  stats?: () => unknown;
  /** runs a plain command payload through the publisher's validation; without it DCMDs are refused */
  command?: (name: string, payload: string) => Promise<CommandOutcome>;
  env?: NodeJS.ProcessEnv;
}

/** A buffered record: device, record time, time appended, metrics. */
interface Buffered {
  d: string;
  t: number;
  a: number;
  m: MetricSet;
}

const WINDOW = 64;

/** Where the node keeps its buffer and bdSeq: beside the plain outbox, named after it. */
export function sparkplugPathsFor(outboxPath: string): { buffer: string; bdSeq: string | null } {
  if (outboxPath === ':memory:') return { buffer: ':memory:', bdSeq: null };
  const stem = basename(outboxPath).replace(/\.sqlite$/, '');
  return { buffer: join(dirname(outboxPath), `${stem}-sparkplug.sqlite`), bdSeq: join(dirname(outboxPath), `${stem}-sparkplug-bdseq.json`) };
}

/**
 * A Sparkplug B 3.0 edge node on its own MQTT connection (its will must be NDEATH, while the plain
 * connection's is `available offline`). Births wait for the primary host's STATE `online`; records
 * made meanwhile wait in a durable buffer and go out after the births as historical DDATA.
 */
export class SparkplugEdgeNode {
  readonly topics: SparkplugTopics;
  readonly groupId: string;
  readonly edgeNodeId: string;
  readonly clientId: string;
  readonly client: MqttClient;
  private readonly log: Logger;
  private readonly problems: ProblemCounter;
  private readonly bdSeq: BdSeq;
  private readonly buffer: Outbox;
  private readonly store = new MetricStore();
  private readonly devices: DeviceMap;
  private readonly primaryHost: string | undefined;
  private readonly statsTimer: NodeJS.Timeout;
  private readonly dirty = new Map<string, Set<string>>();
  private flushScheduled = false;
  private rebirthDue = false;
  private commandChain: Promise<void> = Promise.resolve();
  /** bdSeq of the current connection's CONNECT (its will) */
  private connBdSeq: number;
  private seq = 0;
  private up = false;
  private hostOnline = false;
  /** NCMD, DCMD and STATE subscribed on this connection: births only after that */
  private subscribed = false;
  private hostTimestamp = -Infinity;
  private born = false;
  private bornAt = 0;
  private gen = 0;
  private inflight = 0;
  private closing = false;
  private closed = false;

  constructor(private readonly o: EdgeNodeOptions) {
    const c = o.config;
    const sp = c.sparkplug;
    if (!sp?.enabled || sp.groupId === undefined) throw new TelemetryConfigError('telemetry.sparkplug: not enabled, or no groupId');
    this.log = o.log.child({ component: 'sparkplug' });
    this.problems = new ProblemCounter(this.log);
    this.groupId = sp.groupId;
    this.edgeNodeId = sp.edgeNodeId ?? o.station;
    if (/[+#/\s]/.test(this.edgeNodeId)) throw new TelemetryConfigError(`telemetry.sparkplug.edgeNodeId: the station id "${o.station}" cannot be a Sparkplug id (no /, +, # or spaces); set edgeNodeId`);
    this.primaryHost = sp.primaryHostId;
    this.clientId = sp.clientId ?? `${clientIdFor(o.station, c.clientId)}-spb`;
    this.topics = sparkplugTopics(this.groupId, this.edgeNodeId);
    this.devices = new DeviceMap(sp.inspectionDevice, sp.armDevices, o.links ?? new Map());

    const paths = sparkplugPathsFor(o.outboxPath);
    this.bdSeq = new BdSeq(paths.bdSeq);
    if (this.bdSeq.problem) this.log.warn({ file: paths.bdSeq }, `sparkplug: ${this.bdSeq.problem}; bdSeq starts again at 0`);
    // Records are also in the plain outbox with a full flush each; this copy only bridges the wait for the host.
    this.buffer = new Outbox(paths.buffer, { maxBytes: c.outbox.maxBytes, highWater: c.outbox.highWater, synchronous: 'normal' });

    this.store.set('', [[REBIRTH, 'Boolean', false], ['Node Info/Station', 'String', o.station], ['Buffer/Depth', 'UInt64', this.buffer.depth], ['Buffer/Refused', 'UInt64', 0], ...statsMetrics(this.readStats())]);
    try {
      for (const [device, metrics] of this.devices.catalog(o.profiles ?? new Map())) this.store.set(device, metrics);
    } catch (e) {
      this.buffer.close();
      throw new TelemetryConfigError(`telemetry.sparkplug.armDevices: ${(e as Error).message}`);
    }

    this.connBdSeq = this.bdSeq.next();
    const opts: IClientOptions = connectOptions(c, { clientId: this.clientId, willTopic: this.topics.node('NDEATH'), env: o.env });
    opts.will = this.will();
    this.log.info({ url: c.url, clientId: this.clientId, group: this.groupId, node: this.edgeNodeId, primaryHost: this.primaryHost ?? null, buffered: this.buffer.depth }, 'sparkplug: connecting');
    this.client = connect(c.url, opts);
    // Every CONNECT carries the next bdSeq in its will; MQTT.js builds the CONNECT right after this event.
    this.client.on('reconnect', () => {
      this.connBdSeq = this.bdSeq.next();
      this.client.options.will = this.will();
    });
    this.client.on('connect', () => this.onConnect());
    this.client.on('close', () => this.onClose());
    this.client.on('error', (e) => this.problems.note('mqtt', `sparkplug: ${e.message}`));
    this.client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet));

    this.statsTimer = setInterval(() => this.statsTick(), c.statsIntervalMs);
    this.statsTimer.unref();
  }

  /** Born: NBIRTH and DBIRTHs sent on this connection, so data may flow. */
  get online(): boolean {
    return this.born;
  }

  /** The bdSeq of the current (or next) connection. */
  get currentBdSeq(): number {
    return this.connBdSeq;
  }

  record<C extends Channel>(channel: C, value: ChannelRecord[C]): void {
    if (this.closed) return;
    let r: ReturnType<DeviceMap['record']>;
    try {
      r = this.devices.record(channel, value);
    } catch (e) {
      return this.problems.note('device', `sparkplug: ${channel} record not mapped: ${(e as Error).message}`);
    }
    if (!r) return this.problems.note('device', `sparkplug: a ${channel} record names no known arm; not sent over Sparkplug`);
    // Births list the latest values; the record itself goes out from the buffer, in order.
    this.apply(r.device, r.metrics, r.at, false);
    const row: Buffered = { d: r.device, t: r.at, a: Date.now(), m: r.metrics };
    this.buffer.append(channel, JSON.stringify(row), { at: new Date(r.at).toISOString() });
    this.pump();
  }

  state<N extends StateName>(name: N, value: StateValues[N]): void {
    if (this.closed) return;
    try {
      for (const [device, metrics] of this.devices.state(name, value)) this.apply(device, metrics, Date.now(), true);
    } catch (e) {
      this.problems.note('device', `sparkplug: state ${name} not mapped: ${(e as Error).message}`);
    }
  }

  /** Orderly stop: a short drain of the buffer, then NDEATH (the will is not sent on a clean DISCONNECT). */
  async close(o: { drainMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    clearInterval(this.statsTimer);
    const until = Date.now() + (o.drainMs ?? 2000);
    while (this.born && (this.buffer.depth > 0 || this.inflight > 0) && Date.now() < until) await sleep(20);
    await this.commandChain;
    if (this.up) await Promise.race([this.client.publishAsync(this.topics.node('NDEATH'), this.deathPayload(), { qos: 1, retain: false }).catch(() => undefined), sleep(2000)]);
    await new Promise<void>((resolve) => this.client.end(!this.up, {}, () => resolve()));
    this.closed = true;
    this.problems.report();
    this.buffer.close();
    this.log.info({ bdSeq: this.connBdSeq, buffered: this.buffer.depth }, 'sparkplug: closed');
  }

  private will(): NonNullable<IClientOptions['will']> {
    return { topic: this.topics.node('NDEATH'), payload: this.deathPayload(), qos: 1, retain: false };
  }

  private deathPayload(): Buffer {
    return encode({ metrics: [{ name: 'bdSeq', type: 'UInt64', value: this.connBdSeq }] });
  }

  private onConnect(): void {
    this.gen++;
    this.inflight = 0;
    this.up = true;
    this.born = false;
    this.subscribed = false;
    this.hostOnline = this.primaryHost === undefined;
    this.problems.report();
    // Commands and STATE first: a host may answer the NBIRTH with an NCMD at once.
    const filters = [...this.topics.commandFilters, ...(this.primaryHost ? [this.topics.state(this.primaryHost)] : [])];
    const gen = this.gen;
    this.client.subscribe(filters, { qos: 1 }, (err) => {
      if (err) this.problems.note('subscribe', `sparkplug: cannot subscribe to ${filters.join(', ')}: ${err.message}`);
      if (gen !== this.gen) return;
      this.subscribed = true;
      if (this.hostOnline && !this.born) this.birth(this.primaryHost ? `primary host ${this.primaryHost} online` : 'connected');
      else this.log.info({ host: this.primaryHost, bdSeq: this.connBdSeq, buffered: this.buffer.depth }, 'sparkplug: connected; waiting for the primary host to be online before the births');
    });
  }

  private onClose(): void {
    this.gen++;
    this.inflight = 0;
    this.buffer.rewind();
    if (this.up && !this.closing) this.log.warn({ bdSeq: this.connBdSeq, buffered: this.buffer.depth }, 'sparkplug: connection lost; records wait in the buffer');
    this.up = false;
    this.born = false;
  }

  /** NBIRTH (seq 0, this connection's bdSeq), then a DBIRTH per device, then the buffered records. */
  private birth(why: string): void {
    if (!this.up || this.closing) return;
    // Not born while the births go out: values set meanwhile belong to the birth, not to a rebirth of their own.
    this.born = false;
    this.rebirthDue = false;
    this.dirty.clear();
    this.apply('', this.nodeStatus(), Date.now(), false);
    this.seq = 0;
    this.send(this.topics.node('NBIRTH'), [{ name: 'bdSeq', type: 'UInt64', value: this.connBdSeq }, ...this.store.all('')]);
    for (const d of this.store.deviceIds()) this.send(this.topics.device('DBIRTH', d), this.store.all(d));
    this.born = true;
    this.bornAt = Date.now();
    this.log.info({ why, bdSeq: this.connBdSeq, devices: this.store.deviceIds(), buffered: this.buffer.depth }, 'sparkplug: births sent');
    this.buffer.rewind();
    this.pump();
  }

  private send(topic: string, metrics: Metric[], cb?: (err?: Error) => void): void {
    const payload = encode({ seq: this.seq, metrics });
    this.seq = (this.seq + 1) % 256;
    this.client.publish(topic, payload, { qos: 0, retain: false }, (err) => cb?.(err));
  }

  /** Sets current values; once born, a new metric calls for a rebirth, a new device for its DBIRTH, a change for DATA. */
  private apply(device: string, metrics: MetricSet, at: number, announce: boolean): void {
    const { outcome, changed } = this.store.set(device, metrics, at);
    if (!this.born) return;
    if (outcome === 'new-metric') return this.scheduleRebirth();
    if (outcome === 'new-device') return this.send(this.topics.device('DBIRTH', device), this.store.all(device));
    if (!announce || changed.length === 0) return;
    let set = this.dirty.get(device);
    if (!set) this.dirty.set(device, (set = new Set()));
    for (const n of changed) set.add(n);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // One DATA message per device for all that changed in this turn (a control state touches many metrics).
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (!this.born) return this.dirty.clear();
    for (const [device, names] of this.dirty) {
      const metrics = this.store.current(device, names);
      if (metrics.length) this.send(device === '' ? this.topics.node('NDATA') : this.topics.device('DDATA', device), metrics);
    }
    this.dirty.clear();
  }

  private scheduleRebirth(): void {
    if (this.rebirthDue) return;
    this.rebirthDue = true;
    setImmediate(() => {
      if (this.rebirthDue && this.born) this.birth('new metrics');
    });
  }

  private pump(): void {
    if (!this.born || !this.up) return;
    while (this.inflight < WINDOW) {
      const rows = this.buffer.next(WINDOW - this.inflight);
      if (rows.length === 0) return;
      for (const row of rows) this.sendRow(row);
    }
  }

  private sendRow(row: OutboxRow): void {
    let b: Buffered;
    if (row.channel === 'gap') {
      // Records the buffer had no room for: the host is told how many, in their place.
      const a = gapAlarm(JSON.parse(row.payload));
      b = { d: this.devices.inspection, t: Date.parse(a.at), a: 0, m: alarmMetrics(a) };
    } else b = JSON.parse(row.payload) as Buffered;
    if (!this.store.has(b.d)) this.apply(b.d, b.m, b.t, false);
    // A record of an older version may name a metric this one no longer has; the host would not know it.
    const historical = b.a < this.bornAt;
    const metrics: Metric[] = b.m.filter(([name, type]) => this.store.type(b.d, name) === type).map(([name, type, value]) => ({ name, type, value, timestamp: b.t, ...(historical ? { isHistorical: true } : {}) }));
    const gen = this.gen;
    this.inflight++;
    this.send(this.topics.device('DDATA', b.d), metrics, (err) => {
      if (gen !== this.gen) return;
      this.inflight--;
      if (!err) this.buffer.ack(row.seq);
      this.pump();
    });
  }

  private readStats(): unknown {
    if (!this.o.stats) return undefined;
    try {
      return this.o.stats();
    } catch (e) {
      this.problems.note('stats', `sparkplug: stats source failed: ${(e as Error).message}`);
      return undefined;
    }
  }

  private nodeStatus(): MetricSet {
    const s = this.buffer.stats();
    return [['Buffer/Depth', 'UInt64', s.depth], ['Buffer/Refused', 'UInt64', Object.values(s.refused).reduce((a, b) => a + b, 0)], ...statsMetrics(this.readStats())];
  }

  private statsTick(): void {
    if (this.closing) return;
    this.apply('', this.nodeStatus(), Date.now(), true);
  }

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    if (this.primaryHost && topic === this.topics.state(this.primaryHost)) return this.onHostState(payload);
    const target = this.topics.commandTarget(topic);
    if (!target) return;
    // A retained command would be applied again by every reconnect, long after whoever sent it.
    if (packet.retain) return this.problems.note('command', `sparkplug: retained ${target.type} on ${topic} ignored`);
    let metrics: ReturnType<typeof decode>['metrics'];
    try {
      metrics = decode(payload).metrics;
    } catch (e) {
      return this.problems.note('command', `sparkplug: ${target.type} on ${topic} is not a Sparkplug B payload: ${(e as Error).message}`);
    }
    if (target.type === 'NCMD') {
      for (const m of metrics) {
        if (m.name === REBIRTH && m.value === true) {
          this.log.info('sparkplug: rebirth asked for by NCMD');
          if (this.born) this.birth('NCMD rebirth');
        } else this.log.info({ metric: m.name }, 'sparkplug: NCMD metric not taken (only Node Control/Rebirth is)');
      }
      return;
    }
    const device = this.devices.target(target.device);
    if (!device) return this.problems.note('command', `sparkplug: DCMD for unknown device ${target.device}`);
    for (const m of metrics) {
      // One at a time and in order, as commands on the plain topics.
      this.commandChain = this.commandChain.then(() => this.dcmd(target.device, device, m.name, m.value)).catch((e: Error) => this.problems.note('command', `sparkplug: DCMD failed: ${e.message}`));
    }
  }

  private async dcmd(deviceId: string, device: NonNullable<ReturnType<DeviceMap['target']>>, metric: string, value: unknown): Promise<void> {
    const c = dcmdCommand(device, metric, value);
    const at = new Date().toISOString();
    let reply: Record<string, unknown>;
    if (!c) reply = { metric, ok: false, error: `${metric} cannot be written`, at };
    else if (!this.o.command) reply = { metric, command: c.command, ok: false, error: 'commands are off (telemetry.commands.enabled, or no command handler)', at };
    else {
      const out = await this.o.command(c.command, JSON.stringify(c.payload));
      reply = { metric, ...out.reply };
    }
    if (reply.ok) this.log.info({ device: deviceId, metric }, 'sparkplug: DCMD applied');
    else this.log.info({ device: deviceId, metric, error: reply.error }, 'sparkplug: DCMD refused');
    // Sparkplug has no reply topic: the answer is a metric of the device the command was for, sent at
    // once rather than coalesced, so that each command's answer is seen.
    const metrics: MetricSet = [[LAST_REPLY, 'String', JSON.stringify(reply)]];
    this.apply(deviceId, metrics, Date.now(), false);
    if (this.born) this.send(this.topics.device('DDATA', deviceId), this.store.current(deviceId, [LAST_REPLY]));
  }

  private onHostState(payload: Buffer): void {
    let s: { online?: unknown; timestamp?: unknown };
    try {
      s = JSON.parse(payload.toString()) as typeof s;
    } catch {
      return this.problems.note('state', `sparkplug: STATE of ${this.primaryHost} is not JSON (a Sparkplug 3.0 host sends {"online":…,"timestamp":…}); ignored`);
    }
    if (typeof s?.online !== 'boolean') return this.problems.note('state', `sparkplug: STATE of ${this.primaryHost} has no boolean "online"; ignored`);
    const ts = typeof s.timestamp === 'number' ? s.timestamp : -Infinity;
    // An older STATE arriving late (a retained one after a newer live one) says nothing about now.
    if (ts < this.hostTimestamp) return;
    this.hostTimestamp = ts;
    this.hostOnline = s.online;
    if (s.online) {
      if (!this.born && this.subscribed) this.birth(`primary host ${this.primaryHost} online`);
      return;
    }
    if (!this.born) return;
    // The host that watched this session is gone: end the session (NDEATH) and start a new one, born once a host is back.
    this.log.warn({ host: this.primaryHost, bdSeq: this.connBdSeq }, 'sparkplug: primary host went offline; ending this session, births wait for it to be back');
    this.born = false;
    const death = this.deathPayload();
    this.client.publish(this.topics.node('NDEATH'), death, { qos: 1, retain: false }, () => {
      this.client.end(false, {}, () => {
        if (!this.closing) this.client.reconnect();
      });
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
