/**
 * The Modbus function codes a robot cell's holding registers need (3, 6, 16), at the PDU level
 * (function code + data), so the same handler serves TCP (MBAP framing) and RTU (CRC framing).
 */

export const FC_READ_HOLDING = 3;
export const FC_WRITE_SINGLE = 6;
export const FC_WRITE_MULTIPLE = 16;

export const EX_ILLEGAL_FUNCTION = 1;
export const EX_ILLEGAL_ADDRESS = 2;
export const EX_ILLEGAL_VALUE = 3;
export const EX_DEVICE_FAILURE = 4;

export class ModbusException extends Error {
  constructor(readonly code: number) {
    super(`modbus exception ${code}`);
  }
}

/** What the register bank behind the PDU handler does; it throws ModbusException to refuse. */
export interface RegisterBank {
  read(address: number, count: number): number[];
  write(address: number, values: number[]): void;
}

/** Answers one request PDU; an exception becomes the exception response (function code | 0x80). */
export function handlePdu(pdu: Buffer, bank: RegisterBank): Buffer {
  const fc = pdu[0];
  try {
    switch (fc) {
      case FC_READ_HOLDING: {
        if (pdu.length < 5) throw new ModbusException(EX_ILLEGAL_VALUE);
        const address = pdu.readUInt16BE(1);
        const count = pdu.readUInt16BE(3);
        if (count < 1 || count > 125) throw new ModbusException(EX_ILLEGAL_VALUE);
        const values = bank.read(address, count);
        const out = Buffer.alloc(2 + 2 * count);
        out[0] = fc;
        out[1] = 2 * count;
        values.forEach((v, i) => out.writeUInt16BE(v & 0xffff, 2 + 2 * i));
        return out;
      }
      case FC_WRITE_SINGLE: {
        if (pdu.length < 5) throw new ModbusException(EX_ILLEGAL_VALUE);
        bank.write(pdu.readUInt16BE(1), [pdu.readUInt16BE(3)]);
        return Buffer.from(pdu.subarray(0, 5));
      }
      case FC_WRITE_MULTIPLE: {
        if (pdu.length < 6) throw new ModbusException(EX_ILLEGAL_VALUE);
        const address = pdu.readUInt16BE(1);
        const count = pdu.readUInt16BE(3);
        const bytes = pdu[5];
        if (count < 1 || count > 123 || bytes !== 2 * count || pdu.length < 6 + bytes) throw new ModbusException(EX_ILLEGAL_VALUE);
        const values: number[] = [];
        for (let i = 0; i < count; i++) values.push(pdu.readUInt16BE(6 + 2 * i));
        bank.write(address, values);
        return Buffer.from(pdu.subarray(0, 5));
      }
      default:
        throw new ModbusException(EX_ILLEGAL_FUNCTION);
    }
  } catch (e) {
    const code = e instanceof ModbusException ? e.code : EX_DEVICE_FAILURE;
    return Buffer.from([fc | 0x80, code]);
  }
}
