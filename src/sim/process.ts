import { DEFECT_CLASSES, type DefectClass } from '../common/defects.js';
import type { DefectRequest } from './defects.js';
import { hash32, Rng } from './rng.js';

/**
 * A process model behind the simulated arms: the arms' parameters and hidden drifts set the chance
 * that each defect class appears on a wafer.
 *
 *   edge-burr  <- effective wheel wear (wear not made up by wheelWearComp): a dull wheel tears the edge
 *   edge-chip  <- feedRate and effective wheel wear
 *   hotspot    <- the chuck's real temperature: its setpoint plus a thermal drift
 *   scratch    <- the handler's transferSpeed and acceleration plus bearing wear (vibration)
 *   others     <- a base rate
 *
 * Each driven class has p = base + softplus(linear term). The soft floor keeps p above the base rate
 * while the linear term dominates in the operating region, where a run-to-run controller (which
 * assumes y = a + b·u) sees a constant gain. At nominal settings and no drift every driven class
 * sits near 1%, the rate the process is set up for.
 *
 * The drifts are functions of the wafer index and the presence of each class on a wafer is decided by
 * one uniform number per (seed, wafer, class), so a run with and one without control see the same
 * luck and differ only where the parameters do.
 */

/** The parameters the model reads, named as in hardware/sim-grinder.yaml and sim-handler.yaml. */
export interface ProcessParameters {
  /** grinder: radial feed of the edge wheel, mm/s */
  feedRate: number;
  /** grinder: offset added to the wheel position to make up for wear, mm */
  wheelWearComp: number;
  /** grinder: rpm; not modelled to affect defects */
  spindleSpeed: number;
  /** grinder: chuck temperature setpoint, degC */
  chuckTemperature: number;
  /** handler: transfer speed, mm/s */
  transferSpeed: number;
  /** handler: acceleration, mm/s2 */
  acceleration: number;
  /** handler: placement offset, mm */
  placementOffsetX: number;
  /** handler: grip pressure, kPa */
  gripPressure: number;
}

export type ProcessParameter = keyof ProcessParameters;

export const NOMINAL_PARAMETERS: Readonly<ProcessParameters> = {
  feedRate: 2.5,
  wheelWearComp: 0,
  spindleSpeed: 4000,
  chuckTemperature: 23,
  transferSpeed: 300,
  acceleration: 1500,
  placementOffsetX: 0,
  gripPressure: 45,
};

export function isProcessParameter(name: string): name is ProcessParameter {
  return Object.hasOwn(NOMINAL_PARAMETERS, name);
}

/** The hidden state of the process at one wafer. */
export interface ProcessDrift {
  /** wheel wear, mm */
  wheelWearMm: number;
  /** chuck temperature above its setpoint, degC */
  chuckOffsetC: number;
  /** handler bearing wear, in units of scratch probability */
  vibration: number;
}

export interface DriftOptions {
  /** wheel wear per wafer, mm (2e-5: 0.4 mm over 20,000 wafers) */
  wearMmPerWafer: number;
  /** the chuck warms by this much per wafer as its heater ages, degC (2e-4: 4 degC over 20,000 wafers) */
  chuckCPerWafer: number;
  /** slow thermal wander around the ramp, degC (peak) */
  chuckWanderC: number;
  /** handler bearing wear per wafer, in units of scratch probability */
  vibrationPerWafer: number;
}

export const DEFAULT_DRIFT: Readonly<DriftOptions> = {
  wearMmPerWafer: 2e-5,
  chuckCPerWafer: 2e-4,
  chuckWanderC: 0.4,
  vibrationPerWafer: 1e-6,
};

/** Rates of the classes no arm drives, and the floors of the driven ones. */
export const BASE_RATES: Readonly<Record<DefectClass, number>> = {
  'edge-burr': 0.003,
  'edge-chip': 0.003,
  scratch: 0.003,
  particle: 0.01,
  stain: 0.006,
  crack: 0.002,
  void: 0.003,
  hotspot: 0.003,
};

/** Modelled sensitivities: change of a class's probability per unit of a parameter or drift. */
export const SENSITIVITY = {
  /** edge-burr per mm of effective wheel wear */
  burrPerWearMm: 0.2,
  /** edge-chip per mm/s of feed */
  chipPerFeed: 0.02,
  /** edge-chip per mm of effective wheel wear */
  chipPerWearMm: 0.1,
  /** hotspot per degC of real chuck temperature */
  hotspotPerC: 0.01,
  /** scratch per mm/s of transfer speed */
  scratchPerSpeed: 1e-4,
  /** scratch per mm/s2 of acceleration */
  scratchPerAccel: 2e-6,
} as const;

