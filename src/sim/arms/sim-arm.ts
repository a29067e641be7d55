import type { HardwareProfile, ParameterSpec } from '../../hardware/profile-schema.js';
import { decode, encode, fitValue, registerCount } from '../../hardware/registers.js';
import { EX_DEVICE_FAILURE, EX_ILLEGAL_ADDRESS, FC_READ_HOLDING, handlePdu, ModbusException, type RegisterBank } from './pdu.js';
import { ModbusTcpServer } from './tcp-server.js';

/** What a simulated arm can be told to do wrong. */
export type ArmFault =
  /** answer every request (or only reads or writes) with this exception code */
  | { kind: 'exception'; code?: number; on?: 'read' | 'write' | 'any' }
  /** reads of this register return its value plus delta, as a cell that rejects or rewrites a value */
  | { kind: 'readback'; address: number; delta?: number }
  /** never copy the sequence number to the ack register (the robot program stopped) */
  | { kind: 'no-ack' }
  /** accept requests but never answer */
  | { kind: 'hang' }
  /** cut the connection when a write arrives, before applying it: the cell stops mid-write */
  | { kind: 'drop-on-write' };

/** A move the arm applied: the sequence number that committed it and every parameter's value then. */
export interface AppliedMove {
  seq: number;
  at: number;
  values: Record<string, number>;
}

/**
 * A simulated arm implementing a hardware profile over Modbus TCP: holding registers for every
 * parameter and for heartbeat, sequence and ack; a write to the sequence register with a new
 * number applies the parameters and is acknowledged by copying it to the ack register, as the robot
 * program on a real cell does. Writes to read-only or unmapped registers are refused (exception 2).
 */
export class SimArm {
  readonly registers = new Uint16Array(65536);
  readonly applied: AppliedMove[] = [];
  /** every write request that reached the registers: address and values */
  readonly writes: { address: number; values: number[] }[] = [];
  lastHeartbeatAt: number | undefined;
  private readonly owner = new Map<number, { name: string; p: ParameterSpec } | 'heartbeat' | 'sequence' | 'ack'>();
  private activeFault: ArmFault | null = null;
  private server: ModbusTcpServer | undefined;
  private port = 0;

  constructor(
    readonly profile: HardwareProfile,
    private readonly now: () => number = Date.now,
  ) {
    for (const [name, p] of Object.entries(profile.parameters)) {
      if (p.address === undefined) continue;
      for (let i = 0; i < registerCount(p); i++) this.owner.set(p.address + i, { name, p });
      const start = p.nominal ?? fitValue(p, p.min, p.max, (p.min + p.max) / 2) ?? p.min;
      this.setRegisters(p.address, encode(p, start));
    }
    for (const k of ['heartbeat', 'sequence', 'ack'] as const) {
      const r = profile[k];
      if (r) this.owner.set(r.address, k);
    }
  }

  /** A parameter's value in engineering units, from the registers. */
  value(name: string): number {
    const p = this.param(name);
    return decode(p, Array.from(this.registers.subarray(p.address!, p.address! + registerCount(p))));
  }

  /** Sets a parameter as the cell itself (or an operator at its pendant) would. */
  set(name: string, value: number): void {
    const p = this.param(name);
    this.setRegisters(p.address!, encode(p, value));
  }

  get ack(): number {
    return this.profile.ack ? this.registers[this.profile.ack.address] : 0;
  }

  get sequence(): number {
    return this.profile.sequence ? this.registers[this.profile.sequence.address] : 0;
  }

  fault(f: ArmFault | null): void {
    this.activeFault = f;
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<number> {
    this.server = new ModbusTcpServer((unit, pdu) => this.answer(unit, pdu));
    this.port = await this.server.listen(port, host);
    return this.port;
  }

  /** Stops the server and cuts its connections; `listen(port)` again brings the arm back. */
  async stop(): Promise<void> {
    await this.server?.close();
    this.server = undefined;
  }

  /** Answers one request PDU; exposed so a serial (RTU) framer can serve the same arm. */
  answer(unit: number, pdu: Buffer): Buffer | null | 'drop' {
    const t = this.profile.transport;
    const ours = t.kind === 'mqtt' || t.unitId === 0 || t.unitId === 255 || unit === t.unitId;
    if (!ours) return null;
    const f = this.activeFault;
    const isRead = pdu[0] === FC_READ_HOLDING;
    if (f?.kind === 'hang') return null;
    if (f?.kind === 'drop-on-write' && !isRead) return 'drop';
    if (f?.kind === 'exception' && (f.on ?? 'any') !== (isRead ? 'write' : 'read')) return Buffer.from([pdu[0] | 0x80, f.code ?? EX_DEVICE_FAILURE]);
    return handlePdu(pdu, this.bank);
  }

  private readonly bank: RegisterBank = {
    read: (address, count) => {
      const out: number[] = [];
      for (let a = address; a < address + count; a++) {
        if (!this.owner.has(a)) throw new ModbusException(EX_ILLEGAL_ADDRESS);
        const f = this.activeFault;
        out.push(f?.kind === 'readback' && f.address === a ? (this.registers[a] + (f.delta ?? 1)) & 0xffff : this.registers[a]);
      }
      return out;
    },
    write: (address, values) => {
      for (let a = address; a < address + values.length; a++) {
        const o = this.owner.get(a);
        if (!o || o === 'ack' || (typeof o === 'object' && !o.p.writable)) throw new ModbusException(EX_ILLEGAL_ADDRESS);
      }
      this.writes.push({ address, values: [...values] });
      const seqAddr = this.profile.sequence?.address;
      const before = seqAddr === undefined ? 0 : this.registers[seqAddr];
      this.setRegisters(address, values);
      if (this.profile.heartbeat && address <= this.profile.heartbeat.address && this.profile.heartbeat.address < address + values.length) this.lastHeartbeatAt = this.now();
      if (seqAddr !== undefined && address <= seqAddr && seqAddr < address + values.length) this.commit(before);
    },
  };

  private commit(before: number): void {
    const seq = this.sequence;
    // A number already seen is acknowledged again but not applied again: at most once.
    if (seq !== before && !this.applied.some((m) => m.seq === seq)) {
      const values: Record<string, number> = {};
      for (const name of Object.keys(this.profile.parameters)) if (this.profile.parameters[name].address !== undefined) values[name] = this.value(name);
      this.applied.push({ seq, at: this.now(), values });
    }
    if (this.activeFault?.kind !== 'no-ack' && this.profile.ack) this.registers[this.profile.ack.address] = seq;
  }

  private param(name: string): ParameterSpec {
    const p = this.profile.parameters[name];
    if (!p || p.address === undefined) throw new Error(`${this.profile.id} has no Modbus parameter ${name}`);
    return p;
  }

  private setRegisters(address: number, values: readonly number[]): void {
    values.forEach((v, i) => (this.registers[address + i] = v & 0xffff));
  }
}
