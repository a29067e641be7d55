import type { ControlEvent, MoveRecord } from '../../control/link.js';
import type { HardwareProfile } from '../../hardware/profile-schema.js';
import type { ResultRecord } from '../../inspection/result.js';
import type { AlarmRecord, ChannelRecord } from '../records.js';
import type { StateName } from '../topics.js';
import type { StateValues } from '../state.js';
import type { Channel } from '../topics.js';
import { alarmMetrics, armCatalog, controlMetrics, eventMetrics, inspectionCatalog, modelMetrics, moveMetrics, recipeMetrics, resultMetrics, runMetrics } from './mapping.js';
import type { MetricSet } from './metrics.js';
import { sparkplugId } from './topics.js';

export type DeviceTarget = { kind: 'inspection' } | { kind: 'arm'; arm: string };

/**
 * Which Sparkplug device each value belongs to: one device for inspection (results, alarms, recipe,
 * model, run state) and one per arm (mode, setpoints, links, moves). Device ids come from the config;
 * an arm without one is named by its own id.
 */
export class DeviceMap {
  private readonly byArm = new Map<string, string>();
  private readonly byDevice = new Map<string, string>();
  private readonly linkArm = new Map<string, string>();

  constructor(
    readonly inspection: string,
    private readonly armDevices: Record<string, string>,
    links: ReadonlyMap<string, { arm: string }>,
  ) {
    for (const [id, l] of links) this.linkArm.set(id, l.arm);
  }

  /** The device of an arm; throws for an arm id that cannot be a device id and has none configured. */
  arm(arm: string): string {
    let d = this.byArm.get(arm);
    if (d) return d;
    d = sparkplugId(this.armDevices[arm] ?? arm, `device id of arm ${arm}`);
    if (d === this.inspection || this.byDevice.has(d)) throw new Error(`device id "${d}" of arm ${arm} is already in use`);
    this.byArm.set(arm, d);
    this.byDevice.set(d, arm);
    return d;
  }

  target(device: string): DeviceTarget | null {
    if (device === this.inspection) return { kind: 'inspection' };
    const arm = this.byDevice.get(device);
    return arm === undefined ? null : { kind: 'arm', arm };
  }

  /** Every device and its metrics before any value is known, for the first births. */
  catalog(profiles: ReadonlyMap<string, HardwareProfile>): Array<[device: string, metrics: MetricSet]> {
    const out: Array<[string, MetricSet]> = [[this.inspection, inspectionCatalog()]];
    for (const [arm, p] of profiles) {
      const links = [...this.linkArm].filter(([, a]) => a === arm).map(([id]) => id);
      out.push([this.arm(arm), armCatalog(p, links)]);
    }
    return out;
  }

  /** A record as the metrics of one device, stamped with the record's own time. */
  record<C extends Channel>(channel: C, value: ChannelRecord[C]): { device: string; metrics: MetricSet; at: number } | null {
    switch (channel) {
      case 'results': {
        const r = value as ResultRecord;
        return { device: this.inspection, metrics: resultMetrics(r), at: time(r.at) };
      }
      case 'alarms': {
        const a = value as AlarmRecord;
        return { device: this.inspection, metrics: alarmMetrics(a), at: time(a.at) };
      }
      case 'moves': {
        const m = value as MoveRecord;
        return { device: this.arm(m.arm), metrics: moveMetrics(m), at: time(m.at) };
      }
      case 'events': {
        const e = value as ControlEvent;
        const arm = this.linkArm.get(e.link);
        return arm === undefined ? null : { device: this.arm(arm), metrics: eventMetrics(e), at: time(e.at) };
      }
    }
    return null;
  }

  /** A retained state value as device metrics. */
  state<N extends StateName>(name: N, value: StateValues[N]): Array<[device: string, metrics: MetricSet]> {
    switch (name) {
      case 'run':
        return [[this.inspection, runMetrics(value as StateValues['run'])]];
      case 'recipe':
        return [[this.inspection, recipeMetrics(value as StateValues['recipe'])]];
      case 'model':
        return [[this.inspection, modelMetrics(value as StateValues['model'])]];
      case 'control': {
        const c = value as StateValues['control'];
        for (const [id, l] of Object.entries(c.links)) this.linkArm.set(id, l.arm);
        return [...controlMetrics(c)].map(([arm, m]) => [this.arm(arm), m]);
      }
    }
    return [];
  }
}

function time(at: string | number): number {
  const t = typeof at === 'number' ? at : Date.parse(at);
  return Number.isFinite(t) ? t : Date.now();
}
