import type { HardwareProfile } from '../hardware/profile-schema.js';
import type { Actuator } from './actuator.js';
import { ModbusActuator, type ModbusActuatorOptions } from './modbus.js';
import { connectRtu } from './modbus-rtu.js';
import { connectTcp } from './modbus-tcp.js';
import { MqttActuator } from './mqtt.js';

export type ActuatorOptions = Omit<ModbusActuatorOptions, 'connect'> & {
  /** MQTT profiles: the broker (profiles name only topics); default mqtt://127.0.0.1:1883 */
  brokerUrl?: string;
};

/** The actuator for a profile's transport. */
export function createActuator(profile: HardwareProfile, opts: ActuatorOptions): Actuator {
  const t = profile.transport;
  switch (t.kind) {
    case 'modbus-tcp':
      return new ModbusActuator(profile, { ...opts, connect: () => connectTcp(t) });
    case 'modbus-rtu':
      return new ModbusActuator(profile, { ...opts, connect: () => connectRtu(t) });
    case 'mqtt':
      return new MqttActuator(profile, opts);
  }
}
