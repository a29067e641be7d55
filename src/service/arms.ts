import { join } from 'node:path';
import type { Actuator, AlarmEvent } from '../actuators/actuator.js';
import { createActuator } from '../actuators/index.js';
import { guardProblem } from '../actuators/guard.js';
import type { Logger } from '../common/log.js';
import { isProfileFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { Controller, linkProblems, type ControlOutput } from '../control/controller.js';
import type { ControlEvent, MoveRecord } from '../control/link.js';
import { DefectWindow } from '../control/statistics.js';
import { HARDWARE_DIR, HardwareProfileError, loadProfile, loadProfiles } from '../hardware/load.js';
import type { HardwareProfile } from '../hardware/profile-schema.js';
import type { ResultRecord } from '../inspection/result.js';
import { CommandRejected } from '../telemetry/commands/index.js';
import type { AlarmRecord } from '../telemetry/records.js';
import type { ControlState } from '../telemetry/state.js';

/** Where the control side's records go (the telemetry outbox). */
export interface ControlSink {
  move(m: MoveRecord): void;
  event(e: ControlEvent): void;
  alarm(a: AlarmRecord): void;
}

/** The configured arms' profiles by id, or every problem found while reading them. */
export async function loadArmProfiles(c: Config['control']): Promise<{ profiles: Map<string, HardwareProfile>; problems: string[] }> {
  const profiles = new Map<string, HardwareProfile>();
  const problems: string[] = [];
  let shipped: Map<string, HardwareProfile> | undefined;
  for (const [i, arm] of c.arms.entries()) {
    try {
      let p: HardwareProfile | undefined;
      if (isProfileFile(arm)) p = await loadProfile(arm);
      else {
        shipped ??= await loadProfiles(HARDWARE_DIR);
        p = shipped.get(arm);
        if (!p) throw new Error(`no shipped hardware profile "${arm}" (have ${[...shipped.keys()].join(', ')}); give a profile file instead`);
      }
      if (profiles.has(p.id)) throw new Error(`arm "${p.id}" is listed twice`);
      profiles.set(p.id, p);
    } catch (e) {
      const msg = e instanceof HardwareProfileError ? e.message.replace(/\n\s*/g, ' ') : (e as Error).message;
      problems.push(`control.arms[${i}]: ${msg}`);
    }
  }
  if (problems.length === 0) problems.push(...linkProblems(c, profiles).map((p) => `control.${p}`));
  return { profiles, problems };
}

/**
 * The run-to-run side of the service: the actuators of the configured arms, the controller and the
 * defect window that feeds it. An arm that cannot be reached does not stop inspection: it is declared
 * degraded, its loops freeze, and it rejoins when its actuator recovers.
 */
export class ControlRig {
  readonly actuators = new Map<string, Actuator>();
  readonly degraded = new Set<string>();
  private readonly controller: Controller;
  private window: DefectWindow;
  private readonly links: Config['control']['links'];
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly c: Config['control'],
    readonly profiles: ReadonlyMap<string, HardwareProfile>,
    private readonly o: { stateDir: string; brokerUrl: string; log: Logger; sink: ControlSink; specs: readonly string[] },
  ) {
    this.links = c.links;
    this.controller = new Controller({ links: c.links }, profiles);
    this.window = this.newWindow(o.specs);
  }

  /** Connects every arm, waiting at most connectTimeoutMs for each; those not healthy by then are degraded. */
  async start(): Promise<void> {
    const log = this.o.log.child({ component: 'control' });
    await Promise.all(
      [...this.profiles.values()].map(async (profile) => {
        const a = createActuator(profile, { stateFile: join(this.o.stateDir, `${profile.id}.json`), log, brokerUrl: this.o.brokerUrl });
        this.actuators.set(profile.id, a);
        a.on('alarm', (x) => this.onAlarm(x));
        a.on('recovered', (values) => this.onRecovered(a.arm, values));
        let timer: NodeJS.Timeout | undefined;
        const waited = await Promise.race([
          a.start().then(
            () => 'started',
            (e: Error) => `start failed: ${e.message}`,
          ),
          new Promise<string>((r) => (timer = setTimeout(() => r(`no answer within ${this.c.connectTimeoutMs} ms`), this.c.connectTimeoutMs))),
        ]);
        clearTimeout(timer);
        if (a.state === 'healthy') return this.feedValues(a.arm, a.values());
        const why = waited === 'started' ? `arm is ${a.state}` : waited;
        this.degraded.add(a.arm);
        this.emit(this.controller.alarm(a.arm, why, Date.now()));
        this.o.sink.alarm({ at: new Date().toISOString(), code: 'arm-degraded', severity: 'critical', active: true, source: a.arm, message: `${a.arm}: not connected at start (${why}); its control loops are frozen, inspection goes on` });
        log.error({ arm: a.arm, why }, 'arm not connected at start: degraded; inspection goes on, its loops are frozen');
      }),
    );
    this.timer = setInterval(() => this.emit(this.controller.tick(Date.now())), this.c.tickMs);
    this.timer.unref();
  }

  /** A new recipe's spec ids: links by spec keep working, the window starts over. */
  setSpecs(specs: readonly string[]): void {
    this.window = this.newWindow(specs);
  }

  /** One inspected wafer; moves are applied in order, after the ones before them. */
  result(r: ResultRecord): void {
    if (this.links.length === 0) return;
    const now = Date.now();
    for (const obs of this.window.add(r, now)) this.emit(this.controller.observe(obs, now));
  }

  setMode(target: { arm: string } | { link: string }, mode: 'auto' | 'manual'): ControlState {
    const now = Date.now();
    this.emit(this.controller.mode(target, mode, now));
    // Back in auto, a loop first needs the value the operator left at the arm.
    if (mode === 'auto') for (const a of this.actuators.values()) if (a.state === 'healthy') this.feedValues(a.arm, a.values());
    return this.state();
  }

  async setSetpoint(s: { arm: string; parameter: string; value: number }): Promise<ControlState> {
    const link = this.links.find((l) => l.arm === s.arm && l.parameter === s.parameter);
    if (link && !this.controller.state(link.id)?.manual) throw new CommandRejected(`${s.arm}.${s.parameter} is driven by link ${link.id} in auto mode; set the link or the arm to manual first`);
    const a = this.actuators.get(s.arm);
    if (!a) throw new CommandRejected(`arm ${s.arm} is not configured in control.arms`);
    if (a.state !== 'healthy') throw new CommandRejected(`arm ${s.arm} is ${a.state}`);
    const problem = guardProblem(this.profiles.get(s.arm)!, s.parameter, s.value, a.values().get(s.parameter));
    if (problem) throw new CommandRejected(problem);
    const r = await a.apply({ parameter: s.parameter, to: s.value, reason: 'operator setpoint' });
    if (!r.ok) throw new CommandRejected(r.reason);
    this.emit(this.controller.armValue(s.arm, s.parameter, r.value, Date.now()));
    return this.state();
  }

  state(): ControlState {
    const st: ControlState = { arms: {}, links: {} };
    for (const [id, p] of this.profiles) {
      const values = this.actuators.get(id)?.values();
      const parameters: ControlState['arms'][string]['parameters'] = {};
      for (const [name, q] of Object.entries(p.parameters)) {
        if (!q.writable) continue;
        const link = this.links.find((l) => l.arm === id && l.parameter === name);
        const manual = link ? (this.controller.state(link.id)?.manual ?? false) : true;
        parameters[name] = { value: values?.get(name) ?? null, unit: q.unit, ...(link ? { link: link.id } : {}), mode: manual ? 'manual' : 'auto' };
      }
      const modes = new Set(Object.values(parameters).map((x) => x.mode));
      st.arms[id] = { mode: modes.size > 1 ? 'mixed' : ([...modes][0] ?? 'manual'), parameters };
    }
    for (const l of this.links) {
      const s = this.controller.state(l.id);
      st.links[l.id] = { arm: l.arm, parameter: l.parameter, mode: s?.manual ? 'manual' : 'auto', frozen: s?.frozen ?? null };
    }
    return st;
  }

  armStates(): Record<string, string> {
    return Object.fromEntries([...this.actuators].map(([id, a]) => [id, this.degraded.has(id) && a.state !== 'healthy' ? 'degraded' : a.state]));
  }

  /** Waits for moves under way, then stops the actuators. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.chain;
    await Promise.all([...this.actuators.values()].map((a) => a.stop()));
  }

  private newWindow(specs: readonly string[]): DefectWindow {
    const classes = [...new Set(this.links.map((l) => l.source.class).filter((c): c is NonNullable<typeof c> => c !== undefined))];
    return new DefectWindow(this.c.windowWafers, specs, classes);
  }

  private emit(out: ControlOutput): void {
    for (const e of out.events) this.o.sink.event(e);
    for (const m of out.moves) {
      this.chain = this.chain.then(async () => {
        const a = this.actuators.get(m.arm);
        const r = a ? await a.apply({ parameter: m.parameter, to: m.to, reason: m.reason }) : { ok: false as const, reason: `no actuator for ${m.arm}` };
        if (r.ok) this.o.sink.move(m);
        // The actuator alarms for its own faults; this also freezes the arm's loops on a move it turned away.
        else this.emit(this.controller.alarm(m.arm, r.reason, Date.now()));
      });
    }
  }

  private onAlarm(x: AlarmEvent): void {
    this.emit(this.controller.alarm(x.arm, x.reason, x.at));
    this.o.sink.alarm({ at: new Date(x.at).toISOString(), code: `arm-${x.kind}`, severity: 'critical', active: true, source: x.arm, message: x.reason, latched: x.latched });
  }

  private onRecovered(arm: string, values: ReadonlyMap<string, number>): void {
    const now = Date.now();
    this.emit(this.controller.alarm(arm, null, now));
    this.feedValues(arm, values);
    const was = this.degraded.delete(arm);
    this.o.sink.alarm({ at: new Date(now).toISOString(), code: was ? 'arm-degraded' : 'arm-fault', severity: 'critical', active: false, source: arm, message: `${arm}: connected and answering again` });
  }

  private feedValues(arm: string, values: ReadonlyMap<string, number>): void {
    const now = Date.now();
    for (const l of this.links) if (l.arm === arm && values.has(l.parameter)) this.emit(this.controller.armValue(arm, l.parameter, values.get(l.parameter)!, now));
  }
}
