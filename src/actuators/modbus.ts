import type { HardwareProfile } from '../hardware/profile-schema.js';
import { decode, encode, registerCount, wrap16 } from '../hardware/registers.js';
import type { AlarmEvent, MoveRequest } from './actuator.js';
import { ArmLink, MoveFault, type ArmLinkOptions } from './arm-link.js';
import { ModbusExceptionResponse, type ModbusClient } from './modbus-client.js';

export interface ModbusActuatorOptions extends ArmLinkOptions {
  /** opens the transport (TCP or RTU); called again on every reconnect */
  connect: () => Promise<ModbusClient>;
  /** how long the arm may take to copy the sequence number to the ack register */
  ackTimeoutMs?: number;
  ackPollMs?: number;
}

/**
 * One arm over Modbus (TCP or RTU). A move writes the parameter, reads it back and compares the
 * words, then commits it with a fresh sequence number (persisted before it is sent) and waits for
 * the arm to copy it to the ack register. A heartbeat counter is written on the profile's period.
 *
 * A timeout or closed connection is a lost link; an exception response, a wrong read-back or a
 * missing ack is the arm's own fault and latches.
 */
export class ModbusActuator extends ArmLink<ModbusClient, ModbusActuatorOptions> {
  private heartbeatCount = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;

  constructor(profile: HardwareProfile, opts: ModbusActuatorOptions) {
    super(profile, opts);
    if (profile.transport.kind === 'mqtt') throw new Error(`${profile.id}: not a Modbus profile`);
    if (!profile.sequence || !profile.ack || !profile.heartbeat) throw new Error(`${profile.id}: a Modbus profile needs heartbeat, sequence and ack registers`);
  }

  protected override faultKind(e: unknown): AlarmEvent['kind'] {
    return e instanceof ModbusExceptionResponse ? 'exception' : super.faultKind(e);
  }

  protected open(): Promise<ModbusClient> {
    return this.opts.connect();
  }

  protected async close(c: ModbusClient | undefined): Promise<void> {
    await c?.close();
  }

  protected async send(c: ModbusClient, move: MoveRequest): Promise<number> {
    const p = this.profile.parameters[move.parameter];
    const address = p.address as number;
    const words = encode(p, move.to);
    await c.write(address, words);
    const back = await c.readHolding(address, words.length);
    if (back.some((w, i) => w !== words[i])) {
      throw new MoveFault('readback', `${move.parameter}: wrote [${words.join(', ')}] (${move.to}) but read back [${back.join(', ')}] (${decode(p, back)})`);
    }
    const seq = this.claimSeq();
    await c.write(this.profile.sequence!.address, [seq]);
    await this.waitForAck(c, seq);
    return seq;
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

  /** Every parameter and both sequence registers must answer; values are taken only if all do. */
  protected async probe(c: ModbusClient): Promise<number[]> {
    const values = new Map<string, number>();
    for (const [name, p] of Object.entries(this.profile.parameters)) {
      if (p.address === undefined) continue;
      values.set(name, decode(p, await c.readHolding(p.address, registerCount(p))));
    }
    const [seqReg] = await c.readHolding(this.profile.sequence!.address, 1);
    const [ackReg] = await c.readHolding(this.profile.ack!.address, 1);
    for (const [k, v] of values) this.last.set(k, v);
    return [seqReg, ackReg];
  }

  protected override linkUp(): void {
    clearInterval(this.heartbeatTimer);
    const hb = this.profile.heartbeat!;
    this.heartbeatTimer = setInterval(() => {
      void this.exclusive(async () => {
        const c = this.client;
        if (this.state !== 'healthy' || !c) return;
        this.heartbeatCount = wrap16(this.heartbeatCount + 1);
        try {
          await c.write(hb.address, [this.heartbeatCount]);
        } catch (e) {
          await this.fault(this.faultKind(e), `heartbeat failed: ${(e as Error).message}`);
        }
      });
    }, hb.periodMs);
    this.heartbeatTimer.unref();
  }

  protected override linkDown(): void {
    clearInterval(this.heartbeatTimer);
  }
}
