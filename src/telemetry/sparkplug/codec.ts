import { createRequire } from 'node:module';
import type { UMetric, UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';

/** The Sparkplug B protobuf codec of `sparkplug-payload`; its client is not used (see docs/mqtt.md). */
const codec = (createRequire(import.meta.url)('sparkplug-payload') as typeof import('sparkplug-payload')).get('spBv1.0');
if (!codec) throw new Error('sparkplug-payload has no spBv1.0 codec');
const { encodePayload, decodePayload } = codec;

/** The data types this edge node uses. */
export type MetricType = 'Boolean' | 'String' | 'Double' | 'UInt64';
export type MetricValue = boolean | string | number | null;

export interface Metric {
  name: string;
  type: MetricType;
  value: MetricValue;
  /** ms since the epoch */
  timestamp?: number;
  isHistorical?: boolean;
}

export interface Payload {
  timestamp?: number;
  seq?: number;
  metrics: Metric[];
}

export function encode(p: Payload): Buffer {
  const metrics: UMetric[] = p.metrics.map((m) => ({
    name: m.name,
    type: m.type,
    value: m.value,
    ...(m.value === null ? { isNull: true } : {}),
    ...(m.timestamp !== undefined ? { timestamp: m.timestamp } : {}),
    ...(m.isHistorical ? { isHistorical: true } : {}),
  }));
  const u: UPayload = { timestamp: p.timestamp ?? Date.now(), metrics };
  if (p.seq !== undefined) u.seq = p.seq;
  return Buffer.from(encodePayload(u));
}

/** A decoded payload, with 64-bit integers as numbers (counters here stay far below 2^53). */
export interface Decoded {
  timestamp?: number;
  seq?: number;
  metrics: Array<{ name: string; type: string; value: unknown; timestamp?: number; isHistorical?: boolean; alias?: number }>;
}

export function decode(buf: Uint8Array): Decoded {
  const u = decodePayload(buf);
  return {
    ...(u.timestamp != null ? { timestamp: num(u.timestamp) } : {}),
    ...(u.seq != null ? { seq: num(u.seq) } : {}),
    metrics: (u.metrics ?? []).map((m) => ({
      name: m.name ?? '',
      type: String(m.type),
      value: isLong(m.value) ? m.value.toNumber() : m.value,
      ...(m.timestamp != null ? { timestamp: num(m.timestamp) } : {}),
      ...(m.isHistorical ? { isHistorical: true } : {}),
      ...(m.alias != null ? { alias: num(m.alias) } : {}),
    })),
  };
}

function isLong(v: unknown): v is { toNumber(): number } {
  return v !== null && typeof v === 'object' && typeof (v as { toNumber?: unknown }).toNumber === 'function';
}

function num(v: unknown): number {
  return isLong(v) ? v.toNumber() : Number(v);
}
