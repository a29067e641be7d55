import { connect, type IPublishPacket, type MqttClient } from 'mqtt';
import { ProblemCounter, type Logger } from '../common/log.js';
import type { ControlEvent, MoveRecord } from '../control/link.js';
import type { HardwareProfile } from '../hardware/profile-schema.js';
import type { ResultRecord } from '../inspection/result.js';
import { runCommandPayload, type CommandContext, type CommandHandler, type CommandOutcome } from './commands/index.js';
import { clientIdFor, type TelemetryConfig } from './config.js';
import { connectOptions } from './connect-options.js';
import { Outbox, type AppendResult, type OutboxRow, type OutboxStats } from './outbox.js';
import { gapAlarm, type AlarmRecord, type ChannelRecord, type ModelEvent } from './records.js';
import { SparkplugEdgeNode } from './sparkplug/edge-node.js';
import type { StateValues } from './state.js';
import type { TelemetryStatus } from './stats.js';
import { topicsFor, type Channel, type StateName, type Topics } from './topics.js';

export interface PublisherOptions {
  config: TelemetryConfig;
  station: string;
  log: Logger;
  /** the outbox file (see outboxPathFor) */
  outboxPath: string;
  /** without a handler no command topic is subscribed */
  handler?: CommandHandler;
  profiles?: ReadonlyMap<string, HardwareProfile>;
  links?: ReadonlyMap<string, { arm: string; parameter: string }>;
  /** the stats payload, built on every tick from the publisher's own status */
  stats?: (t: TelemetryStatus) => unknown;
  env?: NodeJS.ProcessEnv;
}

/**
 * The appliance's MQTT side. Records (results, alarms, moves, control events) go into the durable
 * outbox first and are sent from there in order, QoS 1, and deleted once the broker has them; a
 * broker that is down only delays them. Retained state is kept here and published again on every
 * connect. Never throws for broker trouble: the line must run without one.
 */
export class TelemetryPublisher {
  readonly topics: Topics;
  readonly clientId: string;
  readonly outbox: Outbox;
  /** the Sparkplug B edge node, when telemetry.sparkplug is enabled */
  readonly sparkplug: SparkplugEdgeNode | null;
  private readonly client: MqttClient;
  private readonly log: Logger;
  private readonly problems: ProblemCounter;
  private readonly retained = new Map<StateName, string>();
  private readonly commandCtx: CommandContext | null;
  private commandChain: Promise<void> = Promise.resolve();
  private readonly statsTimer: NodeJS.Timeout | null;
  /** bumped on every connect and disconnect: acks of an older connection do not count against the window */
  private gen = 0;
  private inflight = 0;
  private window: number;
  private up = false;
  private everUp = false;
  private downSince: number | null = null;
  private attempts = 0;
  private lastError: string | null = null;
  private disconnects = 0;
  private holdTimer: NodeJS.Timeout | null = null;
  private closing = false;
  private closed = false;
  private delivered = 0;

