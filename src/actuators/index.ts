import type { HardwareProfile } from '../hardware/profile-schema.js';
import type { Actuator } from './actuator.js';
import { ModbusActuator, type ModbusActuatorOptions } from './modbus.js';
import { connectRtu } from './modbus-rtu.js';
import { connectTcp } from './modbus-tcp.js';

export type ActuatorOptions = Omit<ModbusActuatorOptions, 'connect'>;

/** The actuator for a profile's transport. */
export function createActuator(profile: HardwareProfile, opts: ActuatorOptions): Actuator {
  const t = profile.transport;
  switch (t.kind) {
    case 'modbus-tcp':
      return new ModbusActuator(profile, { ...opts, connect: () => connectTcp(t) });
    case 'modbus-rtu':
      return new ModbusActuator(profile, { ...opts, connect: () => connectRtu(t) });
    case 'mqtt':
      throw new Error(`${profile.id}: the MQTT actuator is not implemented yet`);
  }
}
