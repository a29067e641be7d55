import type modbusSerial from 'modbus-serial';

// The package's CommonJS export is the client class itself; its typings put it under default.
type SerialClient = InstanceType<typeof modbusSerial.default>;

/** The few Modbus calls an actuator makes, each bounded by a timeout of our own. */
export interface ModbusClient {
  readHolding(address: number, count: number): Promise<number[]>;
  write(address: number, values: number[]): Promise<void>;
  close(): Promise<void>;
}

export class ModbusTimeout extends Error {}

/** An exception response from the device (function code | 0x80): it answered, and said no. */
export class ModbusExceptionResponse extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ModbusTimeout(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function translate(e: unknown, what: string): Error {
  const err = e as { modbusCode?: number; message?: string; errno?: string };
  if (typeof err?.modbusCode === 'number') return new ModbusExceptionResponse(err.modbusCode, `${what}: exception ${err.modbusCode} (${err.message ?? ''})`);
  if (err?.errno === 'ETIMEDOUT') return new ModbusTimeout(`${what}: ${err.message ?? 'timed out'}`);
  return new Error(`${what}: ${err?.message ?? String(e)}`);
}

/**
 * Wraps a connected modbus-serial client. Writes of one register use function 6, longer ones
 * function 16 so a float32's two words change together.
 */
export function wrapClient(client: SerialClient, unitId: number, timeoutMs: number): ModbusClient {
  client.setID(unitId);
  client.setTimeout(timeoutMs);
  // modbus-serial emits 'error' on socket trouble; unhandled it would crash the process.
  client.on('error', () => undefined);
  const call = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    if (!client.isOpen) throw new Error(`${what}: connection is closed`);
    try {
      return await withTimeout(f(), timeoutMs + 50, what);
    } catch (e) {
      throw e instanceof ModbusTimeout ? e : translate(e, what);
    }
  };
  return {
    readHolding: (address, count) => call(`read ${count} at ${address}`, async () => (await client.readHoldingRegisters(address, count)).data),
    write: (address, values) =>
      call(`write ${values.length} at ${address}`, async () => {
        if (values.length === 1) await client.writeRegister(address, values[0]);
        else await client.writeRegisters(address, values);
      }),
    close: () =>
      new Promise<void>((resolve) => {
        try {
          client.close(() => resolve());
        } catch {
          resolve();
        }
        setTimeout(resolve, 200).unref();
      }),
  };
}
