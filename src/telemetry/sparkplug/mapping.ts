import type { ControlEvent, MoveRecord } from '../../control/link.js';
import type { HardwareProfile } from '../../hardware/profile-schema.js';
import type { ResultRecord } from '../../inspection/result.js';
import type { AlarmRecord } from '../records.js';
import type { ControlState, ModelState, RecipeState, RunState } from '../state.js';
import type { MetricSet } from './metrics.js';

/**
 * How the appliance's values become Sparkplug metrics. Every name is fixed here (and listed in
 * docs/mqtt.md), so a birth announces them all even before a value exists; only per-spec stats and
 * per-parameter metrics depend on the recipe and the hardware profiles.
 */

export const REBIRTH = 'Node Control/Rebirth';
export const LAST_REPLY = 'Command/Last Reply';

/** Metrics a host may write with DCMD, and the command each becomes. */
export const WRITABLE = {
  run: 'Run/State',
  recipeYaml: 'Recipe/Load Yaml',
  recipePath: 'Recipe/Load Path',
  armMode: 'Mode',
  setpoint: (p: string) => `Parameters/${p}/Setpoint`,
  linkMode: (l: string) => `Links/${l}/Mode`,
};

const n = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const s = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/** Node metrics from the stats payload (StatsPayload); anything missing is sent as null. */
export function statsMetrics(payload: unknown): MetricSet {
  const p = obj(payload);
  const w = obj(p.wafers);
  const v = obj(p.verdicts);
  const inf = obj(p.inferenceMs);
  const lat = obj(p.latencyMs);
  const ob = obj(p.outbox);
  const br = obj(p.broker);
  const out: MetricSet = [
    ['Stats/Uptime s', 'Double', n(p.uptimeS)],
    ['Stats/Wafers In', 'UInt64', n(w.in)],
    ['Stats/Wafers Out', 'UInt64', n(w.out)],
    ['Stats/Verdicts/Pass', 'UInt64', n(v.pass)],
    ['Stats/Verdicts/Fail', 'UInt64', n(v.fail)],
    ['Stats/Verdicts/Not Inspected', 'UInt64', n(v['not-inspected'])],
    ['Stats/Inference ms/p50', 'Double', n(inf.p50)],
    ['Stats/Inference ms/p99', 'Double', n(inf.p99)],
    ['Stats/Latency ms/p50', 'Double', n(lat.p50)],
    ['Stats/Latency ms/p99', 'Double', n(lat.p99)],
    ['Stats/Queue Depth', 'UInt64', n(p.queueDepth)],
    ['Stats/Outbox/Depth', 'UInt64', n(ob.depth)],
    ['Stats/Outbox/Bytes', 'UInt64', n(ob.bytes)],
    ['Stats/Outbox/High Water', 'Boolean', typeof ob.highWater === 'boolean' ? ob.highWater : null],
    ['Stats/Outbox/Refused', 'UInt64', n(ob.refused)],
    ['Stats/Broker/Disconnects', 'UInt64', n(br.disconnects)],
  ];
  for (const [id, c] of Object.entries(obj(p.specs))) {
    out.push([`Stats/Specs/${id}/Failed`, 'UInt64', n(obj(c).failed)], [`Stats/Specs/${id}/Findings`, 'UInt64', n(obj(c).findings)]);
  }
  return out;
}

export function runMetrics(r: RunState | null): MetricSet {
  return [
    [WRITABLE.run, 'String', r?.state ?? null],
    ['Run/Since', 'String', r?.since ?? null],
    ['Run/Reason', 'String', r?.reason ?? null],
  ];
}

export function recipeMetrics(r: RecipeState | null): MetricSet {
  return [
    ['Recipe/Name', 'String', r?.name ?? null],
    ['Recipe/Source', 'String', r?.source ?? null],
    ['Recipe/Loaded At', 'String', r?.loadedAt ?? null],
    ['Recipe/Specs', 'String', r ? JSON.stringify(r.specs) : null],
    // Write-only: a host loads a recipe by writing one of these; they always read empty.
    [WRITABLE.recipeYaml, 'String', ''],
    [WRITABLE.recipePath, 'String', ''],
  ];
}

export function modelMetrics(m: ModelState | null): MetricSet {
  return [
    ['Model/Id', 'String', m?.id ?? null],
    ['Model/Variant', 'String', m?.variant ?? null],
    ['Model/Sha256', 'String', m?.sha256 ?? null],
    ['Model/Classes', 'String', m?.classes ? JSON.stringify(m.classes) : null],
  ];
}

