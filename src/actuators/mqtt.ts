import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { HardwareProfile } from '../hardware/profile-schema.js';
import type { MoveRequest } from './actuator.js';
import { ArmLink, MoveFault, type ArmLinkOptions } from './arm-link.js';

export interface MqttActuatorOptions extends ArmLinkOptions {
  /** broker, e.g. mqtt://127.0.0.1:1883 (the profile names only topics) */
  brokerUrl?: string;
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
export class MqttActuator extends ArmLink<MqttClient, MqttActuatorOptions> {
  private latest: MqttArmState | undefined;
  private readonly waiters = new Set<{ offer: (s: MqttArmState) => void; fail: (e: Error) => void }>();
  private readonly topics: { command: string; state: string; timeoutMs: number };

  constructor(profile: HardwareProfile, opts: MqttActuatorOptions) {
    super(profile, opts);
    const t = profile.transport;
    if (t.kind !== 'mqtt') throw new Error(`${profile.id}: not an MQTT profile`);
    this.topics = { command: t.commandTopic, state: t.stateTopic, timeoutMs: t.timeoutMs };
  }

  protected async send(c: MqttClient, move: MoveRequest): Promise<number> {
    const seq = this.claimSeq();
    const timeoutMs = this.opts.ackTimeoutMs ?? this.topics.timeoutMs;
    // Listen before publishing: a fast arm may confirm before publishAsync resolves.
    const confirmed = this.nextState((s) => s.ack === seq, timeoutMs);
    confirmed.catch(() => undefined);
    const command: MqttCommand = { seq, parameter: move.parameter, value: move.to, ...(move.reason ? { reason: move.reason } : {}) };
    await withTimeout(c.publishAsync(this.topics.command, JSON.stringify(command), { qos: 1 }), timeoutMs, 'publish');
    const s = await confirmed;
    if (s.error !== undefined) throw new MoveFault('exception', `the arm refused sequence ${seq}: ${s.error}`);
    const got = s.values[move.parameter];
    if (!sameValue(got, move.to)) throw new MoveFault('readback', `${move.parameter}: sent ${move.to} but the arm reports ${got}`);
    return seq;
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

  /** The arm's retained state, which the broker hands over on subscribing. */
  protected async probe(): Promise<number[]> {
    const s = this.latest ?? (await this.nextState(() => true, this.topics.timeoutMs).catch(() => undefined));
    if (!s) throw new Error(`no state from the arm on ${this.topics.state} within ${this.topics.timeoutMs} ms`);
    return [s.ack];
  }

  /** Connects and subscribes to the state topic. */
  protected async open(): Promise<MqttClient> {
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
      if (this.state === 'healthy') void this.exclusive(() => (this.client === client && this.state === 'healthy' ? this.fault('link', 'connection to the broker closed') : Promise.resolve()));
    });
    return client;
  }

  protected async close(c: MqttClient | undefined): Promise<void> {
    this.latest = undefined;
    if (!c) return;
    c.removeAllListeners('message');
    // Forced: drop whatever is still queued, so nothing goes out after a fault.
    await withTimeout(c.endAsync(true), 1000, 'close').catch(() => undefined);
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
