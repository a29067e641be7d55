import type { ParameterSpec } from '../hardware/profile-schema.js';
import { fitValue } from '../hardware/registers.js';
import type { LinkConfig } from './config.js';

/**
 * One run-to-run loop as a pure function: (config, limits, state, input, now) -> (state, move?, events).
 * No clock, no I/O: the caller passes time in, so every path can be tested exhaustively.
 *
 * Model: statistic y = a + b·u (+ drift D for the double EWMA), b the modelled gain. After each
 * accepted observation the offset (and drift) estimates are updated from c = y − b·u and the
 * parameter is set to u = (target − a − D) / b, within the deadband, the profile's limits and step.
 */

export interface LinkState {
  /** the value in force at the arm; undefined until read from it (bumpless start) */
  u: number | undefined;
  /** offset estimate; undefined until the first observation after (re)start */
  a: number | undefined;
  /** drift estimate per observation (double EWMA only) */
  d: number;
  /** timestamp of the newest observation seen, accepted or not */
  lastSeenAt: number | undefined;
  /** timestamp of the newest accepted observation (staleness is measured from it) */
  lastAcceptedAt: number | undefined;
  outlierRun: number;
  outlierSign: number;
  manual: boolean;
  alarm: string | null;
  /** the reason the loop is frozen, if it is; events are emitted when this changes */
  frozen: string | null;
}

export function initialLinkState(): LinkState {
  return { u: undefined, a: undefined, d: 0, lastSeenAt: undefined, lastAcceptedAt: undefined, outlierRun: 0, outlierSign: 0, manual: false, alarm: null, frozen: 'waiting for the value from the arm' };
}

export type LinkInput =
  | { kind: 'observation'; at: number; value: number }
  /** the parameter's value as read from the arm: at start, after recovery, after manual mode */
  | { kind: 'arm-value'; value: number }
  | { kind: 'tick' }
  | { kind: 'alarm'; reason: string | null }
  | { kind: 'mode'; mode: 'auto' | 'manual' };

/** Every move, with the reason for it: which link and source, which statistic, old and new value. */
export interface MoveRecord {
  at: number;
  link: string;
  arm: string;
  parameter: string;
  unit: string;
  source: string;
  statistic: string;
  observed: number;
  estimate: number;
  target: number;
  from: number;
  to: number;
  requested: number;
  limitedBy: 'max' | 'min' | 'step' | null;
  reason: string;
}

export interface ControlEvent {
  at: number;
  link: string;
  kind: 'frozen' | 'resumed' | 'rejected' | 'initialised';
  reason: string;
}

export interface LinkStep {
  state: LinkState;
  move?: MoveRecord;
  events: ControlEvent[];
}

/** Observations may carry clocks a little ahead of ours; more than this is a broken clock. */
const FUTURE_SLACK_MS = 5000;

export function sourceName(l: LinkConfig): string {
  return l.source.spec !== undefined ? `spec ${l.source.spec}` : `class ${l.source.class}`;
}

