import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AlarmEvent, Actuator } from '../actuators/actuator.js';
import { createActuator } from '../actuators/index.js';
import { DEFECT_CLASSES, type DefectClass } from '../common/defects.js';
import { linkSchema, type LinkConfig } from '../control/config.js';
import { Controller } from '../control/controller.js';
import type { MoveRecord } from '../control/link.js';
import { DefectWindow } from '../control/statistics.js';
import { loadProfiles } from '../hardware/load.js';
import type { HardwareProfile } from '../hardware/profile-schema.js';
import type { ResultRecord } from '../inspection/result.js';
import { ProcessBridge } from './arms/process-bridge.js';
import { SimArm } from './arms/sim-arm.js';
import { isProcessParameter, ProcessModel, type DriftOptions, type ProcessParameters } from './process.js';
import { hash32, Rng } from './rng.js';

/**
 * A closed loop of a drifting process without rendering images: defect presence comes from the
 * process model, an inspection with a given recall and false-alarm rate turns it into findings, the
 * control code's own DefectWindow turns those into rate observations, the real Controller decides
 * the moves, and the moves reach the process either directly or through the real Modbus actuator
 * and a simulated arm over TCP loopback (then the process sees a parameter only once the arm has
 * committed it).
 */

/** open: no controller; direct: controller moves set the process; modbus: through actuator and arm. */
export type ClosedLoopMode = 'open' | 'direct' | 'modbus';

export interface Detection {
  /** chance that a class present on a wafer is found */
  recall: number;
  /** chance that a class absent from a wafer is reported anyway */
  falseAlarm: number;
}

export interface ClosedLoopOptions {
  wafers: number;
  mode: ClosedLoopMode;
  seed?: number;
  /** wafers summarised in one observation for the controller */
  windowWafers?: number;
  /** wafers in one reported time window */
  reportWafers?: number;
  detection?: Detection;
  links?: LinkConfig[];
  drift?: Partial<DriftOptions>;
  profiles?: ReadonlyMap<string, HardwareProfile>;
  /** simulated time between wafers */
  cycleMs?: number;
  /** modbus mode: where the actuators keep their sequence numbers (a temporary folder by default) */
  stateDir?: string;
}

export interface RateWindow {
  from: number;
  to: number;
  /** share of wafers carrying each class (the truth, not what inspection reported) */
  rates: Record<DefectClass, number>;
}

export interface ClosedLoopResult {
  mode: ClosedLoopMode;
  wafers: number;
  seed: number;
  windows: RateWindow[];
  rates: Record<DefectClass, number>;
  moves: MoveRecord[];
  movesByLink: Record<string, number>;
  /** moves the controller decided but the actuator did not apply */
  failedMoves: number;
  alarms: AlarmEvent[];
  parameters: ProcessParameters;
  elapsedMs: number;
}

const DRIFT_LINK = { kind: 'dewma', weight: 0.2, driftWeight: 0.05 } as const;

/**
 * One loop per driven class. Gains are the model's slopes (process.ts SENSITIVITY) times a typical
 * recall; the true-gain ranges take in the soft floor (lower slope near the base rate) and recall.
 * Wear, heater ageing and bearing wear are drifts, hence the double EWMA there. A rate over a few
 * hundred wafers is noisy (binomial), so low weights and a deadband of 0.2 points keep the arms from
 * chasing the noise: about half the moves of w = 0.3 without a deadband, for the same rates.
 */
export const DEFAULT_LINKS: readonly LinkConfig[] = [
  { id: 'burr-wear', source: { class: 'edge-burr' }, arm: 'sim-grinder', parameter: 'wheelWearComp', gain: -0.18, trueGain: { min: -0.3, max: -0.05 }, controller: DRIFT_LINK },
  { id: 'chip-feed', source: { class: 'edge-chip' }, arm: 'sim-grinder', parameter: 'feedRate', gain: 0.018, trueGain: { min: 0.005, max: 0.03 }, controller: { kind: 'ewma', weight: 0.2 } },
  { id: 'hotspot-chuck', source: { class: 'hotspot' }, arm: 'sim-grinder', parameter: 'chuckTemperature', gain: 0.009, trueGain: { min: 0.003, max: 0.015 }, controller: DRIFT_LINK },
  { id: 'scratch-speed', source: { class: 'scratch' }, arm: 'sim-handler', parameter: 'transferSpeed', gain: 9e-5, trueGain: { min: 3e-5, max: 1.5e-4 }, controller: DRIFT_LINK },
].map((l) => linkSchema.parse({ target: 0.01, deadband: 0.002, staleAfterMs: 24 * 3600_000, ...l }));

export const DEFAULT_DETECTION: Detection = { recall: 1, falseAlarm: 0 };