export function resultMetrics(r: ResultRecord | null): MetricSet {
  return [
    ['Result/Wafer', 'String', r?.wafer ?? null],
    ['Result/Lot', 'String', r ? (s(r.lot) ?? null) : null],
    ['Result/Verdict', 'String', r?.verdict ?? null],
    ['Result/Reason', 'String', r ? (r.reason ?? null) : null],
    ['Result/Findings', 'UInt64', r ? r.findings.length : null],
    ['Result/Latency ms', 'Double', r ? n(r.latencyMs) : null],
    ['Result/Model', 'String', r ? (s(r.model) ?? null) : null],
    ['Result/Record', 'String', r ? JSON.stringify(r) : null],
  ];
}

export function alarmMetrics(a: AlarmRecord | null): MetricSet {
  return [
    ['Alarm/Code', 'String', a?.code ?? null],
    ['Alarm/Severity', 'String', a?.severity ?? null],
    ['Alarm/Active', 'Boolean', a ? a.active : null],
    ['Alarm/Source', 'String', a ? (a.source ?? null) : null],
    ['Alarm/Message', 'String', a?.message ?? null],
    ['Alarm/Record', 'String', a ? JSON.stringify(a) : null],
  ];
}

/** The inspection device before anything is known: every metric it will send. */
export function inspectionCatalog(): MetricSet {
  return [...runMetrics(null), ...recipeMetrics(null), ...modelMetrics(null), ...resultMetrics(null), ...alarmMetrics(null), [LAST_REPLY, 'String', null]];
}

export function moveMetrics(m: MoveRecord | null): MetricSet {
  return [
    ['Move/Link', 'String', m?.link ?? null],
    ['Move/Parameter', 'String', m?.parameter ?? null],
    ['Move/From', 'Double', m ? n(m.from) : null],
    ['Move/To', 'Double', m ? n(m.to) : null],
    ['Move/Reason', 'String', m?.reason ?? null],
    ['Move/Record', 'String', m ? JSON.stringify(m) : null],
  ];
}

export function eventMetrics(e: ControlEvent | null): MetricSet {
  return [
    ['Event/Link', 'String', e?.link ?? null],
    ['Event/Kind', 'String', e?.kind ?? null],
    ['Event/Reason', 'String', e?.reason ?? null],
  ];
}

/** An arm device from its hardware profile: every writable parameter, its links, moves and events. */
export function armCatalog(profile: HardwareProfile | undefined, links: string[]): MetricSet {
  const out: MetricSet = [[WRITABLE.armMode, 'String', null]];
  for (const [name, q] of Object.entries(profile?.parameters ?? {})) if (q.writable) out.push(...parameterMetrics(name, { value: q.nominal ?? null, unit: q.unit, mode: null }));
  for (const id of links) out.push([WRITABLE.linkMode(id), 'String', null], [`Links/${id}/Frozen`, 'String', null]);
  return [...out, ...moveMetrics(null), ...eventMetrics(null), [LAST_REPLY, 'String', null]];
}

function parameterMetrics(name: string, p: { value: number | null; unit: string; mode: string | null; link?: string }): MetricSet {
  return [
    [WRITABLE.setpoint(name), 'Double', p.value],
    [`Parameters/${name}/Unit`, 'String', p.unit],
    [`Parameters/${name}/Mode`, 'String', p.mode],
    [`Parameters/${name}/Link`, 'String', p.link ?? null],
  ];
}

/** Per arm: mode, setpoints and link states. */
export function controlMetrics(c: ControlState): Map<string, MetricSet> {
  const out = new Map<string, MetricSet>();
  for (const [arm, a] of Object.entries(c.arms)) {
    const m: MetricSet = [[WRITABLE.armMode, 'String', a.mode]];
    for (const [name, p] of Object.entries(a.parameters)) m.push(...parameterMetrics(name, p));
    out.set(arm, m);
  }
  for (const [id, l] of Object.entries(c.links)) {
    const m = out.get(l.arm) ?? [];
    m.push([WRITABLE.linkMode(id), 'String', l.mode], [`Links/${id}/Frozen`, 'String', l.frozen]);
    out.set(l.arm, m);
  }
  return out;
}