  constructor(private readonly o: PublisherOptions) {
    const c = o.config;
    this.log = o.log.child({ component: 'telemetry' });
    this.problems = new ProblemCounter(this.log);
    this.topics = topicsFor(c.prefix, o.station);
    this.clientId = clientIdFor(o.station, c.clientId);
    this.window = c.maxInflight;
    this.outbox = new Outbox(o.outboxPath, {
      maxBytes: c.outbox.maxBytes,
      highWater: c.outbox.highWater,
      synchronous: c.outbox.synchronous,
      // Deferred: the outbox can cross the mark while it is being opened, before this.outbox exists.
      onHighWater: (active, s) => setImmediate(() => this.highWater(active, s)),
    });
    this.commandCtx =
      o.handler && c.commands.enabled
        ? { handler: o.handler, profiles: o.profiles ?? new Map(), links: o.links ?? new Map(), recipeDir: c.commands.recipeDir, maxRecipeBytes: c.commands.maxRecipeBytes, modelDir: c.commands.modelDir }
        : null;

    try {
      this.sparkplug = c.sparkplug?.enabled ? this.startSparkplug() : null;
    } catch (e) {
      this.outbox.close();
      throw e;
    }

    const opts = connectOptions(c, { clientId: this.clientId, willTopic: this.topics.available, env: o.env });
    this.log.info({ url: c.url, clientId: this.clientId, base: this.topics.base, outbox: o.outboxPath, queued: this.outbox.depth }, 'telemetry: connecting to the broker');
    this.client = connect(c.url, opts);
    this.client.on('connect', (p) => this.onConnect(p.properties?.receiveMaximum));
    this.client.on('close', () => this.onClose());
    this.client.on('error', (e) => this.onError(e));
    this.client.on('reconnect', () => this.attempts++);
    this.client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet));

    this.statsTimer = o.stats ? setInterval(() => this.publishStats(), c.statsIntervalMs) : null;
    this.statsTimer?.unref();
  }

  get connected(): boolean {
    return this.up;
  }

  result(r: ResultRecord): AppendResult {
    return this.record('results', r, { at: r.at, wafer: r.wafer });
  }

  alarm(a: AlarmRecord): AppendResult {
    return this.record('alarms', a, { at: a.at });
  }

  move(m: MoveRecord): AppendResult {
    return this.record('moves', m, { at: new Date(m.at).toISOString() });
  }

  event(e: ControlEvent | ModelEvent): AppendResult {
    return this.record('events', e, { at: new Date(e.at).toISOString() });
  }

  /** The latest value of a retained state topic; published now if connected, and after every reconnect. */
  setState<N extends StateName>(name: N, value: StateValues[N]): void {
    this.putState(name, value);
  }

  status(): TelemetryStatus {
    const s = this.outbox.stats();
    return { connected: this.up, disconnects: this.disconnects, outbox: { depth: s.depth, bytes: s.bytes, highWater: s.highWater, refused: Object.values(s.refused).reduce((a, b) => a + b, 0) } };
  }

  /**
   * Orderly stop: gives the outbox up to `drainMs` to empty, says `stopped` on the availability topic
   * (so no will is sent), and closes. What is left in the outbox goes out after the next start.
   */
  async close(o: { drainMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    if (this.statsTimer) clearInterval(this.statsTimer);
    if (this.holdTimer) {
      // Drain from the oldest unsent record now rather than after the hold.
      clearTimeout(this.holdTimer);
      this.holdTimer = null;
      this.outbox.rewind();
      this.pump();
    }
    const until = Date.now() + (o.drainMs ?? 2000);
    while (this.up && (this.outbox.depth > 0 || this.inflight > 0) && Date.now() < until) await sleep(20);
    if (this.up) {
      await Promise.race([this.client.publishAsync(this.topics.available, 'stopped', { qos: 1, retain: true }).catch(() => undefined), sleep(2000)]);
    }
    await this.sparkplug?.close({ drainMs: Math.max(0, until - Date.now()) });
    await this.commandChain;
    await new Promise<void>((resolve) => this.client.end(!this.up, {}, () => resolve()));
    this.problems.report();
    this.closed = true;
    this.outbox.close();
    this.log.info({ delivered: this.delivered, queued: this.outbox.depth }, 'telemetry: closed');
  }

  private record<C extends Channel>(channel: C, value: ChannelRecord[C], info: { at: string; wafer?: string }): AppendResult {
    const r = this.outbox.append(channel, JSON.stringify(value), info);
    if (!r.kept) this.problems.note('outbox-full', `telemetry: outbox full (${this.outbox.stats().bytes} bytes); new records are refused and counted in an outbox-overflow alarm`);
    this.pump();
    this.sparkplug?.record(channel, value);
    return r;
  }

  private putState(name: StateName, value: unknown): void {
    const json = JSON.stringify(value);
    this.retained.set(name, json);
    this.sparkplug?.state(name, value as StateValues[StateName]);
    if (this.up) this.client.publish(this.topics.state(name), json, { qos: 1, retain: true }, () => undefined);
  }

  private onConnect(receiveMaximum: number | undefined): void {
    this.gen++;
    this.inflight = 0;
    this.window = Math.max(1, Math.min(this.o.config.maxInflight, receiveMaximum ?? Infinity));
    this.up = true;
    if (!this.everUp) this.log.info({ queued: this.outbox.depth }, 'telemetry: connected to the broker');
    else
      this.log.info(
        { downForS: this.downSince === null ? null : Math.round((Date.now() - this.downSince) / 100) / 10, attempts: this.attempts, lastError: this.lastError, queued: this.outbox.depth },
        'telemetry: connection to the broker is back; sending what the outbox holds',
      );
    this.everUp = true;
    this.downSince = null;
    this.attempts = 0;
    this.lastError = null;
    this.problems.report();

    this.client.publish(this.topics.available, 'online', { qos: 1, retain: true }, () => undefined);
    for (const [name, json] of this.retained) this.client.publish(this.topics.state(name), json, { qos: 1, retain: true }, () => undefined);
    if (this.commandCtx) {
      this.client.subscribe(this.topics.commandFilter, { qos: 1 }, (err) => {
        if (err) this.problems.note('subscribe', `telemetry: cannot subscribe to ${this.topics.commandFilter}: ${err.message}; commands are off until the next connect`);
      });
    }
    this.outbox.rewind();
    this.pump();
  }

  private onClose(): void {
    // First: the callbacks of the messages dropped below belong to a connection that is gone.
    this.gen++;
    this.inflight = 0;
    // MQTT.js would resend its own copies of unacknowledged publishes after reconnecting; the outbox
    // resends them in order itself, so its copies are dropped here rather than sent twice.
    for (const id of Object.keys(this.client.outgoing)) this.client.removeOutgoingMessage(Number(id));
    this.outbox.rewind();
    if (this.up) {
      this.up = false;
      this.disconnects++;
      this.downSince = Date.now();
      if (!this.closing) this.log.warn({ queued: this.outbox.depth, lastError: this.lastError }, 'telemetry: lost the connection to the broker; records wait in the outbox (logged once until it is back)');
    } else if (!this.everUp && this.downSince === null && !this.closing) {
      this.downSince = Date.now();
      this.log.warn({ url: this.o.config.url, error: this.lastError }, 'telemetry: broker not reachable; the line runs on and records wait in the outbox (logged once until it is reached)');
    }
  }

  private onError(e: Error): void {
    this.lastError = e.message;
  }

  private pump(): void {
    if (!this.up || this.holdTimer || this.closed) return;
    const room = this.window - this.inflight;
    if (room <= 0) return;
    for (const row of this.outbox.next(room)) this.send(row);
  }

  private send(row: OutboxRow): void {
    const gap = row.channel === 'gap';
    const topic = this.topics.channel(gap ? 'alarms' : (row.channel as Channel));
    const payload = gap ? JSON.stringify(gapAlarm(JSON.parse(row.payload))) : row.payload;
    const gen = this.gen;
    this.inflight++;
    // The outbox sequence number lets a consumer drop the duplicates at-least-once delivery can give.
    const properties = this.o.config.protocolVersion === 5 ? { userProperties: { seq: String(row.seq) } } : undefined;
    this.client.publish(topic, payload, { qos: 1, properties }, (err) => this.sent(row.seq, gen, err));
  }

  private sent(seq: number, gen: number, err: Error | undefined): void {
    if (!err) {
      this.outbox.ack(seq);
      this.delivered++;
    }
    if (gen !== this.gen) return;
    this.inflight--;
    if (err) {
      // The broker refused this record (not a lost connection: that bumps gen). Hold the stream and
      // start again from the oldest unacknowledged record, so nothing is skipped.
      this.problems.note('publish-refused', `telemetry: broker refused a record: ${err.message}; retrying from the oldest unsent record`);
      this.gen++;
      this.inflight = 0;
      this.holdTimer = setTimeout(() => {
        this.holdTimer = null;
        this.outbox.rewind();
        this.pump();
      }, this.o.config.reconnectMs);
      return;
    }
    this.pump();
  }

  private highWater(active: boolean, s: OutboxStats): void {
    if (this.closed) return;
    const mb = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
    const message = active
      ? `telemetry outbox above its high-water mark: ${s.depth} records, ${mb(s.bytes)} of ${mb(s.maxBytes)}; when full, new records are refused and counted`
      : `telemetry outbox back below its high-water mark: ${s.depth} records, ${mb(s.bytes)}`;
    if (active) this.log.warn({ depth: s.depth, bytes: s.bytes, maxBytes: s.maxBytes }, message);
    else this.log.info({ depth: s.depth, bytes: s.bytes }, message);
    this.alarm({ at: new Date().toISOString(), code: 'outbox-high-water', severity: 'warning', active, source: 'telemetry', message, depth: s.depth, bytes: s.bytes, maxBytes: s.maxBytes });
  }

  private publishStats(): void {
    if (!this.up || !this.o.stats) return;
    let payload: string;
    try {
      payload = JSON.stringify(this.o.stats(this.status()));
    } catch (e) {
      return this.problems.note('stats', `telemetry: stats source failed: ${(e as Error).message}`);
    }
    this.client.publish(this.topics.stats, payload, { qos: 0 });
  }

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    const ctx = this.commandCtx;
    const prefix = this.topics.command('');
    if (!ctx || !topic.startsWith(prefix)) return;
    const name = topic.slice(prefix.length);
    this.runCommand(ctx, name, payload, packet.retain)
      .then((out) => {
        if (!this.up) return;
        const reply = JSON.stringify(out.reply);
        this.client.publish(this.topics.reply(name), reply, { qos: 1 }, () => undefined);
        // MQTT 5 request/response: answer where the sender asked as well.
        const rt = packet.properties?.responseTopic;
        if (rt) this.client.publish(rt, reply, { qos: 1, properties: packet.properties?.correlationData ? { correlationData: packet.properties.correlationData } : undefined }, () => undefined);
      })
      .catch((e: Error) => this.problems.note('command', `telemetry: command ${name} failed: ${e.message}`));
  }

  /** Commands from the plain topics and from Sparkplug DCMDs: one validation, applied one at a time. */
  private runCommand(ctx: CommandContext, name: string, payload: Buffer | string, retained: boolean): Promise<CommandOutcome> {
    const run = this.commandChain.then(async () => {
      const out = await runCommandPayload(name, payload, ctx, { retained });
      if (out.state) this.putState(out.state.name, out.state.value);
      if (out.reply.ok) this.log.info({ command: name, id: out.reply.id, state: out.state?.name }, `telemetry: command ${name} applied`);
      else this.log.info({ command: name, id: out.reply.id, error: out.reply.error }, `telemetry: command ${name} refused`);
      return out;
    });
    // Two quick commands must not interleave inside the service, whichever way they came.
    this.commandChain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private startSparkplug(): SparkplugEdgeNode {
    const o = this.o;
    const ctx = this.commandCtx;
    const stats = o.stats;
    return new SparkplugEdgeNode({
      config: o.config,
      station: o.station,
      log: o.log,
      outboxPath: o.outboxPath,
      profiles: o.profiles,
      links: o.links,
      stats: stats ? () => stats(this.status()) : undefined,
      command: ctx ? (name, payload) => this.runCommand(ctx, name, payload, false) : undefined,
      env: o.env,
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
