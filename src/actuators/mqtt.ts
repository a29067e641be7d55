import { EventEmitter } from 'node:events';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from '../common/log.js';
import type { HardwareProfile } from '../hardware/profile-schema.js';
import type { AlarmEvent, ActuatorState, ApplyResult, MoveRequest, Actuator } from './actuator.js';
import { guardProblem } from './guard.js';
import { nextSeq, seqAhead, SequenceStore } from './sequence-store.js';

export interface MqttActuatorOptions {
  /** broker, e.g. mqtt://127.0.0.1:1883 (the profile names only topics) */
  brokerUrl?: string;
  /** JSON file holding the last sequence number sent to this arm */
  stateFile: string;
  log?: Logger;
  /** reconnect back-off: first wait, doubling up to the last */
  backoffMs?: { initial: number; max: number };
  /** how long the arm may take to confirm a move on its state topic; default the profile's timeoutMs */
  ackTimeoutMs?: number;
}

export const DEFAULT_BROKER = 'mqtt://127.0.0.1:1883';

/** What we publish on the command topic. */
export interface MqttCommand {
  seq: number;
  parameter: string;
  value: number;
  reason?: string;
}

/**
 * What the arm publishes, retained, on its state topic: the last sequence number it has taken (0
 * before any), every parameter's value now, and an error when it refused that move.
 */
export interface MqttArmState {
  ack: number;
  values: Record<string, number>;
  error?: string;
}

class MoveFault extends Error {
  constructor(
    readonly kind: AlarmEvent['kind'],
    message: string,
  ) {
    super(message);
  }
}

/**
 * One arm over MQTT. A move publishes {seq, parameter, value} on the command topic (QoS 1) and waits
 * for the arm's state topic to report that sequence number with the value applied. The state is
 * retained, so on connect the broker hands over the arm's current values (bumpless start) and the
 * last number it took.
 *
 * Same guarantees as the Modbus actuator: only writable parameters within their limits and step are
 * ever sent; the sequence number is saved before it is published and never reused, and the arm takes
 * each number at most once, so a move is applied at most once, also across a restart. A failure
 * faults the arm and raises one alarm; a broker link that drops clears itself on reconnect, while a
 * missing, refused or different confirmation is latched until reset(). A faulted arm gets nothing
 * published: the client is closed with its queue, so the broker cannot deliver a stale command later.
 */
export class MqttActuator extends EventEmitter implements Actuator {
  readonly arm: string;
  private current: ActuatorState = 'stopped';
  private client: MqttClient | undefined;
  private readonly last = new Map<string, number>();
  private readonly store: SequenceStore;
  private lastSeq = 0;
  private latest: MqttArmState | undefined;
  private readonly waiters = new Set<{ offer: (s: MqttArmState) => void; fail: (e: Error) => void }>();
  private reconnectTimer: NodeJS.Timeout | undefined;
  private backoff: number;
  private latched = false;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly topics: { command: string; state: string; timeoutMs: number };

  constructor(
    readonly profile: HardwareProfile,
    private readonly opts: MqttActuatorOptions,
  ) {
    super();
    const t = profile.transport;
    if (t.kind !== 'mqtt') throw new Error(`${profile.id}: not an MQTT profile`);
    this.topics = { command: t.commandTopic, state: t.stateTopic, timeoutMs: t.timeoutMs };
    this.arm = profile.id;
    this.store = new SequenceStore(opts.stateFile, profile.id);
    this.backoff = opts.backoffMs?.initial ?? 500;
  }

  get state(): ActuatorState {
    return this.current;
  }

  values(): ReadonlyMap<string, number> {
    return this.last;
  }

  get sequence(): number {
    return this.lastSeq;
  }

  /** Connects and takes the arm's retained state; never throws for a missing broker or arm (it faults and retries). */
  async start(): Promise<void> {
    this.lastSeq = this.store.load() ?? 0;
    this.setState('connecting');
    await this.exclusive(() => this.connectAndProbe());
  }

  async stop(): Promise<void> {
    this.setState('stopped');
    clearTimeout(this.reconnectTimer);
    await this.exclusive(() => this.closeClient());
  }

  reset(): void {
    if (this.current !== 'faulted') return;
    this.latched = false;
    this.backoff = this.opts.backoffMs?.initial ?? 500;
    clearTimeout(this.reconnectTimer);
    void this.exclusive(() => this.connectAndProbe());
  }

