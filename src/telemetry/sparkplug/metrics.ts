import type { Metric, MetricType, MetricValue } from './codec.js';

/** One metric as set: name, type, value (null: not known yet). */
export type MetricSet = Array<[name: string, type: MetricType, value: MetricValue]>;

interface Entry {
  type: MetricType;
  value: MetricValue;
  timestamp: number;
}

export type SetOutcome = 'same' | 'changed' | 'new-metric' | 'new-device';

/** The node's current values, per device ('' is the node itself): what a birth lists and a DATA message changes. */
export class MetricStore {
  private readonly devices = new Map<string, Map<string, Entry>>();

  constructor() {
    this.devices.set('', new Map());
  }

  has(device: string): boolean {
    return this.devices.has(device);
  }

  deviceIds(): string[] {
    return [...this.devices.keys()].filter((d) => d !== '');
  }

  /** Sets each metric; says whether any was new (a birth is then due) and which values changed. */
  set(device: string, metrics: MetricSet, timestamp = Date.now()): { outcome: SetOutcome; changed: string[] } {
    let d = this.devices.get(device);
    let outcome: SetOutcome = 'same';
    if (!d) {
      d = new Map();
      this.devices.set(device, d);
      outcome = 'new-device';
    }
    const changed: string[] = [];
    for (const [name, type, value] of metrics) {
      const e = d.get(name);
      if (!e || e.type !== type) {
        // A metric the host has not been told about, or one whose type changed, needs a birth.
        if (outcome === 'same' || outcome === 'changed') outcome = 'new-metric';
      } else if (e.value === value) continue;
      else if (outcome === 'same') outcome = 'changed';
      d.set(name, { type, value, timestamp });
      changed.push(name);
    }
    return { outcome, changed };
  }

  /** Current values of the named metrics, for a DATA message. */
  current(device: string, names: Iterable<string>): Metric[] {
    const d = this.devices.get(device);
    if (!d) return [];
    const out: Metric[] = [];
    for (const name of names) {
      const e = d.get(name);
      if (e) out.push({ name, type: e.type, value: e.value, timestamp: e.timestamp });
    }
    return out;
  }

  /** Every metric of a device, for its birth. */
  all(device: string): Metric[] {
    return this.current(device, this.devices.get(device)?.keys() ?? []);
  }

  type(device: string, name: string): MetricType | undefined {
    return this.devices.get(device)?.get(name)?.type;
  }
}
