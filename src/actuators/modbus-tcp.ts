import modbusSerial from 'modbus-serial';
import type { Transport } from '../hardware/profile-schema.js';
import { withTimeout, wrapClient, type ModbusClient } from './modbus-client.js';

type TcpTransport = Extract<Transport, { kind: 'modbus-tcp' }>;

/** Opens Modbus TCP to the profile's host and port. */
export async function connectTcp(t: TcpTransport): Promise<ModbusClient> {
  const client = new modbusSerial.default();
  try {
    await withTimeout(client.connectTCP(t.host, { port: t.port, timeout: t.timeoutMs }), t.timeoutMs, `connect ${t.host}:${t.port}`);
  } catch (e) {
    client.on('error', () => undefined);
    try {
      client.destroy();
    } catch {
      // already gone
    }
    throw e;
  }
  return wrapClient(client, t.unitId, t.timeoutMs);
}