  apply(move: MoveRequest): Promise<ApplyResult> {
    return this.exclusive(() => this.applyNow(move));
  }

  private async applyNow(move: MoveRequest): Promise<ApplyResult> {
    const c = this.client;
    if (this.current !== 'healthy' || !c) return { ok: false, reason: `${this.arm} is ${this.current}` };
    const refused = guardProblem(this.profile, move.parameter, move.to, this.last.get(move.parameter));
    if (refused) {
      this.alarm('refused', refused, false);
      return { ok: false, reason: refused };
    }
    const seq = nextSeq(this.lastSeq);
    const timeoutMs = this.opts.ackTimeoutMs ?? this.topics.timeoutMs;
    try {
      // Listen before publishing: a fast arm may confirm before publishAsync resolves.
      const confirmed = this.nextState((s) => s.ack === seq, timeoutMs);
      confirmed.catch(() => undefined);
      // Write-ahead: once a number may have reached the arm it is never used again, even after a crash.
      this.store.save(seq);
      this.lastSeq = seq;
      const command: MqttCommand = { seq, parameter: move.parameter, value: move.to, ...(move.reason ? { reason: move.reason } : {}) };
      await withTimeout(c.publishAsync(this.topics.command, JSON.stringify(command), { qos: 1 }), timeoutMs, 'publish');
      const s = await confirmed;
      if (s.error !== undefined) throw new MoveFault('exception', `the arm refused sequence ${seq}: ${s.error}`);
      const got = s.values[move.parameter];
      if (!sameValue(got, move.to)) throw new MoveFault('readback', `${move.parameter}: sent ${move.to} but the arm reports ${got}`);
      this.last.set(move.parameter, move.to);
      this.opts.log?.info({ arm: this.arm, parameter: move.parameter, to: move.to, seq, reason: move.reason }, 'move applied');
      return { ok: true, seq, value: move.to };
    } catch (e) {
      const kind: AlarmEvent['kind'] = e instanceof MoveFault ? e.kind : 'link';
      const reason = `move ${move.parameter} -> ${move.to} failed: ${(e as Error).message}`;
      await this.fault(kind, reason);
      return { ok: false, reason };
    }
  }

