import type { HardwareProfile } from '../hardware/profile-schema.js';
import { representable } from '../hardware/registers.js';

/** Float tolerance for the step check: limits computed as u ± maxStep may be off by an ulp. */
const STEP_SLACK = 1e-9;

/**
 * Why a write must not happen, or undefined when it may. Checked in the actuator as well as in the
 * controller, so a bug upstream can never put an undeclared or out-of-range value on the wire.
 */
export function guardProblem(profile: HardwareProfile, parameter: string, to: number, current: number | undefined): string | undefined {
  const p = profile.parameters[parameter];
  if (!p) return `${profile.id} has no parameter ${parameter}`;
  if (!p.writable) return `${profile.id}.${parameter} is not writable`;
  if (!Number.isFinite(to)) return `${parameter}: ${to} is not a number`;
  if (to < p.min || to > p.max) return `${parameter}: ${to} is outside ${p.min}..${p.max}`;
  if (representable(p, to) !== to) return `${parameter}: ${to} is not representable in its register (would be ${representable(p, to)})`;
  if (current === undefined) return `${parameter}: its current value is unknown`;
  if (Math.abs(to - current) > p.maxStep * (1 + STEP_SLACK)) return `${parameter}: step ${current} -> ${to} exceeds ${p.maxStep}`;
  return undefined;
}
