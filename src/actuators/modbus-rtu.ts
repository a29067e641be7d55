import modbusSerial from 'modbus-serial';
import type { Transport } from '../hardware/profile-schema.js';
import { withTimeout, wrapClient, type ModbusClient } from './modbus-client.js';

type RtuTransport = Extract<Transport, { kind: 'modbus-rtu' }>;

/** Opens Modbus RTU on the profile's serial port; frames are assembled from the byte stream (buffered). */
export async function connectRtu(t: RtuTransport): Promise<ModbusClient> {
  const client = new modbusSerial.default();
  try {
    await withTimeout(client.connectRTUBuffered(t.path, { baudRate: t.baudRate, parity: t.parity, dataBits: t.dataBits, stopBits: t.stopBits }), Math.max(t.timeoutMs, 2000), `open ${t.path}`);
  } catch (e) {
    client.on('error', () => undefined);
    try {
      client.close(() => undefined);
    } catch {
      // never opened
    }
    throw e;
  }
  return wrapClient(client, t.unitId, t.timeoutMs);
}
