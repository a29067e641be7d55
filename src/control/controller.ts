import type { HardwareProfile, ParameterSpec } from '../hardware/profile-schema.js';
import type { ControlConfig, LinkConfig, Statistic } from './config.js';
import { initialLinkState, stepLink, type ControlEvent, type LinkInput, type LinkState, type MoveRecord } from './link.js';

export interface ControlOutput {
  moves: MoveRecord[];
  events: ControlEvent[];
}

/** An observation of one statistic for one spec or defect class over recent wafers. */
export interface Observation {
  source: { spec: string } | { class: string };
  statistic: Statistic;
  value: number;
  /** when the wafers it summarises were inspected (ms since the epoch) */
  at: number;
}

/** Problems with links that name arms or parameters the profiles do not have, or cannot write. */
export function linkProblems(config: ControlConfig, profiles: ReadonlyMap<string, HardwareProfile>): string[] {
  const out: string[] = [];
  config.links.forEach((l, i) => {
    const prof = profiles.get(l.arm);
    if (!prof) return void out.push(`links[${i}].arm: no hardware profile "${l.arm}" (have ${[...profiles.keys()].join(', ') || 'none'})`);
    const p = prof.parameters[l.parameter];
    if (!p) return void out.push(`links[${i}].parameter: ${l.arm} has no parameter "${l.parameter}" (has ${Object.keys(prof.parameters).join(', ')})`);
    if (!p.writable) out.push(`links[${i}].parameter: ${l.arm}.${l.parameter} is not writable`);
  });
  return out;
}

/**
 * All run-to-run loops. Holds state but does no I/O: inputs in, moves and events out, time passed
 * in by the caller. Arms are named by profile id; an alarm or manual mode on an arm holds every
 * loop that drives it.
 */
export class Controller {
  private readonly links: { cfg: LinkConfig; param: ParameterSpec; state: LinkState }[];

  constructor(config: ControlConfig, profiles: ReadonlyMap<string, HardwareProfile>) {
    const problems = linkProblems(config, profiles);
    if (problems.length > 0) throw new Error(`control links: ${problems.join('; ')}`);
    this.links = config.links.map((cfg) => ({ cfg, param: profiles.get(cfg.arm)!.parameters[cfg.parameter], state: initialLinkState() }));
  }

  state(linkId: string): Readonly<LinkState> | undefined {
    return this.links.find((l) => l.cfg.id === linkId)?.state;
  }

  observe(o: Observation, now: number): ControlOutput {
    return this.apply((l) => matches(l, o), { kind: 'observation', value: o.value, at: o.at }, now);
  }

  /** The parameter's value as read from the arm (bumpless start, after recovery, after a move's read-back). */
  armValue(arm: string, parameter: string, value: number, now: number): ControlOutput {
    return this.apply((l) => l.arm === arm && l.parameter === parameter, { kind: 'arm-value', value }, now);
  }

  /** An arm's alarm (reason) or its end (null). */
  alarm(arm: string, reason: string | null, now: number): ControlOutput {
    return this.apply((l) => l.arm === arm, { kind: 'alarm', reason }, now);
  }

  /** Manual mode for one link or for every link of an arm; the controller never overrides it. */
  mode(target: { link: string } | { arm: string }, mode: 'auto' | 'manual', now: number): ControlOutput {
    return this.apply((l) => ('link' in target ? l.id === target.link : l.arm === target.arm), { kind: 'mode', mode }, now);
  }

  tick(now: number): ControlOutput {
    return this.apply(() => true, { kind: 'tick' }, now);
  }

  private apply(select: (l: LinkConfig) => boolean, input: LinkInput, now: number): ControlOutput {
    const out: ControlOutput = { moves: [], events: [] };
    for (const l of this.links) {
      if (!select(l.cfg)) continue;
      const r = stepLink(l.cfg, l.param, l.state, input, now);
      l.state = r.state;
      if (r.move) out.moves.push(r.move);
      out.events.push(...r.events);
    }
    return out;
  }
}

function matches(l: LinkConfig, o: Observation): boolean {
  if (l.statistic !== o.statistic) return false;
  return 'spec' in o.source ? l.source.spec === o.source.spec : l.source.class === o.source.class;
}
