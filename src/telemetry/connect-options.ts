import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import type { TelemetryConfig } from './config.js';

export class TelemetryConfigError extends Error {}

/**
 * MQTT.js options from the config: credentials, TLS files, the last will. Missing secrets or
 * unreadable certificate files are errors at start: they will not fix themselves, unlike a broker
 * that is down, which only delays the connection.
 */
export function connectOptions(c: TelemetryConfig, o: { clientId: string; willTopic: string; env?: NodeJS.ProcessEnv }): IClientOptions {
  const env = o.env ?? process.env;
  const opts: IClientOptions = {
    clientId: o.clientId,
    protocolVersion: c.protocolVersion,
    // The outbox is the session: a clean session keeps the broker from replaying a stale one.
    clean: true,
    keepalive: c.keepaliveS,
    reconnectPeriod: c.reconnectMs,
    connectTimeout: c.connectTimeoutMs,
    resubscribe: false,
    // A stats tick missed while offline is worth nothing later; records wait in the outbox instead.
    queueQoSZero: false,
    // A broker that refuses for a while (restarting, overloaded) is tried again like one that is down.
    reconnectOnConnackError: true,
    will: { topic: o.willTopic, payload: Buffer.from('offline'), qos: 1, retain: true },
  };
  if (c.username !== undefined) opts.username = c.username;
  if (c.password !== undefined) opts.password = c.password;
  if (c.passwordEnv !== undefined) {
    const v = env[c.passwordEnv];
    if (v === undefined) throw new TelemetryConfigError(`telemetry.passwordEnv: environment variable ${c.passwordEnv} is not set`);
    opts.password = v;
  }
  if (c.tls) {
    const read = (key: 'ca' | 'cert' | 'key'): Buffer | undefined => {
      const file = c.tls?.[key];
      if (file === undefined) return undefined;
      try {
        return readFileSync(file);
      } catch (e) {
        throw new TelemetryConfigError(`telemetry.tls.${key}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    };
    const ca = read('ca');
    const cert = read('cert');
    const key = read('key');
    if (ca) opts.ca = ca;
    if (cert) opts.cert = cert;
    if (key) opts.key = key;
    if (c.tls.keyPassphraseEnv !== undefined) {
      const v = env[c.tls.keyPassphraseEnv];
      if (v === undefined) throw new TelemetryConfigError(`telemetry.tls.keyPassphraseEnv: environment variable ${c.tls.keyPassphraseEnv} is not set`);
      (opts as { passphrase?: string }).passphrase = v;
    }
    opts.rejectUnauthorized = c.tls.rejectUnauthorized;
    if (c.tls.servername) opts.servername = c.tls.servername;
  }
  return opts;
}