/** The linear term at nominal settings and no drift: puts the driven classes near 1%. */
const AT_NOMINAL = 0.007;
/** Width of the soft floor; small against the operating range of the linear terms. */
const SOFT = 0.003;

export interface ProcessOptions {
  seed: number;
  drift?: Partial<DriftOptions>;
  parameters?: Partial<ProcessParameters>;
}

export class ProcessModel {
  readonly seed: number;
  readonly driftOptions: DriftOptions;
  private readonly current: ProcessParameters;
  /** phases of the chuck's thermal wander, from the seed */
  private readonly wander: { period: number; phase: number; weight: number }[];

  constructor(opts: ProcessOptions) {
    this.seed = opts.seed;
    this.driftOptions = { ...DEFAULT_DRIFT, ...opts.drift };
    this.current = { ...NOMINAL_PARAMETERS, ...opts.parameters };
    const rng = new Rng(hash32(opts.seed, 0x7e3a));
    // A few slow sines with seeded periods of 3,000-15,000 wafers: wander without a random walk,
    // so the drift at any wafer is known without replaying the ones before it.
    this.wander = [1, 0.6, 0.35].map((weight) => ({ period: rng.range(3000, 15000), phase: rng.range(0, 2 * Math.PI), weight }));
  }

  get parameters(): Readonly<ProcessParameters> {
    return this.current;
  }

  /** Sets a parameter from the next wafer on, as the arm applies a move. */
  set(name: ProcessParameter, value: number): void {
    if (!Number.isFinite(value)) throw new RangeError(`${name}: ${value} is not a number`);
    this.current[name] = value;
  }

  drift(index: number): ProcessDrift {
    const d = this.driftOptions;
    const total = this.wander.reduce((s, w) => s + w.weight, 0);
    const wander = this.wander.reduce((s, w) => s + w.weight * Math.sin((2 * Math.PI * index) / w.period + w.phase), 0) / total;
    return {
      wheelWearMm: d.wearMmPerWafer * index,
      chuckOffsetC: d.chuckCPerWafer * index + d.chuckWanderC * wander,
      vibration: d.vibrationPerWafer * index,
    };
  }

  /** Probability of each class on wafer `index` under the current parameters. */
  probabilities(index: number): Record<DefectClass, number> {
    const p = this.current;
    const d = this.drift(index);
    const s = SENSITIVITY;
    const wear = d.wheelWearMm - p.wheelWearComp;
    const out = { ...BASE_RATES };
    out['edge-burr'] += softplus(s.burrPerWearMm * wear + AT_NOMINAL);
    out['edge-chip'] += softplus(s.chipPerFeed * (p.feedRate - NOMINAL_PARAMETERS.feedRate) + s.chipPerWearMm * wear + AT_NOMINAL);
    out.hotspot += softplus(s.hotspotPerC * (p.chuckTemperature + d.chuckOffsetC - NOMINAL_PARAMETERS.chuckTemperature) + AT_NOMINAL);
    out.scratch += softplus(
      s.scratchPerSpeed * (p.transferSpeed - NOMINAL_PARAMETERS.transferSpeed) + s.scratchPerAccel * (p.acceleration - NOMINAL_PARAMETERS.acceleration) + d.vibration + AT_NOMINAL,
    );
    for (const c of DEFECT_CLASSES) out[c] = Math.min(1, out[c]);
    return out;
  }

  /** The classes present on wafer `index` under the current parameters. */
  present(index: number): DefectClass[] {
    const p = this.probabilities(index);
    const rng = new Rng(hash32(this.seed, index, 0x9a0c));
    const out: DefectClass[] = [];
    // One draw per class, always in the same order, whatever the probabilities: common random numbers.
    for (const c of DEFECT_CLASSES) if (rng.next() < p[c]) out.push(c);
    return out;
  }

  /** What the synthetic line should plant on wafer `index` (LineOptions.defectsFor). */
  defectsFor(index: number): DefectRequest[] {
    return this.present(index).map((c) => ({ class: c }));
  }
}

function softplus(x: number): number {
  // ln(1 + e^(x/s))·s, written so that large x/s does not overflow.
  const z = x / SOFT;
  return SOFT * (z > 30 ? z : Math.log1p(Math.exp(z)));
}
