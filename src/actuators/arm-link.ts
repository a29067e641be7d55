import { EventEmitter } from 'node:events';
import type { Logger } from '../common/log.js';
import type { HardwareProfile } from '../hardware/profile-schema.js';
import type { AlarmEvent, ActuatorState, ApplyResult, MoveRequest, Actuator } from './actuator.js';
import { guardProblem } from './guard.js';
import { nextSeq, seqAhead, SequenceStore } from './sequence-store.js';

/** What every transport's actuator takes, whatever the wire. */
export interface ArmLinkOptions {
  /** JSON file holding the last sequence number sent to this arm */
  stateFile: string;
  log?: Logger;
  /** reconnect back-off: first wait, doubling up to the last */
  backoffMs?: { initial: number; max: number };
}

/** Raised inside a move; carries the alarm kind it becomes. */
export class MoveFault extends Error {
  constructor(
    readonly kind: AlarmEvent['kind'],
    message: string,
  ) {
    super(message);
  }
}

/**
 * The part of an arm that does not depend on the wire: state, alarms, the guard, the sequence
 * number, fault latching and reconnecting.
 *
 * Any failure faults the arm: one alarm is emitted and nothing more is sent. A lost link clears
 * itself: the actuator reconnects with back-off and, once the arm answers the probe again, is
 * healthy. A fault the arm itself reported or caused is latched until reset(), because sending on
 * would repeat it. Operations are serialised: the sequence needs an order, and some wires (Modbus
 * RTU) allow one request at a time.
 */
export abstract class ArmLink<C, O extends ArmLinkOptions> extends EventEmitter implements Actuator {
  readonly arm: string;
  private current: ActuatorState = 'stopped';
  protected client: C | undefined;
  protected readonly last = new Map<string, number>();
  private readonly store: SequenceStore;
  private lastSeq = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private backoff: number;
  private latched = false;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    readonly profile: HardwareProfile,
    protected readonly opts: O,
  ) {
    super();
    this.arm = profile.id;
    this.store = new SequenceStore(opts.stateFile, profile.id);
    this.backoff = this.firstWait;
  }

  /** Opens the wire; called again on every reconnect. */
  protected abstract open(): Promise<C>;
  /**
   * Reads the arm until it is known to answer correctly, leaving its values in `last`; returns
   * the sequence numbers the arm has seen.
   */
  protected abstract probe(c: C): Promise<number[]>;
  /** Sends the move and waits until the arm has confirmed it; returns the sequence number used. */
  protected abstract send(c: C, move: MoveRequest): Promise<number>;
  /** Releases a client that is no longer ours; `c` is undefined when none was open. */
  protected abstract close(c: C | undefined): Promise<void>;

  /** Called each time the probe succeeds. */
  protected linkUp(): void {}
  /** Called when the arm faults or stops, before the client is closed. */
  protected linkDown(): void {}

  protected faultKind(e: unknown): AlarmEvent['kind'] {
    return e instanceof MoveFault ? e.kind : 'link';
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

  /** Connects and probes the arm once; never throws for a missing arm (it faults and retries instead). */
  async start(): Promise<void> {
    this.lastSeq = this.store.load() ?? 0;
    this.setState('connecting');
    await this.exclusive(() => this.connectAndProbe());
  }

  async stop(): Promise<void> {
    this.setState('stopped');
    clearTimeout(this.reconnectTimer);
    this.linkDown();
    await this.exclusive(() => this.closeClient());
  }

  reset(): void {
    if (this.current !== 'faulted') return;
    this.latched = false;
    this.backoff = this.firstWait;
    clearTimeout(this.reconnectTimer);
    void this.exclusive(() => this.connectAndProbe());
  }

  apply(move: MoveRequest): Promise<ApplyResult> {
    return this.exclusive(() => this.applyNow(move));
  }

  /**
   * The number for the next move, already saved. Write-ahead: once a number may have reached the
   * arm it is never used again, even after a crash.
   */
  protected claimSeq(): number {
    const seq = nextSeq(this.lastSeq);
    this.store.save(seq);
    this.lastSeq = seq;
    return seq;
  }

  private async applyNow(move: MoveRequest): Promise<ApplyResult> {
    const c = this.client;
    if (this.current !== 'healthy' || !c) return { ok: false, reason: `${this.arm} is ${this.current}` };
    const refused = guardProblem(this.profile, move.parameter, move.to, this.last.get(move.parameter));
    if (refused) {
      this.alarm('refused', refused, false);
      return { ok: false, reason: refused };
    }
    try {
      const seq = await this.send(c, move);
      this.last.set(move.parameter, move.to);
      this.opts.log?.info({ arm: this.arm, parameter: move.parameter, to: move.to, seq, reason: move.reason }, 'move applied');
      return { ok: true, seq, value: move.to };
    } catch (e) {
      const reason = `move ${move.parameter} -> ${move.to} failed: ${(e as Error).message}`;
      await this.fault(this.faultKind(e), reason);
      return { ok: false, reason };
    }
  }

  private async connectAndProbe(): Promise<void> {
    if (this.current === 'stopped') return;
    try {
      if (!this.client) this.client = await this.open();
      const seen = await this.probe(this.client);
      // If the state file was lost or is behind, continue after the highest number the arm has seen.
      for (const n of seen) if (seqAhead(n, this.lastSeq)) this.lastSeq = n;
      this.backoff = this.firstWait;
      const wasFaulted = this.current === 'faulted';
      this.setState('healthy');
      this.linkUp();
      if (wasFaulted) this.opts.log?.info({ arm: this.arm }, 'arm healthy again');
      this.emit('recovered', this.last);
    } catch (e) {
      await this.fault(this.faultKind(e), `probe failed: ${(e as Error).message}`);
    }
  }

  protected async fault(kind: AlarmEvent['kind'], reason: string): Promise<void> {
    this.linkDown();
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

  private async closeClient(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await this.close(c);
  }

  private get firstWait(): number {
    return this.opts.backoffMs?.initial ?? 500;
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

  protected exclusive<T>(f: () => Promise<T>): Promise<T> {
    const run = this.chain.then(f, f);
    this.chain = run.catch(() => undefined);
    return run;
  }
}
