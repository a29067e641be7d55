import { EventEmitter } from 'node:events';
import type { Logger } from '../common/log.js';
import type { HardwareProfile } from '../hardware/profile-schema.js';
import { decode, encode, registerCount, wrap16 } from '../hardware/registers.js';
import type { AlarmEvent, ActuatorState, ApplyResult, MoveRequest, Actuator } from './actuator.js';
import { guardProblem } from './guard.js';
import { ModbusExceptionResponse, type ModbusClient } from './modbus-client.js';
import { nextSeq, seqAhead, SequenceStore } from './sequence-store.js';

export interface ModbusActuatorOptions {
  /** opens the transport (TCP or RTU); called again on every reconnect */
  connect: () => Promise<ModbusClient>;
  /** JSON file holding the last sequence number sent to this arm */
  stateFile: string;
  log?: Logger;
  /** reconnect back-off: first wait, doubling up to the last */
  backoffMs?: { initial: number; max: number };
  /** how long the arm may take to copy the sequence number to the ack register */
  ackTimeoutMs?: number;
  ackPollMs?: number;
}

/** Raised inside a move; carries the alarm kind it becomes. */
class MoveFault extends Error {
  constructor(
    readonly kind: AlarmEvent['kind'],
    message: string,
  ) {
    super(message);
  }
}

/**
 * One arm over Modbus (TCP or RTU). A move writes the parameter, reads it back and compares the
 * words, then commits it with a fresh sequence number (persisted before it is sent) and waits for
 * the arm to copy it to the ack register. A heartbeat counter is written on the profile's period.
 *
 * Any failure faults the arm: an alarm is emitted and nothing more is written. A lost link (timeout,
 * closed connection) clears itself: the actuator reconnects with back-off and, once the arm answers
 * reads again, is healthy. A fault the arm itself reported or caused (exception response, wrong
 * read-back, missing ack) is latched until reset(), because writing on would repeat it.
 * Requests are serialised: Modbus RTU allows one at a time, and the sequence needs an order.
 */