  /**
   * The next state message that satisfies `accept`; rejects with a no-ack fault after `ms`, or with a
   * link error as soon as the broker connection closes (then nobody can tell whether the arm took it).
   */
  private nextState(accept: (s: MqttArmState) => boolean, ms: number): Promise<MqttArmState> {
    return new Promise((resolve, reject) => {
      const end = () => {
        clearTimeout(timer);
        this.waiters.delete(w);
      };
      const w = {
        offer: (s: MqttArmState) => {
          if (!accept(s)) return;
          end();
          resolve(s);
        },
        fail: (e: Error) => {
          end();
          reject(e);
        },
      };
      const timer = setTimeout(() => w.fail(new MoveFault('no-ack', `no confirmation on ${this.topics.state} within ${ms} ms`)), ms);
      this.waiters.add(w);
    });
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic !== this.topics.state || payload.length === 0) return;
    const s = parseState(payload);
    if (!s) {
      this.opts.log?.warn({ arm: this.arm, topic }, 'state message is not {ack, values}; ignored');
      return;
    }
    this.latest = s;
    if (s.error === undefined) {
      for (const [k, v] of Object.entries(s.values)) if (Object.hasOwn(this.profile.parameters, k)) this.last.set(k, v);
    }
    for (const w of [...this.waiters]) w.offer(s);
  }

  /** Connects, subscribes to the state topic and waits for the arm's retained state; healthy once it has it. */
  private async connectAndProbe(): Promise<void> {
    if (this.current === 'stopped') return;
    try {
      if (!this.client) this.client = await this.open();
      const s = this.latest ?? (await this.nextState(() => true, this.topics.timeoutMs).catch(() => undefined));
      if (!s) throw new Error(`no state from the arm on ${this.topics.state} within ${this.topics.timeoutMs} ms`);
      // If the state file was lost or is behind, continue after the highest number the arm has seen.
      if (seqAhead(s.ack, this.lastSeq)) this.lastSeq = s.ack;
      this.backoff = this.opts.backoffMs?.initial ?? 500;
      const wasFaulted = this.current === 'faulted';
      this.setState('healthy');
      if (wasFaulted) this.opts.log?.info({ arm: this.arm }, 'arm healthy again');
      this.emit('recovered', this.last);
    } catch (e) {
      await this.fault('link', `probe failed: ${(e as Error).message}`);
    }
  }

  private async open(): Promise<MqttClient> {
    const ms = this.topics.timeoutMs;
    const options: IClientOptions = {
      clientId: `wafer-inspect-${this.arm}-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
      // Reconnects are ours, with back-off and a fresh probe; MQTT.js would replay queued commands.
      reconnectPeriod: 0,
      connectTimeout: Math.max(ms, 1000),
      clean: true,
      keepalive: 10,
    };
    this.latest = undefined;
    const client = connect(this.opts.brokerUrl ?? DEFAULT_BROKER, options);
    // MQTT.js emits 'error' for refused connections and protocol trouble; unhandled it would crash the process.
    client.on('error', (e) => this.opts.log?.debug({ arm: this.arm, err: e.message }, 'mqtt error'));
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    try {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          client.once('connect', () => resolve());
          client.once('error', reject);
          client.once('close', () => reject(new Error('connection closed')));
        }),
        Math.max(ms, 1000),
        `connect ${this.opts.brokerUrl ?? DEFAULT_BROKER}`,
      );
      await withTimeout(client.subscribeAsync(this.topics.state, { qos: 1 }), ms, `subscribe ${this.topics.state}`);
    } catch (e) {
      client.removeAllListeners('message');
      await withTimeout(client.endAsync(true), 1000, 'close').catch(() => undefined);
      throw e;
    }
    client.on('close', () => {
      if (this.client !== client) return;
      for (const w of [...this.waiters]) w.fail(new Error('connection to the broker closed'));
      if (this.current === 'healthy') void this.exclusive(() => (this.client === client && this.current === 'healthy' ? this.fault('link', 'connection to the broker closed') : Promise.resolve()));
    });
    return client;
  }

  private async closeClient(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    this.latest = undefined;
    if (!c) return;
    c.removeAllListeners('message');
    // Forced: drop whatever is still queued, so nothing goes out after a fault.
    await withTimeout(c.endAsync(true), 1000, 'close').catch(() => undefined);
  }

  private async fault(kind: AlarmEvent['kind'], reason: string): Promise<void> {
    const latched = kind !== 'link';
    this.latched ||= latched;
    const first = this.current !== 'faulted';
    this.setState('faulted');
    // Each fault is reported once, not on every failed reconnect attempt.
    if (first) this.alarm(kind, reason, latched);
    else this.opts.log?.debug({ arm: this.arm, reason }, 'still faulted');
    await this.closeClient();
    if (!this.latched) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    clearTimeout(this.reconnectTimer);
    const max = this.opts.backoffMs?.max ?? 30_000;
    const wait = this.backoff;
    this.backoff = Math.min(max, this.backoff * 2);
    this.reconnectTimer = setTimeout(() => void this.exclusive(() => this.connectAndProbe()), wait);
    this.reconnectTimer.unref();
  }

  private alarm(kind: AlarmEvent['kind'], reason: string, latched: boolean): void {
    const a: AlarmEvent = { arm: this.arm, at: Date.now(), kind, reason, latched };
    this.opts.log?.warn(a, `arm ${this.arm}: ${reason}`);
    this.emit('alarm', a);
  }

  private setState(s: ActuatorState): void {
    if (s === this.current) return;
    this.current = s;
    this.emit('state', s);
  }

  private exclusive<T>(f: () => Promise<T>): Promise<T> {
    const run = this.chain.then(f, f);
    this.chain = run.catch(() => undefined);
    return run;
  }
}

function parseState(payload: Buffer): MqttArmState | undefined {
  let j: unknown;
  try {
    j = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  const o = j as Partial<MqttArmState> | null;
  if (!o || typeof o !== 'object' || typeof o.ack !== 'number' || !Number.isInteger(o.ack) || o.ack < 0 || o.ack > 65535) return undefined;
  if (!o.values || typeof o.values !== 'object') return undefined;
  const values: Record<string, number> = {};
  for (const [k, v] of Object.entries(o.values)) if (typeof v === 'number' && Number.isFinite(v)) values[k] = v;
  return { ack: o.ack, values, ...(typeof o.error === 'string' ? { error: o.error } : {}) };
}

/** The arm may hold values as float32 or scaled integers: equal to the precision of a float32. */
function sameValue(got: number | undefined, sent: number): boolean {
  return got !== undefined && Math.abs(got - sent) <= Math.max(Math.abs(sent), 1) * 1e-6;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