export function stepLink(l: LinkConfig, p: ParameterSpec, prev: LinkState, input: LinkInput, now: number): LinkStep {
  const s: LinkState = { ...prev };
  const events: ControlEvent[] = [];
  const ev = (kind: ControlEvent['kind'], reason: string) => events.push({ at: now, link: l.id, kind, reason });
  const setFrozen = (reason: string | null) => {
    if (reason === s.frozen) return;
    if (reason === null) ev('resumed', `was frozen: ${s.frozen}`);
    else ev('frozen', reason);
    s.frozen = reason;
  };
  // Everything that suspends the loop makes it forget its estimates: on resume it starts again from
  // the arm's value and fresh observations, so it never jumps to a value computed before.
  const restart = () => {
    s.a = undefined;
    s.d = 0;
    s.outlierRun = 0;
  };
  const holdReason = (): string | null => {
    if (s.manual) return 'manual mode';
    if (s.alarm !== null) return `alarm: ${s.alarm}`;
    if (s.u === undefined) return 'waiting for the value from the arm';
    if (s.u < p.min || s.u > p.max) return `the arm's value ${s.u} is outside ${p.min}..${p.max}`;
    return null;
  };

  switch (input.kind) {
    case 'mode':
      if (input.mode === 'manual' && !s.manual) {
        s.manual = true;
        restart();
      } else if (input.mode === 'auto' && s.manual) {
        s.manual = false;
        // The operator may have changed the value: read it again before acting.
        s.u = undefined;
      }
      setFrozen(holdReason());
      return { state: s, events };
    case 'alarm':
      if (input.reason !== null && s.alarm === null) restart();
      if (input.reason === null && s.alarm !== null) s.u = undefined;
      s.alarm = input.reason;
      setFrozen(holdReason());
      return { state: s, events };
    case 'arm-value':
      if (Number.isFinite(input.value)) {
        if (s.u !== undefined && s.u !== input.value) restart();
        s.u = input.value;
      }
      setFrozen(holdReason() ?? staleReason(l, s, now));
      return { state: s, events };
    case 'tick': {
      const reason = holdReason() ?? staleReason(l, s, now);
      // Estimates from before a gap describe a process that may have moved since.
      if (reason?.startsWith('stale')) restart();
      setFrozen(reason);
      return { state: s, events };
    }
    case 'observation':
      break;
  }

  const { value: y, at } = input;
  if (!Number.isFinite(y) || !Number.isFinite(at)) {
    ev('rejected', `observation is not a number (value ${y}, at ${at})`);
    return { state: s, events };
  }
  if (at > now + FUTURE_SLACK_MS) {
    ev('rejected', `observation from the future (${at - now} ms ahead)`);
    return { state: s, events };
  }
  if (s.lastSeenAt !== undefined && at <= s.lastSeenAt) {
    ev('rejected', 'observation out of order or repeated');
    return { state: s, events };
  }
  if (now - at > l.staleAfterMs) {
    ev('rejected', `observation is stale (${now - at} ms old)`);
    return { state: s, events };
  }
  s.lastSeenAt = at;

  const held = holdReason();
  if (held !== null) {
    setFrozen(held);
    return { state: s, events };
  }
  const u = s.u as number;
  const b = l.gain;
  const c = y - b * u;

  if (s.a === undefined) {
    s.a = c;
    s.d = 0;
    s.lastAcceptedAt = at;
    setFrozen(null);
    ev('initialised', `offset from first observation ${y} at ${p.unit ? `${u} ${p.unit}` : u}`);
    return { state: s, events };
  }

  if (l.outlier) {
    const residual = y - (s.a + s.d + b * u);
    if (Math.abs(residual) > l.outlier.maxResidual) {
      const sign = Math.sign(residual);
      s.outlierRun = sign === s.outlierSign ? s.outlierRun + 1 : 1;
      s.outlierSign = sign;
      if (s.outlierRun < l.outlier.confirmAfter) {
        ev('rejected', `outlier: ${y} is ${residual.toPrecision(3)} from the prediction (gate ${l.outlier.maxResidual})`);
        return { state: s, events };
      }
    }
    s.outlierRun = 0;
    s.outlierSign = 0;
  }

  const aPrev = s.a;
  if (l.controller.kind === 'ewma') {
    s.a = l.controller.weight * c + (1 - l.controller.weight) * aPrev;
  } else {
    s.a = l.controller.weight * c + (1 - l.controller.weight) * aPrev;
    s.d = l.controller.driftWeight * (c - aPrev) + (1 - l.controller.driftWeight) * s.d;
  }
  s.lastAcceptedAt = at;
  setFrozen(null);

  const estimate = s.a + s.d + b * u;
  if (Math.abs(estimate - l.target) <= l.deadband) return { state: s, events };

  const requested = (l.target - s.a - s.d) / b;
  const lo = Math.max(p.min, u - p.maxStep);
  const hi = Math.min(p.max, u + p.maxStep);
  const to = fitValue(p, lo, hi, requested);
  if (to === undefined || to === u) return { state: s, events };
  let limitedBy: MoveRecord['limitedBy'] = null;
  if (requested > hi) limitedBy = hi === p.max ? 'max' : 'step';
  else if (requested < lo) limitedBy = lo === p.min ? 'min' : 'step';

  const unit = p.unit ? ` ${p.unit}` : '';
  const move: MoveRecord = {
    at: now,
    link: l.id,
    arm: l.arm,
    parameter: l.parameter,
    unit: p.unit,
    source: sourceName(l),
    statistic: l.statistic,
    observed: y,
    estimate,
    target: l.target,
    from: u,
    to,
    requested,
    limitedBy,
    reason: `${sourceName(l)}: ${l.statistic} ${fmt(y)} (estimate ${fmt(estimate)}, target ${fmt(l.target)}) -> ${l.parameter} ${fmt(u)}${unit} -> ${fmt(to)}${unit}${limitedBy ? ` (limited by ${limitedBy})` : ''}`,
  };
  s.u = to;
  return { state: s, move, events };
}

function staleReason(l: LinkConfig, s: LinkState, now: number): string | null {
  if (s.lastAcceptedAt !== undefined && now - s.lastAcceptedAt > l.staleAfterMs) return 'stale: no recent accepted observation';
  return null;
}

function fmt(x: number): string {
  return Number(x.toPrecision(4)).toString();
}