export async function runClosedLoop(opts: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const t0 = performance.now();
  const seed = opts.seed ?? 1;
  const windowWafers = opts.windowWafers ?? 250;
  const reportWafers = opts.reportWafers ?? 2000;
  const detection = opts.detection ?? DEFAULT_DETECTION;
  const cycleMs = opts.cycleMs ?? 10_000;
  const links = opts.links ?? [...DEFAULT_LINKS];
  const profiles = opts.profiles ?? (await loadProfiles());
  const model = new ProcessModel({ seed, drift: opts.drift });
  const controlled = opts.mode !== 'open';
  const controller = controlled ? new Controller({ links }, profiles) : undefined;
  const observed = new DefectWindow(windowWafers, [], [...new Set(links.map((l) => l.source.class).filter((c) => c !== undefined))]);
  const moves: MoveRecord[] = [];
  const alarms: AlarmEvent[] = [];
  let failedMoves = 0;
  const start = Date.UTC(2025, 0, 1);
  let now = start;

  const rig = opts.mode === 'modbus' ? await modbusRig(model, links, profiles, opts.stateDir) : undefined;
  try {
    if (controller) {
      for (const l of links) {
        const value = rig ? rig.actuators.get(l.arm)?.values().get(l.parameter) : isProcessParameter(l.parameter) ? model.parameters[l.parameter] : undefined;
        if (value !== undefined) controller.armValue(l.arm, l.parameter, value, start);
      }
      for (const a of rig?.actuators.values() ?? []) {
        a.on('alarm', (x) => {
          alarms.push(x);
          controller.alarm(a.arm, x.reason, now);
        });
        a.on('recovered', (values) => {
          controller.alarm(a.arm, null, now);
          for (const l of links) if (l.arm === a.arm && values.has(l.parameter)) controller.armValue(l.arm, l.parameter, values.get(l.parameter)!, now);
        });
      }
    }

    const windows: RateWindow[] = [];
    const totals = zeroCounts();
    let counts = zeroCounts();
    let from = 0;
    for (let i = 0; i < opts.wafers; i++) {
      now = start + i * cycleMs;
      rig?.bridge.sync(i);
      const present = model.present(i);
      for (const c of present) {
        counts[c]++;
        totals[c]++;
      }
      if (i + 1 - from === reportWafers || i + 1 === opts.wafers) {
        windows.push({ from, to: i + 1, rates: divide(counts, i + 1 - from) });
        counts = zeroCounts();
        from = i + 1;
      }
      if (!controller) continue;
      const obs = observed.add(inspected(present, detection, hash32(seed, i, 0xde7), i), now);
      for (const o of obs) {
        for (const m of controller.observe(o, now).moves) {
          moves.push(m);
          if (!rig) {
            if (isProcessParameter(m.parameter)) model.set(m.parameter, m.to);
            continue;
          }
          const a = rig.actuators.get(m.arm);
          const r = a ? await a.apply({ parameter: m.parameter, to: m.to, reason: m.reason }) : { ok: false as const, reason: `no actuator for ${m.arm}` };
          if (!r.ok) {
            failedMoves++;
            // The actuator alarms for its own faults; this also covers a move it turned away.
            controller.alarm(m.arm, r.reason, now);
          }
        }
      }
    }
    rig?.bridge.sync(opts.wafers);
    const movesByLink: Record<string, number> = {};
    for (const l of links) movesByLink[l.id] = 0;
    for (const m of moves) movesByLink[m.link]++;
    return {
      mode: opts.mode,
      wafers: opts.wafers,
      seed,
      windows,
      rates: divide(totals, opts.wafers),
      moves,
      movesByLink,
      failedMoves,
      alarms,
      parameters: { ...model.parameters },
      elapsedMs: performance.now() - t0,
    };
  } finally {
    await rig?.close();
  }
}

/** What an inspection with the given recall and false-alarm rate reports for a wafer. */
function inspected(present: readonly DefectClass[], d: Detection, seed: number, index: number): ResultRecord {
  const rng = new Rng(seed);
  const findings: ResultRecord['findings'] = [];
  for (const c of DEFECT_CLASSES) {
    const u = rng.next();
    if (present.includes(c) ? u < d.recall : u < d.falseAlarm) findings.push({ spec: c, class: c, xMm: 0, yMm: 0, sizeMm: 1, score: 1 });
  }
  return {
    wafer: `CL-W${index}`,
    lot: null,
    at: '',
    verdict: findings.length > 0 ? 'fail' : 'pass',
    modalities: { visible: 'ok', infrared: 'ok', xray: 'ok' },
    findings,
    reason: null,
    latencyMs: 0,
    model: 'closed-loop',
  };
}

interface ModbusRig {
  bridge: ProcessBridge;
  actuators: Map<string, Actuator>;
  close(): Promise<void>;
}

/** A simulated arm on a free loopback port and a real actuator for every arm the links drive. */
async function modbusRig(model: ProcessModel, links: readonly LinkConfig[], profiles: ReadonlyMap<string, HardwareProfile>, stateDir?: string): Promise<ModbusRig> {
  const dir = stateDir ?? mkdtempSync(join(tmpdir(), 'wi-closed-loop-'));
  const arms: SimArm[] = [];
  const actuators = new Map<string, Actuator>();
  const close = async () => {
    for (const a of actuators.values()) await a.stop();
    for (const arm of arms) await arm.stop();
    if (!stateDir) rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const id of new Set(links.map((l) => l.arm))) {
      const base = profiles.get(id);
      if (!base || base.transport.kind !== 'modbus-tcp') throw new Error(`${id}: modbus mode needs a Modbus TCP profile`);
      const arm = new SimArm(base);
      arms.push(arm);
      const port = await arm.listen(0);
      const profile: HardwareProfile = { ...base, transport: { ...base.transport, host: '127.0.0.1', port } };
      const a = createActuator(profile, { stateFile: join(dir, `${id}.json`), ackTimeoutMs: 1000, ackPollMs: 1 });
      actuators.set(id, a);
      await a.start();
      if (a.state !== 'healthy') throw new Error(`${id}: the simulated arm did not answer`);
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { bridge: new ProcessBridge(model, arms), actuators, close };
}

function zeroCounts(): Record<DefectClass, number> {
  return Object.fromEntries(DEFECT_CLASSES.map((c) => [c, 0])) as Record<DefectClass, number>;
}

function divide(counts: Record<DefectClass, number>, n: number): Record<DefectClass, number> {
  return Object.fromEntries(DEFECT_CLASSES.map((c) => [c, n > 0 ? counts[c] / n : 0])) as Record<DefectClass, number>;
}