export class ModbusActuator extends EventEmitter implements Actuator {
  readonly arm: string;
  private current: ActuatorState = 'stopped';
  private client: ModbusClient | undefined;
  private readonly last = new Map<string, number>();
  private readonly store: SequenceStore;
  private lastSeq = 0;
  private heartbeatCount = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private backoff: number;
  private latched = false;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    readonly profile: HardwareProfile,
    private readonly opts: ModbusActuatorOptions,
  ) {
    super();
    if (profile.transport.kind === 'mqtt') throw new Error(`${profile.id}: not a Modbus profile`);
    if (!profile.sequence || !profile.ack || !profile.heartbeat) throw new Error(`${profile.id}: a Modbus profile needs heartbeat, sequence and ack registers`);
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

  /** Connects and reads the arm once; never throws for a missing arm (it faults and retries instead). */
  async start(): Promise<void> {
    this.lastSeq = this.store.load() ?? 0;
    this.setState('connecting');
    await this.exclusive(() => this.connectAndProbe());
  }

  async stop(): Promise<void> {
    this.setState('stopped');
    clearTimeout(this.reconnectTimer);
    clearInterval(this.heartbeatTimer);
    await this.exclusive(async () => {
      await this.client?.close();
      this.client = undefined;
    });
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
    if (this.current !== 'healthy' || !this.client) return { ok: false, reason: `${this.arm} is ${this.current}` };
    const refused = guardProblem(this.profile, move.parameter, move.to, this.last.get(move.parameter));
    if (refused) {
      this.alarm('refused', refused, false);
      return { ok: false, reason: refused };
    }
    const p = this.profile.parameters[move.parameter];
    const address = p.address as number;
    const words = encode(p, move.to);
    const c = this.client;
    try {
      await c.write(address, words);
      const back = await c.readHolding(address, words.length);
      if (back.some((w, i) => w !== words[i])) {
        throw new MoveFault('readback', `${move.parameter}: wrote [${words.join(', ')}] (${move.to}) but read back [${back.join(', ')}] (${decode(p, back)})`);
      }
      const seq = nextSeq(this.lastSeq);
      // Write-ahead: once a number may have reached the arm it is never used again, even after a crash.
      this.store.save(seq);
      this.lastSeq = seq;
      await c.write(this.profile.sequence!.address, [seq]);
      await this.waitForAck(c, seq);
      this.last.set(move.parameter, move.to);
      this.opts.log?.info({ arm: this.arm, parameter: move.parameter, to: move.to, seq, reason: move.reason }, 'move applied');
      return { ok: true, seq, value: move.to };
    } catch (e) {
      const kind: AlarmEvent['kind'] = e instanceof MoveFault ? e.kind : e instanceof ModbusExceptionResponse ? 'exception' : 'link';
      const reason = `move ${move.parameter} -> ${move.to} failed: ${(e as Error).message}`;
      await this.fault(kind, reason);
      return { ok: false, reason };
    }
  }

  private async waitForAck(c: ModbusClient, seq: number): Promise<void> {
    const deadline = Date.now() + (this.opts.ackTimeoutMs ?? 2000);
    const poll = this.opts.ackPollMs ?? 20;
    for (;;) {
      const [ack] = await c.readHolding(this.profile.ack!.address, 1);
      if (ack === seq) return;
      if (Date.now() >= deadline) throw new MoveFault('no-ack', `sequence ${seq} not acknowledged within ${this.opts.ackTimeoutMs ?? 2000} ms (ack register holds ${ack})`);
      await new Promise((r) => setTimeout(r, poll));
    }
  }

  /** Connects if needed and reads every parameter and the sequence registers; healthy if all answer. */
  private async connectAndProbe(): Promise<void> {
    if (this.current === 'stopped') return;
    try {
      if (!this.client) this.client = await this.opts.connect();
      const c = this.client;
      const values = new Map<string, number>();
      for (const [name, p] of Object.entries(this.profile.parameters)) {
        if (p.address === undefined) continue;
        values.set(name, decode(p, await c.readHolding(p.address, registerCount(p))));
      }
      const [seqReg] = await c.readHolding(this.profile.sequence!.address, 1);
      const [ackReg] = await c.readHolding(this.profile.ack!.address, 1);
      // If the state file was lost or is behind, continue after the highest number the arm has seen.
      for (const n of [seqReg, ackReg]) if (seqAhead(n, this.lastSeq)) this.lastSeq = n;
      for (const [k, v] of values) this.last.set(k, v);
      this.backoff = this.opts.backoffMs?.initial ?? 500;
      const wasFaulted = this.current === 'faulted';
      this.setState('healthy');
      this.startHeartbeat();
      if (wasFaulted) this.opts.log?.info({ arm: this.arm }, 'arm healthy again');
      this.emit('recovered', this.last);
    } catch (e) {
      await this.fault(e instanceof ModbusExceptionResponse ? 'exception' : 'link', `probe failed: ${(e as Error).message}`);
    }
  }

  private startHeartbeat(): void {
    clearInterval(this.heartbeatTimer);
    const hb = this.profile.heartbeat!;
    this.heartbeatTimer = setInterval(() => {
      void this.exclusive(async () => {
        if (this.current !== 'healthy' || !this.client) return;
        this.heartbeatCount = wrap16(this.heartbeatCount + 1);
        try {
          await this.client.write(hb.address, [this.heartbeatCount]);
        } catch (e) {
          await this.fault(e instanceof ModbusExceptionResponse ? 'exception' : 'link', `heartbeat failed: ${(e as Error).message}`);
        }
      });
    }, hb.periodMs);
    this.heartbeatTimer.unref();
  }

  private async fault(kind: AlarmEvent['kind'], reason: string): Promise<void> {
    clearInterval(this.heartbeatTimer);
    const latched = kind !== 'link';
    this.latched ||= latched;
    const first = this.current !== 'faulted';
    this.setState('faulted');
    // Each fault is reported once, not on every failed reconnect attempt.
    if (first) this.alarm(kind, reason, latched);
    else this.opts.log?.debug({ arm: this.arm, reason }, 'still faulted');
    const c = this.client;
    this.client = undefined;
    await c?.close();
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
